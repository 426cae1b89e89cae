//! Which stage the provider checks run against when no `CONTRACT_BASE_URL`
//! names one: `CONTRACT_STAGE=emulated` starts the stage shaped like AWS
//! (infra/template.yaml's HTTP API in front of Lambda environments running
//! the real `bootstrap`: `BOOTSTRAP_BIN`, relative to the workspace root as
//! .ci/run exports the packaged one); anything else, or nothing, the
//! in-process local stage.

use std::path::{Path, PathBuf};

use local_stage::{EmulatedStage, EmulationOptions, LocalStage, StageOptions};

/// Holds the stage for as long as the checks run.
#[allow(dead_code)]
pub enum OwnStage {
    InProcess(LocalStage),
    Emulated(EmulatedStage),
}

pub fn emulated() -> bool {
    std::env::var("CONTRACT_STAGE").is_ok_and(|s| s == "emulated")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The selected stage with the handler's variables `vars`; its base URL.
pub async fn start(vars: &[(&str, &str)]) -> (OwnStage, String) {
    if !emulated() {
        let config = counter_lambda::Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("valid configuration");
        let stage = LocalStage::start(StageOptions::new(config))
            .await
            .expect("local stage");
        let base = stage.url().to_owned();
        return (OwnStage::InProcess(stage), base);
    }
    let bootstrap = std::env::var_os("BOOTSTRAP_BIN")
        .filter(|b| !b.is_empty())
        .map(PathBuf::from)
        .map(|b| {
            if b.is_relative() {
                workspace().join(b)
            } else {
                b
            }
        });
    let options = EmulationOptions {
        template: Some(workspace().join("infra/template.yaml")),
        bootstrap,
        function_env: vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..EmulationOptions::default()
    };
    let stage = EmulatedStage::start(options)
        .await
        .expect("the emulated stage (CONTRACT_STAGE=emulated; BOOTSTRAP_BIN names the bootstrap)");
    let base = stage.url().to_owned();
    (OwnStage::Emulated(stage), base)
}
