//! Events: what LWPs wait for in this module and in `proc` — an LWP exiting, an LWP
//! stopping, a child process exiting — as waits that are stop points.
//!
//! An [`Event`] is an event count over a sleep-queue channel (its own address). A
//! waiter notes the count, checks its condition under whatever lock guards it, and
//! sleeps until the count moves; whoever changes the state signals after the change.
//! Either the waiter's check saw the change, or the count it noted is older than
//! the signal and it does not sleep through it: no wakeup is lost, and the sleep
//! queue's condition is one atomic load, with no lock taken under the sleep queue's.
//!
//! The wait also ends when the waiting LWP is asked to stop or exit (`t_proc_flag`);
//! whoever asks signals the process's events. The caller then undoes what it
//! registered for its wait, goes through its stop point, and waits again: a
//! sleeping LWP "stops in its wait" (S3).

use core::sync::atomic::{AtomicU64, Ordering};

use super::TpFlags;
use crate::sleepq::{self, SObj};
use crate::thread::{curthread, KThread};

/// An event count LWPs wait on.
pub(crate) struct Event {
    ev_count: AtomicU64,
}

/// Whether `t`'s LWP was asked to stop or exit.
pub(crate) fn stop_requested(t: &KThread) -> bool {
    t.proc_flag().intersects(TpFlags::HOLDLWP | TpFlags::EXITLWP)
}

impl Event {
    pub(crate) const fn new() -> Event {
        Event { ev_count: AtomicU64::new(0) }
    }

    fn chan(&self) -> usize {
        self as *const Event as usize
    }

    /// The count, to be taken before checking the condition waited for.
    pub(crate) fn snapshot(&self) -> u64 {
        self.ev_count.load(Ordering::SeqCst)
    }

    /// Sleeps until the event is signalled after `seen` was taken. Returns false if
    /// the wait ended (or never began) because the current LWP was asked to stop or
    /// exit: the caller undoes its wait's bookkeeping and calls `stop_point`.
    pub(crate) fn wait(&self, seen: u64) -> bool {
        let t = curthread();
        sleepq::sleep_on(self.chan(), SObj::Event, || {
            self.ev_count.load(Ordering::SeqCst) != seen || stop_requested(t)
        });
        !stop_requested(t)
    }

    /// Like [`Event::wait`], for at most `ticks` clock ticks (a timeout also
    /// returns true: the caller looks at the time itself).
    pub(crate) fn wait_timed(&self, seen: u64, ticks: u64) -> bool {
        let t = curthread();
        sleepq::sleep_timed_on(
            self.chan(),
            SObj::Event,
            || self.ev_count.load(Ordering::SeqCst) != seen || stop_requested(t),
            ticks,
        );
        !stop_requested(t)
    }

    /// Signals the event: wakes every waiter. Returns the new count.
    pub(crate) fn signal(&self) -> u64 {
        let count = self.ev_count.fetch_add(1, Ordering::SeqCst) + 1;
        sleepq::wakeup(self.chan());
        count
    }
}
