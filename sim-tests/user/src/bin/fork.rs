//! `fork`: processes from user mode (S1, S3, S10, S11): `fork1`, `waitid`,
//! `getppid`. Checks:
//!
//! 1. a child has a pid of its own and this process as its parent; its memory is a
//!    copy: what it writes, this process does not see, and the other way round;
//! 2. `waitid` reports the child's exit (`CLD_EXITED`, its code, its pid) and reaps
//!    it: a second wait finds no such child (`ECHILD`);
//! 3. `fork1` from a process with four busy LWPs makes a child with one LWP: the
//!    forking one, as LWP 1; the others are not there (`ESRCH`), and the child's
//!    own new LWP gets id 2; the parent's four go on;
//! 4. the child has the parent's dispositions (its SIGUSR1 handler runs in the
//!    child), descriptors (what it writes into a pipe the parent made, the parent
//!    reads) and the forking LWP's mask (SIGUSR2 blocked) and FP registers;
//! 5. `WNOHANG` finds no child that has not exited yet (`si_pid` 0), and the
//!    blocking wait then reaps it;
//! 6. a child killed by a signal is reported so (`CLD_DUMPED` for SIGILL, whose
//!    default action dumps core), and one stopped and continued is reported by
//!    `WSTOPPED` and `WCONTINUED`;
//! 7. bad arguments: a pid that is no child (`ECHILD`), an unknown id type or
//!    options (`EINVAL`), a bad siginfo pointer (`EFAULT`), a bad fork subcode or
//!    flags (`EINVAL`); the process goes on;
//! 8. fifty children forked, exited and reaped in turn;
//! 9. an orphan — a grandchild whose parent exits first — is adopted by `init`
//!    (its `getppid` becomes 1, and this process cannot wait for it), which reaps
//!    it when it exits: its pid is gone (`kill(pid, 0)` fails with `ESRCH`);
//! 10. `forkall` from a process of five LWPs — three counting, one asleep in a
//!     `read` of an empty pipe, and the caller — makes a child with the same five
//!     LWP ids: the caller's copy returns 0 with its own id, the counters' copies
//!     go on counting from where they were — but the copy of one suspended in the
//!     parent stays suspended until an `_lwp_continue` in the child — and the
//!     reader's copy returns `EINTR` from its `read`; in the parent, the reader
//!     still waits (a byte written wakes it), the counters go on and the
//!     suspended one stays so; what the child writes to the memory, the parent
//!     does not see. A bad `forkall` flag is `EINVAL`.
//! 11. copy-on-write: a `fork1` costs the pool page tables, not the process's
//!     pages (far fewer pages than the process has); the child sees the parent's
//!     data, anonymous memory and stack, and each page it then writes costs the
//!     pool exactly one page, once (a second write to it, none); a `read` into a
//!     page it has not written since the fork (the kernel's `copyout`) works and
//!     costs one page; deep recursion (window spills into the shared stack pages)
//!     computes what it should. The parent sees none of the child's writes, writes
//!     its pages after the child is gone without taking a page (their other owner
//!     went), and the pool is back where it was before the fork.
//!
//! Exit codes: the number of the failed check.

#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

use lwp_user::abi::{
    SigInfoT, SigSet, UContext, CLD_CONTINUED, CLD_DUMPED, CLD_EXITED, CLD_STOPPED,
    CONFIG_AVPHYS_PAGES, PROT_READ, PROT_WRITE, P_ALL, P_PID, SIGCONT, SIGILL, SIGSTOP, SIGUSR1,
    SIGUSR2, SIG_BLOCK, WCONTINUED, WEXITED, WNOHANG, WSTOPPED,
};
use lwp_user::errno::{ECHILD, EFAULT, EINTR, EINVAL, ESRCH};
use lwp_user::signal::{kill, sigaction, sigmask, sigprocmask, Disposition};
use lwp_user::{
    check, exit, fork1, forkall, getpid, getppid, lwp_continue, lwp_kill, lwp_self, lwp_suspend,
    lwp_wait, mmap_anon, munmap, ok, pipe, read, say, sleep_ms, sleep_until, spawn, syscall6,
    sysconfig, waitid, write, yield_now,
};

lwp_user::main!(main);

/// Written by the child only (check 1), and by the parent only.
static CHILD_WROTE: AtomicU64 = AtomicU64::new(0);
static PARENT_WROTE: AtomicU64 = AtomicU64::new(0);

/// The busy LWPs of check 3 spin until told to stop, counting.
static STOP: AtomicBool = AtomicBool::new(false);
static SPINS: AtomicU64 = AtomicU64::new(0);

fn busy(_: u64) {
    while !STOP.load(SeqCst) {
        SPINS.fetch_add(1, SeqCst);
        let _ = yield_now();
    }
}

static USR1: AtomicU64 = AtomicU64::new(0);

fn h_usr1(_: u64, _: Option<&SigInfoT>, _: &mut UContext) {
    USR1.fetch_add(1, SeqCst);
}

/// What `waitid` says of child `pid` (waiting for `options`).
fn wait_for(code: u8, pid: u64, options: u64) -> SigInfoT {
    ok!(code, waitid(P_PID, pid, options))
}

/// Forks a child that runs `f` and exits with what it returns.
fn child(code: u8, f: impl FnOnce() -> u8) -> u64 {
    match ok!(code, fork1()) {
        0 => exit(f()),
        pid => pid,
    }
}

const PATTERN: u64 = 0x4009_21fb_5444_2d18;

fn fp_set(v: u64) {
    // SAFETY: loads one FP register from a local; this program keeps nothing in
    // the FP registers otherwise.
    unsafe { core::arch::asm!("ldd [{0}], %f6", in(reg) &v, options(nostack)) }
}

fn fp_get() -> u64 {
    let mut v = 0u64;
    // SAFETY: stores one FP register into a local.
    unsafe { core::arch::asm!("std %f6, [{0}]", in(reg) &mut v, options(nostack)) };
    v
}

fn main(_: u64) {
    let me = ok!(1, getpid());

    // 1, 2.
    PARENT_WROTE.store(1, SeqCst);
    let pid = child(1, || {
        let ok = getpid() != Ok(me) && getppid() == Ok(me) && PARENT_WROTE.load(SeqCst) == 1;
        PARENT_WROTE.store(2, SeqCst);
        CHILD_WROTE.store(7, SeqCst);
        if ok {
            7
        } else {
            1
        }
    });
    check!(1, pid != me && pid != 0, "fork1 gave pid {pid}");
    let i = wait_for(2, pid, WEXITED);
    check!(
        2,
        i.si_code == CLD_EXITED && i.si_value == 7,
        "child: code {} value {}",
        i.si_code,
        i.si_value
    );
    check!(2, u64::from(i.si_pid as u32) == pid, "waitid reported pid {}, not {pid}", i.si_pid);
    check!(
        1,
        CHILD_WROTE.load(SeqCst) == 0 && PARENT_WROTE.load(SeqCst) == 1,
        "the memories are shared"
    );
    check!(2, waitid(P_PID, pid, WEXITED).err() == Some(ECHILD), "a reaped child found again");

    // 3, 4: from a process of five LWPs, with a handler, a mask and FP registers.
    let ids = [0; 4].map(|_| ok!(3, spawn(busy, 0, 0)));
    ok!(4, sigaction(SIGUSR1, Disposition::Catch(h_usr1), 0, SigSet::EMPTY));
    ok!(4, sigprocmask(SIG_BLOCK, SigSet::EMPTY.with(SIGUSR2)));
    fp_set(PATTERN);
    let (r, w) = ok!(4, pipe());
    let pid = child(3, || {
        if write(w, b"k") != Ok(1) {
            return 44;
        }
        if lwp_self() != Ok(1) {
            return 31;
        }
        if ids.iter().any(|&id| lwp_kill(id, 0) != Err(ESRCH)) {
            return 32;
        }
        match spawn(|_| {}, 0, 0) {
            Ok(2) => {}
            _ => return 33,
        }
        let _ = lwp_wait(2);
        let _ = kill(0, SIGUSR1);
        if USR1.load(SeqCst) != 1 {
            return 41;
        }
        if !sigmask().is_ok_and(|m| m.contains(SIGUSR2)) {
            return 42;
        }
        if fp_get() != PATTERN {
            return 43;
        }
        0
    });
    let spins = SPINS.load(SeqCst);
    let mut byte = [0u8; 1];
    check!(
        4,
        read(r, &mut byte) == Ok(1) && byte == *b"k",
        "nothing from the child's end of the pipe"
    );
    let i = wait_for(3, pid, WEXITED);
    check!(i.si_value as u8 / 10, i.si_value == 0, "the child failed its check {}", i.si_value);
    check!(4, USR1.load(SeqCst) == 0, "the child's SIGUSR1 ran here");
    sleep_ms(20);
    check!(3, SPINS.load(SeqCst) > spins, "the parent's LWPs stopped");
    STOP.store(true, SeqCst);
    for id in ids {
        ok!(3, lwp_wait(id));
    }

    // 5.
    let pid = child(5, || {
        sleep_ms(100);
        5
    });
    let i = wait_for(5, pid, WEXITED | WNOHANG);
    check!(5, i.si_pid == 0, "WNOHANG reported pid {} before it exited", i.si_pid);
    let i = wait_for(5, pid, WEXITED);
    check!(
        5,
        i.si_code == CLD_EXITED && i.si_value == 5,
        "code {} value {}",
        i.si_code,
        i.si_value
    );

    // 6.
    let pid = child(6, || {
        // SAFETY: an illegal instruction: the child dies of SIGILL.
        unsafe { core::arch::asm!("illtrap 0") };
        0
    });
    let i = wait_for(6, pid, WEXITED);
    check!(
        6,
        i.si_code == CLD_DUMPED && i.si_value == SIGILL,
        "code {} value {}",
        i.si_code,
        i.si_value
    );
    let pid = child(6, || {
        let _ = kill(0, SIGSTOP);
        6
    });
    let i = wait_for(6, pid, WSTOPPED);
    check!(
        6,
        i.si_code == CLD_STOPPED && i.si_value == SIGSTOP,
        "stop: code {} value {}",
        i.si_code,
        i.si_value
    );
    ok!(6, kill(pid, SIGCONT));
    let i = wait_for(6, pid, WCONTINUED);
    check!(6, i.si_code == CLD_CONTINUED, "continue: code {}", i.si_code);
    let i = wait_for(6, pid, WEXITED);
    check!(
        6,
        i.si_code == CLD_EXITED && i.si_value == 6,
        "exit: code {} value {}",
        i.si_code,
        i.si_value
    );

    // 7.
    check!(7, waitid(P_PID, me, WEXITED).err() == Some(ECHILD), "waitid for itself");
    check!(7, waitid(P_ALL, 0, WEXITED).err() == Some(ECHILD), "waitid with no child");
    check!(7, waitid(3, 0, WEXITED).err() == Some(EINVAL), "id type 3");
    check!(7, waitid(P_ALL, 0, 0).err() == Some(EINVAL), "no options");
    check!(7, waitid(P_ALL, 0, WEXITED | 0x4000).err() == Some(EINVAL), "unknown options");
    // SAFETY: no pointers but the bad ones under test.
    let raw = |args: [u64; 6]| unsafe { syscall6(lwp_user::abi::SYS_WAITID, args) };
    let pid = child(7, || 0);
    check!(7, raw([P_PID, pid, 8, WEXITED, 0, 0]).err() == Some(EFAULT), "siginfo at 8");
    check!(
        7,
        wait_for(7, pid, WEXITED).si_code == CLD_EXITED,
        "the child was not left for a good wait"
    );
    // SAFETY: no pointers.
    let fork =
        |sub, flags| unsafe { syscall6(lwp_user::abi::SYS_FORKSYS, [sub, flags, 0, 0, 0, 0]) };
    check!(7, fork(9, 0).err() == Some(EINVAL), "fork subcode 9");
    check!(7, fork(0, 1).err() == Some(EINVAL), "fork flags 1");

    // 8.
    for n in 0..50u8 {
        let pid = child(8, move || n);
        let i = wait_for(8, pid, WEXITED);
        check!(8, i.si_value == u64::from(n), "child {n} exited with {}", i.si_value);
    }
    // 9.
    orphan();
    // 10.
    forkall_copies_every_lwp();
    check!(10, fork(1, 1).err() == Some(EINVAL), "forkall flags 1");
    // 11.
    copy_on_write();
    say!("every child was its own process");
}

/// Check 9: a grandchild outlives its parent; it reports its pid and, once
/// orphaned, its parent's, through a pipe; then it exits, for `init` to reap.
fn orphan() {
    let (r, w) = ok!(9, pipe());
    let mid = child(9, move || {
        match fork1() {
            Ok(0) => {
                let me = getpid().unwrap_or(0);
                // Its parent exits at once: wait (bounded) to be adopted.
                let adopted = sleep_until(5_000, || getppid() == Ok(1));
                let words = [me, getppid().unwrap_or(0), u64::from(adopted)];
                let bytes: [u8; 24] = as_bytes(&words);
                exit(if write(w, &bytes) == Ok(24) { 0 } else { 1 })
            }
            Ok(_) => 0,
            Err(_) => 1,
        }
    });
    let i = wait_for(9, mid, WEXITED);
    check!(9, i.si_code == CLD_EXITED && i.si_value == 0, "the middle child: {}", i.si_value);
    let mut bytes = [0u8; 24];
    check!(9, read(r, &mut bytes) == Ok(24), "the grandchild's report");
    let word = |k: usize| u64::from_be_bytes(bytes[8 * k..8 * k + 8].try_into().unwrap_or([0; 8]));
    let (gpid, ppid, adopted) = (word(0), word(1), word(2));
    check!(9, adopted == 1 && ppid == 1, "the orphan's parent is {ppid}, not init (1)");
    check!(9, waitid(P_PID, gpid, WEXITED | WNOHANG).err() == Some(ECHILD), "waitid for an orphan");
    let reaped = sleep_until(5_000, || kill(gpid, 0) == Err(ESRCH));
    check!(9, reaped, "init did not reap the orphan {gpid}");
}

/// `words` as the bytes a pipe carries (big-endian, as SPARC stores them).
fn as_bytes(words: &[u64; 3]) -> [u8; 24] {
    let mut b = [0u8; 24];
    for (k, w) in words.iter().enumerate() {
        b[8 * k..8 * k + 8].copy_from_slice(&w.to_be_bytes());
    }
    b
}

/// Check 10's LWPs: counters, each counting in its own slot until told to stop,
/// and a reader, whose `read` ends as `READ` says (1 a byte, 2 EINTR, 3 else).
static COUNTS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];
static COUNT_STOP: AtomicBool = AtomicBool::new(false);
/// Written by the `forkall` child only.
static FORKALL_WROTE: AtomicU64 = AtomicU64::new(0);
static READ: AtomicU64 = AtomicU64::new(0);

fn counter(k: u64) {
    while !COUNT_STOP.load(SeqCst) {
        COUNTS[k as usize].fetch_add(1, SeqCst);
        let _ = yield_now();
    }
}

fn reader(fd: u64) {
    let mut b = [0u8; 1];
    READ.store(
        match read(fd, &mut b) {
            Ok(1) => 1,
            Err(EINTR) => 2,
            _ => 3,
        },
        SeqCst,
    );
}

/// Whether every counter of `which` moves on within a second.
fn counters_move(which: &[usize]) -> bool {
    let before = COUNTS.each_ref().map(|c| c.load(SeqCst));
    sleep_until(1_000, || which.iter().all(|&k| COUNTS[k].load(SeqCst) > before[k]))
}

/// Whether counter `k` stays where it is for a tenth of a second.
fn counter_still(k: usize) -> bool {
    let before = COUNTS[k].load(SeqCst);
    sleep_ms(100);
    COUNTS[k].load(SeqCst) == before
}

fn forkall_copies_every_lwp() {
    let (r, w) = ok!(10, pipe());
    let counters = [0u64, 1, 2].map(|k| ok!(10, spawn(counter, k, 0)));
    let rd = ok!(10, spawn(reader, r, 0));
    let me = ok!(10, lwp_self());
    check!(10, counters_move(&[0, 1, 2]), "the counters do not count");
    ok!(10, lwp_suspend(counters[2]));
    check!(10, counter_still(2), "a suspended counter counts");
    // Time for the reader to be asleep in its read.
    sleep_ms(20);
    check!(10, READ.load(SeqCst) == 0, "the reader's read ended: {}", READ.load(SeqCst));
    let pid = match ok!(10, forkall()) {
        0 => {
            let ids_there = counters.iter().chain([&rd, &me]).all(|&id| lwp_kill(id, 0).is_ok());
            FORKALL_WROTE.store(1, SeqCst);
            let code = if lwp_self() != Ok(me) {
                101
            } else if !ids_there || lwp_kill(me + 5, 0) != Err(ESRCH) {
                102
            } else if !sleep_until(1_000, || READ.load(SeqCst) != 0) || READ.load(SeqCst) != 2 {
                103
            } else if !counters_move(&[0, 1]) {
                104
            } else if !counter_still(2) {
                105
            } else if lwp_continue(counters[2]).is_err() || !counters_move(&[2]) {
                106
            } else {
                0
            };
            exit(code)
        }
        pid => pid,
    };
    let i = wait_for(10, pid, WEXITED);
    check!(10, i.si_code == CLD_EXITED && i.si_value == 0, "the forkall child: {}", i.si_value);
    check!(10, FORKALL_WROTE.load(SeqCst) == 0, "the forkall child's write is seen here");
    check!(10, READ.load(SeqCst) == 0, "the parent's reader was woken: {}", READ.load(SeqCst));
    check!(10, counters_move(&[0, 1]), "the parent's counters stopped");
    check!(10, counter_still(2), "the parent's suspended counter counts");
    ok!(10, lwp_continue(counters[2]));
    check!(10, counters_move(&[2]), "the parent's counter continued does not count");
    check!(10, write(w, b"x") == Ok(1), "writing the reader's byte");
    check!(10, sleep_until(1_000, || READ.load(SeqCst) == 1), "the reader: {}", READ.load(SeqCst));
    COUNT_STOP.store(true, SeqCst);
    for id in counters.iter().chain([&rd]) {
        ok!(10, lwp_wait(*id));
    }
}

/// Check 11's data: four pages' worth of words, a word of each page written.
const WORDS_PER_PAGE: usize = 8192 / 8;
static DATA: [AtomicU64; 4 * WORDS_PER_PAGE] = [const { AtomicU64::new(0) }; 4 * WORDS_PER_PAGE];
/// Word `k` of `DATA`, reached through an opaque reference: with constant indices
/// only, the compiler would split the array into separate words, side by side.
fn data(k: usize) -> &'static AtomicU64 {
    &core::hint::black_box(&DATA)[k]
}

/// Pages of anonymous memory check 11 maps.
const ANON_PAGES: u64 = 16;

/// Free pages of the pool.
fn free_pages() -> u64 {
    ok!(11, sysconfig(CONFIG_AVPHYS_PAGES))
}

/// A recursion `depth` deep, each frame with a buffer of its own on the stack:
/// its sum, which `recursion_sum` says without recursing.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [0u64; 16];
    for (k, w) in frame.iter_mut().enumerate() {
        *w = core::hint::black_box(depth * 16 + k as u64);
    }
    let below = if depth == 0 { 0 } else { recurse(depth - 1) };
    frame.iter().sum::<u64>() + below
}

/// What `recurse(depth)` returns: the sum of 0..16 * (depth + 1).
fn recursion_sum(depth: u64) -> u64 {
    let n = 16 * (depth + 1);
    n * (n - 1) / 2
}

const DEPTH: u64 = 300;

fn copy_on_write() {
    let anon = ok!(11, mmap_anon(ANON_PAGES * 8192, PROT_READ | PROT_WRITE)) as *mut u8;
    // SAFETY: the pages were just mapped, and only this check uses them.
    let anon_at = |page: u64, k: u64| unsafe { &mut *anon.add((page * 8192 + k) as usize) };
    for page in 0..ANON_PAGES {
        *anon_at(page, 0) = b'p';
    }
    for page in 0..4 {
        data(page * WORDS_PER_PAGE).store(1000 + page as u64, SeqCst);
    }
    // The stack as deep as the child goes, and the calls' own stack pages, mapped.
    check!(11, recurse(DEPTH) == recursion_sum(DEPTH), "the parent's recursion");
    // The processes of the checks before may still be giving their pages back
    // (their last threads let their spaces go when they are reaped): the pool
    // counts only this process's doings once it stays still.
    let settled = sleep_until(5_000, || {
        let was = free_pages();
        sleep_ms(50);
        free_pages() == was
    });
    check!(11, settled, "the pool never stays still");
    let before = free_pages();
    let pid = child(11, || {
        let after_fork = free_pages();
        // The parent waits for it meanwhile.
        sleep_ms(20);
        let _ = free_pages();
        let m1 = free_pages();
        let seen = (0..4).all(|p| data(p * WORDS_PER_PAGE).load(SeqCst) == 1000 + p as u64);
        for p in 0..3 {
            data(p * WORDS_PER_PAGE).store(2000 + p as u64, SeqCst);
        }
        let m2 = free_pages();
        for p in 0..3 {
            data(p * WORDS_PER_PAGE + 1).store(3000, SeqCst);
        }
        let m3 = free_pages();
        let (r, w) = match pipe() {
            Ok(fds) => fds,
            Err(_) => return 111,
        };
        // SAFETY: the child's own copy of the mapping, which nothing else uses.
        let page = unsafe { core::slice::from_raw_parts_mut(anon, 3) };
        if write(w, b"xyz") != Ok(3) || read(r, page) != Ok(3) || page != b"xyz" {
            return 112;
        }
        let m4 = free_pages();
        let deep = recurse(DEPTH) == recursion_sum(DEPTH);
        let anon_seen = (0..ANON_PAGES).all(|p| *anon_at(p, 0) == b'p' || p == 0);
        if before - after_fork >= ANON_PAGES {
            113
        } else if !seen || !anon_seen {
            114
        } else if m1 - m2 != 3 || m2 != m3 {
            115
        } else if m3 - m4 != 1 {
            116
        } else if !deep {
            117
        } else {
            0
        }
    });
    let i = wait_for(11, pid, WEXITED);
    check!(11, i.si_code == CLD_EXITED && i.si_value == 0, "the child: {}", i.si_value);
    check!(
        11,
        (0..4).all(|p| data(p * WORDS_PER_PAGE).load(SeqCst) == 1000 + p as u64)
            && (0..3).all(|p| data(p * WORDS_PER_PAGE + 1).load(SeqCst) == 0)
            && (0..ANON_PAGES).all(|p| *anon_at(p, 0) == b'p' && *anon_at(p, 1) == 0),
        "the child's writes are seen here"
    );
    let alone = free_pages();
    for page in 0..ANON_PAGES {
        *anon_at(page, 1) = b'q';
    }
    for page in 0..4 {
        data(page * WORDS_PER_PAGE + 2).store(4000, SeqCst);
    }
    check!(11, recurse(DEPTH) == recursion_sum(DEPTH), "the parent's recursion after");
    let end = free_pages();
    check!(11, end == alone, "writing pages of its own took {} pages", alone - end);
    check!(11, end == before, "{before} pages free before the fork, {end} after");
    // SAFETY: the mapping is this check's, and no reference to it is left.
    ok!(11, unsafe { munmap(anon as u64, ANON_PAGES * 8192) });
}
