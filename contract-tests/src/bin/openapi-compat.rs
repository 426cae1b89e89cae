//! Fails when `openapi.yaml` breaks clients of an earlier version of the
//! same major version (see `contract_tests::compat` for the rules).
//!
//! ```text
//! openapi-compat                 # against every earlier version of this major in git history
//! openapi-compat --base REF      # against REF:openapi.yaml (a tag, a merge base)
//! ```
//!
//! Run from the repository's root. Exit status: 0 compatible (or a new
//! major version), 1 breaking, 2 a usage or I/O error.

use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use contract_tests::compat::compare;
use serde_json::Value;

const CONTRACT: &str = "openapi.yaml";

fn git(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .args(args)
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn parse(text: &str, what: &str) -> anyhow::Result<Value> {
    serde_yaml_ng::from_str(text).with_context(|| format!("{what} is not valid YAML"))
}

fn major(doc: &Value) -> Option<u64> {
    doc["info"]["version"]
        .as_str()?
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// (label, document) of every earlier version to compare with.
fn bases(
    base: Option<&str>,
    current_text: &str,
    current: &Value,
) -> anyhow::Result<Vec<(String, Value)>> {
    if let Some(r) = base {
        let text = git(&["show", &format!("{r}:{CONTRACT}")])?;
        return Ok(vec![(
            r.to_owned(),
            parse(&text, &format!("{r}:{CONTRACT}"))?,
        )]);
    }
    // Every version of this major in history, newest first, each once.
    let mut out: Vec<(String, Value)> = Vec::new();
    let mut seen = vec![current_text.to_owned()];
    for commit in git(&["log", "--format=%h", "--", CONTRACT])?.lines() {
        let Ok(text) = git(&["show", &format!("{commit}:{CONTRACT}")]) else {
            continue; // the commit that deleted or renamed it
        };
        if seen.contains(&text) {
            continue;
        }
        let doc = parse(&text, &format!("{commit}:{CONTRACT}"))?;
        if major(&doc) != major(current) {
            break;
        }
        seen.push(text);
        out.push((commit.to_owned(), doc));
    }
    Ok(out)
}

fn run() -> anyhow::Result<bool> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let base = match args.as_slice() {
        [] => std::env::var("CONTRACT_BASE_REF")
            .ok()
            .filter(|s| !s.is_empty()),
        [flag, r] if flag == "--base" => Some(r.clone()),
        _ => {
            eprintln!("usage: openapi-compat [--base REF]");
            std::process::exit(2);
        }
    };
    let text = std::fs::read_to_string(CONTRACT).with_context(|| format!("reading {CONTRACT}"))?;
    let current = parse(&text, CONTRACT)?;
    let bases = bases(base.as_deref(), &text, &current)?;
    if bases.is_empty() {
        println!("openapi-compat: no earlier version of this major version to compare with");
    }
    let mut ok = true;
    for (label, old) in &bases {
        let verdict = compare(old, &current);
        let breaking = verdict.breaking().count();
        println!(
            "openapi-compat: {CONTRACT} {} against {label} ({}): {} changes, {breaking} breaking{}",
            verdict.new_version,
            verdict.old_version,
            verdict.changes.len(),
            if breaking > 0 && verdict.major_bumped() {
                " (allowed: new major version)"
            } else {
                ""
            }
        );
        for change in &verdict.changes {
            println!("  {change}");
        }
        ok &= verdict.passes();
    }
    Ok(ok)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!(
                "openapi-compat: breaking changes without a new major info.version (bump it, or keep clients working)"
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("openapi-compat: {e:#}");
            ExitCode::from(2)
        }
    }
}
