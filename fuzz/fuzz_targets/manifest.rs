//! Bytes → the manifest loader (`spec::load`: size and nesting pre-scan, both
//! YAML parsers, strict fields, validation with the `$(VAR)` expansion
//! limits) → `plan::resolve`. Nothing may panic, hang or take memory without
//! bound.
//!
//! `spec` and `plan` are compiled here from their sources (they are pure:
//! text in, data out), so the instrumented build has no wasmtime in it.
#![no_main]
#![allow(dead_code, unused_imports, clippy::all)]

#[path = "../../host/src/spec/mod.rs"]
mod spec;

#[path = "../../host/src/plan/mod.rs"]
mod plan;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match spec::load(&text) {
        Ok(file) => {
            for pod in &file.pods {
                let _ = pod.document.display_name();
                let plan = plan::resolve(&pod.document.pod, std::path::Path::new("/nonexistent"));
                let _ = plan.map_err(|e| e.to_string());
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
