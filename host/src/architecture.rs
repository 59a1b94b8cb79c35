//! The library's layering, checked: imports run down the flow, never back up.
//!
//! Reads every source file under `src/` and the `crate::…` and `super::…` paths in its code
//! (comments aside), then checks that
//! * a module imports only modules below it in [`LAYERS`];
//! * no two folders import each other (where their paths part);
//! * every folder's first line is a doc line saying what it is.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The top-level modules from the top (the public front) down. A module may import the ones
/// after it, never one before it.
const LAYERS: &[&str] = &[
    "testing",    // pods as test fixtures, over the public handle
    "workloads",  // controllers: Deployments, StatefulSets, Jobs… creating pods
    "pod",        // the public handle: create, options, outcome, connect, kubectl columns
    "error",      // the library's error, over every stage's
    "supervisor", // the kubelet's decisions and the driver that carries them out
    "runtime",    // the engine, image cache, guest executor, and what pods share
    "container",  // one Wasm instance: images, linkers, store, exit
    "sandbox",    // what a guest can touch: directories, network, stdio
    "plan",       // the resolved pod
    "spec",       // parse and validate a manifest
    "report",     // an error and its causes on one line (used by every stage)
    "sync",       // a lock that outlives a panicked holder (used by every stage)
];

/// A source file: its module path (`["supervisor", "driver", "hooks"]`) and whether it is
/// a folder's `mod.rs`.
struct Source {
    path: PathBuf,
    module: Vec<String>,
    is_mod: bool,
    test: bool,
    text: String,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).expect("under src");
            let mut module: Vec<String> = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let is_mod = module.last().is_some_and(|m| m == "mod");
            if is_mod || module == ["lib"] {
                module.pop();
            }
            let test = module.iter().any(|m| m == "tests");
            let text = std::fs::read_to_string(&path).expect("readable source");
            out.push(Source {
                path,
                module,
                is_mod,
                test,
                text,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The code of a file without its comments (so doc links do not count as imports).
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module path a file names through `crate::` or `super::`, resolved to absolute
/// segments (`crate::plan::{a, b}` gives `plan::a` and `plan::b`).
fn imports(source: &Source) -> BTreeSet<Vec<String>> {
    let code = code(&source.text);
    let mut found = BTreeSet::new();
    let bytes = code.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < code.len() {
        if !code.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let starts_word = i == 0 || !ident(bytes[i - 1]);
        let rest = &code[i..];
        let (mut base, mut at) = if starts_word && rest.starts_with("crate::") {
            (Vec::new(), i + "crate::".len())
        } else if starts_word && rest.starts_with("super::") {
            // `super` of a file's module is its parent; a `mod.rs` is its folder's module.
            let mut base = source.module.clone();
            base.pop();
            (base, i + "super::".len())
        } else {
            i += 1;
            continue;
        };
        while code[at..].starts_with("super::") {
            base.pop();
            at += "super::".len();
        }
        for path in paths_at(&code[at..]) {
            let mut full = base.clone();
            full.extend(path);
            found.insert(full);
        }
        i = at;
    }
    found
}

/// The paths written at the start of `text`: `a::b::c`, or a `{…}` group of them.
fn paths_at(text: &str) -> Vec<Vec<String>> {
    if let Some(group) = text.strip_prefix('{') {
        let mut depth = 1;
        let end = group
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map_or(group.len(), |(at, _)| at);
        let mut out = Vec::new();
        let mut depth = 0;
        let mut start = 0;
        let inner = &group[..end];
        for (at, c) in inner.char_indices().chain([(inner.len(), ',')]) {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.extend(paths_at(inner[start..at].trim()));
                    start = at + 1;
                }
                _ => {}
            }
        }
        return out;
    }
    let mut path = Vec::new();
    let mut rest = text;
    loop {
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if len == 0 {
            break;
        }
        path.push(rest[..len].to_owned());
        rest = &rest[len..];
        match rest.strip_prefix("::") {
            Some(next) if next.starts_with('{') => {
                return paths_at(next)
                    .into_iter()
                    .map(|tail| path.iter().cloned().chain(tail).collect())
                    .collect();
            }
            Some(next) => rest = next,
            None => break,
        }
    }
    if path.is_empty() {
        Vec::new()
    } else {
        vec![path]
    }
}

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == module)
}

#[test]
fn every_top_level_module_has_a_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut unranked = Vec::new();
    for source in sources() {
        if source.path.parent() == Some(root.as_path()) && source.module.len() == 1 {
            let name = &source.module[0];
            if rank(name).is_none() && name != "architecture" {
                unranked.push(name.clone());
            }
        }
        if let Some(first) = source.module.first()
            && source.module.len() > 1
            && rank(first).is_none()
        {
            unranked.push(first.clone());
        }
    }
    unranked.sort();
    unranked.dedup();
    assert!(
        unranked.is_empty(),
        "modules missing from LAYERS: {unranked:?}"
    );
}

#[test]
fn no_module_imports_one_above_it() {
    let mut back_up = Vec::new();
    for source in sources().iter().filter(|s| !s.test) {
        let Some(from) = source.module.first().and_then(|m| rank(m)) else {
            continue;
        };
        for import in imports(source) {
            let Some(to) = import.first().and_then(|m| rank(m)) else {
                continue;
            };
            if to < from {
                back_up.push(format!(
                    "{} imports {} ({} is above {})",
                    source.path.display(),
                    import.join("::"),
                    LAYERS[to],
                    LAYERS[from]
                ));
            }
        }
    }
    assert!(
        back_up.is_empty(),
        "imports running back up the flow:\n{}",
        back_up.join("\n")
    );
}

/// The pairs of sibling folders that import each other, given which folder imports which.
/// An import from `a/x/…` of `b/y/…` ties the siblings `a` and `b`, where the paths part.
fn mutual_folders(edges: &[(Vec<String>, Vec<String>)]) -> Vec<String> {
    let mut tied: BTreeSet<(Vec<String>, Vec<String>)> = BTreeSet::new();
    for (from, to) in edges {
        let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
        if common < from.len() && common < to.len() {
            tied.insert((from[..=common].to_vec(), to[..=common].to_vec()));
        }
    }
    tied.iter()
        .filter(|(a, b)| a < b && tied.contains(&(b.clone(), a.clone())))
        .map(|(a, b)| format!("{} <-> {}", a.join("/"), b.join("/")))
        .collect()
}

#[test]
fn no_two_folders_import_each_other() {
    let sources = sources();
    let folders: BTreeSet<Vec<String>> = sources
        .iter()
        .filter(|s| s.is_mod && !s.test)
        .map(|s| s.module.clone())
        .collect();
    // The folder a module path lies in (its longest folder prefix).
    let folder_of = |path: &[String]| -> Option<Vec<String>> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|p| folders.contains(p))
    };
    let mut edges = Vec::new();
    for source in sources.iter().filter(|s| !s.test) {
        let Some(from) = folder_of(&source.module) else {
            continue;
        };
        for import in imports(source) {
            if let Some(to) = folder_of(&import) {
                edges.push((from.clone(), to));
            }
        }
    }
    let mutual = mutual_folders(&edges);
    assert!(
        mutual.is_empty(),
        "folders importing each other:\n{}",
        mutual.join("\n")
    );
}

#[test]
fn mutual_imports_are_found_where_the_paths_part() {
    let p = |s: &str| s.split('/').map(String::from).collect::<Vec<_>>();
    // supervisor/driver uses pod, pod uses supervisor: the folders supervisor and pod are tied.
    let edges = [
        (p("supervisor/driver"), p("pod")),
        (p("pod"), p("supervisor")),
        (p("supervisor/driver"), p("supervisor")), // a child using its parent is fine
        (p("supervisor"), p("supervisor/driver")),
        (p("sandbox/net"), p("plan")),
    ];
    assert_eq!(mutual_folders(&edges), ["pod <-> supervisor"]);
    assert!(mutual_folders(&edges[2..]).is_empty());
}

#[test]
fn every_folder_says_what_it_is() {
    let silent: Vec<String> = sources()
        .iter()
        .filter(|s| s.is_mod || s.module.is_empty())
        .filter(|s| !s.text.trim_start().starts_with("//!"))
        .map(|s| s.path.display().to_string())
        .collect();
    assert!(
        silent.is_empty(),
        "folders whose first line is not a doc line: {silent:?}"
    );
}

#[test]
fn imports_are_read_as_written() {
    let source = Source {
        path: PathBuf::from("src/supervisor/driver/hooks.rs"),
        module: ["supervisor", "driver", "hooks"].map(String::from).to_vec(),
        is_mod: false,
        test: false,
        text: "use crate::plan::{PodPlan, probe::{A, B}};\n\
               use super::super::status;\n\
               // crate::pod::Event in a comment\n\
               let x = super::messages::read();\n"
            .into(),
    };
    let found: Vec<String> = imports(&source).into_iter().map(|p| p.join("::")).collect();
    assert_eq!(
        found,
        [
            "plan::PodPlan",
            "plan::probe::A",
            "plan::probe::B",
            "supervisor::driver::messages::read",
            "supervisor::status",
        ]
    );
}
