//! A broadcast channel that costs what it holds: the event and log streams
//! of a pod. It behaves as `tokio::sync::broadcast` does for its
//! subscribers — each sees every value sent after it subscribed, in order; one
//! that falls more than the capacity behind gets
//! [`RecvError::Lagged`] with the number it missed and then the oldest
//! value kept; when every sender is gone it gets the rest and then
//! [`RecvError::Closed`] — but its buffer is a ring that grows with what
//! waits to be read, instead of `capacity` slots allocated up front
//! (4,096 events and 16,384 log lines were 2.1 MB per pod).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
pub use tokio::sync::broadcast::error::{RecvError, TryRecvError};

struct State<T> {
    /// Values some subscriber has not read, each with how many have not.
    queue: VecDeque<(T, usize)>,
    /// The sequence number of `queue[0]`.
    head: u64,
    receivers: usize,
    senders: usize,
}

struct Chan<T> {
    state: Mutex<State<T>>,
    /// Woken at every send and when the last sender goes.
    notify: Notify,
    capacity: usize,
}

impl<T> Chan<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        crate::sync::lock(&self.state)
    }
}

impl<T> State<T> {
    /// Drops the values every subscriber has read; a drained queue gives
    /// back its memory.
    fn trim(&mut self) {
        while self.queue.front().is_some_and(|(_, left)| *left == 0) {
            self.queue.pop_front();
            self.head += 1;
        }
        if self.queue.is_empty() && self.queue.capacity() > 64 {
            self.queue = VecDeque::new();
        }
    }
}

/// The sending side; clones share the channel, which closes when the last
/// is dropped.
pub(crate) struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// A subscription to a pod's events or log lines
/// ([`PodHandle::events`](crate::PodHandle::events),
/// [`PodHandle::logs`](crate::PodHandle::logs)): every value sent after it
/// was taken, in order. One that falls more than the stream's capacity
/// behind (4,096 events, 16,384 log lines) skips the oldest and is told how
/// many with [`RecvError::Lagged`], as a `tokio::sync::broadcast::Receiver`
/// is.
pub struct Subscription<T> {
    chan: Arc<Chan<T>>,
    /// The sequence number of the next value to read.
    next: u64,
}

/// A channel keeping at most `capacity` values for its slowest subscriber.
pub(crate) fn channel<T>(capacity: usize) -> Sender<T> {
    Sender {
        chan: Arc::new(Chan {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                head: 0,
                receivers: 0,
                senders: 1,
            }),
            notify: Notify::new(),
            capacity: capacity.max(1),
        }),
    }
}

impl<T> Sender<T> {
    /// Sends `value` to every subscriber; `false` (the value dropped) when
    /// there is none.
    pub(crate) fn send(&self, value: T) -> bool {
        {
            let mut s = self.chan.lock();
            if s.receivers == 0 {
                return false;
            }
            let receivers = s.receivers;
            s.queue.push_back((value, receivers));
            if s.queue.len() > self.chan.capacity {
                s.queue.pop_front();
                s.head += 1;
            }
        }
        self.chan.notify.notify_waiters();
        true
    }

    /// Values the slowest subscriber has not read yet.
    pub(crate) fn len(&self) -> usize {
        self.chan.lock().queue.len()
    }

    /// A subscription to values sent from now on.
    pub(crate) fn subscribe(&self) -> Subscription<T> {
        let mut s = self.chan.lock();
        s.receivers += 1;
        Subscription {
            chan: self.chan.clone(),
            next: s.head + s.queue.len() as u64,
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.lock().senders += 1;
        Self {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let last = {
            let mut s = self.chan.lock();
            s.senders -= 1;
            s.senders == 0
        };
        if last {
            self.chan.notify.notify_waiters();
        }
    }
}

impl<T: Clone> Subscription<T> {
    /// A subscription to a stream that has already ended.
    pub(crate) fn ended() -> Self {
        let tx = channel(1);
        let rx = tx.subscribe();
        drop(tx);
        rx
    }

    /// The next value; [`RecvError::Lagged`] after values were skipped,
    /// [`RecvError::Closed`] once the stream ended and everything was read.
    /// Cancel-safe: dropping the future loses nothing.
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        let chan = self.chan.clone();
        loop {
            let notified = chan.notify.notified();
            tokio::pin!(notified);
            // Registered before looking, so a send in between wakes it.
            notified.as_mut().enable();
            match self.try_recv() {
                Ok(v) => return Ok(v),
                Err(TryRecvError::Lagged(n)) => return Err(RecvError::Lagged(n)),
                Err(TryRecvError::Closed) => return Err(RecvError::Closed),
                Err(TryRecvError::Empty) => notified.await,
            }
        }
    }

    /// The next value if there is one now (as `recv`, or
    /// [`TryRecvError::Empty`]).
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut s = self.chan.lock();
        if self.next < s.head {
            let missed = s.head - self.next;
            self.next = s.head;
            return Err(TryRecvError::Lagged(missed));
        }
        let idx = (self.next - s.head) as usize;
        let senders = s.senders;
        match s.queue.get_mut(idx) {
            Some((value, left)) => {
                let value = value.clone();
                *left -= 1;
                self.next += 1;
                s.trim();
                Ok(value)
            }
            None if senders == 0 => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        let mut s = self.chan.lock();
        s.receivers -= 1;
        let from = self.next.saturating_sub(s.head) as usize;
        for (_, left) in s.queue.iter_mut().skip(from) {
            *left -= 1;
        }
        s.trim();
    }
}

impl<T> std::fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subscriber_sees_what_was_sent_after_it_subscribed() {
        let tx = channel(8);
        assert!(!tx.send(0), "no subscriber: dropped");
        let mut a = tx.subscribe();
        tx.send(1);
        let mut b = tx.subscribe();
        tx.send(2);
        assert_eq!((a.try_recv(), a.try_recv()), (Ok(1), Ok(2)));
        assert_eq!(a.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(b.try_recv(), Ok(2));
        assert_eq!(tx.len(), 0, "everything read is freed");
        tx.send(3);
        assert_eq!(tx.len(), 1);
        drop(b);
        assert_eq!(a.try_recv(), Ok(3));
        drop(tx);
        assert_eq!(a.try_recv(), Err(TryRecvError::Closed));
    }

    #[test]
    fn a_subscriber_behind_by_more_than_the_capacity_lags() {
        let tx = channel(4);
        let mut slow = tx.subscribe();
        let mut fast = tx.subscribe();
        for i in 0..10 {
            tx.send(i);
            assert_eq!(fast.try_recv(), Ok(i));
        }
        assert_eq!(tx.len(), 4, "the capacity is kept for the slowest");
        assert_eq!(slow.try_recv(), Err(TryRecvError::Lagged(6)));
        assert_eq!(slow.try_recv(), Ok(6));
        drop(slow);
        assert_eq!(tx.len(), 0, "a dropped subscriber frees what it held");
    }

    #[test]
    fn an_ended_subscription_closes_at_once() {
        let mut rx = Subscription::<u8>::ended();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }

    #[tokio::test]
    async fn recv_waits_for_a_send_and_ends_when_the_senders_are_gone() {
        let tx = channel(4);
        let mut rx = tx.subscribe();
        let tx2 = tx.clone();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                match rx.recv().await {
                    Ok(v) => got.push(v),
                    Err(RecvError::Closed) => return got,
                    Err(RecvError::Lagged(n)) => panic!("lagged {n}"),
                }
            }
        });
        tokio::task::yield_now().await;
        tx.send(1);
        drop(tx);
        tokio::task::yield_now().await;
        tx2.send(2);
        drop(tx2);
        assert_eq!(reader.await.unwrap(), vec![1, 2]);
    }
}
