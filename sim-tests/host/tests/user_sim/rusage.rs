//! Resource usage and profiling from user programs of the simulation (S5.4), the
//! LWPs on several CPUs: each LWP's counts where they happen (`getrusage` of the
//! LWP: voluntary switches of a sleeper, signals taken, bytes through a pipe, the
//! exact count of system calls, a spinner's involuntary switches on one CPU); the
//! process's usage at least its LWPs' sum; a reaped child's usage its parent's
//! children's; `profil`'s histogram at the program's own `pc`, a bad buffer ending
//! the profiling; `rusagesys`'s bad arguments. (The swap counts are checked by
//! `user_lwps_swapped_out_and_back`, whose sleepers go out at every tick.)

use arch::sim::user::{self, TEXT};
use arch::{Machine, PAGE_SIZE, USER_LIMIT};
use kern::proc::{prfind, PStat, Pid, WaitStatus, PROC0};
use kern::{rusage, M};
use kern_selftest::{ensure, ensure_eq, reap, wait_for, Test, TestResult};
use lwp_abi::*;

use super::lwps::{lwp_exit, me, wait_lwp, worker_arg};
use super::signals::{catch, h_record};
use super::{errno, exit, new_space, peek, start, sys, DATA, HOLE, RO};

/// The tests, in the order they run.
pub static RUSAGE: &[Test] = &[
    Test::new("rusage_counted_per_lwp_and_summed", counted_per_lwp),
    Test::new("rusage_of_a_reaped_child_is_its_parents", reaped_child),
    Test::new("rusage_profil_counts_at_the_user_pc", profil_at_the_pc),
    Test::new("rusage_profil_bad_buffer_stops_it", profil_bad_buffer),
    Test::new("rusage_bad_arguments", bad_arguments),
];

// What lives where in `DATA` (whose words lie where: the table in `user_sim`).
/// Per LWP `i` (0: main), at `+ RU_LEN * i`: its last `getrusage` of itself.
const RU: u64 = DATA + 0x1900;
const RU_LEN: u64 = core::mem::size_of::<Rusage>() as u64;
/// The process's `getrusage`, and a scratch one.
const RU_SELF: u64 = RU + 4 * RU_LEN;
const RU_TMP: u64 = RU + 5 * RU_LEN;
/// An `lwp_times` per LWP, at `+ 64 * i`.
const LT: u64 = RU + 6 * RU_LEN;
/// Per LWP: a `Timespec` for its sleeps.
const NAP: u64 = LT + 4 * 64;
/// Bytes for the pipe.
const BUF: u64 = NAP + 4 * 16;
/// Set once the spinner may stop; the spinner's count.
const GO: u64 = BUF + 128;
const SPINS: u64 = GO + 8;
const _: () = assert!(SPINS + 8 <= DATA + PAGE_SIZE);
/// The profiling buffer: the whole second page, a counter per 2 bytes of the
/// text page.
const HIST: u64 = DATA + PAGE_SIZE;

/// Sleeps of the sleeper, signals of the signalled LWP, bytes through its pipe.
const SLEEPS: u64 = 10;
const SIGNALS: u64 = 5;
const PIPE_BYTES: u64 = 100;

// The words of a `struct rusage`.
const UTIME_SEC: u64 = 0;
const UTIME_USEC: u64 = 1;
const NSIGNALS: u64 = 15;
const NVCSW: u64 = 16;
const NIVCSW: u64 = 17;

fn ru_word(at: u64, k: u64) -> u64 {
    user::load_u64(at + 8 * k)
}

/// `getrusage` of subcode `code` into `at`.
fn getrusage(code: u64, at: u64) {
    assert_eq!(sys(SYS_RUSAGESYS, &[code, at]), Ok((0, 0)), "rusagesys({code})");
}

/// The calling LWP's `lwp_times` in LWP `i`'s place: its count of system calls.
fn sysc(i: u64) -> u64 {
    let at = LT + 64 * i;
    assert_eq!(sys(SYS_LWP_TIMES, &[at]), Ok((0, 0)));
    user::load_u64(at + 32)
}

/// Its user time, in ticks.
fn utime(i: u64) -> u64 {
    sysc(i);
    user::load_u64(LT + 64 * i)
}

/// Its bytes read and written.
fn ioch(i: u64) -> u64 {
    sysc(i);
    user::load_u64(LT + 64 * i + 48)
}

fn nap(i: u64, ms: u64) {
    let ts = NAP + 16 * i;
    user::store_u64(ts, 0);
    user::store_u64(ts + 8, ms * 1_000_000);
    assert_eq!(sys(SYS_NANOSLEEP, &[ts]), Ok((0, 0)));
}

/// LWP 1: sleeps `SLEEPS` times: as many voluntary switches at least, and
/// exactly the system calls it made.
fn sleeper(i: u64) {
    let at = RU + RU_LEN * i;
    getrusage(RUSAGESYS_GETRUSAGE_LWP, at);
    let (v0, s0) = (ru_word(at, NVCSW), sysc(i));
    for _ in 0..SLEEPS {
        nap(i, 1);
    }
    getrusage(RUSAGESYS_GETRUSAGE_LWP, at);
    let s1 = sysc(i);
    assert_eq!(s1 - s0, SLEEPS + 2, "user: the sleeper's count of system calls");
    let slept = ru_word(at, NVCSW) - v0;
    assert!(slept >= SLEEPS, "user: {SLEEPS} sleeps, {slept} voluntary switches");
    lwp_exit()
}

/// LWP 2: sends itself `SIGNALS` caught signals, then moves `PIPE_BYTES` through a
/// pipe: exactly as many signals taken, and twice the bytes in `ioch`.
fn signalled(i: u64) {
    let at = RU + RU_LEN * i;
    let me = me();
    getrusage(RUSAGESYS_GETRUSAGE_LWP, at);
    let n0 = ru_word(at, NSIGNALS);
    for _ in 0..SIGNALS {
        assert_eq!(sys(SYS_LWP_KILL, &[me, SIGUSR1]), Ok((0, 0)));
    }
    getrusage(RUSAGESYS_GETRUSAGE_LWP, at);
    assert_eq!(ru_word(at, NSIGNALS) - n0, SIGNALS, "user: signals taken");
    let (r, w) = sys(SYS_PIPE, &[]).expect("pipe");
    let io0 = ioch(i);
    assert_eq!(sys(SYS_WRITE, &[w, BUF, PIPE_BYTES]), Ok((PIPE_BYTES, 0)));
    assert_eq!(sys(SYS_READ, &[r, BUF, PIPE_BYTES]), Ok((PIPE_BYTES, 0)));
    assert_eq!(ioch(i) - io0, 2 * PIPE_BYTES, "user: bytes written and read");
    lwp_exit()
}

/// LWP 3: spins in user code until `GO` (on one CPU, beside the others, it is
/// preempted: the sleeper's wakeups outrank it).
fn spinner(i: u64) {
    while user::load_u64(GO) == 0 {
        user::store_u64(SPINS, user::load_u64(SPINS) + 1);
    }
    getrusage(RUSAGESYS_GETRUSAGE_LWP, RU + RU_LEN * i);
    lwp_exit()
}

fn counted_main(_: u64) {
    catch(SIGUSR1, h_record, 0);
    let spin = worker_arg(2, spinner, 3);
    let ids = [worker_arg(0, sleeper, 1), worker_arg(1, signalled, 2)];
    for id in ids {
        wait_lwp(id);
    }
    user::store_u64(GO, 1);
    wait_lwp(spin);
    getrusage(RUSAGESYS_GETRUSAGE_LWP, RU);
    getrusage(RUSAGESYS_GETRUSAGE, RU_SELF);
    exit(0)
}

fn peek_ru(space: &kern::proc::AddrSpace, at: u64, k: u64) -> Result<u64, String> {
    peek(space, at + 8 * k)
}

/// S5.4: each LWP's counts where they happen (the program checks its own exact
/// ones); the process's usage at least the sum of its LWPs' last records; on one
/// CPU the spinner was preempted.
fn counted_per_lwp() -> TestResult {
    let space = new_space()?;
    ensure_eq!(reap(start(&space, counted_main, 0)?)?, WaitStatus::Exited(0));
    let usecs = |at: u64| -> Result<u64, String> {
        Ok(peek_ru(&space, at, UTIME_SEC)? * 1_000_000 + peek_ru(&space, at, UTIME_USEC)?)
    };
    for k in [NVCSW, NIVCSW, NSIGNALS] {
        let sum = (0..4).map(|i| peek_ru(&space, RU + RU_LEN * i, k)).sum::<Result<u64, _>>()?;
        let total = peek_ru(&space, RU_SELF, k)?;
        ensure!(total >= sum, "word {k}: the process's {total} < its LWPs' {sum}");
    }
    let sum = (0..4).map(|i| usecs(RU + RU_LEN * i)).sum::<Result<u64, _>>()?;
    ensure!(usecs(RU_SELF)? >= sum, "user time: the process's < its LWPs' {sum} us");
    ensure_eq!(peek_ru(&space, RU + RU_LEN * 2, NSIGNALS)?, SIGNALS);
    if M::ncpus() == 1 {
        let n = peek_ru(&space, RU + RU_LEN * 3, NIVCSW)?;
        ensure!(n > 0, "the spinner was never preempted on one CPU");
    }
    Ok(())
}

fn child_main(_: u64) {
    catch(SIGUSR1, h_record, 0);
    let me = me();
    assert_eq!(sys(SYS_LWP_KILL, &[me, SIGUSR1]), Ok((0, 0)));
    for _ in 0..SLEEPS {
        nap(0, 1);
    }
    getrusage(RUSAGESYS_GETRUSAGE, RU_SELF);
    exit(0)
}

/// S5.4: a reaped child's usage goes to its parent's children's (here the
/// kernel's proc 0, which started and reaped it): at least its sleeps and its
/// signal, as it saw them itself.
fn reaped_child() -> TestResult {
    let space = new_space()?;
    let before = PROC0.child_usage();
    ensure_eq!(reap(start(&space, child_main, 0)?)?, WaitStatus::Exited(0));
    let after = PROC0.child_usage();
    let (v, s) = (peek_ru(&space, RU_SELF, NVCSW)?, peek_ru(&space, RU_SELF, NSIGNALS)?);
    ensure!(v >= SLEEPS && s == 1, "the child saw {v} voluntary switches, {s} signals");
    ensure!(after.ru.nvcsw - before.ru.nvcsw >= v, "nvcsw: {before:?} became {after:?}");
    ensure!(after.ru.nsignals - before.ru.nsignals >= s, "nsignals: {before:?} became {after:?}");
    ensure!(after.sysc > before.sysc, "no system call went to the parent");
    Ok(())
}

/// Profiles the text page into `HIST` (`scale` 0x10000: a counter per 2 bytes),
/// spins in user code for 20 ticks, then turns profiling off and spins on.
fn profiled_main(_: u64) {
    let scale = 0x10000;
    assert_eq!(sys(SYS_PROFIL, &[HIST, PAGE_SIZE, TEXT.start, scale]), Ok((0, 0)));
    let until = utime(0) + 20;
    while utime(0) < until {
        for _ in 0..100 {
            user::store_u64(SPINS, user::load_u64(SPINS) + 1);
        }
    }
    assert_eq!(sys(SYS_PROFIL, &[HIST, PAGE_SIZE, TEXT.start, 0]), Ok((0, 0)));
    let off = utime(0) + 3;
    while utime(0) < off {}
    exit(0)
}

/// S5.4: the ticks a profiled program spends in user code are counted at its
/// `pc` (on the simulation, a program's own 16 bytes of the text page): the
/// histogram holds them all there.
fn profil_at_the_pc() -> TestResult {
    let space = new_space()?;
    ensure_eq!(reap(start(&space, profiled_main, 0)?)?, WaitStatus::Exited(0));
    // The program's 16 bytes: its counters, 8 of them.
    let at = user::program(profiled_main) - TEXT.start;
    let (mut total, mut mine) = (0, 0);
    for w in 0..PAGE_SIZE / 8 {
        let word = peek(&space, HIST + 8 * w)?;
        for k in 4 * w..4 * w + 4 {
            let count = (word >> (48 - 16 * (k % 4))) & 0xffff;
            total += count;
            if (at / 2..at / 2 + 8).contains(&k) {
                mine += count;
            }
        }
    }
    ensure!(total >= 10, "only {total} ticks counted in 20 of user time");
    ensure_eq!(mine, total);
    Ok(())
}

/// Profiles into a buffer that cannot be written (`HOLE` for argument 0, read-only
/// `RO` else) and spins 5 ticks of user time.
fn bad_buffer_main(arg: u64) {
    let buf = if arg == 0 { HOLE } else { RO };
    assert_eq!(sys(SYS_PROFIL, &[buf, 4096, 0, 2]), Ok((0, 0)));
    let until = utime(0) + 5;
    while utime(0) < until {}
    exit(0)
}

/// S5.4, S16: `profil` of a buffer that cannot be written succeeds; the first tick
/// counted ends the profiling (scale 0), and the program goes on to its exit.
fn profil_bad_buffer() -> TestResult {
    for arg in [0, 1] {
        let space = new_space()?;
        let pid: Pid = start(&space, bad_buffer_main, arg)?;
        let gone = || prfind(pid).is_none_or(|p| p.stat() == PStat::Zombie);
        let waited = wait_for("the program to exit", 60, gone);
        let prof = prfind(pid).map(rusage::profiling);
        ensure_eq!(reap(pid)?, WaitStatus::Exited(0));
        waited?;
        let prof = prof.ok_or("no zombie")?;
        ensure!(prof.pr_size == 4096 && prof.pr_scale == 0, "case {arg}: {prof:?}");
    }
    Ok(())
}

fn bad_arguments_main(_: u64) {
    let (einval, efault) = (Err(errno(Errno::EINVAL)), Err(errno(Errno::EFAULT)));
    for code in [3, 4, 1000, u64::MAX] {
        assert_eq!(sys(SYS_RUSAGESYS, &[code, RU_TMP]), einval, "user: subcode {code}");
    }
    for p in [0, HOLE, RO, TEXT.start, USER_LIMIT - 8, u64::MAX - 7, DATA + 2 * PAGE_SIZE - 8] {
        for code in 0..3 {
            assert_eq!(sys(SYS_RUSAGESYS, &[code, p]), efault, "user: subcode {code} to {p:#x}");
        }
    }
    getrusage(RUSAGESYS_GETRUSAGE_CHLD, RU_TMP);
    exit(0)
}

/// S16: `rusagesys` refuses an unknown subcode (`EINVAL`) and a structure it
/// cannot write (`EFAULT`), and the process goes on.
fn bad_arguments() -> TestResult {
    let space = new_space()?;
    ensure_eq!(reap(start(&space, bad_arguments_main, 0)?)?, WaitStatus::Exited(0));
    Ok(())
}
