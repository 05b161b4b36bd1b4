//! Taking signals (Solaris' `issig`, `psig`, `trapsig`), and what an LWP changes
//! of its own signal state: its mask (S11), its process's dispositions (S10),
//! waiting for signals (`sigsuspend`, `sigtimedwait`).

use core::sync::atomic::{fence, Ordering};

use arch::UserFrame;

use super::post::{choose, discard, jobstop_self, notify};
use super::{frame, Action, Sig, SigAct, SigDisp, SigInfo, SigSet};
use crate::clock;
use crate::displock::DispLockGuard;
use crate::errno::Errno;
use crate::lwp::{self, Lwp, LwpData};
use crate::proc::{self, Proc, ProcState, WaitStatus};
use crate::thread::{curthread, pending, KThread};
use lwp_abi::{SA_NODEFER, SA_RESETHAND, SA_RESTART, SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK};

/// The current LWP, its thread and its process; `None` in a kernel thread.
fn current() -> Option<(&'static KThread, &'static Lwp, &'static Proc)> {
    let t = curthread();
    Some((t, t.own_lwp()?, t.own_procp()?))
}

/// `f` on `lwp`'s `lwp` structure (`Lwp::with_data`) by a caller that holds its
/// process's `p_lock` (`_ps`), which turned interrupts off already: the
/// structure's lock, the next in order, leaves them alone.
fn with_data_locked<R>(lwp: &Lwp, _ps: &ProcState, f: impl FnOnce(&mut LwpData) -> R) -> Option<R> {
    lwp.with_data_intr_off(f)
}

/// Gives the current LWP, `t` of `p`, the mask `new` — with `p_lock` held (`ps`),
/// or without it: an LWP changes its own mask alone, and `post` looks at it under
/// the lock. If the new mask unmasks a signal pending on the LWP or its process,
/// the LWP looks at it on its way back to user mode (S11: the first LWP to unmask
/// a process signal takes it); a process signal that it masks now goes to another
/// LWP that does not (one may have been told to take it). The mask is stored, then
/// the pending sets read, with a fence between; `post` stores a signal, then reads
/// the masks, with a fence between: of any signal sent meanwhile, one side sees
/// the other's write.
#[inline(always)]
pub(super) fn set_mask(t: &'static KThread, p: &Proc, new: SigSet, ps: Option<&ProcState>) {
    set_mask_from(t, p, t.sig_state().hold(), new.minus(SigSet::CANTMASK), ps);
}

/// [`set_mask`] by a caller that has read the mask, `old`, already, and taken
/// SIGKILL and SIGSTOP out of `new`. Both consequences of the change need a signal
/// pending on the LWP or its process, which is rare: one test of the two pending
/// sets together decides whether [`mask_changed`] looks at them.
#[inline(always)]
fn set_mask_from(t: &'static KThread, p: &Proc, old: SigSet, new: SigSet, ps: Option<&ProcState>) {
    debug_check!(t.is_curthread(), "{t:?}: mask set by another thread");
    debug_check!(old == t.sig_state().hold(), "{t:?}: its mask changed under it");
    debug_check!(new.and(SigSet::CANTMASK).is_empty(), "{t:?}: SIGKILL or SIGSTOP masked");
    t.sig_state().set_hold(new);
    fence(Ordering::SeqCst);
    if !t.sig_state().sig().union(p.p_sigpend.get()).is_empty() {
        let ([old_lo, old_hi], [new_lo, new_hi]) = (old.pairs(), new.pairs());
        mask_changed(p, old_lo, old_hi, new_lo, new_hi, ps);
    }
}

/// What a change of the current LWP's mask from `old` to `new` (their words, in
/// registers) means for the signals pending (`set_mask`, after its fence): one it
/// unmasks is taken on the way back to user mode, and the process signals it masks
/// now go to another LWP that does not mask them, if one does not. Out of line:
/// `set_mask` is inlined into `_lwp_sigmask`'s fast call, where nothing is pending
/// almost always.
#[cold]
#[inline(never)]
fn mask_changed(
    p: &Proc,
    old_lo: u64,
    old_hi: u64,
    new_lo: u64,
    new_hi: u64,
    ps: Option<&ProcState>,
) {
    let t = curthread();
    let (old, new) = (SigSet::from_pairs([old_lo, old_hi]), SigSet::from_pairs([new_lo, new_hi]));
    let theirs = p.p_sigpend.get();
    if !t.sig_state().sig().union(theirs).minus(new).is_empty() {
        t.set_pending(pending::SIG);
    }
    let masked = new.minus(old);
    if masked.and(theirs).is_empty() {
        return;
    }
    let reroute = |ps: &ProcState| {
        for sig in masked.and(p.p_sigpend.get()).iter() {
            if let Some(other) = choose(ps, sig, Some(t)) {
                notify(other);
            }
        }
    };
    match ps {
        Some(ps) => reroute(ps),
        None => reroute(&p.p_lock.lock()),
    }
}

/// A signal [`issig`] found to deliver: the process's `p_lock` is still held, for
/// [`psig`] to read the disposition and set the mask under it (one hold for both).
pub(crate) struct Chosen(DispLockGuard<'static, ProcState>);

/// Whether the current LWP has a caught signal to deliver (Solaris' `issig`): takes
/// the lowest-numbered signal pending on it or its process that it does not mask,
/// and acts on it — dropped if ignored, the process stopped (and this LWP with
/// it) for a stop signal, the process ended for one whose default action ends it
/// — until one is caught: that one becomes the signal being delivered
/// (`lwp_cursig`), and `issig` returns `Some`, for [`psig`]. Also `Some` if one is
/// being delivered already (a trap signal). Call it with no lock held.
#[must_use = "Some: a caught signal is to be delivered (`psig`)"]
pub(crate) fn issig() -> Option<Chosen> {
    issig_at(false).map(Chosen)
}

/// [`issig`] in an interrupted wait (`lwp::wait_interrupted`): a signal whose
/// default action ends the process is left pending, for the stop point on the way
/// back to user mode, once the call has unwound; true for it too (the wait ends).
#[must_use = "true: the wait ends"]
pub(crate) fn issig_in_wait() -> bool {
    issig_at(true).is_some()
}

/// [`issig`], or [`issig_in_wait`]: `Some`, with `p_lock` held, when it is true.
fn issig_at(in_wait: bool) -> Option<DispLockGuard<'static, ProcState>> {
    let (t, lwp, p) = current()?;
    loop {
        // Taken before looking: a signal sent from now on sets it again.
        t.take_pending(pending::SIG);
        let ps = p.p_lock.lock();
        let (mine, theirs) = (t.sig_state().sig(), p.p_sigpend.get());
        let Some(sig) = mine.union(theirs).minus(t.sig_state().hold()).first() else {
            let delivering = with_data_locked(lwp, &ps, |d| d.lwp_cursig != 0);
            return (delivering == Some(true)).then_some(ps);
        };
        let i = usize::from(sig.num());
        let info = if mine.has(sig) { lwp.lwp_siginfo.lock()[i] } else { ps.p_sig.info[i] };
        let disp = ps.p_sig.act[i].disp;
        if let SigDisp::Catch(_) = disp {
            // It becomes the signal being delivered, unless one is already (a trap
            // signal): then it stays pending, for after that one.
            let taken = with_data_locked(lwp, &ps, |d| {
                let free = d.lwp_cursig == 0;
                if free {
                    d.lwp_cursig = sig.num();
                    d.lwp_curinfo = Some(info);
                }
                free
            });
            if taken != Some(true) {
                return Some(ps);
            }
        }
        let ends =
            disp == SigDisp::Default && matches!(sig.default_action(), Action::Exit | Action::Core);
        if in_wait && ends {
            return Some(ps);
        }
        if mine.has(sig) {
            t.sig_state().set_sig(mine.without(sig));
        } else {
            p.p_sigpend.set(theirs.without(sig));
        }
        match disp {
            SigDisp::Catch(_) => return Some(ps),
            SigDisp::Ignore => {}
            SigDisp::Default => match sig.default_action() {
                Action::Ignore | Action::Continue => {}
                Action::Stop => jobstop_self(p, ps, sig),
                Action::Exit | Action::Core => {
                    drop(ps);
                    take_default(sig);
                }
            },
        }
    }
}

/// Takes `sig`'s default action in the current LWP's process: ends it (with the
/// signal as its wait status, marked as dumping core where the action says so), or
/// nothing. (Stops are taken where they are found: `issig`.)
fn take_default(sig: Sig) {
    match sig.default_action() {
        Action::Exit => proc::life::proc_exit_status(WaitStatus::Killed(sig.num()), false),
        Action::Core => proc::life::proc_exit_status(WaitStatus::Killed(sig.num()), true),
        Action::Ignore | Action::Stop | Action::Continue => {}
    }
}

/// Delivers the signal `issig` chose (Solaris' `psig`), on the current LWP's way
/// back to user mode, whose registers are in `frame`: the handler of its
/// disposition is entered with the disposition's mask added to the LWP's (and the
/// signal, unless `SA_NODEFER`), and the disposition is reset if it says
/// `SA_RESETHAND`. A trap signal with no handler takes its default action. A frame
/// that cannot be written on the stack ends the process with SIGSEGV.
#[inline]
pub(crate) fn psig(frame: &UserFrame, chosen: Chosen) {
    let Some((t, lwp, p)) = current() else { return };
    let Chosen(mut ps) = chosen;
    // One look at the lwp structure: the signal, what it is about, the mask
    // `sigsuspend` replaced, the alternate stack.
    let taken = with_data_locked(lwp, &ps, |d| {
        let sig = Sig::new(core::mem::take(&mut d.lwp_cursig).into())?;
        d.lwp_ru.nsignals += 1;
        Some((sig, d.lwp_curinfo.take(), d.lwp_sigoldmask.take(), d.lwp_sigaltstack))
    });
    let Some(Some((sig, info, oldmask, alt))) = taken else { return };
    let (act, restore) = {
        let act = ps.p_sig.act(sig);
        let hold = t.sig_state().hold();
        if let SigDisp::Catch(_) = act.disp {
            // The handler runs with its mask: the one it returns to is in the frame.
            let mut during = hold.union(act.mask);
            if act.flags & SA_NODEFER == 0 {
                during = during.with(sig);
            }
            if act.flags & SA_RESETHAND != 0 {
                ps.p_sig.act[usize::from(sig.num())] = SigAct::DEFAULT;
            }
            set_mask(t, p, during, Some(&ps));
        } else if let Some(m) = oldmask {
            // A trap signal nobody catches, or a disposition another LWP changed
            // meanwhile: no handler runs, so `sigsuspend`'s mask goes now.
            set_mask(t, p, m, Some(&ps));
        }
        drop(ps);
        (act, oldmask.unwrap_or(hold))
    };
    let SigDisp::Catch(handler) = act.disp else {
        if act.disp == SigDisp::Default {
            take_default(sig);
        }
        return;
    };
    let info = info.unwrap_or(SigInfo::bare(sig));
    if frame::sendsig(frame, &alt, sig, &info, handler, act.flags, restore).is_err() {
        proc::life::proc_exit_status(WaitStatus::Killed(Sig::SEGV.num()), true);
    }
}

/// A trap signal (S13): the current LWP caused `sig`, and takes it whatever its
/// mask says. If it masks or ignores it, its disposition goes back to the default
/// (Solaris' `trapsig`: the instruction would only trap again), which ends the
/// process. It is delivered on the LWP's way back to user mode.
pub(crate) fn trapsig(sig: Sig, info: SigInfo) {
    let Some((t, lwp, p)) = current() else { return };
    let mut ps = p.p_lock.lock();
    let hold = t.sig_state().hold();
    if hold.has(sig) || ps.p_sig.act(sig).disp == SigDisp::Ignore {
        t.sig_state().set_hold(hold.without(sig));
        ps.p_sig.act[usize::from(sig.num())] = SigAct::DEFAULT;
    }
    with_data_locked(lwp, &ps, |d| {
        d.lwp_cursig = sig.num();
        d.lwp_curinfo = Some(info);
    });
    t.set_pending(pending::SIG);
}

/// Whether the current LWP has a caught signal to deliver (`lwp_cursig`): an
/// interrupted wait then ends.
pub(crate) fn delivering() -> bool {
    current().and_then(|(_, lwp, _)| lwp.with_data(|d| d.lwp_cursig != 0)).unwrap_or(false)
}

/// Whether a system call that a signal interrupted is restarted: the signal
/// being delivered has `SA_RESTART`.
pub(crate) fn restartable() -> bool {
    let Some((_, lwp, p)) = current() else { return false };
    let sig = lwp.with_data(|d| d.lwp_cursig).and_then(|s| Sig::new(s.into()));
    sig.is_some_and(|s| p.p_lock.lock().p_sig.act(s).flags & SA_RESTART != 0)
}

/// `sigaction`: the disposition of `sig` for every LWP of the current process
/// (S10), replaced by `new` if given; returns the old one. A disposition that
/// ignores the signal drops it wherever it is pending.
///
/// Errors: `EINVAL` for a number that is no signal, or for catching or ignoring
/// SIGKILL or SIGSTOP; `EINVAL` in a kernel thread.
pub fn sigaction(sig: u64, new: Option<SigAct>) -> Result<SigAct, Errno> {
    let sig = Sig::new(sig).ok_or(Errno::EINVAL)?;
    if new.is_some_and(|a| a.disp != SigDisp::Default) && SigSet::CANTMASK.has(sig) {
        return Err(Errno::EINVAL);
    }
    let (_, _, p) = current().ok_or(Errno::EINVAL)?;
    let mut ps = p.p_lock.lock();
    let old = ps.p_sig.act(sig);
    if let Some(mut a) = new {
        a.mask = a.mask.minus(SigSet::CANTMASK);
        ps.p_sig.act[usize::from(sig.num())] = a;
        if a.ignores(sig) {
            discard(p, &ps, SigSet::of(sig));
        }
    }
    Ok(old)
}

/// `sigprocmask`: the calling LWP's mask (S11), changed as `how` says (`SIG_BLOCK`,
/// `SIG_UNBLOCK`, `SIG_SETMASK`) by `set` if given; returns the old mask. SIGKILL
/// and SIGSTOP are never masked. A signal it unmasks is taken on the way back to
/// user mode.
///
/// Errors: `EINVAL` for another `how` (with a set); `EINVAL` in a kernel thread.
#[inline]
pub fn sigprocmask(how: u64, set: Option<SigSet>) -> Result<SigSet, Errno> {
    let t = curthread();
    let old = t.sig_state().hold();
    let Some(set) = set else {
        return t.own_procp().map(|_| old).ok_or(Errno::EINVAL);
    };
    // The mask never holds SIGKILL or SIGSTOP: one that it unblocks stays so.
    let new = match how {
        SIG_BLOCK => old.union(set.minus(SigSet::CANTMASK)),
        SIG_UNBLOCK => old.minus(set),
        SIG_SETMASK => set.minus(SigSet::CANTMASK),
        _ => return Err(Errno::EINVAL),
    };
    let p = t.own_procp().ok_or(Errno::EINVAL)?;
    set_mask_from(t, p, old, new, None);
    Ok(old)
}

/// `sigpending`: the signals pending on the calling LWP or its process that it
/// masks. `EINVAL` in a kernel thread.
pub fn sigpending() -> Result<SigSet, Errno> {
    let (t, _, p) = current().ok_or(Errno::EINVAL)?;
    let _ps = p.p_lock.lock();
    Ok(t.sig_state().sig().union(p.p_sigpend.get()).and(t.sig_state().hold()))
}

/// `sigsuspend`: waits with `mask` as the calling LWP's mask until it catches a
/// signal, then fails with EINTR; the handler returns to the old mask (which also
/// comes back if no handler runs). `EINVAL` in a kernel thread.
pub fn sigsuspend(mask: SigSet) -> Errno {
    let Some((t, lwp, p)) = current() else { return Errno::EINVAL };
    {
        let ps = p.p_lock.lock();
        with_data_locked(lwp, &ps, |d| d.lwp_sigoldmask = Some(t.sig_state().hold()));
        set_mask(t, p, mask, Some(&ps));
    }
    loop {
        lwp::pause(None);
        if let Err(e) = lwp::stop::wait_interrupted() {
            return e;
        }
    }
}

/// Makes LWP `t` of the process whose state is `ps` wait for `set` in
/// `sigtimedwait`, or no more (the empty set), counting the LWPs that wait.
fn sigwait_set(t: &KThread, ps: &mut ProcState, set: SigSet) {
    debug_check!(t.is_curthread(), "{t:?}: sigwait set by another thread");
    let was = !t.sig_state().sigwait().is_empty();
    t.sig_state().set_sigwait(set);
    match (was, set.is_empty()) {
        (false, false) => ps.p_sig.sigwaiters += 1,
        (true, true) => ps.p_sig.sigwaiters -= 1,
        _ => {}
    }
}

/// Takes a signal of `set` pending on the current LWP (first) or its process, if
/// there is one; otherwise makes the LWP wait for `set` (`t_sigwait`), under the
/// same lock, so that a signal sent from then on wakes it.
fn sigwait_take(t: &KThread, p: &Proc, set: SigSet) -> Option<(Sig, SigInfo)> {
    let mut ps = p.p_lock.lock();
    let mine = t.sig_state().sig().and(set);
    let Some(sig) = mine.union(p.p_sigpend.get().and(set)).first() else {
        sigwait_set(t, &mut ps, set);
        return None;
    };
    sigwait_set(t, &mut ps, SigSet::EMPTY);
    let i = usize::from(sig.num());
    if mine.has(sig) {
        t.sig_state().set_sig(t.sig_state().sig().without(sig));
        let info = t.lwp().map_or(SigInfo::bare(sig), |lwp| lwp.lwp_siginfo.lock()[i]);
        Some((sig, info))
    } else {
        p.p_sigpend.set(p.p_sigpend.get().without(sig));
        Some((sig, ps.p_sig.info[i]))
    }
}

/// `sigtimedwait`: takes a signal of `set` (which the caller should mask) pending
/// on the calling LWP or its process, waiting for one for at most `ticks` clock
/// ticks (`None`: for ever). The LWP is the first choice for those signals while
/// it waits.
///
/// Errors: `EAGAIN` when the time runs out; `EINTR` if a signal it catches comes
/// first; `EINVAL` in a kernel thread.
pub fn sigtimedwait(set: SigSet, ticks: Option<u64>) -> Result<(Sig, SigInfo), Errno> {
    let (t, _, p) = current().ok_or(Errno::EINVAL)?;
    let set = set.minus(SigSet::CANTMASK);
    // The tick in progress is partly over: it does not count towards the time.
    let deadline = ticks.map(|n| clock::lbolt().saturating_add(n).saturating_add(u64::from(n > 0)));
    let stop_waiting = || sigwait_set(t, &mut p.p_lock.lock(), SigSet::EMPTY);
    loop {
        if let Some(got) = sigwait_take(t, p, set) {
            return Ok(got);
        }
        let left = deadline.map(|d| d.saturating_sub(clock::lbolt()));
        if left == Some(0) {
            stop_waiting();
            return Err(Errno::EAGAIN);
        }
        if lwp::pause(left) && lwp::interrupt_requested(t) {
            // Taken first if it is one of the set; else a signal to act on.
            if let Some(got) = sigwait_take(t, p, set) {
                return Ok(got);
            }
            stop_waiting();
            lwp::stop::wait_interrupted()?;
        }
    }
}
