//! The system calls of signals (S10–S15, S5.5): their arguments checked and
//! copied in, their results copied out, as `syscall`'s table calls them. A call
//! that fails leaves everything as it was: what it reads is read whole before
//! anything changes, and where it writes is tried before anything changes (nothing
//! unmaps user memory, so the second write goes where the first did).

use core::mem::offset_of;

use arch::UserFrame;

use super::frame::{self, get_sigset, get_stack, on_altstack, put_siginfo, put_sigset, put_stack};
use super::{take, SigAct, SigDisp, SigSet};
use crate::errno::Errno;
use crate::lwp::{ITimerVal, LwpId, SigAltStack};
use crate::syscall::{copyin, copyout, timespec_ticks, SysResult};
use crate::thread::curlwp;
use lwp_abi::{
    SigAction, StackT, Timeval, GETCONTEXT, MINSIGSTKSZ, SETCONTEXT, SIGFILLSET, SIGPENDING,
    SIG_DFL, SIG_IGN, SS_DISABLE,
};

/// A `sigset_t` in user memory.
const SIGSET: usize = core::mem::size_of::<lwp_abi::SigSet>();
/// A `struct sigaction` in user memory.
const SIGACTION: usize = core::mem::size_of::<SigAction>();
/// A `stack_t` in user memory.
const STACK: usize = core::mem::size_of::<StackT>();
/// A `struct itimerval` in user memory.
const ITIMERVAL: usize = core::mem::size_of::<lwp_abi::ITimerVal>();

fn none<T>(_: T) -> (u64, u64) {
    (0, 0)
}

/// The calling LWP's registers (another handle to them: see `UserFrame::share`).
fn user_frame() -> Result<UserFrame, Errno> {
    curlwp().and_then(|l| l.with_data(|d| d.lwp_regs.share())).ok_or(Errno::EINVAL)
}

/// Copies in a `sigset_t`.
fn copyin_sigset(uaddr: u64) -> Result<SigSet, Errno> {
    let mut b = [0u8; SIGSET];
    copyin(uaddr, &mut b)?;
    Ok(get_sigset(&b, 0))
}

/// Copies out a `sigset_t`.
fn copyout_sigset(uaddr: u64, s: SigSet) -> Result<(), Errno> {
    let mut b = [0u8; SIGSET];
    put_sigset(&mut b, 0, s);
    copyout(uaddr, &b)
}

fn encode_sigaction(a: &SigAct) -> [u8; SIGACTION] {
    let mut b = [0u8; SIGACTION];
    let handler = match a.disp {
        SigDisp::Default => SIG_DFL,
        SigDisp::Ignore => SIG_IGN,
        SigDisp::Catch(h) => h,
    };
    b[offset_of!(SigAction, sa_flags)..][..4].copy_from_slice(&a.flags.to_be_bytes());
    b[offset_of!(SigAction, sa_handler)..][..8].copy_from_slice(&handler.to_be_bytes());
    put_sigset(&mut b, offset_of!(SigAction, sa_mask), a.mask);
    b
}

fn decode_sigaction(b: &[u8; SIGACTION]) -> SigAct {
    let at = |off: usize, n: usize| &b[off..off + n];
    let flags =
        u32::from_be_bytes(at(offset_of!(SigAction, sa_flags), 4).try_into().unwrap_or_default());
    let handler =
        u64::from_be_bytes(at(offset_of!(SigAction, sa_handler), 8).try_into().unwrap_or_default());
    let disp = match handler {
        SIG_DFL => SigDisp::Default,
        SIG_IGN => SigDisp::Ignore,
        h => SigDisp::Catch(h),
    };
    SigAct { disp, flags, mask: get_sigset(b, offset_of!(SigAction, sa_mask)) }
}

/// `sigaction(sig, &act or null, &mut oact or null)` (S10).
pub(crate) fn sys_sigaction(sig: u64, actp: u64, oactp: u64) -> SysResult {
    let new = if actp == 0 {
        None
    } else {
        let mut b = [0u8; SIGACTION];
        copyin(actp, &mut b)?;
        Some(decode_sigaction(&b))
    };
    if oactp != 0 {
        copyout(oactp, &encode_sigaction(&take::sigaction(sig, None)?))?;
    }
    let old = take::sigaction(sig, new)?;
    if oactp != 0 {
        copyout(oactp, &encode_sigaction(&old))?;
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
/// set's words in registers and the old mask's returned in `%o0`/`%o1`.
pub(crate) fn sys_lwp_sigmask(a: [u64; 6]) -> SysResult {
    let set = SigSet::from_words(core::array::from_fn(|i| a[i + 1] as u32));
    let w = take::sigprocmask(a[0], Some(set))?.words();
    let pair = |lo: u32, hi: u32| u64::from(lo) | u64::from(hi) << 32;
    Ok((pair(w[0], w[1]), pair(w[2], w[3])))
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
/// alternate stack. `oss` says `SS_ONSTACK` while the LWP runs on it.
///
/// Errors: `EPERM` for a change while on it; `EINVAL` for flags other than
/// `SS_DISABLE`; `ENOMEM` for a stack smaller than `MINSIGSTKSZ`; `EFAULT`.
pub(crate) fn sys_sigaltstack(ssp: u64, ossp: u64) -> SysResult {
    let new = if ssp == 0 {
        None
    } else {
        let mut b = [0u8; STACK];
        copyin(ssp, &mut b)?;
        Some(get_stack(&b, 0))
    };
    let lwp = curlwp().ok_or(Errno::EINVAL)?;
    let sp = user_frame()?.sp();
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
        let mut b = [0u8; STACK];
        put_stack(&mut b, 0, &SigAltStack { ss_flags: flags, ..alt });
        copyout(ossp, &b)?;
    }
    if let Some(n) = new {
        lwp.with_data(|d| d.lwp_sigaltstack = n);
    }
    Ok((0, 0))
}

/// `context(GETCONTEXT, &mut ucontext)`, `context(SETCONTEXT, &ucontext)`.
pub(crate) fn sys_context(sub: u64, ucp: u64) -> SysResult {
    let frame = user_frame()?;
    match sub {
        GETCONTEXT => frame::getcontext(&frame, ucp).map(none),
        SETCONTEXT => frame::setcontext(&frame, ucp).map(none),
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
    let mut b = [0u8; frame::SIGINFO_SIZE];
    if infop != 0 {
        // Tried first: a signal is taken only if what it is about can be told.
        copyout(infop, &b)?;
    }
    let (sig, info) = take::sigtimedwait(set, ticks)?;
    if infop != 0 {
        put_siginfo(&mut b, 0, &info);
        copyout(infop, &b)?;
    }
    Ok((u64::from(sig.num()), 0))
}

/// `alarm(seconds) -> seconds left of the previous one`.
pub(crate) fn sys_alarm(secs: u64) -> SysResult {
    super::alarm(secs).map(|left| (left, 0))
}

fn timeval_ns(b: &[u8], at: usize) -> Result<u64, Errno> {
    let word =
        |off: usize| i64::from_be_bytes(b[at + off..at + off + 8].try_into().unwrap_or_default());
    let (sec, usec) = (word(offset_of!(Timeval, tv_sec)), word(offset_of!(Timeval, tv_usec)));
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return Err(Errno::EINVAL);
    }
    Ok((sec as u64).saturating_mul(1_000_000_000).saturating_add(usec as u64 * 1000))
}

fn put_timeval(b: &mut [u8], at: usize, ns: u64) {
    let (sec, usec) = (ns / 1_000_000_000, ns % 1_000_000_000 / 1000);
    b[at + offset_of!(Timeval, tv_sec)..][..8].copy_from_slice(&sec.to_be_bytes());
    b[at + offset_of!(Timeval, tv_usec)..][..8].copy_from_slice(&usec.to_be_bytes());
}

fn encode_itimer(v: &ITimerVal) -> [u8; ITIMERVAL] {
    let mut b = [0u8; ITIMERVAL];
    put_timeval(&mut b, offset_of!(lwp_abi::ITimerVal, it_interval), v.it_interval);
    put_timeval(&mut b, offset_of!(lwp_abi::ITimerVal, it_value), v.it_value);
    b
}

/// `getitimer(which, &mut itimerval)` (S5.5).
pub(crate) fn sys_getitimer(which: u64, vp: u64) -> SysResult {
    copyout(vp, &encode_itimer(&super::getitimer(which)?)).map(none)
}

/// `setitimer(which, &itimerval, &mut old or null)` (S5.5).
pub(crate) fn sys_setitimer(which: u64, vp: u64, ovp: u64) -> SysResult {
    let mut b = [0u8; ITIMERVAL];
    copyin(vp, &mut b)?;
    let v = ITimerVal {
        it_interval: timeval_ns(&b, offset_of!(lwp_abi::ITimerVal, it_interval))?,
        it_value: timeval_ns(&b, offset_of!(lwp_abi::ITimerVal, it_value))?,
    };
    if ovp != 0 {
        copyout(ovp, &encode_itimer(&super::getitimer(which)?))?;
    }
    let old = super::setitimer(which, v)?;
    if ovp != 0 {
        copyout(ovp, &encode_itimer(&old))?;
    }
    Ok((0, 0))
}
