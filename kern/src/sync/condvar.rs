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
//!
//! # Kinds (S9)
//!
//! What a waiter does between leaving the mutex and entering it again:
//!
//! * **Block** (the default, [`CondVar::new`]): it sleeps as described above.
//! * **Spin**: it busy-waits for the sequence number to change (or the time to run
//!   out, by the clock) and never sleeps, with its caller's interrupt level. A
//!   spin condition variable may be waited on with interrupts off only together
//!   with a spin mutex (entering any other may sleep), and then only a signal from
//!   another CPU ends the wait.
//! * **Adaptive**: a condition variable has no owner, so it remembers its *waker*,
//!   the last thread that signalled it, and a waiter spins while that thread runs
//!   on another CPU, for about a clock tick at most (`sync::ADAPTIVE_SPIN_TICKS`:
//!   the waker may run on and never signal again), then sleeps as a blocking waiter
//!   does.
//!
//! Spinning waiters count themselves as waiters like sleeping ones (the signaller
//! must change the number for them). A signal that a spinner sees may also wake a
//! sleeper: one more spurious wakeup, which every waiter already allows for.

use core::sync::atomic::Ordering::{Relaxed, SeqCst};
use core::sync::atomic::{AtomicU64, AtomicUsize};

use arch::cell::TaggedRef;
use arch::Machine;

use super::mutex::{KMutex, MutexGuard, MutexKind};
use super::STATS;
use crate::clock;
use crate::sleepq::{self, SObj};
use crate::thread::KThread;
use crate::M;

/// A condition variable (Solaris' `kcondvar_t`).
pub struct CondVar {
    seq: AtomicU64,
    waiters: AtomicUsize,
    kind: MutexKind,
    /// The last thread that signalled (adaptive only): the one waiters spin on.
    waker: TaggedRef<KThread>,
}

impl CondVar {
    /// A blocking condition variable nobody waits on (`cv_init`; `const`, so it
    /// may be a `static`).
    pub const fn new() -> CondVar {
        CondVar::with_kind(MutexKind::Block)
    }

    /// A condition variable of `kind` nobody waits on.
    pub const fn with_kind(kind: MutexKind) -> CondVar {
        CondVar {
            seq: AtomicU64::new(0),
            waiters: AtomicUsize::new(0),
            kind,
            waker: TaggedRef::new_num(0, 0),
        }
    }

    /// What a waiter does (fixed at creation).
    pub fn kind(&self) -> MutexKind {
        self.kind
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
        let deadline = || ticks.map(|t| clock::lbolt().saturating_add(t));
        let woken = match self.kind {
            MutexKind::Spin => {
                STATS.cv_spin_waits.fetch_add(1, Relaxed);
                let end = deadline();
                loop {
                    if changed() {
                        break true;
                    }
                    if end.is_some_and(|e| clock::lbolt() >= e) {
                        break false;
                    }
                    M::relax();
                }
            }
            MutexKind::Adaptive => {
                let end = deadline();
                if super::adaptive_spin(&self.waker, &STATS.cv_adaptive_spins, end, changed) {
                    true
                } else {
                    // A timed wait sleeps for what its spin left of the time.
                    self.block(changed, end.map(|e| e.saturating_sub(clock::lbolt())))
                }
            }
            MutexKind::Block => self.block(changed, ticks),
        };
        self.waiters.fetch_sub(1, SeqCst);
        m.enter();
        woken
    }

    /// Sleeps until `changed()` (or `ticks` more clock ticks pass); false if the
    /// time ran out.
    fn block(&self, changed: impl Fn() -> bool, ticks: Option<u64>) -> bool {
        STATS.cv_blocks.fetch_add(1, Relaxed);
        match ticks {
            None => {
                sleepq::sleep_on(self.chan(), SObj::Cv, changed);
                true
            }
            Some(t) => sleepq::sleep_timed_on(self.chan(), SObj::Cv, changed, t),
        }
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
        if self.kind == MutexKind::Adaptive {
            super::note_waker(&self.waker);
        }
        if self.waiters.load(SeqCst) != 0 {
            self.seq.fetch_add(1, SeqCst);
            sleepq::wakeup_one(self.chan());
        }
    }

    /// Wakes every waiter.
    pub fn broadcast(&self) {
        if self.kind == MutexKind::Adaptive {
            super::note_waker(&self.waker);
        }
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
