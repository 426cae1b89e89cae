//! The shape ARCHITECTURE.md promises, enforced: the pure core does no I/O
//! and knows nothing of the command line, and no function grows past what
//! a reader takes in at once.

use std::path::{Path, PathBuf};

const LONGEST_FUNCTION: usize = 80;

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    crate::helpers::files_below(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect()
}

/// `(name, lines)` of each function in `source`: from its `fn` line to the
/// closing brace at the same indentation (rustfmt's layout).
fn function_lengths(source: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = source.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let after = ["pub(crate) ", "pub ", ""]
            .iter()
            .find_map(|p| trimmed.strip_prefix(p))
            .unwrap_or(trimmed);
        let after = after.strip_prefix("async ").unwrap_or(after);
        let Some(rest) = after.strip_prefix("fn ") else {
            continue;
        };
        if line.trim_end().ends_with(';') {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let close = format!("{indent}}}");
        if let Some(end) = lines[i + 1..].iter().position(|l| *l == close) {
            found.push((name, end + 2));
        }
    }
    found
}

#[test]
fn the_measure_of_a_function_is_what_it_spans() {
    let src = "fn a() {\n    x();\n}\n\npub async fn b(\n    y: u8,\n) {\n}\nfn c();\n";
    assert_eq!(
        function_lengths(src),
        vec![("a".to_owned(), 3), ("b".to_owned(), 4)]
    );
}

#[test]
fn no_function_in_loadtest_or_contract_tests_is_longer_than_80_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut long = Vec::new();
    for dir in [root.join("src"), root.join("../contract-tests/src")] {
        for file in rust_files(&dir) {
            let text = std::fs::read_to_string(&file).expect("readable");
            for (name, lines) in function_lengths(&text) {
                if lines > LONGEST_FUNCTION {
                    long.push(format!("{}: {name} ({lines} lines)", file.display()));
                }
            }
        }
    }
    assert!(long.is_empty(), "split these into named steps: {long:#?}");
}

#[test]
fn the_pure_core_does_no_io_and_knows_no_command_line() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/analysis");
    let forbidden = [
        "std::fs",
        "std::net",
        "std::process",
        "std::env",
        "tokio::",
        "reqwest::",
        "clap::",
        "goose::",
        "SystemTime",
        "Instant::now",
    ];
    let mut found = Vec::new();
    for file in rust_files(&core) {
        let text = std::fs::read_to_string(&file).expect("readable");
        // Test modules may build fixtures however they like.
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or("")
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for word in forbidden {
            if code.contains(word) {
                found.push(format!("{}: {word}", file.display()));
            }
        }
    }
    assert!(found.is_empty(), "I/O in the pure core: {found:#?}");
}
