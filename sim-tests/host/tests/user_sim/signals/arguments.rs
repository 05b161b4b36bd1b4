//! Bad arguments (S16): every bad argument of the signal calls gets its error
//! code, changes nothing, and the process goes on.

use arch::sim::user::{self, TEXT};
use arch::{PAGE_SIZE, USER_LIMIT};
use core::mem::offset_of;
use kern::proc::WaitStatus;
use kern_selftest::{ensure_eq, reap, TestResult};
use lwp_abi::*;

use super::{
    block, errno, exit, h_record, kill, peek, pid, put_stack, sigaction, sigmask, space, start,
    sys, ALT, COUNT, GW, HOLE, ITV, RO, SA, SS, UC,
};

fn bad_arguments_main(_: u64) {
    let e = |x: Errno| Err(errno(x));
    for n in [NSIG, 1000, u64::MAX] {
        assert_eq!(kill(pid(), n), e(Errno::EINVAL), "kill({n})");
        assert_eq!(sys(SYS_LWP_KILL, &[1, n]), e(Errno::EINVAL), "_lwp_kill({n})");
        assert_eq!(sys(SYS_SIGQUEUE, &[pid(), n, 0]), e(Errno::EINVAL), "sigqueue({n})");
    }
    for n in [0, NSIG, u64::MAX] {
        assert_eq!(sys(SYS_SIGACTION, &[n, 0, 0]), e(Errno::EINVAL), "sigaction({n})");
    }
    for sig in [SIGKILL, SIGSTOP] {
        assert_eq!(sigaction(sig, SIG_IGN, 0), e(Errno::EINVAL), "ignore {sig}");
        assert_eq!(sigaction(sig, user::handler(h_record), 0), e(Errno::EINVAL), "catch {sig}");
    }
    block(&[SIGKILL, SIGSTOP]);
    assert_eq!(sigmask(SIG_BLOCK, SigSet::EMPTY), Ok(SigSet::EMPTY), "SIGKILL or SIGSTOP masked");
    assert_eq!(sigmask(9, SigSet::EMPTY), Err(errno(Errno::EINVAL)), "how 9");
    put_stack(SS, ALT, MINSIGSTKSZ - 1, 0);
    assert_eq!(sys(SYS_SIGALTSTACK, &[SS, 0]), e(Errno::ENOMEM), "a small alternate stack");
    put_stack(SS, ALT, PAGE_SIZE, 4);
    assert_eq!(sys(SYS_SIGALTSTACK, &[SS, 0]), e(Errno::EINVAL), "flags 4");
    assert_eq!(kill(999_999, SIGUSR1), e(Errno::ESRCH), "no such process");
    assert_eq!(sys(SYS_LWP_KILL, &[9, SIGUSR1]), e(Errno::ESRCH), "no such LWP");
    assert_eq!(sys(SYS_GETITIMER, &[7, ITV]), e(Errno::EINVAL), "timer 7");
    for (off, v) in [(0, 0), (8, 0), (16, 0), (24, 1_000_000)] {
        user::store_u64(ITV + off, v);
    }
    assert_eq!(sys(SYS_SETITIMER, &[ITIMER_REAL, ITV, 0]), e(Errno::EINVAL), "usec 10^6");
    for p in [HOLE, USER_LIMIT, u64::MAX - 7] {
        assert_eq!(sys(SYS_SIGACTION, &[SIGUSR1, p, 0]), e(Errno::EFAULT), "act {p:#x}");
        assert_eq!(sys(SYS_SIGPROCMASK, &[SIG_BLOCK, p, 0]), e(Errno::EFAULT), "set {p:#x}");
        assert_eq!(sys(SYS_SIGSUSPEND, &[p]), e(Errno::EFAULT), "sigsuspend {p:#x}");
        assert_eq!(sys(SYS_CONTEXT, &[SETCONTEXT, p]), e(Errno::EFAULT), "setcontext {p:#x}");
        assert_eq!(sys(SYS_SIGTIMEDWAIT, &[p, 0, 0]), e(Errno::EFAULT), "sigtimedwait {p:#x}");
    }
    for p in [HOLE, RO, TEXT.start] {
        sigaction(SIGUSR1, SIG_IGN, 0).expect("sigaction");
        assert_eq!(sys(SYS_SIGACTION, &[SIGUSR1, SA, p]), e(Errno::EFAULT), "oact {p:#x}");
        assert_eq!(sys(SYS_SIGPENDING, &[SIGPENDING, p]), e(Errno::EFAULT), "pending {p:#x}");
        assert_eq!(sys(SYS_SIGALTSTACK, &[0, p]), e(Errno::EFAULT), "oss {p:#x}");
        assert_eq!(sys(SYS_CONTEXT, &[GETCONTEXT, p]), e(Errno::EFAULT), "getcontext {p:#x}");
        assert_eq!(sys(SYS_GETITIMER, &[ITIMER_REAL, p]), e(Errno::EFAULT), "getitimer {p:#x}");
    }
    // A context with windows (`gwins`): this machine has none to buffer, so any
    // count is EINVAL; windows that cannot be read, EFAULT.
    sys(SYS_CONTEXT, &[GETCONTEXT, UC]).expect("getcontext");
    let gwins = UC + (offset_of!(UContext, uc_mcontext) + offset_of!(MContext, gwins)) as u64;
    for (wbcnt, at, want) in [(1u64, GW, Errno::EINVAL), (u64::MAX, GW, Errno::EINVAL)] {
        user::store_u64(GW, wbcnt << 32);
        user::store_u64(gwins, at);
        assert_eq!(sys(SYS_CONTEXT, &[SETCONTEXT, UC]), e(want), "{wbcnt:#x} windows");
    }
    user::store_u64(gwins, HOLE);
    assert_eq!(sys(SYS_CONTEXT, &[SETCONTEXT, UC]), e(Errno::EFAULT), "windows in a hole");
    // A refused sigaction changed nothing: SIGUSR1 is still ignored.
    assert_eq!(sys(SYS_SIGACTION, &[SIGUSR1, 0, SA]), Ok((0, 0)));
    assert_eq!(user::load_u64(SA + offset_of!(SigAction, sa_handler) as u64), SIG_IGN);
    user::store_u64(COUNT, 1);
    exit(0)
}

/// S16: every bad argument of the signal calls gets its error code — EINVAL,
/// ENOMEM, ESRCH, EFAULT — changes nothing, and the process goes on.
pub(super) fn bad_arguments() -> TestResult {
    let s = space()?;
    ensure_eq!(reap(start(&s, bad_arguments_main, 0)?)?, WaitStatus::Exited(0));
    ensure_eq!(peek(&s, COUNT)?, 1);
    Ok(())
}
