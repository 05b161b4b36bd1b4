//! Parking LWPs (S3, S8): `_lwp_park` and `_lwp_unpark`, the kernel's whole part in
//! a thread library's blocking — a library keeps its sleep queues in user memory,
//! and an LWP that has nothing to run, or whose bound thread waits, parks until the
//! LWP that hands it work (or the lock) unparks it.
//!
//! # Theory
//!
//! Every LWP has one *permit* (a flag in its thread, resident: S6). `_lwp_unpark`
//! sets it and wakes the LWP if it is parked; `_lwp_park` takes it, and sleeps only
//! if there was none. So an unpark is never lost, whichever of the two comes first,
//! and unparks do not count up: two before a park let one park through. A library
//! parks in a loop, looking each time at what it waits for (its own sleep queue
//! entry), which also covers a permit left over from an earlier, abandoned wait.
//!
//! The sleep is on the sleep queue of the permit's address, and its condition
//! ("I took the permit") is evaluated under that queue's lock (`sleepq`), which
//! the unpark's wakeup takes after setting the permit: either the parker saw the
//! permit, or it was queued when the wakeup looked. A park is a stop point: a
//! request to stop or exit (`TpFlags`, whose setter wakes a parked LWP) ends the
//! sleep; the LWP stops, and parks again when continued.
//!
//! A park may first unpark another LWP (Solaris' `lwp_park(timeout, lwpid)`): the
//! thread library hands a lock over and goes to sleep with one system call.
//! Unpark names LWPs of the caller's own process only (S15: `ESRCH` otherwise), and
//! is done under the process's `p_lock`, where the id still names that LWP's thread.

use core::cell::Cell;

use super::event::{interrupt_requested, unpark, wakeable};
use super::stop::wait_interrupted;
use super::tstate::Permit;
use super::{current, LwpId};
use crate::errno::Errno;
use crate::sleepq::{self, SObj};
use crate::{clock, disp, schedctl};

impl Permit {
    /// Ends a park of the thread without giving a permit: it was asked to stop or exit.
    pub(crate) fn interrupt(&self) {
        sleepq::wakeup_one(self.chan());
    }
}

/// `_lwp_park`: unparks `unpark` first if given, then waits for the current LWP's
/// permit, for at most `ticks` clock ticks if given.
///
/// Errors: those of [`lwp_unpark`] (then it does not park); `ETIME` if the time ran
/// out; `EINTR` if a signal it catches came first; `EINVAL` in a kernel thread.
#[inline(always)]
pub fn lwp_park(ticks: Option<u64>, unpark: Option<LwpId>) -> Result<(), Errno> {
    let (t, _, _) = current()?;
    if let Some(id) = unpark {
        lwp_unpark(id)?;
    }
    let permit = &t.lwp_wait().t_park;
    // The tick in progress is partly over: it does not count towards the time.
    let deadline = ticks.map(|n| clock::lbolt().saturating_add(n).saturating_add(u64::from(n > 0)));
    let got = Cell::new(false);
    let cond = || {
        got.set(got.get() || permit.take());
        got.get() || interrupt_requested(t)
    };
    loop {
        // A parked pool LWP is idle, not blocked: the library's SIGWAITING count
        // leaves it out (`schedctl`).
        let was = schedctl::parking(t);
        // An interruptible wait: a signal or a stop request wakes it.
        let woken = wakeable(t, || sleepq::sleep_until(permit.chan(), SObj::Park, cond, deadline));
        schedctl::parked(t, was);
        if got.get() {
            return Ok(());
        }
        // Asked to stop or exit: stop here, and park again once continued; a signal
        // it catches ends the park with EINTR (never restarted, as Solaris').
        if interrupt_requested(t) {
            wait_interrupted()?;
            continue;
        }
        if !woken {
            return Err(Errno::ETIME);
        }
    }
}

/// `_lwp_unpark`: gives LWP `id` of the current process its permit, waking it if it
/// is parked.
///
/// Errors: `ESRCH` if the process has no live LWP `id` (S15); `EINVAL` in a kernel
/// thread.
#[inline(always)]
pub fn lwp_unpark(id: LwpId) -> Result<(), Errno> {
    let (_, _, p) = current()?;
    {
        let ps = p.p_lock.lock();
        let (t, _) = ps.p_lwpdir.live(id).ok_or(Errno::ESRCH)?;
        unpark(t);
    }
    // The LWP woken may outrank this one: it runs now, not at the next tick.
    disp::kpreempt();
    Ok(())
}
