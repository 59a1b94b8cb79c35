//! Builds the guest programs in `guests/` for `wasm32-wasip2` and tells the
//! crate where the `.wasm` files are.
//!
//! This follows wasmtime's `crates/test-programs/artifacts/build.rs`: a nested
//! `cargo build` with its own target directory under `OUT_DIR` (sharing the
//! outer one would deadlock on its lock), and with the outer build's flags
//! removed (they are for the host, not for Wasm). Guests are always built in
//! release mode: they are small, and an unoptimised guest is slow to run.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest as _, Sha256};

/// The guest binaries this crate exposes: (constant name, binary name).
const GUESTS: &[(&str, &str)] = &[
    ("TOOLBOX", "toolbox"),
    ("HTTPD", "httpd"),
    ("AGNHOST", "agnhost"),
];

/// Guests only tests run, by path: (constant name, binary name).
const TEST_GUESTS: &[(&str, &str)] = &[
    ("HOSTILE_PATH", "hostile"),
    ("SOCKETS_PATH", "sockets"),
    // A plain command with no wasmpod imports: what `wasmtime run` runs too.
    ("ECHO_PATH", "echo"),
    // A library (cdylib): its component is named after the crate, `-` as `_`.
    ("HTTP_HELLO_PATH", "http_hello"),
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let repo = manifest_dir.join("../..");
    let guests = repo.join("guests");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let target_dir = out_dir.join("guests-target");

    for watched in [
        "Cargo.toml",
        "Cargo.lock",
        "toolbox",
        "httpd",
        "agnhost",
        "lifecycle",
        "hostile",
        "sockets",
        "http-hello",
        "echo",
    ] {
        println!("cargo:rerun-if-changed={}", guests.join(watched).display());
    }
    println!("cargo:rerun-if-changed={}", repo.join("wit").display());

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--target=wasm32-wasip2")
        .arg("--manifest-path")
        .arg(guests.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_PROFILE_RELEASE_DEBUG")
        .env_remove("CARGO_MAKEFLAGS");
    let status = cmd
        .status()
        .expect("failed to run cargo to build the guests");
    if !status.success() {
        panic!(
            "building the guests failed ({status}); is the target installed? \
             run `rustup target add wasm32-wasip2`"
        );
    }

    // A wasi:http component this project did not write, for the tests: the
    // `http-proxy` example server of the `wasip2` crate (the Bytecode
    // Alliance's WASI 0.2 bindings, a dependency of the guests), built from
    // its published source.
    let mut example = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    example
        .args([
            "build",
            "--release",
            "--target=wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(guests.join("Cargo.toml"))
        .args(["-p", "wasip2", "--example", "http-proxy"]);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => example.env(k, v),
            None => example.env_remove(k),
        };
    }
    let status = example
        .status()
        .expect("failed to run cargo to build the wasip2 example");
    assert!(
        status.success(),
        "building wasip2's http-proxy example failed ({status})"
    );
    let proxy = target_dir.join("wasm32-wasip2/release/examples/http_proxy.wasm");
    assert!(proxy.exists(), "not built: {}", proxy.display());

    let mut generated = String::new();
    generated.push_str(&format!(
        "/// The path of the `wasip2` crate's own `http-proxy` example (a\n\
         /// `wasi:http/proxy` component answering `Hello, WASI!`), test-only.\n\
         pub const WASIP2_HTTP_PROXY_PATH: &str = {:?};\n",
        path_str(&proxy)
    ));
    for (constant, bin) in GUESTS {
        let wasm = built(&target_dir, bin);
        // Its digest, so that a process using it does not compute it again.
        let digest: [u8; 32] = Sha256::digest(std::fs::read(&wasm).unwrap()).into();
        generated.push_str(&format!(
            "/// The `{bin}` guest component (built from `guests/{bin}`).\n\
             pub const {constant}: &[u8] = include_bytes!({:?});\n\
             /// The SHA-256 digest of [`{constant}`].\n\
             pub const {constant}_SHA256: [u8; 32] = {digest:?};\n",
            path_str(&wasm)
        ));
    }
    // Test-only guests: exposed by path, never embedded in the binary.
    for (constant, bin) in TEST_GUESTS {
        generated.push_str(&format!(
            "/// The path of the test-only `{bin}` guest (built from `guests/{bin}`).\n\
             pub const {constant}: &str = {:?};\n",
            path_str(&built(&target_dir, bin))
        ));
    }
    std::fs::write(out_dir.join("guests.rs"), generated).unwrap();
}

/// The built `.wasm` of guest `bin`, which must exist.
fn built(target_dir: &Path, bin: &str) -> PathBuf {
    let wasm = target_dir
        .join("wasm32-wasip2/release")
        .join(format!("{bin}.wasm"));
    assert!(
        wasm.exists(),
        "guest {bin} was not built: {}",
        wasm.display()
    );
    wasm
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("non-UTF-8 build path").to_owned()
}
