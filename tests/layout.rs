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
    assert!(order.len() > 5, "{order:?}");
}

/// The top-level modules in the order `src/lib.rs` declares them: the layers, bottom first.
fn declared_layers() -> Vec<String> {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect()
}

#[test]
fn every_module_uses_only_the_layers_declared_before_it() {
    let layers = declared_layers();
    assert_eq!(
        layers,
        ["domain", "support", "config", "storage", "brokers", "alert", "pipeline", "commands"],
        "src/lib.rs lists the layers bottom first"
    );
    let graph = graph();
    let mut problems = Vec::new();
    for (module, deps) in &graph {
        let Some(at) = layers.iter().position(|l| l == module) else {
            problems.push(format!("{module} is not a declared layer"));
            continue;
        };
        for dep in deps {
            match layers.iter().position(|l| l == dep) {
                Some(d) if d < at => {}
                _ => problems.push(format!("{module} uses {dep}, which is not below it")),
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // Inside the shell's bottom and its run, the same rule: the emergency exit and the trade
    // stages share the one journaled send and the core's reconciliation.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let exit = std::fs::read_to_string(src.join("pipeline/emergency.rs")).unwrap();
    assert!(exit.contains("send::send_journaled") && exit.contains("domain::reconcile"));
    for file in sources(&src) {
        let text = std::fs::read_to_string(&file).unwrap();
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .to_string();
        if text.contains("place_order(") && !rel.starts_with("brokers") {
            assert_eq!(
                rel, "pipeline/send.rs",
                "only the journaled send places orders"
            );
        }
    }
}

/// Parameters of every `fn` in `text` that are anonymous tuples (`(a, b): (A, B)`, or a
/// parameter typed as a tuple): a context that should have a name.
fn tuple_parameters(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("fn ") {
        let after = &rest[i + 3..];
        rest = after;
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let Some(open) = after.find('(') else { break };
        // Only a signature: the name, maybe generics, then the parameter list.
        if !after[name.len()..open].trim().is_empty()
            && !after[name.len()..open].trim().starts_with('<')
        {
            continue;
        }
        let mut depth = 0i32;
        let mut params = String::new();
        let bytes: Vec<char> = after[open..].chars().collect();
        for (k, c) in bytes.iter().enumerate() {
            match c {
                '(' | '[' => depth += 1,
                ')' | ']' => depth -= 1,
                '<' => depth += 1,
                '>' if k > 0 && bytes[k - 1] != '-' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                break;
            }
            params.push(*c);
        }
        let mut level = 0i32;
        let mut current = String::new();
        let mut parts = Vec::new();
        let chars: Vec<char> = params.chars().skip(1).collect();
        for (k, c) in chars.iter().enumerate() {
            match c {
                '(' | '[' | '<' => level += 1,
                ')' | ']' => level -= 1,
                '>' if k > 0 && chars[k - 1] != '-' => level -= 1,
                _ => {}
            }
            if *c == ',' && level == 0 {
                parts.push(std::mem::take(&mut current));
            } else {
                current.push(*c);
            }
        }
        parts.push(current);
        for p in parts {
            let p = p.trim();
            let ty = p.split_once(':').map(|(_, t)| t.trim());
            if p.starts_with('(') || ty.is_some_and(|t| t.starts_with('(') && t != "()") {
                out.push(format!(
                    "fn {name}: {}",
                    p.split_whitespace().collect::<Vec<_>>().join(" ")
                ));
            }
        }
    }
    out
}

#[test]
fn no_function_takes_an_anonymous_tuple_for_a_context() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for file in sources(&src) {
        let text = std::fs::read_to_string(&file).unwrap();
        for p in tuple_parameters(&text) {
            found.push(format!("{}: {p}", file.display()));
        }
    }
    assert!(found.is_empty(), "name these contexts: {found:#?}");
}

#[test]
fn the_tuple_scanner_sees_a_tuple_parameter_and_nothing_else() {
    let text = "fn a(x: u8, (b, c): (u8, u8)) {}\nfn d(f: impl Fn(&str) -> u8, y: Vec<(u8, u8)>) {}\nfn e(z: (u8, u8)) {}\n";
    assert_eq!(
        tuple_parameters(text),
        ["fn a: (b, c): (u8, u8)", "fn e: z: (u8, u8)"]
    );
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
