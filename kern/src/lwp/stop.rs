//! Stopping and continuing LWPs, and making them exit: stop points, `lwp_suspend`,
//! `lwp_continue`, the stops and continues of job control (`signal`), and the exit
//! requests of a process that exits (S3, S1).
//!
//! # Theory
//!
//! A request is a bit in the target thread's `t_proc_flag` (`HOLDLWP`: stop, for
//! `lwp_suspend`; `JOBSTOP`: stop, for a stop signal; `EXITLWP`: exit), set under
//! the process's `p_lock`. The target acts on it at its
//! next stop point: [`stop_point`], which the LWP's own code calls (and
//! `syscall::user_trap` on every return to user mode, as Solaris checks on its way
//! out of the kernel), and which every wait of `lwp` and `proc` passes through when a
//! request wakes it. A stopping LWP marks itself `STOPPED` and `Stopped` under
//! `p_lock`, then switches away with interrupts still off; whoever clears `STOPPED`
//! (continue, or an exit request) owns making it runnable, and `disp::setrun` waits
//! for the switch away to be complete. So a stopped LWP is on no queue and no CPU,
//! and is set running exactly once. An LWP stays stopped while any stop request
//! stands: `lwp_continue` clears `HOLDLWP`, SIGCONT clears `JOBSTOP`
//! ([`continue_all`]), the end of a `forkall` clears `HOLDFORK` ([`holdlwps`],
//! [`continuelwps`]), and each sets running only an LWP no other request holds.
//! The last LWP of a process to stop for a stop signal tells the parent
//! (`signal::proc_stopped`).
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
use crate::proc::{Proc, ProcState};
use crate::thread::{curthread, pending, KThread, ThreadState};
use crate::{signal, sleepq, M};

/// The requests that keep an LWP stopped.
const HELD: TpFlags = TpFlags::HOLDLWP.union(TpFlags::HOLDFORK).union(TpFlags::JOBSTOP);

/// A stop point: where the current LWP acts on a request to stop (it stays here
/// until continued) or to exit (it never returns), and looks at a signal sent to
/// it (`signal::issig`: one it ignores is dropped, a stop signal stops it, one that
/// ends the process ends it, a caught one is delivered on its way back to user
/// mode). Free when nothing is asked: two loads. A kernel thread (S2) never stops.
/// Call it with no lock held.
pub fn stop_point() {
    stop_requests();
    let t = curthread();
    if t.pending() & pending::SIG != 0 && signal::issig().is_some() {
        // Taken (the bit) by `issig`: due again for the way back to user mode.
        t.set_pending(pending::SIG);
    }
}

/// The stop and exit requests of a stop point (no signals).
pub(crate) fn stop_requests() {
    if stop_unless_exiting().is_err() {
        super::lwp_exit();
    }
}

/// An exit is asked of the current LWP: what [`stop_unless_exiting`] leaves to its
/// caller.
struct Exiting;

/// Stops the current LWP while a request holds it; `Err(Exiting)` once an exit is
/// asked of it (the caller exits, or unwinds to where it can).
fn stop_unless_exiting() -> Result<(), Exiting> {
    let t = curthread();
    loop {
        if !t.proc_flag().intersects(HELD | TpFlags::EXITLWP) {
            return Ok(());
        }
        let Some(p) = t.procp() else { return Ok(()) };
        let was = M::intr_disable();
        let mut ps = p.p_lock.lock();
        let f = t.proc_flag();
        if f.contains(TpFlags::EXITLWP) {
            drop(ps);
            M::intr_restore(was);
            return Err(Exiting);
        }
        if !f.intersects(HELD) {
            // Continued before it could stop.
            drop(ps);
            M::intr_restore(was);
            continue;
        }
        t.set_proc_flag(TpFlags::STOPPED);
        t.note_wait();
        t.set_state(ThreadState::Stopped);
        let last = f.contains(TpFlags::JOBSTOP) && all_stopped(&ps);
        let told = if last { signal::proc_stopped(&mut ps.p_sig) } else { None };
        drop(ps);
        // Interrupts stay off until the switch is made: nothing runs here meanwhile,
        // and a continuer's `setrun` waits until this thread is off its CPU.
        p.p_holdlwps.signal();
        if let Some(sig) = told {
            signal::tell_parent_stopped(p, sig);
        }
        disp::swtch(Prev::Block);
        M::intr_restore(was);
    }
}

/// Whether every live LWP of the process whose state is `ps` is stopped.
pub(crate) fn all_stopped(ps: &ProcState) -> bool {
    ps.p_lwpdir.live_all().all(|(t, _)| t.proc_flag().contains(TpFlags::STOPPED))
}

/// After an interruptible wait of the current LWP ended early (`Event`, `pause`):
/// a stop point (a sleeping LWP "stops in its wait", and looks at its signals).
/// `Ok`: nothing ends the wait, wait again. `EINTR`: a signal it catches is to be
/// delivered on its way back to user mode, and the wait ends (a system call
/// restarts instead if the signal's disposition says `SA_RESTART` and the call can
/// be restarted).
///
/// An exit asked of the LWP, or a signal that ends its process, ends the wait with
/// `EINTR` too, and is acted on at the stop point on the way back to user mode: by
/// then the call has unwound and its frames have given back what they held (a
/// pipe end that an LWP asleep in `read` holds, say), where an exit here, deep in
/// the call, would leave it held for ever. Every LWP of a process with an address
/// space goes back to user mode from any wait it is in; one that runs kernel code
/// of its own (the self-tests', in a process with none) never does, and the stop
/// point here acts on them at once.
pub(crate) fn wait_interrupted() -> Result<(), Errno> {
    let t = curthread();
    let user = t.procp().is_some_and(|p| p.addr_space().is_some());
    if !user {
        // An LWP that runs kernel code of its own (the self-tests', in a process
        // with no address space): there is no way back to user mode to act at.
        stop_point();
        return if signal::delivering() { Err(Errno::EINTR) } else { Ok(()) };
    }
    stop_unless_exiting().map_err(|Exiting| Errno::EINTR)?;
    if t.pending() & pending::SIG != 0 && signal::issig_in_wait() {
        // Due again for the way back to user mode.
        t.set_pending(pending::SIG);
        return Err(Errno::EINTR);
    }
    if signal::delivering() {
        return Err(Errno::EINTR);
    }
    Ok(())
}

/// Takes a stopped LWP's thread out of its stop: the caller sets it running (which,
/// if its `lwp` structure is swapped out, has the swapper bring it back first: S5).
/// `None` if it is not stopped, if someone else already took it, or if its creator
/// is not done with it yet (`CREATING`). Under `p_lock`.
fn unstop(t: &'static KThread) -> Option<&'static KThread> {
    debug_check!(t.procp().is_none_or(|p| p.p_lock.is_locked()), "{t:?} unstopped without p_lock");
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
        let stays =
            f.intersects(TpFlags::HOLDLWP | TpFlags::HOLDFORK) && !f.contains(TpFlags::EXITLWP);
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
/// request: those are the waits on `p`'s events, and the interruptible waits with
/// no event (`pause`). (A thread asleep elsewhere meanwhile only looks at its
/// condition again.)
pub(crate) fn wake_stop_points(p: &Proc) {
    p.p_lwpexit.signal();
    p.p_holdlwps.signal();
    p.p_childexit.signal();
    let ps = p.p_lock.lock();
    for (t, _) in ps.p_lwpdir.live_all() {
        if t.lwp_wait().wakeable() {
            sleepq::wakeup_thread(t);
        }
    }
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
            wait_interrupted()?;
        }
    }
}

/// Continues LWP `id` of the current process: a stopped LWP becomes runnable (unless
/// its process is stopped by a stop signal: then SIGCONT does that); one that is
/// not stopped is left running, and a pending suspension is cancelled.
///
/// Errors: `ESRCH` if the process has no live LWP `id`; `EINVAL` in a kernel thread.
pub fn lwp_continue(id: LwpId) -> Result<(), Errno> {
    let (_, _, p) = current()?;
    let resume = {
        let ps = p.p_lock.lock();
        let (t, _) = ps.p_lwpdir.live(id).ok_or(Errno::ESRCH)?;
        let was = t.clear_proc_flag(TpFlags::HOLDLWP);
        if was.intersects(HELD - TpFlags::HOLDLWP) {
            None
        } else {
            unstop(t)
        }
    };
    if let Some(t) = resume {
        disp::setrun(t);
    }
    // A suspender still waiting for it learns that it was continued.
    p.p_holdlwps.signal();
    Ok(())
}

/// Makes every LWP of `p` but `me` (if given) exit at its next stop point: stopped
/// ones are set running to get there, sleeping ones are woken (Solaris'
/// `exitlwps`); running ones on other CPUs are poked, to get there at once.
pub(crate) fn exitlwps(p: &Proc, me: Option<&KThread>) {
    let others = |t: &&'static KThread| me.is_none_or(|me| !ptr::eq(*t, me));
    {
        let ps = p.p_lock.lock();
        for (t, _) in ps.p_lwpdir.live_all() {
            if others(&t) {
                t.set_proc_flag(TpFlags::EXITLWP);
                disp::poke_thread(t);
            }
        }
    }
    setrun_unstopped(p, |f| f.contains(TpFlags::EXITLWP));
    wake_stop_points(p);
}

/// Sets running every stopped LWP of `p` whose flags `go` accepts: taken out of
/// their stop one at a time, each with `p_lock` taken anew (nothing is allocated
/// under it, and `setrun` waits for a thread still switching out).
fn setrun_unstopped(p: &Proc, go: impl Fn(TpFlags) -> bool) {
    loop {
        let next = {
            let ps = p.p_lock.lock();
            let found = ps
                .p_lwpdir
                .live_all()
                .filter(|(t, _)| go(t.proc_flag()))
                .find_map(|(t, _)| unstop(t));
            found
        };
        match next {
            Some(t) => disp::setrun(t),
            None => break,
        }
    }
}

/// Continues every LWP of `p` that a stop signal stopped and `lwp_suspend` does not
/// hold (SIGCONT, which has cleared their `JOBSTOP`).
pub(crate) fn continue_all(p: &Proc) {
    setrun_unstopped(p, |f| !f.intersects(HELD));
}

/// Stops every other LWP of `p`, the current LWP's process, for `forkall`, and
/// holds them stopped with their `lwp` structures in memory until
/// [`continuelwps`] (Solaris' `holdlwps(SHOLDFORK)`): their registers, mask and
/// alternate stack are still then, to be copied. Running ones stop at their next
/// stop point (poked, on another CPU), sleeping ones in a wait that is a stop point
/// are woken to stop there, and those stopped already — suspended, or by a stop
/// signal — stay so, brought back in first if they were swapped out. One LWP holds
/// the others at a time: a second one stops for the first, then holds in turn.
///
/// Errors: `EINTR` if the process is exiting or in `exec`, or a signal this LWP
/// catches arrives meanwhile (the others are let go again).
pub(crate) fn holdlwps(p: &Proc) -> Result<(), Errno> {
    let me = curthread();
    loop {
        {
            let mut ps = p.p_lock.lock();
            if ps.p_stat != crate::proc::PStat::Active || ps.p_exec {
                return Err(Errno::EINTR);
            }
            if !ps.p_holdfork {
                ps.p_holdfork = true;
                for (t, _) in ps.p_lwpdir.live_all().filter(|(t, _)| !ptr::eq(*t, me)) {
                    t.set_proc_flag(TpFlags::HOLDFORK);
                    disp::poke_thread(t);
                }
                break;
            }
        }
        // Another LWP holds this one: stop for it (or exit), then try again.
        stop_point();
        if signal::delivering() {
            return Err(Errno::EINTR);
        }
    }
    wake_stop_points(p);
    loop {
        let seen = p.p_holdlwps.snapshot();
        let (held, out) = {
            let ps = p.p_lock.lock();
            let others = || ps.p_lwpdir.live_all().map(|(t, _)| t).filter(|t| !ptr::eq(*t, me));
            let held = others().all(|t| t.proc_flag().contains(TpFlags::STOPPED) && t.loaded());
            // Stopped before the hold and swapped out: set running, it comes back
            // in, and stops again at once, to stay in.
            let out = others().filter(|t| !t.loaded()).find_map(unstop);
            drop(ps);
            (held, out)
        };
        if let Some(t) = out {
            disp::setrun(t);
            continue;
        }
        if held {
            return Ok(());
        }
        if !p.p_holdlwps.wait(seen) {
            if let Err(e) = wait_interrupted() {
                continuelwps(p);
                return Err(e);
            }
        }
    }
}

/// Lets go the LWPs [`holdlwps`] held: each runs again unless another request
/// keeps it stopped (a suspension, a stop signal).
pub(crate) fn continuelwps(p: &Proc) {
    {
        let mut ps = p.p_lock.lock();
        ps.p_holdfork = false;
        for (t, _) in ps.p_lwpdir.live_all() {
            t.clear_proc_flag(TpFlags::HOLDFORK);
        }
    }
    setrun_unstopped(p, |f| !f.intersects(HELD));
}
