//! Condition variables (S8): wait for a condition protected by a mutex.
//!
//! # Theory
//!
//! A condition variable is a sequence number and a count of waiters; its waiters
//! sleep on the sleep queue whose wait channel is the variable's address
//! (`sleepq`). A waiter, holding the mutex, reads the sequence number, counts
//! itself, leaves the mutex and sleeps until the number changes. `signal` and
//! `broadcast` change the number, then wake one or every sleeper.
//!
//! Releasing the mutex and going to sleep is atomic with respect to wakeups: a
//! signal that comes after the waiter read the number changes it, and the sleep
//! checks the number under the sleep queue's lock before it blocks, so the waiter
//! either sees the change or is already queued when the wakeup looks. A signaller
//! that changed the condition under the mutex sees the waiter counted (the waiter
//! counted itself before leaving the mutex), so it never skips the wakeup.
//!
//! As everywhere, a woken waiter must check its condition again: a thread that
//! was on its way to sleep when a signal came returns too (a spurious wakeup),
//! and another thread may have taken the mutex and changed the condition first.
//! A timed wait is a timed sleep (`sleepq::sleep_timed`, driven by a callout) that
//! reports whether the time ran out before a wakeup.

use core::sync::atomic::Ordering::SeqCst;
use core::sync::atomic::{AtomicU64, AtomicUsize};

use super::mutex::{KMutex, MutexGuard};
use crate::sleepq::{self, SObj};

/// A condition variable (Solaris' `kcondvar_t`).
pub struct CondVar {
    seq: AtomicU64,
    waiters: AtomicUsize,
}

impl CondVar {
    /// A condition variable nobody waits on (`cv_init`; `const`, so it may be a `static`).
    pub const fn new() -> CondVar {
        CondVar { seq: AtomicU64::new(0), waiters: AtomicUsize::new(0) }
    }

    fn chan(&self) -> usize {
        self as *const CondVar as usize
    }

    /// Leaves `m` (held by the caller), sleeps until signalled (or `ticks` clock
    /// ticks pass), and enters `m` again. False if the time ran out.
    fn sleep(&self, m: &KMutex, ticks: Option<u64>) -> bool {
        m.assert_held();
        let seq = self.seq.load(SeqCst);
        self.waiters.fetch_add(1, SeqCst);
        m.exit();
        let changed = || self.seq.load(SeqCst) != seq;
        let woken = match ticks {
            None => {
                sleepq::sleep_on(self.chan(), SObj::Cv, changed);
                true
            }
            Some(t) => sleepq::sleep_timed_on(self.chan(), SObj::Cv, changed, t),
        };
        self.waiters.fetch_sub(1, SeqCst);
        m.enter();
        woken
    }

    /// `cv_wait`: leaves `m`, sleeps until signalled, enters `m` again.
    pub fn wait_raw(&self, m: &KMutex) {
        self.sleep(m, None);
    }

    /// `cv_timedwait`: like [`wait_raw`](CondVar::wait_raw) for at most `ticks`
    /// clock ticks; false if the time ran out first.
    pub fn timedwait_raw(&self, m: &KMutex, ticks: u64) -> bool {
        self.sleep(m, Some(ticks))
    }

    /// Leaves the guard's mutex, sleeps until signalled, and returns the guard with
    /// the mutex entered again.
    pub fn wait<'a, T>(&self, mut g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        g.data = None;
        self.sleep(g.mutex.raw(), None);
        g.data = Some(g.mutex.open());
        g
    }

    /// Like [`wait`](CondVar::wait) for at most `ticks` clock ticks; the flag is
    /// true if the time ran out first.
    pub fn wait_timeout<'a, T>(
        &self,
        mut g: MutexGuard<'a, T>,
        ticks: u64,
    ) -> (MutexGuard<'a, T>, bool) {
        g.data = None;
        let woken = self.sleep(g.mutex.raw(), Some(ticks));
        g.data = Some(g.mutex.open());
        (g, !woken)
    }

    /// Waits while `cond` holds of the data.
    pub fn wait_while<'a, T>(
        &self,
        mut g: MutexGuard<'a, T>,
        mut cond: impl FnMut(&mut T) -> bool,
    ) -> MutexGuard<'a, T> {
        while cond(&mut g) {
            g = self.wait(g);
        }
        g
    }

    /// Wakes one waiter, if any.
    pub fn signal(&self) {
        if self.waiters.load(SeqCst) != 0 {
            self.seq.fetch_add(1, SeqCst);
            sleepq::wakeup_one(self.chan());
        }
    }

    /// Wakes every waiter.
    pub fn broadcast(&self) {
        if self.waiters.load(SeqCst) != 0 {
            self.seq.fetch_add(1, SeqCst);
            sleepq::wakeup(self.chan());
        }
    }

    /// How many threads are waiting (or on their way to sleep).
    pub fn waiters(&self) -> usize {
        self.waiters.load(SeqCst)
    }
}

impl Default for CondVar {
    fn default() -> Self {
        CondVar::new()
    }
}
