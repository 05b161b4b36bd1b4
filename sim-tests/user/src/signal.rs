//! Signals from user mode (S10–S15): typed wrappers for the signal calls, and the
//! handler trampoline.
//!
//! As Solaris' libc does, the runtime gives the kernel one handler for every
//! signal it catches, [`sigacthandler`], and keeps the program's own handlers in a
//! table of its own: the kernel enters the trampoline with `(sig, &siginfo,
//! &ucontext)` on the signal frame it wrote; the trampoline calls the program's
//! handler, then resumes the interrupted context with `setcontext`, which never
//! returns. A handler may change the context before it is resumed (to skip a
//! faulting instruction, or to repair the register that caused it).

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::abi::*;
use crate::{call, returned};

/// A signal handler of the program: the signal, what it is about (with
/// `SA_SIGINFO`), and the interrupted context, which it may change.
pub type Handler = fn(u64, Option<&SigInfoT>, &mut UContext);

/// The program's handlers, by signal number (0: none).
static HANDLERS: [AtomicUsize; NSIG as usize] = [const { AtomicUsize::new(0) }; NSIG as usize];

/// What to do with a signal.
#[derive(Clone, Copy)]
pub enum Disposition {
    Default,
    Ignore,
    Catch(Handler),
}

/// Where the kernel enters every handler: calls the program's, then resumes the
/// interrupted context.
extern "C" fn sigacthandler(sig: u64, sip: *const SigInfoT, ucp: *mut UContext) -> ! {
    let h = HANDLERS.get(sig as usize).map_or(0, |h| h.load(Ordering::Acquire));
    if h != 0 {
        // SAFETY: only `sigaction` stores there, and only `Handler`s.
        let h: Handler = unsafe { core::mem::transmute::<usize, Handler>(h) };
        // SAFETY: the kernel passes a siginfo (or null) and a ucontext it wrote on
        // this LWP's stack, below the frame of the code it interrupted, for this
        // handler alone.
        let (info, uc) = unsafe { (sip.as_ref(), &mut *ucp) };
        h(sig, info, uc);
    }
    // SAFETY: the context is the kernel's, changed only as the handler chose.
    let _ = unsafe { setcontext(ucp) };
    returned("setcontext")
}

/// `sigaction(sig, act)`: sets the process's disposition of `sig` (S10): every LWP
/// of the process takes it so from now on. `flags` are `SA_*`; `mask` is added to
/// the LWP's mask while the handler runs.
pub fn sigaction(sig: u64, act: Disposition, flags: u32, mask: SigSet) -> Result<(), u64> {
    let handler = match act {
        Disposition::Default => SIG_DFL,
        Disposition::Ignore => SIG_IGN,
        Disposition::Catch(h) => {
            // Before the kernel can enter the trampoline for it.
            let slot = HANDLERS.get(sig as usize).ok_or(crate::errno::EINVAL)?;
            slot.store(h as *const () as usize, Ordering::Release);
            sigacthandler as *const () as u64
        }
    };
    let act = SigAction { sa_flags: flags, sa_pad: 0, sa_handler: handler, sa_mask: mask };
    sigaction_raw(sig, Some(&act), None)
}

/// The system call itself: `act` and `oact` as the kernel takes them.
pub fn sigaction_raw(
    sig: u64,
    act: Option<&SigAction>,
    oact: Option<&mut SigAction>,
) -> Result<(), u64> {
    let a = act.map_or(0, |a| a as *const SigAction as u64);
    let o = oact.map_or(0, |o| o as *mut SigAction as u64);
    call(SYS_SIGACTION, sig, a, o).map(drop)
}

/// `sigprocmask(how, set)`: changes the calling LWP's mask (S11) and returns the
/// old one. Through `_lwp_sigmask`, the set in registers (as Solaris' libc does).
#[inline]
pub fn sigprocmask(how: u64, set: SigSet) -> Result<SigSet, u64> {
    let w = set.sigbits;
    // SAFETY: no pointers.
    let (r0, r1) = unsafe {
        crate::syscall6(
            SYS_LWP_SIGMASK,
            [how, u64::from(w[0]), u64::from(w[1]), u64::from(w[2]), u64::from(w[3]), 0],
        )
    }?;
    Ok(SigSet { sigbits: [r0 as u32, (r0 >> 32) as u32, r1 as u32, (r1 >> 32) as u32] })
}

/// The calling LWP's mask.
pub fn sigmask() -> Result<SigSet, u64> {
    sigprocmask(SIG_BLOCK, SigSet::EMPTY)
}

/// `sigpending()`: the signals pending on the LWP or its process that it masks.
pub fn sigpending() -> Result<SigSet, u64> {
    let mut s = SigSet::EMPTY;
    call(SYS_SIGPENDING, SIGPENDING, &mut s as *mut SigSet as u64, 0)?;
    Ok(s)
}

/// `sigsuspend(mask)`: waits with `mask` until a handler has run; always `Err`
/// (EINTR once it returns).
pub fn sigsuspend(mask: &SigSet) -> u64 {
    match call(SYS_SIGSUSPEND, mask as *const SigSet as u64, 0, 0) {
        Ok(_) => 0,
        Err(e) => e,
    }
}

/// `sigaltstack(ss, oss)`: the LWP's alternate signal stack (S12).
pub fn sigaltstack(ss: Option<&StackT>, oss: Option<&mut StackT>) -> Result<(), u64> {
    let a = ss.map_or(0, |s| s as *const StackT as u64);
    let o = oss.map_or(0, |s| s as *mut StackT as u64);
    call(SYS_SIGALTSTACK, a, o, 0).map(drop)
}

/// `kill(pid, sig)` (S14).
pub fn kill(pid: u64, sig: u64) -> Result<(), u64> {
    call(SYS_KILL, pid, sig, 0).map(drop)
}

/// `sigqueue(pid, sig, value)`.
pub fn sigqueue(pid: u64, sig: u64, value: u64) -> Result<(), u64> {
    call(SYS_SIGQUEUE, pid, sig, value).map(drop)
}

/// `sigtimedwait(set, timeout)`: takes a pending signal of `set` (masked by the
/// caller), waiting for it at most `timeout` (`None`: for ever).
pub fn sigtimedwait(set: &SigSet, timeout: Option<&Timespec>) -> Result<(u64, SigInfoT), u64> {
    let mut info = SigInfoT::default();
    let t = timeout.map_or(0, |t| t as *const Timespec as u64);
    let sig =
        call(SYS_SIGTIMEDWAIT, set as *const SigSet as u64, &mut info as *mut SigInfoT as u64, t)?;
    Ok((sig, info))
}

/// `alarm(secs)`: SIGALRM for the process in `secs` seconds; the seconds left of
/// the previous alarm.
pub fn alarm(secs: u64) -> Result<u64, u64> {
    call(SYS_ALARM, secs, 0, 0)
}

/// `setitimer(which, value)`: the old value.
pub fn setitimer(which: u64, value: &ITimerVal) -> Result<ITimerVal, u64> {
    let mut old = ITimerVal::default();
    call(
        SYS_SETITIMER,
        which,
        value as *const ITimerVal as u64,
        &mut old as *mut ITimerVal as u64,
    )?;
    Ok(old)
}

/// `getitimer(which)`.
pub fn getitimer(which: u64) -> Result<ITimerVal, u64> {
    let mut v = ITimerVal::default();
    call(SYS_GETITIMER, which, &mut v as *mut ITimerVal as u64, 0)?;
    Ok(v)
}

/// `getcontext()`: the calling LWP's context as it returns from this call.
pub fn getcontext(uc: &mut UContext) -> Result<(), u64> {
    call(SYS_CONTEXT, GETCONTEXT, uc as *mut UContext as u64, 0).map(drop)
}

/// `setcontext(ucp)`: resumes the context at `ucp`; returns only if it cannot be
/// read.
///
/// # Safety
///
/// Every register of the caller becomes the context's: it must be one that can go
/// on (one a handler was given, or one `getcontext` saved whose frame still lives).
pub unsafe fn setcontext(ucp: *const UContext) -> Result<(), u64> {
    // SAFETY: the caller's promise.
    unsafe { crate::syscall6(SYS_CONTEXT, [SETCONTEXT, ucp as u64, 0, 0, 0, 0]) }.map(drop)
}

/// A time of `ms` milliseconds.
pub fn timeval_ms(ms: u64) -> Timeval {
    Timeval { tv_sec: (ms / 1000) as i64, tv_usec: ((ms % 1000) * 1000) as i64 }
}
