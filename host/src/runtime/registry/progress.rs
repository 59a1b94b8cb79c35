//! The layers a runtime is downloading, for a progress display (bytes, rate per layer).

use std::time::Instant;

use tokio::sync::watch;

/// One layer being (or lately) downloaded ([`Runtime::pulls`](crate::Runtime::pulls)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LayerProgress {
    /// The normalised reference being pulled.
    pub reference: String,
    /// The layer's digest.
    pub digest: String,
    /// Bytes received so far.
    pub bytes: u64,
    /// The layer's size as the manifest declares it.
    pub total: u64,
    /// When its download started.
    pub since: Instant,
    /// Whether it is complete and verified.
    pub done: bool,
}

/// Finished layers kept on the board (so that a slow watcher still sees them finish).
const KEEP_DONE: usize = 32;

/// The layers under way and the last finished ones.
#[derive(Debug)]
pub(crate) struct Board {
    list: watch::Sender<Vec<LayerProgress>>,
}

impl Default for Board {
    fn default() -> Self {
        Self {
            list: watch::channel(Vec::new()).0,
        }
    }
}

impl Board {
    /// Adds or updates a layer's entry.
    pub(crate) fn update(&self, entry: &LayerProgress) {
        self.list.send_modify(|list| {
            match list
                .iter_mut()
                .find(|e| e.digest == entry.digest && e.reference == entry.reference)
            {
                Some(e) => *e = entry.clone(),
                None => list.push(entry.clone()),
            }
            let done = list.iter().filter(|e| e.done).count();
            if done > KEEP_DONE {
                let mut drop = done - KEEP_DONE;
                list.retain(|e| {
                    let keep = !e.done || drop == 0;
                    if !keep {
                        drop -= 1;
                    }
                    keep
                });
            }
        });
    }

    /// Drops the entries of a pull that failed part-way.
    pub(crate) fn forget_unfinished(&self, reference: &str) {
        self.list
            .send_modify(|list| list.retain(|e| e.done || e.reference != reference));
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Vec<LayerProgress>> {
        self.list.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_update_in_place_and_old_finished_ones_go() {
        let board = Board::default();
        let rx = board.subscribe();
        let entry = |n: usize, done: bool| LayerProgress {
            reference: "r".into(),
            digest: format!("d{n}"),
            bytes: 1,
            total: 2,
            since: Instant::now(),
            done,
        };
        board.update(&entry(0, false));
        board.update(&entry(0, true));
        assert_eq!(rx.borrow().len(), 1);
        assert!(rx.borrow()[0].done);
        for n in 1..=KEEP_DONE + 3 {
            board.update(&entry(n, true));
        }
        board.update(&entry(100, false));
        let list = rx.borrow().clone();
        assert_eq!(list.iter().filter(|e| e.done).count(), KEEP_DONE);
        assert_eq!(list.last().unwrap().digest, "d100");
        assert!(
            list.iter().all(|e| e.digest != "d0"),
            "the oldest went first"
        );
        board.forget_unfinished("r");
        assert!(rx.borrow().iter().all(|e| e.done));
    }
}
