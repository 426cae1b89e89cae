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
        let Some(rest) = without_qualifiers(trimmed).strip_prefix("fn ") else {
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

/// `line` without its visibility (`pub`, `pub(crate)`, `pub(super)`,
/// `pub(in path)`) and the qualifiers that may precede `fn`.
fn without_qualifiers(line: &str) -> &str {
    let mut rest = line;
    if let Some(after) = rest.strip_prefix("pub") {
        let after = match after.strip_prefix('(') {
            Some(inner) => inner.split_once(')').map_or(after, |(_, tail)| tail),
            None => after,
        };
        if let Some(after) = after.strip_prefix(' ') {
            rest = after;
        }
    }
    while let Some(after) = ["const ", "async ", "unsafe "]
        .iter()
        .find_map(|q| rest.strip_prefix(q))
    {
        rest = after;
    }
    rest
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
fn every_visibility_and_qualifier_is_measured() {
    let body = "{\n    x();\n}\n";
    for head in [
        "pub(super) fn f()",
        "pub(in crate::analysis) fn f()",
        "pub(crate) const fn f()",
        "pub async unsafe fn f()",
        "    pub(self) fn f()",
    ] {
        let indent = &head[..head.len() - head.trim_start().len()];
        let src = format!("{head} {}", body.replace('\n', &format!("\n{indent}")));
        assert_eq!(
            function_lengths(src.trim_end()),
            vec![("f".to_owned(), 3)],
            "{head}"
        );
    }
    assert_eq!(
        function_lengths("pub struct fn_like;\npubfn x() {\n}\n"),
        vec![]
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
