//! The GitHub workflows keep the rules that make them safe to run with AWS
//! credentials, read from the files themselves: data reaches `run:` only
//! through `env:` (a `${{ }}` expanded inside a script is code injection:
//! a line of site/pages.txt such as `/$(cmd)` would run); every action is
//! pinned by a full commit SHA with its version in a comment; cargo runs
//! with `--locked`; nothing is built or installed once credentials are
//! configured; staging is judged before production. And checkov's skips
//! each have a reason.

use serde_yaml_ng::Value;

fn repo_file(relative: &str) -> String {
    let file = format!("{}/../{relative}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Every workflow: (file name, its text).
fn workflows() -> Vec<(String, String)> {
    let dir = format!("{}/../.github/workflows", env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("the workflows directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .map(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            (
                name.unwrap_or_default(),
                std::fs::read_to_string(&p).expect("a workflow"),
            )
        })
        .collect();
    out.sort();
    assert!(out.len() >= 2, "deploy.yml and loadtest.yml at least");
    out
}

/// (job name, its steps) of a workflow.
fn jobs(text: &str) -> Vec<(String, Vec<Value>)> {
    let doc: Value = serde_yaml_ng::from_str(text).expect("a workflow is YAML");
    doc["jobs"]
        .as_mapping()
        .expect("jobs")
        .iter()
        .map(|(name, job)| {
            let steps = job["steps"].as_sequence().cloned().unwrap_or_default();
            (name.as_str().unwrap_or_default().to_owned(), steps)
        })
        .collect()
}

fn run_of(step: &Value) -> Option<&str> {
    step["run"].as_str()
}

/// `${{ ... }}` anywhere in a script: the runner pastes the value into the
/// shell's source before the shell reads it.
fn expansions_in_run(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (job, steps) in jobs(text) {
        for step in &steps {
            if let Some(run) = run_of(step).filter(|r| r.contains("${{")) {
                found.push(format!("{job}: {}", run.lines().next().unwrap_or("")));
            }
        }
    }
    found
}

#[test]
fn no_workflow_expands_data_inside_a_script() {
    for (name, text) in workflows() {
        let found = expansions_in_run(&text);
        assert!(
            found.is_empty(),
            "{name}: pass these through env: instead:\n{}",
            found.join("\n")
        );
    }
}

#[test]
fn the_expansion_check_finds_an_expansion_inside_a_script() {
    let bad = "jobs:\n  j:\n    steps:\n      - run: |\n          echo ok\n          aws s3 cp x \"s3://${{ steps.s.outputs.bucket }}/\"\n";
    assert_eq!(expansions_in_run(bad).len(), 1);
    let good = "jobs:\n  j:\n    steps:\n      - env:\n          B: ${{ steps.s.outputs.bucket }}\n        run: aws s3 cp x \"s3://$B/\"\n";
    assert!(expansions_in_run(good).is_empty());
}

/// Each `uses:` line that is not pinned by a 40-hex commit SHA followed by
/// a `# vX.Y.Z` comment.
fn unpinned_actions(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("- ").unwrap_or(l).strip_prefix("uses:"))
        .map(str::trim)
        .filter(|u| !u.starts_with("./"))
        .filter(|u| {
            let (action, rest) = u.split_once('@').unwrap_or((u, ""));
            let (sha, comment) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let version = comment.trim().strip_prefix('#').map(str::trim);
            let pinned = sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit());
            let versioned = version.is_some_and(|v| {
                v.strip_prefix('v')
                    .is_some_and(|n| n.split('.').all(|p| p.parse::<u32>().is_ok()))
            });
            !(action.contains('/') && pinned && versioned)
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_action_is_pinned_by_commit_sha_with_its_version_in_a_comment() {
    let mut seen = 0;
    for (name, text) in workflows() {
        let bad = unpinned_actions(&text);
        assert!(bad.is_empty(), "{name}: not pinned by SHA: {bad:?}");
        seen += text.lines().filter(|l| l.contains("uses:")).count();
    }
    assert!(seen > 5, "the check saw the actions ({seen})");
    let tags = "    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/cache@0057852bfaa89a56745cba8c7296529d2fc39830\n      - uses: a/b@0057852bfaa89a56745cba8c7296529d2fc39830 # v4.2.0\n";
    assert_eq!(
        unpinned_actions(tags).len(),
        2,
        "a tag, and a SHA without its version"
    );
}

#[test]
fn cargo_runs_locked_in_the_workflows_and_the_scripts_they_run() {
    let mut texts = workflows();
    for script in [
        ".ci/run",
        "infra/package.sh",
        "contract-tests/schemathesis.sh",
    ] {
        texts.push((script.to_owned(), repo_file(script)));
    }
    for (name, text) in texts {
        for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
            let builds = [
                "cargo build",
                "cargo test",
                "cargo run",
                "cargo lambda build",
                "cargo clippy",
                "cargo install",
            ]
            .iter()
            .any(|c| outside_quotes(line).contains(c));
            assert!(
                !builds || line.contains("--locked"),
                "{name}: cargo without --locked: {line}"
            );
        }
    }
}

/// `line` without what it quotes ("...", '...'): the words a shell runs,
/// not a message or a pattern that names a command.
fn outside_quotes(line: &str) -> String {
    let mut out = String::new();
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) => out.push(c),
            (Some(_), _) => {}
        }
    }
    out
}

#[test]
fn a_command_named_inside_quotes_is_not_run() {
    assert_eq!(outside_quotes(r#"grep -q "cargo install" f"#), "grep -q  f");
    assert!(outside_quotes("cargo build 'x'").contains("cargo build"));
}

/// What must not happen once a job holds credentials: building or
/// installing runs code (build scripts, package hooks) that could read them.
const BUILDS_OR_INSTALLS: [&str; 9] = [
    "cargo ",
    "rustup",
    "pip install",
    "npm ",
    "package.sh",
    "deploy-tools.sh",
    "apt-get",
    "curl -sSf",
    "| sh",
];

#[test]
fn nothing_is_built_or_installed_once_credentials_are_configured() {
    let mut jobs_with_credentials = 0;
    for (name, text) in workflows() {
        for (job, steps) in jobs(&text) {
            let Some(at) = steps.iter().position(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("aws-actions/configure-aws-credentials@"))
            }) else {
                continue;
            };
            jobs_with_credentials += 1;
            for step in &steps[at..] {
                let run = run_of(step).unwrap_or("");
                for bad in BUILDS_OR_INSTALLS {
                    assert!(
                        !run.contains(bad),
                        "{name} {job}: `{bad}` after the credentials: {run}"
                    );
                }
            }
        }
    }
    assert_eq!(jobs_with_credentials, 2, "staging and production");
}

#[test]
fn staging_is_deployed_with_test_keys_on_its_own_table_and_judged_before_production() {
    let text = repo_file(".github/workflows/deploy.yml");
    let doc: Value = serde_yaml_ng::from_str(&text).expect("yaml");
    let j = &doc["jobs"];
    let (staging, production) = (&j["staging"], &j["production"]);
    assert_eq!(
        production["needs"], "staging",
        "production waits for staging"
    );
    assert_eq!(staging["env"]["LOADTEST_KEYS"], "enabled");
    assert_eq!(production["env"]["LOADTEST_KEYS"], "disabled");
    let (st, pt) = (
        &staging["env"]["TABLE_NAME"],
        &production["env"]["TABLE_NAME"],
    );
    assert!(
        st.as_str().is_some() && st != pt,
        "its own table: {st:?} {pt:?}"
    );
    assert_ne!(staging["env"]["STACK"], production["env"]["STACK"]);
    assert_eq!(staging["environment"], "staging");
    assert_eq!(production["environment"], "production");

    // The judges run in staging, after its deploy and before its publish;
    // production publishes only after a deploy of its own.
    let runs = |job: &Value| -> Vec<String> {
        job["steps"]
            .as_sequence()
            .expect("steps")
            .iter()
            .map(|s| run_of(s).unwrap_or("").to_owned())
            .collect()
    };
    let order = |runs: &[String], what: &str| {
        runs.iter()
            .position(|r| r.contains(what))
            .unwrap_or_else(|| panic!("no step runs {what}"))
    };
    let s = runs(staging);
    let deploy = order(&s, "infra/deploy-stack.sh");
    for judge in [
        "provider_checks::the_api_meets_every_operation_and_example_of_the_contract",
        "contract-tests/schemathesis.sh",
        "dist/loadtest --host",
    ] {
        let at = order(&s, judge);
        assert!(
            deploy < at && at < order(&s, "infra/publish-site.sh"),
            "{judge}"
        );
    }
    let p = runs(production);
    assert!(order(&p, "infra/deploy-stack.sh") < order(&p, "infra/publish-site.sh"));
    assert!(
        !p.iter().any(|r| r.contains("dist/loadtest --host")),
        "no load on production"
    );
}

#[test]
fn every_checkov_skip_is_listed_in_one_file_with_its_reason() {
    let text = repo_file(".ci/checkov.yaml");
    let skips: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("- CKV"))
        .collect();
    assert!(!skips.is_empty());
    for line in &skips {
        let (_, reason) = line.split_once('#').unwrap_or((line, ""));
        assert!(
            reason.trim().len() > 30,
            "a skip without its reason: {line}"
        );
    }
    // No skip hides anywhere else.
    for file in [
        "infra/template.yaml",
        ".github/workflows/deploy.yml",
        ".github/workflows/loadtest.yml",
    ] {
        assert!(
            !repo_file(file).contains("checkov:skip"),
            "{file} skips a check inline"
        );
    }
    assert!(repo_file(".ci/run").contains("--config-file .ci/checkov.yaml"));
}
