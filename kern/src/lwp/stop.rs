//! Stopping and continuing LWPs, and making them exit: stop points, `lwp_suspend`,
//! `lwp_continue`, and the exit requests of a process that exits (S3, S1).
//!
//! # Theory
//!
//! A request is a bit in the target thread's `t_proc_flag` (`HOLDLWP`: stop;
//! `EXITLWP`: exit), set under the process's `p_lock`. The target acts on it at its
//! next stop point: [`stop_point`], which the LWP's own code calls (and
//! `syscall::user_trap` on every return to user mode, as Solaris checks on its way
//! out of the kernel), and which every wait of `lwp` and `proc` passes through when a
//! request wakes it. A stopping LWP marks itself `STOPPED` and `Stopped` under
//! `p_lock`, then switches away with interrupts still off; whoever clears `STOPPED`
//! (continue, or an exit request) owns making it runnable, and `disp::setrun` waits
//! for the switch away to be complete. So a stopped LWP is on no queue and no CPU,
//! and is set running exactly once.
//!
//! Behaviour at the edges, as Solaris' `_lwp_suspend`/`_lwp_continue`: suspending a
//! stopped LWP succeeds at once; suspending or continuing an LWP that has exited (a
//! zombie, or gone) is `ESRCH`; continuing an LWP that is not stopped succeeds and
//! only cancels a suspension that has not taken effect yet (a suspender still
//! waiting for it then asks again). Suspends do not nest: one continue undoes any
//! number of suspends.

use core::ptr;

use arch::Machine;

use super::{current, LwpId, TpFlags};
use crate::disp::{self, Prev};
use crate::errno::Errno;
use crate::proc::Proc;
use crate::thread::{curthread, KThread, ThreadState};
use crate::M;

/// A stop point: where the current LWP acts on a request to stop (it stays here
/// until continued) or to exit (it never returns). Free when nothing is asked: one
/// load. A kernel thread (S2) never stops. Call it with no lock held.
pub fn stop_point() {
    let t = curthread();
    loop {
        if !t.proc_flag().intersects(TpFlags::HOLDLWP | TpFlags::EXITLWP) {
            return;
        }
        let Some(p) = t.t_procp.get() else { return };
        let was = M::intr_disable();
        let ps = p.p_lock.lock();
        let f = t.proc_flag();
        if f.contains(TpFlags::EXITLWP) {
            drop(ps);
            M::intr_restore(was);
            super::lwp_exit();
        }
        if !f.contains(TpFlags::HOLDLWP) {
            // Continued before it could stop.
            drop(ps);
            M::intr_restore(was);
            continue;
        }
        t.set_proc_flag(TpFlags::STOPPED);
        t.note_wait();
        t.set_state(ThreadState::Stopped);
        drop(ps);
        // Interrupts stay off until the switch is made: nothing runs here meanwhile,
        // and a continuer's `setrun` waits until this thread is off its CPU.
        p.p_holdlwps.signal();
        disp::swtch(Prev::Block);
        M::intr_restore(was);
    }
}

/// Takes a stopped LWP's thread out of its stop: the caller sets it running (which,
/// if its `lwp` structure is swapped out, has the swapper bring it back first: S5).
/// `None` if it is not stopped, if someone else already took it, or if its creator
/// is not done with it yet (`CREATING`). Under `p_lock`.
fn unstop(t: &'static KThread) -> Option<&'static KThread> {
    if t.proc_flag().contains(TpFlags::CREATING) {
        return None;
    }
    t.clear_proc_flag(TpFlags::STOPPED).contains(TpFlags::STOPPED).then_some(t)
}

/// The creator of `t`, a new LWP of `p` held since it was entered (`CREATING`), is
/// done with it: it runs, unless it is to stay stopped — made SUSPENDED, or
/// suspended meanwhile — and not to exit (Solaris' `lwp_create_done`). A continue
/// meanwhile cleared the suspension; an exit request meanwhile set it running.
pub(super) fn create_done(p: &Proc, t: &'static KThread) {
    let resume = {
        let _ps = p.p_lock.lock();
        let f = t.clear_proc_flag(TpFlags::CREATING);
        let stays = f.contains(TpFlags::HOLDLWP) && !f.contains(TpFlags::EXITLWP);
        if stays {
            None
        } else {
            unstop(t)
        }
    };
    if let Some(t) = resume {
        disp::setrun(t);
    }
}

/// Wakes every LWP of `p` asleep in a wait that is a stop point, so that it sees a
/// request: those are the waits on `p`'s events.
fn wake_stop_points(p: &Proc) {
    p.p_lwpexit.signal();
    p.p_holdlwps.signal();
    p.p_childexit.signal();
}

/// Suspends LWP `id` of the current process: returns once it is stopped (state
/// `Stopped`, on no queue and no CPU). Suspending oneself stops at once, and returns
/// when continued.
///
/// Errors: `ESRCH` if the process has no live LWP `id` (or it exits meanwhile);
/// `EINVAL` in a kernel thread.
pub fn lwp_suspend(id: LwpId) -> Result<(), Errno> {
    let (me, _, p) = current()?;
    loop {
        let t = {
            let ps = p.p_lock.lock();
            let (t, _) = ps.p_lwpdir.live(id).ok_or(Errno::ESRCH)?;
            t.set_proc_flag(TpFlags::HOLDLWP);
            t
        };
        if ptr::eq(t, me) {
            stop_point();
            return Ok(());
        }
        wake_stop_points(p);
        if wait_stopped(p, id, t)? {
            // It marked itself stopped with interrupts off, just before switching.
            while disp::is_running(t) {
                M::relax();
            }
            return Ok(());
        }
        // Continued before it stopped: ask again.
    }
}

/// Waits until `t`, LWP `id` of `p`, is stopped: true; false if it was continued
/// first. `ESRCH` if it exits meanwhile.
fn wait_stopped(p: &Proc, id: LwpId, t: &'static KThread) -> Result<bool, Errno> {
    let tid = t.id();
    loop {
        let seen = p.p_holdlwps.snapshot();
        {
            let ps = p.p_lock.lock();
            // The same LWP: not a new one with the same id on the same (recycled) thread.
            match ps.p_lwpdir.live(id) {
                Some((now, _)) if ptr::eq(now, t) && t.id() == tid => {}
                _ => return Err(Errno::ESRCH),
            }
            let f = t.proc_flag();
            if f.contains(TpFlags::STOPPED) {
                return Ok(true);
            }
            if !f.contains(TpFlags::HOLDLWP) {
                return Ok(false);
            }
        }
        if !p.p_holdlwps.wait(seen) {
            stop_point();
        }
    }
}

/// Continues LWP `id` of the current process: a stopped LWP becomes runnable; one
/// that is not stopped is left running, and a pending suspension is cancelled.
///
/// Errors: `ESRCH` if the process has no live LWP `id`; `EINVAL` in a kernel thread.
pub fn lwp_continue(id: LwpId) -> Result<(), Errno> {
    let (_, _, p) = current()?;
    let resume = {
        let ps = p.p_lock.lock();
        let (t, _) = ps.p_lwpdir.live(id).ok_or(Errno::ESRCH)?;
        t.clear_proc_flag(TpFlags::HOLDLWP);
        unstop(t)
    };
    if let Some(t) = resume {
        disp::setrun(t);
    }
    // A suspender still waiting for it learns that it was continued.
    p.p_holdlwps.signal();
    Ok(())
}

/// Makes every LWP of `p` but `me` exit at its next stop point: stopped ones are set
/// running to get there, sleeping ones are woken (Solaris' `exitlwps`). The stopped
/// ones are taken out of their stop one at a time, each with `p_lock` taken anew:
/// nothing is allocated under it, and the process, exiting, gets no new LWP.
pub(crate) fn exitlwps(p: &Proc, me: &KThread) {
    {
        let ps = p.p_lock.lock();
        for (t, _) in ps.p_lwpdir.live_all().filter(|(t, _)| !ptr::eq(*t, me)) {
            t.set_proc_flag(TpFlags::EXITLWP);
        }
    }
    loop {
        let next = {
            let ps = p.p_lock.lock();
            let found = ps
                .p_lwpdir
                .live_all()
                .filter(|(t, _)| !ptr::eq(*t, me))
                .find_map(|(t, _)| unstop(t));
            found
        };
        match next {
            Some(t) => disp::setrun(t),
            None => break,
        }
    }
    wake_stop_points(p);
}
