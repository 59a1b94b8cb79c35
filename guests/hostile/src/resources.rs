//! Attacks on the host's memory, stack and descriptors.

use std::hint::black_box;
use std::time::Duration;

/// Runs `attack` if it is one of this module's; `None` otherwise.
pub fn run(attack: &str, args: &[String]) -> Option<i32> {
    let number = |i: usize, default: usize| -> usize {
        args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
    };
    match attack {
        "memory-bomb" => Some(memory_bomb()),
        "stack-overflow" => Some(stack_overflow(1)),
        "open-files" => Some(open_files(number(0, 100_000), number(1, 0))),
        "sockets" => Some(sockets(number(0, 100_000))),
        _ => None,
    }
}

/// Allocates 16 MiB at a time, touching every page, until allocation fails
/// (or the host kills it); prints `mib=N` after each step.
fn memory_bomb() -> i32 {
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = Vec::new();
        if block.try_reserve_exact(16 << 20).is_err() {
            println!("allocation failed after mib={}", held.len() * 16);
            return 1;
        }
        block.resize(16 << 20, 1u8);
        held.push(block);
        println!("mib={}", held.len() * 16);
    }
}

/// Recurses without end (the depth never comes back to 0).
fn stack_overflow(depth: u64) -> i32 {
    if black_box(depth) == 0 {
        return 0;
    }
    let frame = black_box([depth; 64]);
    black_box(stack_overflow(black_box(frame[depth as usize % 64] + 1)))
}

/// Opens up to `count` files under `/tmp` and holds them; prints
/// `opened=N` and the first error (`error=…`), then holds them for
/// `hold_seconds` before exiting 0.
fn open_files(count: usize, hold_seconds: usize) -> i32 {
    let held = hold_until_error("opened", count, |i| {
        std::fs::File::create(format!("/tmp/f{}", i % 64))
    });
    std::thread::sleep(Duration::from_secs(hold_seconds as u64));
    drop(held);
    0
}

/// Creates up to `count` UDP sockets bound to the pod's loopback and holds
/// them; prints `sockets=N` and the first error (`error=…`).
fn sockets(count: usize) -> i32 {
    drop(hold_until_error("sockets", count, |_| {
        std::net::UdpSocket::bind("127.0.0.1:0")
    }));
    0
}

/// Makes up to `count` things with `make`, keeping them, until the first
/// error; prints `KEY=N` and `error=…`, and returns what it holds.
fn hold_until_error<T>(
    key: &str,
    count: usize,
    make: impl Fn(usize) -> std::io::Result<T>,
) -> Vec<T> {
    let mut held = Vec::new();
    let mut error = None;
    for i in 0..count {
        match make(i) {
            Ok(t) => held.push(t),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    println!("{key}={}", held.len());
    if let Some(e) = error {
        println!("error={e}");
    }
    held
}
