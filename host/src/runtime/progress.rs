//! The images a runtime is compiling, for a progress display: a large image compiles for
//! tens of seconds on first use, and a terminal should show what is happening.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::watch;

/// One image being compiled ([`Runtime::compiling`](crate::Runtime::compiling)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Compiling {
    /// The image as the pod names it (`busybox`, a file path).
    pub image: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// When its compilation started.
    pub since: Instant,
    id: u64,
}

/// The list of compilations under way.
#[derive(Debug)]
pub(crate) struct Board {
    list: watch::Sender<Vec<Compiling>>,
    next: AtomicU64,
}

impl Default for Board {
    fn default() -> Self {
        Self {
            list: watch::channel(Vec::new()).0,
            next: AtomicU64::new(0),
        }
    }
}

impl Board {
    /// Lists a compilation until the returned guard is dropped.
    pub(crate) fn begin(&self, image: String, bytes: u64) -> Listed<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.list.send_modify(|list| {
            list.push(Compiling {
                image,
                bytes,
                since: Instant::now(),
                id,
            });
        });
        Listed { board: self, id }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Vec<Compiling>> {
        self.list.subscribe()
    }
}

/// A compilation's place on the [`Board`]; dropping it takes it off.
pub(crate) struct Listed<'a> {
    board: &'a Board,
    id: u64,
}

impl Drop for Listed<'_> {
    fn drop(&mut self) {
        let id = self.id;
        self.board
            .list
            .send_modify(|list| list.retain(|c| c.id != id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compilation_is_listed_while_its_guard_lives() {
        let board = Board::default();
        let seen = board.subscribe();
        let a = board.begin("big.wasm".into(), 20 << 20);
        let b = board.begin("busybox".into(), 1 << 20);
        let names = |rx: &watch::Receiver<Vec<Compiling>>| -> Vec<String> {
            rx.borrow().iter().map(|c| c.image.clone()).collect()
        };
        assert_eq!(names(&seen), ["big.wasm", "busybox"]);
        assert_eq!(seen.borrow()[0].bytes, 20 << 20);
        drop(a);
        assert_eq!(names(&seen), ["busybox"]);
        drop(b);
        assert!(names(&seen).is_empty());
    }
}
