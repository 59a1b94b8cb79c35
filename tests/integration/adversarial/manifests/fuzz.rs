//! A short, deterministic, uninstrumented fuzz run for CI, and the replay of
//! every input the real fuzzer found (`fuzz/corpus-regressions/`).
//!
//! The real fuzzer (`fuzz/`, cargo-fuzz) needs an instrumented build of
//! wasmtime, about twenty minutes; this smoke reuses the test build. It
//! mutates the seed corpus (the example pods, the regression corpus, a few
//! tiny Wasm images) with a fixed seed, a few thousand times, through the
//! same paths as the fuzz targets: text → `spec::load` → `Runtime::validate` for
//! manifests, bytes in a file → `Runtime::prepare_image` for images. Each input
//! must end without a panic and within a generous bound (not a performance
//! target: it catches hangs and quadratic blow-ups, which take minutes).
//!
//! `WASMPOD_FUZZ_ITERATIONS` and `WASMPOD_FUZZ_SEED` make a longer or
//! different run (`WASMPOD_FUZZ_ITERATIONS=200000 cargo test -p wasmpod-cli
//! --test integration adversarial::manifests::fuzz`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::{repo_root, runtime};

/// The most one input may take: generous for a debug build on a loaded
/// 2-core machine; a quadratic parse of a large input takes minutes.
const PER_INPUT: Duration = Duration::from_secs(10);

/// Compiling a (small) image with cranelift takes longer than parsing.
const PER_IMAGE: Duration = Duration::from_secs(60);

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Tokens that matter to YAML, to Kubernetes and to the path and `$(VAR)` rules.
const DICTIONARY: &[&str] = &[
    "[",
    "{",
    "]",
    "}",
    ",",
    ": ",
    "- ",
    "? ",
    "\n",
    "  ",
    "\t",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!binary ",
    "!!str ",
    "!x ",
    "|\n",
    ">-\n",
    "'",
    "\"",
    "\\",
    "#",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "\u{FEFF}",
    "~",
    "null",
    "1e999",
    "-1",
    "0x7fffffffffffffff",
    "99999999999999999999",
    "$(",
    ")",
    "$$",
    "$(A)$(A)",
    "../",
    "/..",
    "/",
    "\0",
    "é",
    "\u{10FFFF}",
    "env:\n- {name: A, value: $(A)$(A)}\n",
    "valueFrom: {fieldRef: {fieldPath: metadata.annotations['a']}}",
    "subPath: ",
    "mountPath: /",
    "terminationMessagePath: /",
    "workingDir: ",
    "image: ",
    "command: [",
    "args: [",
    "volumeMounts: [{name: v, mountPath: /v}]",
    "volumes: [{name: v, hostPath: {path: /tmp}}]",
    "emptyDir: {}",
    "restartPolicy: Always",
    "livenessProbe: {httpGet: {port: 80}}",
    "resources: {limits: {memory: 1e3Ki}}",
    "ports: [{containerPort: 65536}]",
    "annotations: {a: b}",
];

/// One random edit of `input` (`others`: material to splice from).
fn mutate_once(rng: &mut Rng, input: &mut Vec<u8>, others: &[Vec<u8>], extra: &[&[u8]]) {
    let len = input.len();
    let at = rng.below(len + 1);
    match rng.below(8) {
        0 if len > 0 => input[at.min(len - 1)] ^= 1 << rng.below(8),
        1 => {
            let word = if !extra.is_empty() && rng.below(4) == 0 {
                extra[rng.below(extra.len())]
            } else {
                DICTIONARY[rng.below(DICTIONARY.len())].as_bytes()
            };
            input.splice(at..at, word.iter().copied());
        }
        2 if len > 0 => {
            let end = (at + 1 + rng.below(32)).min(len);
            input.drain(at.min(len - 1)..end);
        }
        3 if len > 0 => {
            // Copy a range elsewhere (grows structure, nests).
            let start = rng.below(len);
            let end = (start + 1 + rng.below(64)).min(len);
            let piece = input[start..end].to_vec();
            let to = rng.below(input.len() + 1);
            input.splice(to..to, piece);
        }
        4 if len > 0 => {
            // Repeat a short range many times (deep nesting, long scalars).
            let start = rng.below(len);
            let end = (start + 1 + rng.below(4)).min(len);
            let piece = input[start..end].repeat(2 + rng.below(300));
            input.splice(start..start, piece);
        }
        5 if !others.is_empty() => {
            // Splice: our head, another input's tail.
            let other = &others[rng.below(others.len())];
            let from = rng.below(other.len() + 1);
            input.truncate(at);
            input.extend_from_slice(&other[from..]);
        }
        6 => input.truncate(at),
        _ => {
            let byte = rng.next() as u8;
            input.insert(at, byte);
        }
    }
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], extra: &[&[u8]], cap: usize) -> Vec<u8> {
    let mut input = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(6) {
        mutate_once(rng, &mut input, seeds, extra);
        input.truncate(cap);
    }
    input
}

/// The files of `fuzz/corpus-regressions/<target>/` (inputs the fuzzer found).
fn regressions(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = repo_root().join("fuzz/corpus-regressions").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read regression input");
            (p, bytes)
        })
        .collect()
}

/// Keeps a failing input where a person can find it, and says where.
fn keep(target: &str, input: &[u8]) -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("fuzz-failures")
        .join(target);
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("input-{:016x}", fnv(input)));
    let _ = std::fs::write(&path, input);
    path.display().to_string()
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// What the `manifest` fuzz target does with an input.
fn manifest(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    match wasmpod::spec::load(&text) {
        Ok(file) => {
            // Resolved and its images loaded, as `wasmpod validate` does; nothing runs.
            let executor = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("an executor");
            let options = wasmpod::RunOptions::default().with_base_dir("/nonexistent".into());
            for pod in &file.pods {
                let _ = pod.document.display_name();
                let checked = executor.block_on(runtime().validate(pod, &options));
                let _ = checked.map_err(|e| e.to_string());
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Runs `check` on `input`, turning a panic or a slow input into a test
/// failure that names the kept input.
fn exercise(target: &str, input: &[u8], limit: Duration, check: impl FnOnce(&[u8])) {
    let started = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| check(input)));
    let took = started.elapsed();
    if outcome.is_err() {
        panic!(
            "{target}: panicked on the input kept at {}",
            keep(target, input)
        );
    }
    assert!(
        took < limit,
        "{target}: {took:?} for the input kept at {}",
        keep(target, input)
    );
}

#[test]
fn manifest_regressions_replay() {
    let found = regressions("manifest");
    assert!(!found.is_empty(), "the corpus has inputs");
    for (path, bytes) in found {
        let started = Instant::now();
        manifest(&bytes);
        assert!(started.elapsed() < PER_INPUT, "{}", path.display());
    }
}

#[test]
fn manifest_fuzz_smoke() {
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(repo_root().join("examples"))
        .expect("examples/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| std::fs::read(p).expect("read example"))
        .collect();
    // Small regression inputs seed the run too (the big ones only replay).
    seeds.extend(
        regressions("manifest")
            .into_iter()
            .map(|(_, b)| b)
            .filter(|b| b.len() < 16 << 10),
    );
    assert!(seeds.len() > 5, "seeds: {}", seeds.len());
    let mut rng = Rng(env_number("WASMPOD_FUZZ_SEED", 0x5eed_1234_abcd_0001) | 1);
    for _ in 0..env_number("WASMPOD_FUZZ_ITERATIONS", 3000) {
        let input = mutate(&mut rng, &seeds, &[], 256 << 10);
        exercise("manifest", &input, PER_INPUT, manifest);
    }
}

/// Tiny images to mutate: a wasip1 command, a module with memory and data,
/// a module importing WASI, and components.
fn image_seeds() -> Vec<Vec<u8>> {
    let wat = [
        r#"(module (func (export "_start")))"#,
        r#"(module (memory (export "memory") 1) (data (i32.const 0) "hi") (func (export "_start") (drop (i32.load (i32.const 0)))))"#,
        r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))) (memory (export "memory") 1) (func (export "_start") (call 0 (i32.const 3))))"#,
        r#"(component)"#,
        r#"(component (core module (func (export "f"))) (core instance (instantiate 0)))"#,
    ];
    wat.iter()
        .map(|w| wat::parse_str(w).expect("valid WAT"))
        .collect()
}

/// What the `image` fuzz target does: the bytes as an image file, loaded
/// (read, classified, compiled, linked) by the runtime.
async fn image(dir: &Path, bytes: &[u8]) -> Result<(), String> {
    let path = dir.join(format!("{:016x}.wasm", fnv(bytes)));
    std::fs::write(&path, bytes).expect("write image");
    let image = path.to_str().expect("a UTF-8 path").to_owned();
    let loaded =
        tokio::spawn(async move { runtime().prepare_image(&image, Path::new("/")).await }).await;
    let _ = std::fs::remove_file(&path);
    match loaded {
        Ok(result) => {
            let _ = result.map_err(|e| (e.to_string(), e.reason()));
            Ok(())
        }
        Err(join) => Err(format!("panicked: {join}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_fuzz_smoke_and_regressions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut inputs: Vec<Vec<u8>> = regressions("image").into_iter().map(|(_, b)| b).collect();
    let seeds = image_seeds();
    let mut rng = Rng(env_number("WASMPOD_FUZZ_SEED", 0x1a2b_3c4d_5e6f_0001) | 1);
    // Wasm-shaped material to splice in: section ids, LEB128 edges, headers.
    let extra: &[&[u8]] = &[
        b"\0asm\x01\0\0\0",
        b"\0asm\x0d\0\x01\0",
        &[0xff, 0xff, 0xff, 0xff, 0x0f],
        &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
        &[0x00],
        &[0x7f],
    ];
    let iterations = env_number("WASMPOD_FUZZ_ITERATIONS", 3000) / 10;
    for _ in 0..iterations {
        inputs.push(mutate(&mut rng, &seeds, extra, 64 << 10));
    }
    for input in inputs {
        let started = Instant::now();
        let outcome = image(dir.path(), &input).await;
        let took = started.elapsed();
        if let Err(why) = outcome {
            panic!(
                "image: {why} on the input kept at {}",
                keep("image", &input)
            );
        }
        assert!(
            took < PER_IMAGE,
            "image: {took:?} for the input kept at {}",
            keep("image", &input)
        );
    }
}
