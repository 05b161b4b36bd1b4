//! `exec`: a process runs another program (S1, S3, S10, S11). Started by the
//! kernel (argument 0) it checks, in children it forks:
//!
//! 1. an `exec` that fails — no such program (`ENOENT`), a malformed image
//!    (`ENOEXEC`), a name too long (`ENAMETOOLONG`), arguments too big (`E2BIG`),
//!    bad pointers (`EFAULT`) — returns, and the caller goes on in its old image
//!    with all its LWPs;
//! 2. an `exec` from a process of four LWPs, with a handler, an ignored signal, a
//!    mask and a pending signal, FP registers in use and a mark in its memory,
//!    starts this program again (`image` mode, below), and it exits 0.
//!
//! In `image` mode (`exec` gave it the arguments `exec image PID` and the
//! environment `ENV=yes`) it checks what the new image has:
//!
//! 3. its arguments and environment, and the same pid as before;
//! 4. one LWP: the others were made to exit;
//! 5. the caught signal's disposition back at the default, the ignored one still
//!    ignored; the mask and the pending signal kept;
//! 6. memory of its own (the mark is gone) and the FPU fresh (zeros);
//! 7. the descriptors of the old image, but the one marked `FD_CLOEXEC`.
//!
//! Exit codes: the number of the failed check.

#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

use lwp_user::abi::{
    SigAction, SigInfoT, SigSet, UContext, CLD_EXITED, P_PID, SIGTERM, SIGUSR1, SIGUSR2, SIG_BLOCK,
    SIG_DFL, SIG_IGN, SYS_EXECVE, WEXITED,
};
use lwp_user::abi::{FD_CLOEXEC, F_GETFD, F_SETFD};
use lwp_user::errno::{E2BIG, EBADF, EFAULT, ENAMETOOLONG, ENOENT, ENOEXEC, ESRCH};
use lwp_user::signal::{
    kill, sigaction, sigaction_raw, sigmask, sigpending, sigprocmask, Disposition,
};
use lwp_user::{
    args, check, env, execve, exit, fcntl, fork1, getpid, lwp_kill, lwp_self, ok, pipe, say, spawn,
    syscall6, waitid, yield_now,
};

lwp_user::main!(main);

/// Set by the old image before its `exec`: the new one must find it 0.
static MARK: AtomicU64 = AtomicU64::new(0);
static SPINS: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

fn busy(_: u64) {
    while !STOP.load(SeqCst) {
        SPINS.fetch_add(1, SeqCst);
        let _ = yield_now();
    }
}

fn h_usr1(_: u64, _: Option<&SigInfoT>, _: &mut UContext) {}

const PATTERN: u64 = 0x400d_f3b6_4523_5a1c;

fn fp_set(v: u64) {
    // SAFETY: loads one FP register from a local; nothing else here uses them.
    unsafe { core::arch::asm!("ldd [{0}], %f10", in(reg) &v, options(nostack)) }
}

fn fp_get() -> u64 {
    let mut v = 0u64;
    // SAFETY: stores one FP register into a local.
    unsafe { core::arch::asm!("std %f10, [{0}]", in(reg) &mut v, options(nostack)) };
    v
}

/// `n` in decimal, NUL-terminated, in `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 24]) -> &[u8] {
    let mut i = buf.len() - 1;
    buf[i] = 0;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// The failures of check 1, from a process with LWPs running.
fn failures() -> u8 {
    let none: &[&[u8]] = &[];
    if execve(b"nosuch\0", none, none) != ENOENT {
        return 1;
    }
    if execve(b"badimage\0", none, none) != ENOEXEC {
        return 2;
    }
    let long = [b'x'; 300];
    if execve(&long, none, none) != ENAMETOOLONG {
        return 3;
    }
    static BIG: [u8; 20_000] = {
        let mut b = [b'a'; 20_000];
        b[19_999] = 0;
        b
    };
    if execve(b"exec\0", &[&BIG], none) != E2BIG {
        return 4;
    }
    // SAFETY: bad pointers, which the kernel must refuse.
    let raw = |a: [u64; 3]| unsafe { syscall6(SYS_EXECVE, [a[0], a[1], a[2], 0, 0, 0]) };
    let name = c"exec".as_ptr() as u64;
    let bad_elem = [8u64, 0];
    if raw([8, 0, 0]).err() != Some(EFAULT)
        || raw([name, 8, 0]).err() != Some(EFAULT)
        || raw([name, bad_elem.as_ptr() as u64, 0]).err() != Some(EFAULT)
        || raw([name, 0, 8]).err() != Some(EFAULT)
    {
        return 5;
    }
    0
}

fn parent() {
    // 1.
    let ids = [0; 3].map(|_| ok!(1, spawn(busy, 0, 0)));
    let failed = failures();
    check!(1, failed == 0, "a failing exec: case {failed}");
    let spins = SPINS.load(SeqCst);
    let _ = yield_now();
    check!(1, SPINS.load(SeqCst) > spins, "the LWPs stopped after a failed exec");
    check!(1, ids.iter().all(|&id| lwp_kill(id, 0).is_ok()), "an LWP is gone after a failed exec");
    STOP.store(true, SeqCst);
    for id in ids {
        ok!(1, lwp_user::lwp_wait(id));
    }
    STOP.store(false, SeqCst);

    // 2.
    let pid = match ok!(2, fork1()) {
        0 => {
            for _ in 0..3 {
                ok!(2, spawn(busy, 0, 0));
            }
            ok!(2, sigaction(SIGUSR1, Disposition::Catch(h_usr1), 0, SigSet::EMPTY));
            ok!(2, sigaction(SIGUSR2, Disposition::Ignore, 0, SigSet::EMPTY));
            ok!(2, sigprocmask(SIG_BLOCK, SigSet::EMPTY.with(SIGTERM)));
            ok!(2, kill(0, SIGTERM));
            fp_set(PATTERN);
            MARK.store(1, SeqCst);
            // Descriptors 3 and 4 (the lowest free): the write end closes at exec.
            let (r, w) = ok!(2, pipe());
            ok!(2, fcntl(w, F_SETFD, FD_CLOEXEC));
            check!(2, (r, w) == (3, 4), "the pipe is {r}, {w}");
            let mut buf = [0; 24];
            let me = decimal(ok!(2, getpid()), &mut buf);
            let e = execve(b"exec\0", &[b"exec\0", b"image\0", me], &[b"ENV=yes\0"]);
            say!("exec failed: {e}");
            exit(2)
        }
        pid => pid,
    };
    let i = ok!(2, waitid(P_PID, pid, WEXITED));
    check!(2, i.si_code == CLD_EXITED, "the exec'd child: si_code {}", i.si_code);
    check!(i.si_value as u8, i.si_value == 0, "the exec'd child failed check {}", i.si_value);
}

/// The new image (checks 3 to 6).
fn image(argc: u64) {
    let mut a = args();
    let (name, mode, pid) = (a.next(), a.next(), a.next());
    check!(3, argc == 3 && name == Some(b"exec") && mode == Some(b"image"), "argc {argc}");
    let pid = pid.map(|p| p.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')));
    check!(3, pid == getpid().ok(), "pid {:?} before exec, {:?} after", pid, getpid());
    check!(3, env().next() == Some(b"ENV=yes") && env().nth(1).is_none(), "the environment");
    let me = ok!(4, lwp_self());
    check!(4, (1..=8).filter(|&id| id != me).all(|id| lwp_kill(id, 0) == Err(ESRCH)), "LWPs left");
    let mut old = SigAction::default();
    ok!(5, sigaction_raw(SIGUSR1, None, Some(&mut old)));
    check!(5, old.sa_handler == SIG_DFL, "SIGUSR1's handler kept: {:#x}", old.sa_handler);
    ok!(5, sigaction_raw(SIGUSR2, None, Some(&mut old)));
    check!(5, old.sa_handler == SIG_IGN, "SIGUSR2 no longer ignored");
    check!(5, ok!(5, sigmask()).contains(SIGTERM), "the mask lost SIGTERM");
    check!(5, ok!(5, sigpending()).contains(SIGTERM), "the pending SIGTERM was lost");
    check!(6, MARK.load(SeqCst) == 0, "the old image's memory is still there");
    check!(7, fcntl(3, F_GETFD, 0) == Ok(0), "descriptor 3 was closed by exec");
    check!(7, fcntl(4, F_GETFD, 0) == Err(EBADF), "descriptor 4 (FD_CLOEXEC) is still open");
    check!(6, fp_get() == 0, "the old image's FP registers are still there");
    exit(0)
}

fn main(arg: u64) {
    if arg != 0 {
        image(arg)
    }
    parent();
    say!("exec replaced the image, and only when it could");
}
