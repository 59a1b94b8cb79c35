//! CPU attacks and measurements: spinners and a latency-sensitive sleeper.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Runs `attack` if it is one of this module's; `None` otherwise.
pub fn run(attack: &str, args: &[String]) -> Option<i32> {
    let seconds = || -> f64 { args.first().and_then(|a| a.parse().ok()).unwrap_or(5.0) };
    match attack {
        "spin" => spin(),
        "spin-count" => Some(spin_count(seconds())),
        "latency" => Some(latency(seconds())),
        _ => None,
    }
}

/// Spins forever without a host call.
fn spin() -> ! {
    let mut x: u64 = 0;
    loop {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

/// Spins for `seconds` of wall time; prints `iterations=N` (work done) and
/// `seconds=S` at the end. The work done tells how much CPU it got.
fn spin_count(seconds: f64) -> i32 {
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut iterations: u64 = 0;
    let mut x: u64 = 0;
    while Instant::now() < end {
        for _ in 0..10_000 {
            x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        iterations += 1;
    }
    println!("iterations={iterations}");
    println!("seconds={seconds}");
    0
}

/// Sleeps 10 ms at a time for `seconds`; prints how late the wake-ups were
/// (`late_p50_us`, `late_p99_us`, `late_max_us`, `wakeups`).
fn latency(seconds: f64) -> i32 {
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let nap = Duration::from_millis(10);
    let mut late: Vec<u128> = Vec::new();
    while Instant::now() < end {
        let t = Instant::now();
        std::thread::sleep(nap);
        late.push(t.elapsed().saturating_sub(nap).as_micros());
    }
    late.sort_unstable();
    let at = |q: f64| late[((late.len() - 1) as f64 * q) as usize];
    println!("wakeups={}", late.len());
    println!("late_p50_us={}", at(0.5));
    println!("late_p99_us={}", at(0.99));
    println!("late_max_us={}", at(1.0));
    0
}
