//! The architecture the README states, checked on the source: the core imports nothing
//! from the shell and touches no file, clock or network, and the top-level modules depend on
//! each other without a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// `crate::<name>` paths a file uses, by the top-level module `name`.
fn uses(text: &str) -> BTreeSet<String> {
    text.match_indices("crate::")
        .map(|(i, _)| {
            text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// Top-level module of a file under src/ (`src/domain/bars.rs` -> `domain`).
fn group_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in sources(&src) {
        let group = group_of(&src, &file);
        if group == "lib" || group == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let deps = graph.entry(group.clone()).or_default();
        deps.extend(uses(&text).into_iter().filter(|d| *d != group));
    }
    graph
}

#[test]
fn the_core_imports_nothing_from_the_shell_and_does_no_io() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain");
    let forbidden = [
        "std::fs",
        "std::env",
        "std::net",
        "std::thread",
        "SystemTime",
        "Utc::now",
        "Local::now",
        "reqwest",
        "lettre",
        "tracing::",
    ];
    let mut problems = Vec::new();
    for file in sources(&src) {
        let text = std::fs::read_to_string(&file).unwrap();
        for name in uses(&text) {
            if name != "domain" {
                problems.push(format!("{} uses crate::{name}", file.display()));
            }
        }
        for word in forbidden {
            if text.contains(word) {
                problems.push(format!("{} uses {word}", file.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_top_level_modules_depend_on_each_other_without_a_cycle() {
    let graph = graph();
    // Kahn's algorithm: repeatedly take a module whose dependencies are all taken.
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order = Vec::new();
    loop {
        let ready: Vec<String> = graph
            .iter()
            .filter(|(g, deps)| !done.contains(*g) && deps.iter().all(|d| done.contains(d)))
            .map(|(g, _)| g.clone())
            .collect();
        if ready.is_empty() {
            break;
        }
        for g in ready {
            done.insert(g.clone());
            order.push(g);
        }
    }
    let stuck: BTreeMap<_, _> = graph.iter().filter(|(g, _)| !done.contains(*g)).collect();
    assert!(stuck.is_empty(), "modules in a cycle: {stuck:#?}");
    // The layers the README names, bottom first.
    let position = |g: &str| order.iter().position(|x| x == g).unwrap();
    for (lower, upper) in [
        ("domain", "config"),
        ("config", "storage"),
        ("storage", "brokers"),
        ("brokers", "pipeline"),
        ("pipeline", "commands"),
    ] {
        assert!(
            position(lower) < position(upper),
            "{lower} must sit below {upper}: {order:?}"
        );
    }
}

#[test]
fn the_checker_sees_a_cycle_when_there_is_one() {
    // The scanner itself: a file naming crate::pipeline is seen as depending on it.
    let deps = uses("use crate::pipeline::Run;\nlet x = crate::domain::bars::Bar::new();");
    assert_eq!(
        deps,
        ["domain", "pipeline"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}

/// Lines of each `fn` in `text` (from its signature to its closing brace), by name. Braces
/// inside string and char literals and comments are skipped.
fn function_lengths(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let signature = [
            "fn ",
            "pub fn ",
            "pub(super) fn ",
            "pub(crate) fn ",
            "const fn ",
        ]
        .iter()
        .find_map(|p| trimmed.strip_prefix(p));
        let Some(rest) = signature else { continue };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let mut depth = 0i64;
        let mut opened = false;
        for (end, l) in lines.iter().enumerate().skip(start) {
            let code = strip_literals(l);
            depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
            opened |= code.contains('{');
            if (opened && depth <= 0) || (!opened && code.trim_end().ends_with(';')) {
                out.push((name.clone(), end - start + 1));
                break;
            }
        }
    }
    out
}

fn strip_literals(line: &str) -> String {
    let code = line.split("//").next().unwrap_or("");
    let mut out = String::new();
    let mut in_string = false;
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_string => {
                chars.next();
            }
            '"' => in_string = !in_string,
            '\'' if !in_string => {
                // A char literal ('{', '\n'); a lifetime ('a) has no closing quote nearby.
                let rest: String = chars.clone().take(3).collect();
                if let Some(close) = rest.find('\'').filter(|i| *i > 0) {
                    for _ in 0..=close {
                        chars.next();
                    }
                }
            }
            _ if !in_string => out.push(c),
            _ => {}
        }
    }
    out
}

#[test]
fn no_function_in_src_is_longer_than_80_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut long = Vec::new();
    for file in sources(&src) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (name, lines) in function_lengths(&text) {
            if lines > 80 {
                long.push(format!("{}: fn {name} is {lines} lines", file.display()));
            }
        }
    }
    assert!(long.is_empty(), "{long:#?}");
}

#[test]
fn the_length_scanner_counts_a_function_and_ignores_braces_in_strings() {
    let text = "fn a() {\n    let s = \"{{\";\n    let c = '{';\n    if x {\n        y();\n    }\n}\nfn b();\n";
    assert_eq!(
        function_lengths(text),
        vec![("a".to_string(), 7), ("b".to_string(), 1)]
    );
}
