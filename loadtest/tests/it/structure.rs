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

/// The workspace's root (this crate is one below it).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every crate's sources: the rules below hold in all of them.
const SOURCES: [&str; 7] = [
    "loadtest/src",
    "contract-tests/src",
    "counter-lambda/src",
    "counter-lambda/counter-api/src",
    "counter-lambda/local-stage/src",
    "http-serve/src",
    "sam-template/src",
];

#[test]
fn no_function_in_the_workspace_is_longer_than_80_lines() {
    let root = workspace();
    let mut long = Vec::new();
    for dir in SOURCES.map(|d| root.join(d)) {
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

/// The pure parts: the load test's analysis (the verdict, the figures, the
/// cost model), the API's rules the Lambda and its clients share, and the
/// Lambda's routing of a request to an action.
const PURE: [&str; 3] = [
    "loadtest/src/analysis",
    "counter-lambda/counter-api/src",
    "counter-lambda/src/route.rs",
];

#[test]
fn the_pure_core_does_no_io_and_knows_no_command_line() {
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
    let files = PURE.iter().flat_map(|p| {
        let p = workspace().join(p);
        if p.is_file() { vec![p] } else { rust_files(&p) }
    });
    for file in files {
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

/// Where a path named in the docs may be relative to: the workspace's
/// root, a crate's folder or sources (ARCHITECTURE.md names
/// `load/client.rs`, `checker/oracle.rs`), or the recipes' folder.
fn resolves(path: &str) -> bool {
    let root = workspace();
    let more = [
        "loadtest",
        "loadtest/src/analysis",
        "loadtest/src/commands",
        "contract-tests",
        "counter-lambda",
        "counter-lambda/local-stage",
        "infra/k8s",
    ];
    std::iter::once(root.clone())
        .chain(SOURCES.iter().chain(&more).map(|s| root.join(s)))
        .any(|base| base.join(path).exists())
}

/// What the repository holds: files with these endings (not build or
/// run outputs, not routes or media types).
const FILE_KINDS: [&str; 13] = [
    ".rs", ".md", ".yaml", ".yml", ".sh", ".toml", ".json", ".py", ".java", ".js", ".html", ".txt",
    ".lock",
];

/// The file paths a Markdown text names: in `code` spans and in links,
/// those with a `/` in them (a bare file name cannot be placed).
fn named_paths(text: &str) -> Vec<String> {
    let looks_like_path = |t: &str| {
        t.contains('/')
            && FILE_KINDS.iter().any(|k| t.ends_with(k))
            && !t.starts_with("target/")
            && !t.contains("://")
            && !t.starts_with('/')
            && !t.contains(['<', '>', '*', ' ', '$', '{', '=', '?', '@', ':'])
            && t.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
    };
    let mut found = Vec::new();
    for piece in text.split('`').skip(1).step_by(2) {
        if looks_like_path(piece) {
            found.push(piece.to_owned());
        }
    }
    for link in text.split("](").skip(1) {
        let target = link.split(')').next().unwrap_or("");
        let target = target.split('#').next().unwrap_or("");
        if looks_like_path(target) || (target.ends_with(".md") && !target.contains("://")) {
            found.push(target.to_owned());
        }
    }
    found
}

#[test]
fn a_path_named_in_the_docs_is_recognised() {
    let names = named_paths(
        "see `loadtest/src/load/client.rs`, `GET /visits`, [docs](docs/verdict.md#x) and `https://a/b`",
    );
    assert_eq!(names, ["loadtest/src/load/client.rs", "docs/verdict.md"]);
    assert!(resolves("load/client.rs") && !resolves("load/direct.rs"));
}

#[test]
fn every_path_named_in_architecture_readme_and_docs_exists() {
    let root = workspace();
    let mut pages = vec![root.join("ARCHITECTURE.md"), root.join("README.md")];
    pages.extend(
        crate::helpers::files_below(&root.join("docs"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    let mut missing = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).expect("readable");
        let dir = page.parent().unwrap_or(&root);
        for path in named_paths(&text) {
            // A link is relative to its page; a code span to the workspace.
            if !(resolves(&path) || dir.join(&path).exists()) {
                missing.push(format!("{}: {path}", page.display()));
            }
        }
    }
    assert!(pages.len() > 5, "the pages were found: {pages:?}");
    assert!(missing.is_empty(), "named but not there: {missing:#?}");
}
