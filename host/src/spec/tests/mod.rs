//! One test per rule: a bad snippet → the exact field path, line and message fragment.
//!
//! `validate.rs`: the Kubernetes validation rules; `parse.rs`: YAML parsing, documents,
//! strict fields, warnings and `load`.

use super::*;

mod inputs;
mod limits;
mod objects;
mod parse;
mod sources;
mod validate;
mod workloads;

/// Lines 1–5; the spec body passed to [`pod`] starts on line 6.
const HEAD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n";

fn pod(spec_body: &str) -> String {
    format!("{HEAD}{spec_body}")
}

fn problems(yaml: &str) -> Vec<Diagnostic> {
    let file = parse(yaml).unwrap_or_else(|e| panic!("parse failed: {e}"));
    match validate(&file.pods[0]) {
        Err(SpecError::Invalid { problems, .. }) => problems,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn warnings(yaml: &str) -> Vec<Diagnostic> {
    let file = parse(yaml).unwrap_or_else(|e| panic!("parse failed: {e}"));
    validate(&file.pods[0]).unwrap_or_else(|e| panic!("expected valid, got {e}"))
}

/// Asserts that exactly one diagnostic has `path`, `line` and a message containing `fragment`.
#[track_caller]
fn has(found: &[Diagnostic], path: &str, line: usize, fragment: &str) {
    let hits = found
        .iter()
        .filter(|d| d.path == path && d.line == Some(line) && d.message.contains(fragment))
        .count();
    assert_eq!(
        hits, 1,
        "want {path} (line {line}): ...{fragment}... in:\n{found:#?}"
    );
}

const APP: &str = "  containers:\n  - name: app\n    image: app.wasm\n"; // lines 6-8
