//! Bytes as an image file → `Runtime::prepare_image`: read (regular file, size
//! cap), classify (component or core module), compile with cranelift and
//! link against the host. The whole path, compilation included: inputs are
//! small and mostly rejected by the parser before cranelift sees them.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wasmpod::{Runtime, RuntimeConfig};

struct Harness {
    rt: Runtime,
    executor: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| Harness {
        rt: Runtime::new(RuntimeConfig::default().with_cache_dir(None)).expect("runtime"),
        executor: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("executor"),
        dir: tempfile::tempdir().expect("tempdir"),
    })
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    let path = h.dir.path().join("image.wasm");
    std::fs::write(&path, data).expect("write image");
    let image = path.to_str().expect("a UTF-8 path");
    let result = h
        .executor
        .block_on(h.rt.prepare_image(image, std::path::Path::new("/")));
    let _ = result.map_err(|e| (e.to_string(), e.reason()));
});
