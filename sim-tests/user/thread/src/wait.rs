//! How a thread waits and is woken: the state machine between a thread that queues
//! itself somewhere and goes to sleep, and the thread that takes it off that queue
//! and wakes it, which may come at any moment in between (`loom_tests` checks it).
//!
//! # Theory
//!
//! A waiting thread's state word goes `RUNNING` → [`WAITING`] (set while it queues
//! itself, under the queue's lock) → one of:
//!
//! * `WOKEN`: the waker came first (compare-and-swap from `WAITING`). The waiter
//!   sees it and does not sleep, or, a bound thread parked on its LWP, is unparked
//!   and sees it.
//! * `BLOCKED`: an unbound thread committed to switch away (compare-and-swap from
//!   `WAITING`, under its pool's lock, which it holds until the switch is
//!   complete). A waker that finds `BLOCKED` makes it runnable, under that same
//!   lock: so it is never queued to run before its registers are saved.
//!
//! Exactly one of the two compare-and-swaps from `WAITING` succeeds, so exactly
//! one side acts: no wakeup is lost and none is given twice. The waiter sets
//! `RUNNING` again when it goes on.

use core::sync::atomic::Ordering::{Acquire, Release, SeqCst};

/// The thread runs (or is runnable): it waits for nothing.
pub const RUNNING: u32 = 0;
/// It queued itself and is on its way to sleep.
pub const WAITING: u32 = 1;
/// It switched away (an unbound thread): its waker makes it runnable.
pub const BLOCKED: u32 = 2;
/// Its waker came before it slept.
pub const WOKEN: u32 = 3;

/// An atomic word (32 bits: SPARC's `cas` takes one in one instruction, a byte
/// takes a loop): `core`'s, or loom's under the model checker.
pub trait State {
    fn load(&self) -> u32;
    fn store(&self, v: u32);
    fn cas(&self, cur: u32, new: u32) -> Result<u32, u32>;
}

macro_rules! state_impl {
    ($t:ty) => {
        impl State for $t {
            #[inline(always)]
            fn load(&self) -> u32 {
                <$t>::load(self, Acquire)
            }
            #[inline(always)]
            fn store(&self, v: u32) {
                <$t>::store(self, v, Release)
            }
            #[inline(always)]
            fn cas(&self, cur: u32, new: u32) -> Result<u32, u32> {
                <$t>::compare_exchange(self, cur, new, SeqCst, SeqCst)
            }
        }
    };
}

state_impl!(core::sync::atomic::AtomicU32);
#[cfg(loom)]
state_impl!(loom::sync::atomic::AtomicU32);

/// The waiter, as it queues itself (under the queue's lock).
#[inline(always)]
pub fn prepare<S: State>(s: &S) {
    s.store(WAITING)
}

/// An unbound waiter, holding its pool's lock: true if it must switch away (it is
/// `BLOCKED` now); false if it was woken already (it runs on, `RUNNING`).
#[inline(always)]
pub fn commit<S: State>(s: &S) -> bool {
    match s.cas(WAITING, BLOCKED) {
        Ok(_) => true,
        Err(_) => {
            s.store(RUNNING);
            false
        }
    }
}

/// A bound waiter after each park: true while it must park again.
#[inline(always)]
pub fn still_waiting<S: State>(s: &S) -> bool {
    if s.load() == WAITING {
        return true;
    }
    s.store(RUNNING);
    false
}

/// What the waker must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// It came first: the waiter will see `WOKEN` (a bound one must be unparked).
    Told,
    /// The waiter switched away: make it runnable (under its pool's lock).
    Requeue,
}

/// The waker, the waiter taken off its queue (so no other waker can come).
#[inline(always)]
pub fn wake<S: State>(s: &S) -> Wake {
    match s.cas(WAITING, WOKEN) {
        Ok(_) => Wake::Told,
        Err(_) => Wake::Requeue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::AtomicU32;

    #[test]
    fn waker_first_the_waiter_runs_on() {
        let s = AtomicU32::new(RUNNING);
        prepare(&s);
        assert_eq!(wake(&s), Wake::Told);
        assert!(!commit(&s));
        assert_eq!(State::load(&s), RUNNING);
    }

    #[test]
    fn waiter_first_the_waker_requeues() {
        let s = AtomicU32::new(RUNNING);
        prepare(&s);
        assert!(commit(&s));
        assert_eq!(wake(&s), Wake::Requeue);
    }

    #[test]
    fn a_bound_waiter_parks_until_told() {
        let s = AtomicU32::new(RUNNING);
        prepare(&s);
        assert!(still_waiting(&s), "an unpark left over from before: it parks again");
        assert_eq!(wake(&s), Wake::Told);
        assert!(!still_waiting(&s));
        assert_eq!(State::load(&s), RUNNING);
    }
}
