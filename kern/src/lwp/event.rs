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
//! The wait also ends when the waiting LWP is asked to stop or exit (`t_proc_flag`),
//! or when a signal may be there for it to take (`pending::SIG`): it is an
//! interruptible wait (`t_wakeable`, which whoever sends a signal wakes). The caller
//! then undoes what it registered for its wait and goes through
//! `wait_interrupted`: a sleeping LWP "stops in its wait" (S3) and waits again
//! afterwards; a signal it catches ends the wait with EINTR.
//!
//! [`pause`] is the same interruptible sleep with no event: `sigsuspend`,
//! `sigtimedwait`.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::tstate::TpFlags;
use crate::sleepq::{self, SObj};
use crate::thread::{curthread, pending, KThread};

/// An event count LWPs wait on.
pub(crate) struct Event {
    ev_count: AtomicU64,
}

/// Whether `t`'s LWP was asked to stop or exit.
pub(crate) fn stop_requested(t: &KThread) -> bool {
    t.proc_flag().intersects(TpFlags::REQUESTS)
}

/// Whether an interruptible wait of `t` must end: a stop or exit request, or a
/// signal to look at.
pub(crate) fn interrupt_requested(t: &KThread) -> bool {
    stop_requested(t) || t.pending() & pending::SIG != 0
}

/// Runs `f`, an interruptible sleep of the current thread, marked wakeable: a signal
/// sent to its LWP, or a request to stop or exit, wakes it wherever it sleeps.
/// Inlined: the sleep inside it then switches in its caller's register window.
#[inline(always)]
pub(crate) fn wakeable<R>(t: &KThread, f: impl FnOnce() -> R) -> R {
    debug_check!(t.is_curthread(), "{t:?} made wakeable by another thread");
    let flag: &AtomicBool = &t.lwp_wait().t_wakeable;
    flag.store(true, Ordering::SeqCst);
    let r = f();
    flag.store(false, Ordering::SeqCst);
    r
}

/// Sleeps until the current LWP's wait is interrupted (see the module comment),
/// or for at most `ticks` clock ticks if given: true if it was interrupted.
pub(crate) fn pause(ticks: Option<u64>) -> bool {
    let t = curthread();
    let chan = t as *const KThread as usize;
    wakeable(t, || match ticks {
        Some(n) => sleepq::sleep_timed(chan, || interrupt_requested(t), n),
        None => {
            sleepq::sleep(chan, || interrupt_requested(t));
            true
        }
    })
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
    /// the wait ended (or never began) because it was interrupted (see the module
    /// comment): the caller undoes its wait's bookkeeping and calls
    /// `wait_interrupted`.
    #[must_use = "false: the wait was interrupted, and the caller must act on it"]
    pub(crate) fn wait(&self, seen: u64) -> bool {
        let t = curthread();
        wakeable(t, || {
            sleepq::sleep_on(self.chan(), SObj::Event, || {
                self.ev_count.load(Ordering::SeqCst) != seen || interrupt_requested(t)
            })
        });
        !interrupt_requested(t)
    }

    /// Sleeps until the event is signalled after `seen` was taken, whatever is
    /// sent to the LWP meanwhile (`exec` waiting for its other LWPs to leave: they
    /// are leaving, so it is not long).
    pub(crate) fn wait_uninterruptible(&self, seen: u64) {
        sleepq::sleep_on(self.chan(), SObj::Event, || self.ev_count.load(Ordering::SeqCst) != seen);
    }

    /// Like [`Event::wait`], for at most `ticks` clock ticks (a timeout also
    /// returns true: the caller looks at the time itself).
    #[must_use = "false: the wait was interrupted, and the caller must act on it"]
    pub(crate) fn wait_timed(&self, seen: u64, ticks: u64) -> bool {
        let t = curthread();
        wakeable(t, || {
            sleepq::sleep_timed_on(
                self.chan(),
                SObj::Event,
                || self.ev_count.load(Ordering::SeqCst) != seen || interrupt_requested(t),
                ticks,
            )
        });
        !interrupt_requested(t)
    }

    /// Signals the event: wakes every waiter. Returns the new count.
    pub(crate) fn signal(&self) -> u64 {
        let count = self.ev_count.fetch_add(1, Ordering::SeqCst) + 1;
        sleepq::wakeup(self.chan());
        count
    }
}

/// Gives `t` its permit and wakes it if it is parked. `t` must be an LWP's thread
/// that cannot be reused meanwhile (the caller holds its process's `p_lock`, or is
/// the kernel's own notification, `schedctl`).
pub(crate) fn unpark(t: &KThread) {
    debug_check!(
        t.is_curthread() || t.procp().is_some_and(|p| p.p_lock.is_locked()),
        "{t:?} unparked without p_lock"
    );
    let permit = &t.lwp_wait().t_park;
    permit.given.store(1, Ordering::SeqCst);
    sleepq::wakeup_one(permit.chan());
}
