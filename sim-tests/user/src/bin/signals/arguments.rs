//! Bad arguments (check 10; S16): every bad argument of every signal call gets its
//! error, and changes nothing.

use core::sync::atomic::{AtomicBool, Ordering::SeqCst};

use lwp_user::abi::*;
use lwp_user::addr::UNMAPPED;
use lwp_user::errno::{EFAULT, EINVAL, ENOMEM, ESRCH};
use lwp_user::signal::{
    getcontext, getitimer, kill, setitimer, sigaction, sigaction_raw, sigaltstack, sigmask,
    sigprocmask, sigqueue, timeval_ms, Disposition,
};
use lwp_user::{check, lwp_kill, ok, say, syscall6};

use super::{block, h_record, pid, set, unblock};

pub(super) fn bad_arguments() {
    let bad_ptrs = [UNMAPPED, 1 << 43, u64::MAX - 7, 0x404000];
    let einval = Err(EINVAL);
    // Signal numbers.
    for n in [0, NSIG, 1000, u64::MAX] {
        if n != 0 {
            check!(80, kill(pid(), n) == einval, "kill({n})");
            check!(80, sigqueue(pid(), n, 0) == einval, "sigqueue({n})");
            check!(80, lwp_kill(1, n) == einval, "_lwp_kill({n})");
        }
        check!(80, sigaction_raw(n, None, None) == einval, "sigaction({n})");
    }
    // SIGKILL and SIGSTOP cannot be caught or ignored (SIG_DFL is what they have).
    for sig in [SIGKILL, SIGSTOP] {
        check!(81, sigaction(sig, Disposition::Ignore, 0, SigSet::EMPTY) == einval, "ignore {sig}");
        check!(
            81,
            sigaction(sig, Disposition::Catch(h_record), 0, SigSet::EMPTY) == einval,
            "{sig}"
        );
    }
    // ... nor masked.
    block(&[SIGKILL, SIGSTOP, SIGUSR1]);
    check!(81, ok!(81, sigmask()) == set(&[SIGUSR1]), "masked: {:?}", sigmask());
    unblock(&[SIGUSR1]);
    check!(82, sigprocmask(0, SigSet::EMPTY).map(drop) == einval, "how 0");
    check!(82, sigprocmask(4, SigSet::EMPTY).map(drop) == einval, "how 4");
    let raw = |num: u64, a: [u64; 3]| {
        // SAFETY: a system call; bad pointers are the kernel's to refuse.
        unsafe { syscall6(num, [a[0], a[1], a[2], 0, 0, 0]) }
    };
    check!(82, raw(SYS_SIGPROCMASK, [7, 0, 0]) == Ok((0, 0)), "no set: how is not looked at");
    check!(82, raw(SYS_SIGPENDING, [3, 0, 0]) == Err(EINVAL), "sigpending subcode 3");
    check!(82, raw(SYS_CONTEXT, [2, 0, 0]) == Err(EINVAL), "context subcode 2");
    // Alternate stacks.
    let small = StackT { ss_sp: 0x1000, ss_size: MINSIGSTKSZ - 1, ss_flags: 0, ss_pad: 0 };
    check!(83, sigaltstack(Some(&small), None) == Err(ENOMEM), "a stack below MINSIGSTKSZ");
    let flags = StackT { ss_flags: 0x10, ss_size: SIGSTKSZ, ..small };
    check!(83, sigaltstack(Some(&flags), None) == einval, "flags 0x10");
    let mut oss = StackT::default();
    ok!(83, sigaltstack(None, Some(&mut oss)));
    check!(83, oss.ss_flags == SS_DISABLE, "a stack was set: {oss:?}");
    // Processes and LWPs that are not there.
    check!(84, kill(999_999, SIGUSR1) == Err(ESRCH), "kill of no process");
    check!(84, kill(1 << 40, SIGUSR1) == Err(ESRCH), "kill of pid 2^40");
    check!(84, lwp_kill(77, SIGUSR1) == Err(ESRCH), "_lwp_kill of no LWP");
    check!(84, lwp_kill(0, 0) == Err(ESRCH), "_lwp_kill of LWP 0");
    // Timers.
    check!(85, getitimer(3).map(|_| ()) == einval, "timer 3");
    let bad = ITimerVal {
        it_interval: Timeval::default(),
        it_value: Timeval { tv_sec: 0, tv_usec: 1_000_000 },
    };
    check!(85, setitimer(ITIMER_REAL, &bad).map(|_| ()) == einval, "usec 10^6");
    let neg = ITimerVal { it_interval: Timeval { tv_sec: -1, tv_usec: 0 }, ..bad };
    check!(85, setitimer(ITIMER_PROF, &neg).map(|_| ()) == einval, "negative seconds");
    check!(85, ok!(85, getitimer(ITIMER_REAL)) == ITimerVal::default(), "a refused timer was set");
    // Bad pointers: EFAULT, and nothing changed.
    let act = SigAction { sa_flags: 0, sa_pad: 0, sa_handler: SIG_IGN, sa_mask: SigSet::EMPTY };
    let good = &act as *const SigAction as u64;
    for p in bad_ptrs {
        check!(86, raw(SYS_SIGACTION, [SIGUSR1, p, 0]) == Err(EFAULT), "sigaction act {p:#x}");
        check!(86, raw(SYS_SIGACTION, [SIGUSR1, good, p]) == Err(EFAULT), "sigaction oact {p:#x}");
        check!(86, raw(SYS_SIGPROCMASK, [SIG_BLOCK, p, 0]) == Err(EFAULT), "sigprocmask set");
        check!(86, raw(SYS_SIGPROCMASK, [SIG_BLOCK, 0, p]) == Err(EFAULT), "sigprocmask oset");
        check!(86, raw(SYS_SIGPENDING, [SIGPENDING, p, 0]) == Err(EFAULT), "sigpending");
        check!(86, raw(SYS_SIGSUSPEND, [p, 0, 0]) == Err(EFAULT), "sigsuspend");
        check!(86, raw(SYS_SIGALTSTACK, [p, 0, 0]) == Err(EFAULT), "sigaltstack ss");
        check!(86, raw(SYS_SIGALTSTACK, [0, p, 0]) == Err(EFAULT), "sigaltstack oss");
        check!(86, raw(SYS_CONTEXT, [GETCONTEXT, p, 0]) == Err(EFAULT), "getcontext");
        check!(86, raw(SYS_CONTEXT, [SETCONTEXT, p, 0]) == Err(EFAULT), "setcontext");
        check!(86, raw(SYS_SIGTIMEDWAIT, [p, 0, 0]) == Err(EFAULT), "sigtimedwait set");
        check!(86, raw(SYS_GETITIMER, [ITIMER_REAL, p, 0]) == Err(EFAULT), "getitimer");
        check!(86, raw(SYS_SETITIMER, [ITIMER_REAL, p, 0]) == Err(EFAULT), "setitimer");
    }
    // A context whose windows (`gwins`) cannot be read, or number fewer than none
    // or more than a window buffer holds: refused before anything changes (a
    // context that were taken would resume after `getcontext`: `TRIED` tells).
    static TRIED: AtomicBool = AtomicBool::new(false);
    let mut uc = UContext::default();
    ok!(88, getcontext(&mut uc));
    check!(88, !TRIED.swap(true, SeqCst), "a setcontext with bad windows was taken");
    let mut gw = GWindows { wbcnt: 0, _pad: 0, spbuf: [0; 31], wbuf: [RWindow::default(); 31] };
    for (wbcnt, at, want) in [(1, UNMAPPED, EFAULT), (-1, 0, EINVAL), (8, 0, EINVAL)] {
        gw.wbcnt = wbcnt;
        uc.uc_mcontext.gwins = if at == 0 { &gw as *const GWindows as u64 } else { at };
        let r = raw(SYS_CONTEXT, [SETCONTEXT, &uc as *const UContext as u64, 0]);
        check!(88, r == Err(want), "setcontext with {wbcnt} windows at {at:#x}: {r:?}");
    }
    let mut old = SigAction::default();
    ok!(87, sigaction_raw(SIGUSR1, None, Some(&mut old)));
    check!(87, old.sa_handler == SIG_DFL, "a refused sigaction changed SIGUSR1: {old:?}");
    check!(87, ok!(87, sigmask()).sigbits == [0; 4], "a refused sigprocmask changed the mask");
    let text = lwp_user::addr::text();
    let any = set(&[SIGUSR2]);
    let anyp = &any as *const SigSet as u64;
    check!(87, raw(SYS_SIGTIMEDWAIT, [anyp, text, 0]) == Err(EFAULT), "sigtimedwait info in text");
    let soon = ITimerVal { it_interval: Timeval::default(), it_value: timeval_ms(500) };
    let soonp = &soon as *const ITimerVal as u64;
    check!(88, raw(SYS_SETITIMER, [ITIMER_REAL, soonp, text]) == Err(EFAULT), "old value in text");
    check!(
        88,
        ok!(88, getitimer(ITIMER_REAL)) == ITimerVal::default(),
        "and yet the timer was set"
    );
    say!("every bad argument refused");
}
