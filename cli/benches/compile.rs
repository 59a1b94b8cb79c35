//! First-use compile time of a large image (issue 9: interpreters of 20–30 MB took 50–90 s
//! to compile with no sign of progress).
//!
//! A plain `harness = false` binary. It writes a synthetic `wasi:cli/run` component of about
//! 20 MB — one core module of many functions with loops, arithmetic, memory accesses and calls,
//! the shape of an interpreter's code — and loads it through `Runtime::prepare_image` with no
//! disk cache (a first use), once with `RuntimeConfig::parallel_compilation` on (the default)
//! and once off, alternating, `ROUNDS` times each. The anchor is the same component compiled by
//! wasmtime alone (`Component::new` on a default-config engine, parallel), so wasmpod's own
//! share of a load is the difference.
//!
//! ```text
//! CARGO_TARGET_DIR=target/bench cargo bench --bench compile
//! ```

use std::time::{Duration, Instant};

use wasmpod::{Runtime, RuntimeConfig};

const TARGET_BYTES: usize = 20 * 1024 * 1024;
const ROUNDS: usize = 2;

/// One function: a loop of arithmetic and memory traffic, a branch table and a call to
/// the previous function, so that every function has real work for the register allocator.
fn function(i: usize, out: &mut String) {
    let callee = if i == 0 {
        String::new()
    } else {
        format!("local.get $t local.get $n call $f{} local.set $t", i - 1)
    };
    let (k1, k2, k3) = (i * 7 + 3, i % 97 + 1, (i * 31) % 4093 + 5);
    let addr = (i * 8) % 60000;
    out.push_str(&format!(
        "(func $f{i} (param $a i32) (param $n i32) (result i32) (local $t i32) (local $j i32)
  local.get $a i32.const {k1} i32.mul local.set $t
  (block $done (loop $next
    local.get $j local.get $n i32.ge_u br_if $done
    local.get $t i32.const {k2} i32.add i32.const {k3} i32.rem_u local.set $t
    i32.const {addr} local.get $t i32.store
    i32.const {addr} i32.load local.get $j i32.xor local.set $t
    (block $c (block $b (block $a
      local.get $t i32.const 3 i32.and
      br_table $a $b $c $done)
      local.get $t i32.const 5 i32.shl local.set $t br $c)
      local.get $t i32.const 1 i32.shr_u local.set $t)
    local.get $j i32.const 1 i32.add local.set $j
    br $next))
  {callee}
  local.get $t)
"
    ));
}

/// A component exporting `wasi:cli/run@0.2.0` whose core module holds enough functions
/// to be about `TARGET_BYTES` of Wasm.
fn component() -> Vec<u8> {
    let mut funcs = String::new();
    let mut count = 0;
    // About 160 bytes of binary per 700 characters of text.
    while funcs.len() < TARGET_BYTES / 160 * 700 {
        function(count, &mut funcs);
        count += 1;
    }
    let wat = format!(
        "(component
  (core module $m
    (memory 1)
    {funcs}
    (func (export \"run\") (result i32) i32.const 0)
    (export \"last\" (func $f{last})))
  (core instance $i (instantiate $m))
  (func $run (result (result)) (canon lift (core func $i \"run\")))
  (instance $cli (export \"run\" (func $run)))
  (export \"wasi:cli/run@0.2.0\" (instance $cli)))",
        last = count - 1
    );
    wat::parse_str(&wat).expect("the synthetic component is valid")
}

fn load(rt: &Runtime, path: &std::path::Path) -> Duration {
    let tokio = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let image = path.to_str().expect("a UTF-8 path");
    let t0 = Instant::now();
    tokio
        .block_on(rt.prepare_image(image, std::path::Path::new("/")))
        .unwrap_or_else(|e| panic!("prepare_image: {e}"));
    t0.elapsed()
}

fn wasmpod_load(bytes_path: &std::path::Path, parallel: bool) -> Duration {
    let config = RuntimeConfig::default()
        .with_cache_dir(None)
        .with_parallel_compilation(parallel);
    let rt = Runtime::new(config).expect("runtime");
    load(&rt, bytes_path)
}

fn wasmtime_alone(bytes: &[u8]) -> Duration {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    let engine = wasmtime::Engine::new(&config).expect("engine");
    let t0 = Instant::now();
    wasmtime::component::Component::new(&engine, bytes).expect("compiles");
    t0.elapsed()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn main() {
    let bytes = component();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("large.wasm");
    std::fs::write(&path, &bytes).expect("write the component");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!(
        "component: {:.1} MB; {cores} cores; load average before: {}",
        bytes.len() as f64 / 1e6,
        loadavg()
    );

    let (mut parallel, mut serial, mut anchor) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        let p = wasmpod_load(&path, true);
        let s = wasmpod_load(&path, false);
        let a = wasmtime_alone(&bytes);
        eprintln!(
            "round {round}: parallel {:.1} s, serial {:.1} s, wasmtime alone {:.1} s (load {})",
            p.as_secs_f64(),
            s.as_secs_f64(),
            a.as_secs_f64(),
            loadavg()
        );
        parallel.push(p);
        serial.push(s);
        anchor.push(a);
    }
    let (p, s, a) = (median(parallel), median(serial), median(anchor));
    println!(
        "| first use of a {:.1} MB component | median of {ROUNDS} |",
        bytes.len() as f64 / 1e6
    );
    println!("|---|---|");
    println!(
        "| `prepare_image`, `parallel_compilation: true` (default) | {:.1} s |",
        p.as_secs_f64()
    );
    println!(
        "| `prepare_image`, `parallel_compilation: false` | {:.1} s |",
        s.as_secs_f64()
    );
    println!(
        "| anchor: wasmtime `Component::new` alone, parallel | {:.1} s |",
        a.as_secs_f64()
    );
    println!(
        "| speed-up of parallel compilation on {cores} cores | {:.2}× |",
        s.as_secs_f64() / p.as_secs_f64()
    );
}
