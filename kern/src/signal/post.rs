//! Sending signals (Solaris' `sigtoproc`): to a process, which one of its LWPs
//! takes (S14), or to one LWP of it (S13, S15); the signals that act as they are
//! sent (SIGKILL, stop signals, SIGCONT); and what a parent hears of its children
//! (SIGCHLD, job control).

use core::ptr;
use core::sync::atomic::{fence, Ordering};

use super::{JobState, ProcSig, Sig, SigAct, SigDisp, SigInfo, SigSet};
use crate::cred;
use crate::errno::Errno;
use crate::lwp::{self, LwpId, TpFlags};
use crate::proc::{self, PStat, Pid, Proc, ProcState, WaitOpts, WaitStatus};
use crate::thread::{curproc, curthread, pending, KThread, ThreadState};
use crate::{disp, sleepq};
use lwp_abi::{
    CLD_CONTINUED, CLD_DUMPED, CLD_EXITED, CLD_KILLED, CLD_STOPPED, SA_NOCLDSTOP, SA_NOCLDWAIT,
    SI_LWP, SI_QUEUE, SI_USER,
};

/// Whom a signal is for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Post {
    /// The process: one LWP that does not mask it takes it (S14).
    Proc,
    /// This LWP of the process (S13, S15).
    Lwp(LwpId),
}

/// What is left to do once `p_lock` is dropped.
#[derive(Default)]
struct After {
    /// The process began to stop: wake its sleeping LWPs, so that they stop.
    stopping: bool,
    /// Every LWP is stopped already: tell the parent (the signal that stopped it).
    stopped: Option<Sig>,
    /// The process was continued: set its LWPs running.
    continued: bool,
    /// ... and it had stopped: tell the parent.
    tell_continued: bool,
}

impl After {
    fn run(self, p: &'static Proc) {
        if self.stopping {
            lwp::wake_stop_points(p);
        }
        if let Some(sig) = self.stopped {
            tell_parent_stopped(p, sig);
        }
        if self.continued {
            lwp::continue_all(p);
        }
        if self.tell_continued {
            proc_jobcont_notify(p);
        }
    }
}

/// Sends `sig` with `info` to process `p` or one of its LWPs (see the module
/// comment of `signal`). `pid` is who the caller means: if `p` is no longer that
/// process (it was reaped and its structure reused), or it is exiting, nothing is
/// sent. Never fails: a signal nobody can take stays pending, one that is ignored
/// is dropped.
pub(crate) fn post(p: &'static Proc, pid: Pid, to: Post, sig: Sig, info: SigInfo) {
    if sig == Sig::KILL {
        // It cannot be caught, masked or ignored: every LWP exits (S14; sent to one
        // LWP, it ends the whole process too, as on Solaris).
        let alive = p.pid() == pid && p.p_lock.lock().p_stat == PStat::Active;
        if alive {
            proc::life::proc_kill(p, WaitStatus::Killed(sig.num()), false, None);
        }
        return;
    }
    let mut after = After::default();
    {
        let mut ps = p.p_lock.lock();
        if ps.p_stat != PStat::Active || p.pid() != pid {
            return;
        }
        let target = match to {
            Post::Proc => None,
            Post::Lwp(id) => match ps.p_lwpdir.live(id) {
                Some((t, _)) => Some(t),
                None => return,
            },
        };
        if sig == Sig::CONT {
            after = jobcont(p, &mut ps);
        } else if SigSet::STOPS.has(sig) {
            // A stop undoes a continue that has not been taken yet.
            discard(p, &ps, SigSet::of(Sig::CONT));
        }
        let act = ps.p_sig.act(sig);
        let waited = ps.p_sig.sigwaiters > 0 && sigwaited(&ps, target, sig);
        if act.ignores(sig) && !waited {
            drop(ps);
            after.run(p);
            return;
        }
        let stops = act.disp == SigDisp::Default && sig.default_action() == super::Action::Stop;
        if stops && !waited && (sig == Sig::STOP || takers(&ps, target, sig)) {
            // Job control: every LWP stops at its next stop point (the signal itself
            // is used up).
            after = jobstop(&mut ps, sig);
            drop(ps);
            after.run(p);
            return;
        }
        match target {
            Some(t) => {
                let mine = t.sig_state().sig();
                if !mine.has(sig) {
                    if let Some(lwp) = t.lwp() {
                        lwp.lwp_siginfo.lock()[usize::from(sig.num())] = info;
                    }
                    t.sig_state().set_sig(mine.with(sig));
                }
                // Then its mask (see `take::set_mask`).
                fence(Ordering::SeqCst);
                if waited || !t.sig_state().hold().has(sig) {
                    notify(t);
                }
            }
            None => {
                let theirs = p.p_sigpend.get();
                if !theirs.has(sig) {
                    ps.p_sig.info[usize::from(sig.num())] = info;
                    p.p_sigpend.set(theirs.with(sig));
                }
                // Then the masks (see `take::set_mask`).
                fence(Ordering::SeqCst);
                // The sender itself, if nobody waits for it and it may take it:
                // `choose`'s first choice, found without looking at every LWP.
                let me = curthread();
                let mine = me.procp().is_some_and(|q| ptr::eq(q, p));
                let to = if mine && ps.p_sig.sigwaiters == 0 && !me.sig_state().hold().has(sig) {
                    Some(me)
                } else {
                    choose(&ps, sig, None)
                };
                if let Some(t) = to {
                    notify(t);
                }
            }
        }
    }
    after.run(p);
}

/// Tells LWP `t` that a signal may be there for it: the `SIG` bit of its
/// pending-work word; it is woken from an interruptible wait, or poked if it runs
/// on another CPU. Under `p_lock` (the wakeup takes locks that come after it).
pub(super) fn notify(t: &'static KThread) {
    debug_check!(t.procp().is_none_or(|p| p.p_lock.is_locked()), "{t:?} notified without p_lock");
    t.set_pending(pending::SIG);
    if t.lwp_wait().wakeable() {
        sleepq::wakeup_thread(t);
    } else if !ptr::eq(t, curthread()) {
        disp::poke_thread(t);
    }
}

/// The LWP of the process (`ps`, locked) that should take process signal `sig`
/// (S14), other than `not`: one waiting for it in `sigtimedwait`, else the
/// current LWP, else one that runs, one asleep interruptibly, one runnable, one
/// stopped — among those that do not mask it. `None` if every LWP masks it: it
/// stays pending on the process.
pub(super) fn choose(ps: &ProcState, sig: Sig, not: Option<&KThread>) -> Option<&'static KThread> {
    let me = curthread();
    let rank = |t: &KThread| {
        if t.sig_state().sigwait().has(sig) {
            Some(0)
        } else if t.sig_state().hold().has(sig) {
            None
        } else if ptr::eq(t, me) {
            Some(1)
        } else if disp::is_running(t) {
            Some(2)
        } else if t.lwp_wait().wakeable() {
            Some(3)
        } else if t.state() == ThreadState::Run {
            Some(4)
        } else {
            Some(5)
        }
    };
    ps.p_lwpdir
        .live_all()
        .filter(|(t, _)| not.is_none_or(|n| !ptr::eq(*t, n)))
        .filter_map(|(t, _)| rank(t).map(|r| (r, t)))
        .min_by_key(|(r, _)| *r)
        .map(|(_, t)| t)
}

/// Whether some LWP would take `sig` (sent to LWP `target`, or to the process):
/// one that does not mask it.
fn takers(ps: &ProcState, target: Option<&KThread>, sig: Sig) -> bool {
    match target {
        Some(t) => !t.sig_state().hold().has(sig),
        None => ps.p_lwpdir.live_all().any(|(t, _)| !t.sig_state().hold().has(sig)),
    }
}

/// Whether an LWP that `sig` may go to waits for it in `sigtimedwait`.
fn sigwaited(ps: &ProcState, target: Option<&KThread>, sig: Sig) -> bool {
    match target {
        Some(t) => t.sig_state().sigwait().has(sig),
        None => ps.p_lwpdir.live_all().any(|(t, _)| t.sig_state().sigwait().has(sig)),
    }
}

/// Drops `sigs` wherever they are pending in process `p` (locked: `ps`): on it and
/// on its LWPs.
pub(super) fn discard(p: &Proc, ps: &ProcState, sigs: SigSet) {
    p.p_sigpend.set(p.p_sigpend.get().minus(sigs));
    for (t, _) in ps.p_lwpdir.live_all() {
        t.sig_state().set_sig(t.sig_state().sig().minus(sigs));
    }
}

/// Stops the process for stop signal `sig` (job control): every LWP stops at its
/// next stop point. Under `p_lock`; the caller runs what is returned once the
/// lock is dropped.
fn jobstop_locked(ps: &mut ProcState, sig: Sig) -> bool {
    if ps.p_sig.stopsig.is_some() {
        return false;
    }
    ps.p_sig.stopsig = Some(sig);
    for (t, _) in ps.p_lwpdir.live_all() {
        t.set_proc_flag(TpFlags::JOBSTOP);
        disp::poke_thread(t);
    }
    true
}

fn jobstop(ps: &mut ProcState, sig: Sig) -> After {
    let stopping = jobstop_locked(ps, sig);
    // Every LWP stopped already (each suspended): nobody else will tell the parent.
    let stopped = if stopping && lwp::all_stopped(ps) { proc_stopped(&mut ps.p_sig) } else { None };
    After { stopping, stopped, ..After::default() }
}

/// Stops the current LWP's process for `sig`, a stop signal it took (its default
/// action), and stops there.
pub(super) fn jobstop_self(
    p: &'static Proc,
    mut ps: crate::displock::DispLockGuard<'_, ProcState>,
    sig: Sig,
) {
    let after = jobstop(&mut ps, sig);
    drop(ps);
    after.run(p);
    lwp::stop_requests();
}

/// SIGCONT: every LWP stopped by a stop signal goes on (those `lwp_suspend`
/// holds stay stopped), and stop signals still pending are dropped. Under
/// `p_lock`.
fn jobcont(p: &Proc, ps: &mut ProcState) -> After {
    let was = ps.p_sig.stopsig.take();
    discard(p, ps, SigSet::STOPS);
    let mut any = was.is_some();
    for (t, _) in ps.p_lwpdir.live_all() {
        any |= t.clear_proc_flag(TpFlags::JOBSTOP).contains(TpFlags::JOBSTOP);
    }
    let tell = matches!(ps.p_sig.job, JobState::Stopped(_) | JobState::StopReported);
    ps.p_sig.job = if tell { JobState::Continuing } else { JobState::Running };
    After { continued: any, tell_continued: tell, ..After::default() }
}

/// The last LWP of a process stopping for a stop signal has stopped (under
/// `p_lock`): the process is stopped. Returns the signal, to tell the parent
/// (`tell_parent_stopped`), the first time.
pub(crate) fn proc_stopped(s: &mut ProcSig) -> Option<Sig> {
    let sig = s.stopsig?;
    if matches!(s.job, JobState::Stopping(_) | JobState::Stopped(_) | JobState::StopReported) {
        return None;
    }
    s.job = JobState::Stopping(sig);
    Some(sig)
}

/// What a parent's wait for `opts` learns of its live child (under the child's
/// `p_lock`): that it stopped or continued, reported once.
pub(crate) fn job_report(s: &mut ProcSig, opts: WaitOpts) -> Option<WaitStatus> {
    match s.job {
        JobState::Stopped(sig) if opts.contains(WaitOpts::STOPPED) => {
            s.job = JobState::StopReported;
            Some(WaitStatus::Stopped(sig.num()))
        }
        JobState::Continued if opts.contains(WaitOpts::CONTINUED) => {
            s.job = JobState::Running;
            Some(WaitStatus::Continued)
        }
        _ => None,
    }
}

/// Whether a parent with these signal dispositions keeps no zombies: its SIGCHLD
/// disposition is `SIG_IGN` or has `SA_NOCLDWAIT`.
pub(crate) fn keeps_no_zombies(s: &ProcSig) -> bool {
    let act = s.act(Sig::CHLD);
    act.disp == SigDisp::Ignore || act.flags & SA_NOCLDWAIT != 0
}

/// `p` stopped or continued (`code`, with the child's status `status`): the parent
/// gets SIGCHLD unless its SIGCHLD disposition says `SA_NOCLDSTOP`; then the job
/// state goes from `from` to `to` (unless it changed meanwhile), which the
/// parent's waits may report, and they look again.
fn tell_parent(p: &Proc, code: i32, status: u64, from: JobState, to: JobState) {
    let parent = proc::parent_of(p);
    // The signal first: a wait that the event ends finds it sent.
    if !proc::is_proc0(parent) {
        let act: SigAct = parent.p_lock.lock().p_sig.act(Sig::CHLD);
        if act.flags & SA_NOCLDSTOP == 0 {
            let info = SigInfo {
                si_signo: Sig::CHLD.num(),
                si_code: code,
                si_pid: p.pid().0,
                si_value: status,
                ..SigInfo::default()
            };
            post(parent, parent.pid(), Post::Proc, Sig::CHLD, info);
        }
    }
    {
        let mut ps = p.p_lock.lock();
        if ps.p_sig.job == from {
            ps.p_sig.job = to;
        }
    }
    parent.p_childexit.signal();
}

/// `p` stopped for `sig`: its parent hears of it.
pub(crate) fn tell_parent_stopped(p: &Proc, sig: Sig) {
    let num = u64::from(sig.num());
    tell_parent(p, CLD_STOPPED, num, JobState::Stopping(sig), JobState::Stopped(sig));
}

/// `p` was continued after a stop: its parent hears of it.
fn proc_jobcont_notify(p: &Proc) {
    let num = u64::from(Sig::CONT.num());
    tell_parent(p, CLD_CONTINUED, num, JobState::Continuing, JobState::Continued);
}

/// Child `pid` of `parent` exited with wait status `status`: SIGCHLD for the
/// parent (`si_value` carries the exit code or the signal).
pub(crate) fn sigchld_on_exit(parent: &'static Proc, pid: Pid, status: i32) {
    post(parent, parent.pid(), Post::Proc, Sig::CHLD, cld_info(pid, status));
}

/// What child `pid` did, whose wait status word is `status`, as SIGCHLD's
/// `siginfo` says it (and `waitid`'s): a `CLD_*` code, and in `si_value` (Solaris'
/// `si_status`) the exit code or the signal.
pub fn cld_info(pid: Pid, status: i32) -> SigInfo {
    let (code, value) = match WaitStatus::from_raw(status) {
        WaitStatus::Exited(c) => (CLD_EXITED, c),
        WaitStatus::Killed(s) if status & 0x80 != 0 => (CLD_DUMPED, s),
        WaitStatus::Killed(s) => (CLD_KILLED, s),
        WaitStatus::Stopped(s) => (CLD_STOPPED, s),
        WaitStatus::Continued => (CLD_CONTINUED, Sig::CONT.num()),
    };
    SigInfo {
        si_signo: Sig::CHLD.num(),
        si_code: code,
        si_pid: pid.0,
        si_value: u64::from(value),
        ..SigInfo::default()
    }
}

/// `exec`: caught signals go back to their default action; ignored ones stay
/// ignored (POSIX), and so do the mask and the pending signals.
pub(crate) fn exec_reset(p: &Proc) {
    let mut ps = p.p_lock.lock();
    for act in ps.p_sig.act.iter_mut().filter(|a| matches!(a.disp, SigDisp::Catch(_))) {
        *act = SigAct::DEFAULT;
    }
}

/// A child made by `fork` gets its parent's dispositions (S10) — and nothing
/// pending, no job state, no interval timer: those start afresh.
pub(crate) fn fork_inherit(parent: &Proc, child: &Proc) {
    let act = parent.p_lock.lock().p_sig.act;
    child.p_lock.lock().p_sig.act = act;
}

/// A signal number from user code: 0 (only check), or a signal (else `EINVAL`).
fn user_sig(sig: u64) -> Result<Option<Sig>, Errno> {
    match sig {
        0 => Ok(None),
        n => Sig::new(n).map(Some).ok_or(Errno::EINVAL),
    }
}

/// [`kill`], or with `value` [`sigqueue`].
fn send(pid: u64, sig: u64, value: Option<u64>) -> Result<(), Errno> {
    let sig = user_sig(sig)?;
    let me = curproc();
    let p = match (u32::try_from(pid), me) {
        (Ok(0), Some(me)) => me,
        // One's own process needs no look in the process table.
        (Ok(n), Some(me)) if n == me.pid().0 => me,
        (Ok(n), _) if n != 0 => {
            proc::prfind(Pid(n)).filter(|p| !proc::is_proc0(p)).ok_or(Errno::ESRCH)?
        }
        _ => return Err(Errno::ESRCH),
    };
    // One's own process needs no check either; a kernel thread acts for proc 0,
    // which is root.
    let own = me.is_some_and(|me| ptr::eq(me, p));
    if !own && !cred::hasprocperm(&cred::curcred(), &cred::crget(p)) {
        return Err(Errno::EPERM);
    }
    if let Some(sig) = sig {
        let info = SigInfo {
            si_signo: sig.num(),
            si_code: if value.is_some() { SI_QUEUE } else { SI_USER },
            si_pid: me.map_or(0, |m| m.pid().0),
            si_value: value.unwrap_or(0),
            ..SigInfo::default()
        };
        post(p, p.pid(), Post::Proc, sig, info);
    }
    Ok(())
}

/// `kill(pid, sig)`: `sig` to process `pid` (0: the caller's own; there are no
/// process groups), one of whose LWPs takes it (S14). Its `siginfo` names the
/// sending process (`SI_USER`), never the LWP (S15). A zombie takes nothing.
///
/// Errors: `EINVAL` for a number that is no signal (0 only checks); `ESRCH` if
/// there is no such process (proc 0, the kernel's, is none to user code);
/// `EPERM` if the caller may not signal it (`cred::hasprocperm`: another user's
/// process, unless the caller is root), signal 0 included.
pub fn kill(pid: u64, sig: u64) -> Result<(), Errno> {
    send(pid, sig, None)
}

/// `sigqueue(pid, sig, value)`: as [`kill`], the receiver's `si_value` being
/// `value` (`SI_QUEUE`). Signals are not queued: one sent while the same is
/// pending is merged with it.
pub fn sigqueue(pid: u64, sig: u64, value: u64) -> Result<(), Errno> {
    send(pid, sig, Some(value))
}

/// `_lwp_kill(id, sig)`: `sig` to LWP `id` of the caller's own process (S15: ids
/// name LWPs of one's own process only), or, with signal 0, only a check that it
/// exists. SIGKILL and the stop signals act on the whole process, as any signal
/// they are.
///
/// Errors: `ESRCH` if the process has no live LWP `id`; `EINVAL` for a number
/// that is no signal, or in a kernel thread.
pub fn lwp_kill(id: LwpId, sig: u64) -> Result<(), Errno> {
    let sig = user_sig(sig)?;
    let p = curproc().ok_or(Errno::EINVAL)?;
    if lwp::idtot(p, id).is_none() {
        return Err(Errno::ESRCH);
    }
    if let Some(sig) = sig {
        let info = SigInfo {
            si_signo: sig.num(),
            si_code: SI_LWP,
            si_pid: p.pid().0,
            ..SigInfo::default()
        };
        post(p, p.pid(), Post::Lwp(id), sig, info);
    }
    Ok(())
}
