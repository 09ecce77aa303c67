// Copyright 2026 Cloudflare, Inc.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
// http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

//! Patched (Convergences): the bounded pipe between the two halves of a proxied HTTP/1.x
//! request (`proxy_h1.rs`), in place of two `tokio::sync::mpsc` channels per request.
//!
//! The two halves run as one future (`try_join!`) in the request's task, so the pipe never
//! carries data between threads or wakes another task. A tokio channel is built for many
//! senders on many threads: each one costs a 128-byte aligned allocation for its shared state
//! and another for its first block of 32 slots, a semaphore and atomic wakers, which the
//! profile of a keep-alive proxy shows on every request. This pipe keeps its few slots inline
//! in one small allocation behind an uncontended mutex, with the same API subset and the same
//! semantics as the tokio channel the code used:
//! - `recv` returns `None` once the sender is gone and the pipe is empty;
//! - `send`, `reserve` and `try_reserve` fail once the receiver is gone (`is_closed`), and wait
//!   (or fail with `Full`) while the pipe is full, counting the slots reserved by permits;
//! - a permit sent after the receiver is gone drops its value; a permit dropped unused frees
//!   its slot.
//!
//! There is one sender and one receiver (neither is `Clone`), each used by one future at a
//! time, so one waker slot per side is enough.

use std::fmt;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Slots in a pipe; `proxy_h1.rs` uses `TASK_BUFFER_SIZE` (4).
const SLOTS: usize = 4;

struct State<T> {
    slots: [Option<T>; SLOTS],
    head: usize,
    len: usize,
    capacity: usize,
    reserved: usize,
    sender_alive: bool,
    receiver_alive: bool,
    receiver_waker: Option<Waker>,
    sender_waker: Option<Waker>,
}

impl<T> State<T> {
    fn has_room(&self) -> bool {
        self.len + self.reserved < self.capacity
    }

    fn push(&mut self, value: T) {
        debug_assert!(self.len < SLOTS);
        self.slots[(self.head + self.len) % SLOTS] = Some(value);
        self.len += 1;
    }

    fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let value = self.slots[self.head].take();
        self.head = (self.head + 1) % SLOTS;
        self.len -= 1;
        value
    }
}

type Shared<T> = Arc<Mutex<State<T>>>;

fn lock<T>(shared: &Shared<T>) -> MutexGuard<'_, State<T>> {
    // Nothing panics while the lock is held; recover the state rather than propagate a poison.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

/// A pipe of at most `capacity` values (at most [`SLOTS`]).
pub(crate) fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        (1..=SLOTS).contains(&capacity),
        "task pipe capacity out of range"
    );
    let shared = Arc::new(Mutex::new(State {
        slots: std::array::from_fn(|_| None),
        head: 0,
        len: 0,
        capacity,
        reserved: 0,
        sender_alive: true,
        receiver_alive: true,
        receiver_waker: None,
        sender_waker: None,
    }));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// The value could not be sent: the receiver is gone.
pub(crate) struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// No slot could be reserved now.
pub(crate) enum TrySendError<T> {
    Full(T),
    Closed(T),
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("no available capacity"),
            TrySendError::Closed(_) => f.write_str("channel closed"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

pub(crate) struct Sender<T> {
    shared: Shared<T>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for a free slot.
    pub(crate) async fn send(&self, value: T) -> Result<(), SendError<T>> {
        match self.reserve().await {
            Ok(permit) => {
                permit.send(value);
                Ok(())
            }
            Err(_) => Err(SendError(value)),
        }
    }

    /// Reserves a slot, waiting for one to be free.
    pub(crate) async fn reserve(&self) -> Result<Permit<'_, T>, SendError<()>> {
        poll_fn(|cx| self.poll_reserve(cx)).await
    }

    fn poll_reserve(&self, cx: &mut Context<'_>) -> Poll<Result<Permit<'_, T>, SendError<()>>> {
        let mut state = lock(&self.shared);
        if !state.receiver_alive {
            return Poll::Ready(Err(SendError(())));
        }
        if state.has_room() {
            state.reserved += 1;
            return Poll::Ready(Ok(Permit { sender: self }));
        }
        match &mut state.sender_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Reserves a slot if one is free now.
    pub(crate) fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        let mut state = lock(&self.shared);
        if !state.receiver_alive {
            return Err(TrySendError::Closed(()));
        }
        if !state.has_room() {
            return Err(TrySendError::Full(()));
        }
        state.reserved += 1;
        Ok(Permit { sender: self })
    }

    /// Whether the receiver is gone.
    pub(crate) fn is_closed(&self) -> bool {
        !lock(&self.shared).receiver_alive
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut state = lock(&self.shared);
            state.sender_alive = false;
            state.receiver_waker.take()
        };
        wake(waker);
    }
}

/// A reserved slot.
pub(crate) struct Permit<'a, T> {
    sender: &'a Sender<T>,
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Permit")
    }
}

impl<T> Permit<'_, T> {
    /// Sends `value` in the reserved slot (dropped if the receiver is gone).
    pub(crate) fn send(self, value: T) {
        let (waker, dropped) = {
            let mut state = lock(&self.sender.shared);
            state.reserved -= 1;
            if state.receiver_alive {
                state.push(value);
                (state.receiver_waker.take(), None)
            } else {
                (None, Some(value))
            }
        };
        std::mem::forget(self);
        drop(dropped);
        wake(waker);
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        let waker = {
            let mut state = lock(&self.sender.shared);
            state.reserved -= 1;
            state.sender_waker.take()
        };
        wake(waker);
    }
}

pub(crate) struct Receiver<T> {
    shared: Shared<T>,
}

impl<T> Receiver<T> {
    /// The next value; `None` once the sender is gone and the pipe is empty.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = lock(&self.shared);
        if let Some(value) = state.pop() {
            let waker = state.sender_waker.take();
            drop(state);
            wake(waker);
            return Poll::Ready(Some(value));
        }
        if !state.sender_alive {
            return Poll::Ready(None);
        }
        match &mut state.receiver_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (waker, values) = {
            let mut state = lock(&self.shared);
            state.receiver_alive = false;
            let mut values = Vec::with_capacity(state.len);
            while let Some(v) = state.pop() {
                values.push(v);
            }
            (state.sender_waker.take(), values)
        };
        // Values are dropped outside the lock.
        drop(values);
        wake(waker);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[tokio::test]
    async fn values_arrive_in_order_and_none_follows_the_senders_drop() {
        let (tx, mut rx) = channel::<u32>(4);
        for i in 0..4 {
            tx.send(i).await.unwrap();
        }
        assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
        for i in 0..4 {
            assert_eq!(rx.recv().await, Some(i));
        }
        tx.send(9).await.unwrap();
        drop(tx);
        assert_eq!(rx.recv().await, Some(9));
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn a_full_pipe_makes_the_sender_wait_until_a_value_is_taken() {
        let (tx, mut rx) = channel::<u32>(1);
        tx.send(1).await.unwrap();
        let mut second = Box::pin(tx.send(2));
        assert!((&mut second).now_or_never().is_none(), "waits while full");
        assert_eq!(rx.recv().await, Some(1));
        second.await.unwrap();
        assert_eq!(rx.recv().await, Some(2));
    }

    #[tokio::test]
    async fn permits_hold_their_slot_until_sent_or_dropped() {
        let (tx, mut rx) = channel::<u32>(2);
        let a = tx.try_reserve().unwrap();
        let b = tx.reserve().await.unwrap();
        assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
        drop(a);
        let c = tx.try_reserve().expect("a dropped permit frees its slot");
        b.send(2);
        c.send(3);
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(3));
        assert!(
            rx.recv().now_or_never().is_none(),
            "empty, sender alive: waits"
        );
    }

    #[tokio::test]
    async fn the_receivers_drop_closes_the_pipe_for_the_sender() {
        let (tx, rx) = channel::<Arc<()>>(2);
        let value = Arc::new(());
        tx.send(value.clone()).await.unwrap();
        let permit = tx.try_reserve().unwrap();
        assert!(!tx.is_closed());
        drop(rx);
        assert_eq!(Arc::strong_count(&value), 1, "queued values are dropped");
        assert!(tx.is_closed());
        permit.send(value.clone());
        assert_eq!(
            Arc::strong_count(&value),
            1,
            "a late permit's value is dropped"
        );
        assert!(tx.send(value.clone()).await.is_err());
        assert!(tx.reserve().await.is_err());
        assert!(matches!(tx.try_reserve(), Err(TrySendError::Closed(()))));
    }

    #[tokio::test]
    async fn a_waiting_sender_learns_that_the_receiver_is_gone() {
        let (tx, rx) = channel::<u32>(1);
        tx.send(1).await.unwrap();
        let (sent, ()) = tokio::join!(tx.send(2), async move {
            tokio::task::yield_now().await;
            drop(rx);
        });
        assert!(sent.is_err());
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_send_from_the_same_task() {
        let (tx, mut rx) = channel::<u32>(1);
        let (got, ()) = tokio::join!(rx.recv(), async move {
            tokio::task::yield_now().await;
            tx.send(7).await.unwrap();
        });
        assert_eq!(got, Some(7));
    }
}
