//! The system calls of signals (S10–S15, S5.5): their arguments checked and
//! copied in, their results copied out, as `syscall`'s table calls them. A call
//! that fails leaves everything as it was: what it reads is read whole before
//! anything changes, and where it writes is tried before anything changes (nothing
//! unmaps user memory, so the second write goes where the first did).

use arch::UserFrame;

use super::frame::{self, on_altstack};
use super::wire::{self, Word};
use super::{take, SigAct, SigDisp, SigSet};
use crate::errno::Errno;
use crate::lwp::{ITimerVal, LwpId, SigAltStack};
use crate::syscall::uaccess::{copyin_words, copyout_words, timespec_ticks, SysResult};
use crate::thread::{curlwp, curthread};
use lwp_abi::{
    GETCONTEXT, MINSIGSTKSZ, SETCONTEXT, SIGFILLSET, SIGPENDING, SIG_DFL, SIG_IGN, SS_DISABLE,
};

/// A `struct itimerval` in user memory: two `struct timeval`s of two words.
const ITIMERVAL_WORDS: usize = 4;
const _: () = assert!(core::mem::size_of::<lwp_abi::ITimerVal>() == ITIMERVAL_WORDS * 8);

fn none<T>(_: T) -> (u64, u64) {
    (0, 0)
}

/// Copies in a `sigset_t`.
fn copyin_sigset(uaddr: u64) -> Result<SigSet, Errno> {
    Ok(wire::get_sigset(&copyin_words::<{ wire::SIGSET_WORDS }>(uaddr)?))
}

/// Copies out a `sigset_t`.
fn copyout_sigset(uaddr: u64, s: SigSet) -> Result<(), Errno> {
    copyout_words(uaddr, &wire::sigset(s))
}

fn encode_sigaction(a: &SigAct) -> [Word; wire::SIGACTION_WORDS] {
    let handler = match a.disp {
        SigDisp::Default => SIG_DFL,
        SigDisp::Ignore => SIG_IGN,
        SigDisp::Catch(h) => h,
    };
    wire::sigaction(a.flags, handler, a.mask)
}

fn decode_sigaction(w: &[Word]) -> SigAct {
    let (flags, handler, mask) = wire::get_sigaction(w);
    let disp = match handler {
        SIG_DFL => SigDisp::Default,
        SIG_IGN => SigDisp::Ignore,
        h => SigDisp::Catch(h),
    };
    SigAct { disp, flags, mask }
}

/// `sigaction(sig, &act or null, &mut oact or null)` (S10).
pub(crate) fn sys_sigaction(sig: u64, actp: u64, oactp: u64) -> SysResult {
    let new = if actp == 0 {
        None
    } else {
        Some(decode_sigaction(&copyin_words::<{ wire::SIGACTION_WORDS }>(actp)?))
    };
    if oactp != 0 {
        copyout_words(oactp, &encode_sigaction(&take::sigaction(sig, None)?))?;
    }
    let old = take::sigaction(sig, new)?;
    if oactp != 0 {
        copyout_words(oactp, &encode_sigaction(&old))?;
    }
    Ok((0, 0))
}

/// `sigprocmask(how, &set or null, &mut oset or null)` (S11).
pub(crate) fn sys_sigprocmask(how: u64, setp: u64, osetp: u64) -> SysResult {
    let set = if setp == 0 { None } else { Some(copyin_sigset(setp)?) };
    if osetp != 0 {
        copyout_sigset(osetp, take::sigprocmask(how, None)?)?;
    }
    let old = take::sigprocmask(how, set)?;
    if osetp != 0 {
        copyout_sigset(osetp, old)?;
    }
    Ok((0, 0))
}

/// `_lwp_sigmask(how, bits0, bits1, bits2, bits3)` (S11): `sigprocmask` with the
/// set's words in registers and the old mask's returned in `%o0`/`%o1`. Inlined
/// into its fast call's handler, which then makes no call at all on its way.
#[inline]
pub(crate) fn sys_lwp_sigmask(a: [u64; 6]) -> SysResult {
    let set = SigSet::from_words(core::array::from_fn(|i| a[i + 1] as u32));
    let [lo, hi] = take::sigprocmask(a[0], Some(set))?.pairs();
    Ok((lo, hi))
}

/// `sigpending(SIGPENDING, &mut set)`, `sigpending(SIGFILLSET, &mut set)`.
pub(crate) fn sys_sigpending(sub: u64, setp: u64) -> SysResult {
    let set = match sub {
        SIGPENDING => take::sigpending()?,
        SIGFILLSET => SigSet::ALL,
        _ => return Err(Errno::EINVAL),
    };
    copyout_sigset(setp, set).map(none)
}

/// `sigsuspend(&set)`: always fails, with EINTR once a signal was caught.
pub(crate) fn sys_sigsuspend(setp: u64) -> SysResult {
    Err(take::sigsuspend(copyin_sigset(setp)?))
}

/// `sigaltstack(&ss or null, &mut oss or null)` (S12): the calling LWP's
/// alternate stack (its registers are in `frame`). `oss` says `SS_ONSTACK` while
/// the LWP runs on it.
///
/// Errors: `EPERM` for a change while on it; `EINVAL` for flags other than
/// `SS_DISABLE`; `ENOMEM` for a stack smaller than `MINSIGSTKSZ`; `EFAULT`.
pub(crate) fn sys_sigaltstack(frame: &UserFrame, ssp: u64, ossp: u64) -> SysResult {
    let new = if ssp == 0 {
        None
    } else {
        Some(wire::get_stack(&copyin_words::<{ wire::STACK_WORDS }>(ssp)?))
    };
    let lwp = curlwp().ok_or(Errno::EINVAL)?;
    let sp = frame.sp();
    let alt = lwp.with_data(|d| d.lwp_sigaltstack).ok_or(Errno::EINVAL)?;
    if let Some(n) = new {
        if on_altstack(&alt, sp) {
            return Err(Errno::EPERM);
        }
        if n.ss_flags & !SS_DISABLE != 0 {
            return Err(Errno::EINVAL);
        }
        if n.ss_flags & SS_DISABLE == 0 && n.ss_size < MINSIGSTKSZ {
            return Err(Errno::ENOMEM);
        }
    }
    if ossp != 0 {
        let flags = alt.ss_flags | if on_altstack(&alt, sp) { lwp_abi::SS_ONSTACK } else { 0 };
        copyout_words(ossp, &wire::stack(&SigAltStack { ss_flags: flags, ..alt }))?;
    }
    if let Some(n) = new {
        lwp.with_data(|d| d.lwp_sigaltstack = n);
    }
    Ok((0, 0))
}

/// `context(GETCONTEXT, &mut ucontext)`, `context(SETCONTEXT, &ucontext)`, of the
/// calling LWP, whose registers `frame` holds.
#[inline]
pub(crate) fn sys_context(frame: &UserFrame, sub: u64, ucp: u64) -> SysResult {
    match sub {
        GETCONTEXT => frame::getcontext(frame, ucp).map(none),
        SETCONTEXT => {
            let mask = frame::setcontext(frame, ucp)?;
            let t = curthread();
            if let (Some(mask), Some(p)) = (mask, t.own_procp()) {
                take::set_mask(t, p, mask, None);
            }
            Ok((0, 0))
        }
        _ => Err(Errno::EINVAL),
    }
}

/// `kill(pid, sig)` (S14, S15).
pub(crate) fn sys_kill(pid: u64, sig: u64) -> SysResult {
    super::kill(pid, sig).map(none)
}

/// `sigqueue(pid, sig, value)`.
pub(crate) fn sys_sigqueue(pid: u64, sig: u64, value: u64) -> SysResult {
    super::sigqueue(pid, sig, value).map(none)
}

/// `_lwp_kill(lwpid, sig)` (S15): ids are 32 bits and start at 1.
pub(crate) fn sys_lwp_kill(id: u64, sig: u64) -> SysResult {
    let id = match u32::try_from(id) {
        Ok(id) if id != 0 => LwpId(id),
        _ => return Err(Errno::ESRCH),
    };
    super::lwp_kill(id, sig).map(none)
}

/// `sigtimedwait(&set, &mut info or null, &timeout or null) -> sig`.
pub(crate) fn sys_sigtimedwait(setp: u64, infop: u64, tsp: u64) -> SysResult {
    let set = copyin_sigset(setp)?;
    let ticks = if tsp == 0 { None } else { Some(timespec_ticks(tsp)?) };
    if infop != 0 {
        // Tried first: a signal is taken only if what it is about can be told.
        copyout_words(infop, &[0; wire::SIGINFO_WORDS])?;
    }
    let (sig, info) = take::sigtimedwait(set, ticks)?;
    if infop != 0 {
        copyout_words(infop, &wire::siginfo(&info))?;
    }
    Ok((u64::from(sig.num()), 0))
}

/// `alarm(seconds) -> seconds left of the previous one`.
pub(crate) fn sys_alarm(secs: u64) -> SysResult {
    super::alarm(secs).map(|left| (left, 0))
}

/// A `struct timeval` (two words) in nanoseconds: `EINVAL` for a negative time or
/// microseconds out of range.
fn timeval_ns(w: &[Word]) -> Result<u64, Errno> {
    let (sec, usec) = (w[0] as i64, w[1] as i64);
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return Err(Errno::EINVAL);
    }
    Ok((sec as u64).saturating_mul(1_000_000_000).saturating_add(usec as u64 * 1000))
}

fn timeval(ns: u64) -> [Word; 2] {
    [ns / 1_000_000_000, ns % 1_000_000_000 / 1000]
}

fn encode_itimer(v: &ITimerVal) -> [Word; ITIMERVAL_WORDS] {
    let ([i0, i1], [v0, v1]) = (timeval(v.it_interval), timeval(v.it_value));
    [i0, i1, v0, v1]
}

/// `getitimer(which, &mut itimerval)` (S5.5).
pub(crate) fn sys_getitimer(which: u64, vp: u64) -> SysResult {
    copyout_words(vp, &encode_itimer(&super::getitimer(which)?)).map(none)
}

/// `setitimer(which, &itimerval, &mut old or null)` (S5.5).
pub(crate) fn sys_setitimer(which: u64, vp: u64, ovp: u64) -> SysResult {
    let w = copyin_words::<ITIMERVAL_WORDS>(vp)?;
    let v = ITimerVal { it_interval: timeval_ns(&w[..2])?, it_value: timeval_ns(&w[2..])? };
    if ovp != 0 {
        copyout_words(ovp, &encode_itimer(&super::getitimer(which)?))?;
    }
    let old = super::setitimer(which, v)?;
    if ovp != 0 {
        copyout_words(ovp, &encode_itimer(&old))?;
    }
    Ok((0, 0))
}
