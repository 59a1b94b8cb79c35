//! `sockets`: a test guest that exercises `wasi:sockets` 0.2 the way the
//! WIT documentation specifies it, for `tests/integration/sockets.rs`. It is
//! built with the other guests but is never a builtin image: tests run it
//! from `wasmpod_guests::SOCKETS_PATH`.
//!
//! `sockets SCENARIO`; each scenario prints `key=value` lines (an outcome is
//! `ok`, a value, or the WIT name of the error code) and exits 0, or exits 2
//! for an unknown scenario. Each scenario uses its own ports (70xx), so
//! scenarios can run side by side in one pod.

#[cfg(target_os = "wasi")]
mod tcp;
#[cfg(target_os = "wasi")]
mod udp;
#[cfg(target_os = "wasi")]
mod util;

#[cfg(target_os = "wasi")]
fn run(scenario: &str) -> bool {
    tcp::run(scenario) || udp::run(scenario)
}

#[cfg(not(target_os = "wasi"))]
fn run(_scenario: &str) -> bool {
    eprintln!("sockets: only runs as a wasm32-wasip2 component");
    false
}

fn main() {
    let Some(scenario) = std::env::args().nth(1) else {
        eprintln!("usage: sockets SCENARIO");
        std::process::exit(2);
    };
    if !run(&scenario) {
        eprintln!("sockets: unknown scenario {scenario:?}");
        std::process::exit(2);
    }
}
