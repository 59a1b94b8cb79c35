//! Compile progress on a terminal: a large image compiles for tens of seconds on first use,
//! so while a pod is being created stderr shows what is compiling, its size and for how long
//! (`compiling python.wasm (31.2 MB) 12s`), then one line per image that took a while.
//! Nothing is drawn when stderr is not a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use wasmpod::{Compiling, Runtime};

/// Compiles shorter than this leave no line behind.
const WORTH_A_LINE: Duration = Duration::from_secs(1);

/// Runs `work` (creating or validating a pod), drawing the runtime's compiles meanwhile.
pub async fn while_compiling<F: Future>(runtime: &Runtime, work: F) -> F::Output {
    if !std::io::stderr().is_terminal() {
        return work.await;
    }
    let mut compiling = runtime.compiling();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut shown: Vec<Compiling> = Vec::new();
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => {
                finish(&mut shown, &[]);
                return out;
            }
            _ = tick.tick() => {}
            changed = compiling.changed() => {
                if changed.is_err() {
                    return work.await;
                }
            }
        }
        let now: Vec<Compiling> = compiling.borrow_and_update().clone();
        finish(&mut shown, &now);
        shown = now;
        if !shown.is_empty() {
            let text: Vec<String> = shown.iter().map(describe).collect();
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2Kcompiling {}", text.join(", "));
            let _ = err.flush();
        }
    }
}

/// Clears the progress line and prints the compiles of `shown` that are not in `now`.
fn finish(shown: &mut Vec<Compiling>, now: &[Compiling]) {
    if shown.is_empty() {
        return;
    }
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[2K");
    for c in shown.iter().filter(|c| !now.contains(c)) {
        let took = c.since.elapsed();
        if took >= WORTH_A_LINE {
            let _ = writeln!(
                err,
                "compiled {} ({}) in {:.1}s",
                c.image,
                size(c.bytes),
                took.as_secs_f64()
            );
        }
    }
    let _ = err.flush();
    shown.clear();
}

/// `python.wasm (31.2 MB) 12s`
fn describe(c: &Compiling) -> String {
    format!(
        "{} ({}) {}s",
        c.image,
        size(c.bytes),
        elapsed_secs(c.since, Instant::now())
    )
}

fn elapsed_secs(since: Instant, now: Instant) -> u64 {
    now.saturating_duration_since(since).as_secs()
}

/// Bytes as `31.2 MB` (decimal megabytes, as docker shows image sizes).
pub(crate) fn size(bytes: u64) -> String {
    if bytes < 1_000_000 {
        format!("{:.0} kB", bytes as f64 / 1e3)
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_docker_shows_them() {
        assert_eq!(size(31_234_567), "31.2 MB");
        assert_eq!(size(1_000_000), "1.0 MB");
        assert_eq!(size(420_000), "420 kB");
    }

    #[test]
    fn elapsed_time_is_whole_seconds() {
        let t0 = Instant::now();
        assert_eq!(elapsed_secs(t0, t0 + Duration::from_millis(12_900)), 12);
        assert_eq!(elapsed_secs(t0 + Duration::from_secs(1), t0), 0);
    }
}
