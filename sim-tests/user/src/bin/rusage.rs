//! `rusage`: resource usage per LWP and per process, `getrusage`, and `profil`
//! (S5.4), on the one CPU of QEMU's sun4u. By argument:
//!
//! * 0, the counts of each LWP (`RUSAGE_LWP`) and their sums:
//!   1. a sleeper LWP sleeps `SLEEPS` times beside two spinners that spin in user
//!      code: the sleeper has at least `SLEEPS` voluntary switches; each spinner
//!      involuntary ones (the clock preempts it for the other, or the sleeper
//!      waking preempts it); the count of system calls moves by exactly the calls
//!      the sleeper made;
//!   2. two LWPs yield to each other `YIELDS` times: most of those are
//!      involuntary switches, as Solaris counts `yield` (both are runnable);
//!   3. an LWP that sends itself `SIGNALS` caught signals has taken exactly that
//!      many; one that moves `PIPE_BYTES` through a pipe has `ioch` moved by
//!      exactly twice that (written and read);
//!   4. once they have all exited, the process's usage (`RUSAGE_SELF`) is at least
//!      what each recorded before its exit, summed, and main's own;
//!   5. bad arguments: an unknown subcode is `EINVAL`; a structure that cannot be
//!      written `EFAULT` (unmapped, read-only, the kernel's);
//! * 1, children (`RUSAGE_CHILDREN`): nothing before any child was waited for; a
//!   `fork1` child that sleeps, spins and takes a signal, and waits for a
//!   grandchild that sleeps too: once the child is waited for, the children's
//!   usage holds both (a reaped child's, with its reaped children's);
//! * 2, a profiled program (`profil` over the whole text): the histogram peaks
//!   inside its hot function, which holds most of the ticks; profiling off, the
//!   histogram stands still;
//! * 3 and 4, `profil` of a buffer that cannot be written (unmapped, and the
//!   program's own text): the call succeeds, the program spins on, unharmed, for
//!   `BAD_TICKS` ticks of user time and exits 0 (the kernel's test checks that
//!   profiling stopped);
//! * 5, swapped (the kernel's test swaps every LWP out at every tick meanwhile):
//!   an LWP that sleeps `SWAP_SLEEPS` times was swapped out and read back in at
//!   least once; each swap-out is a block written, each swap-in a fault that
//!   needed I/O and a block read; its other counts are exact still.
//!
//! Exit codes: 0 passed; 1 a call failed; 2 too few voluntary switches; 3 a
//! spinner never switched involuntarily; 4 the count of system calls is off; 5
//! yields did not count as involuntary switches; 6 the signals taken are off; 7
//! `ioch` is off; 8 the process's usage is less than its LWPs'; 9 a bad argument
//! was not refused as it should be; 10 the children's usage is off; 11 the
//! histogram's peak is outside the hot function, or it holds too little; 12 the
//! histogram moved with profiling off; 13 the swap counts are off.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering::SeqCst};

use lwp_user::abi::{
    Rusage, SigInfoT, SigSet, Timeval, UContext, RUSAGESYS_GETRUSAGE, RUSAGESYS_GETRUSAGE_LWP,
    RUSAGE_CHILDREN, RUSAGE_LWP, RUSAGE_SELF, SIGUSR1, SYS_RUSAGESYS,
};
use lwp_user::errno::{EFAULT, EINVAL};
use lwp_user::signal::{sigaction, Disposition};
use lwp_user::{
    addr, check, exit, fork1, getrusage, lwp_kill, lwp_self, lwp_times, lwp_wait, ok, pipe, profil,
    read, say, sleep_ms, spawn, syscall6, waitpid, write, yield_now,
};

lwp_user::main!(main);

/// Sleeps of the sleeper (mode 0), and of the swapped LWP (mode 5).
const SLEEPS: u64 = 10;
const SWAP_SLEEPS: u64 = 10;
/// Ticks of user time each spinner uses.
const SPIN_TICKS: u64 = 30;
/// Yields of each yielder.
const YIELDS: u64 = 100;
/// Signals the signalled LWP sends itself.
const SIGNALS: u64 = 5;
/// Bytes through the pipe.
const PIPE_BYTES: usize = 100;
/// Ticks a program with a bad profiling buffer spins.
const BAD_TICKS: u64 = 5;

fn main(arg: u64) {
    match arg {
        0 => lwp_counts(),
        1 => children(),
        2 => histogram(),
        3 => bad_buffer(addr::UNMAPPED),
        4 => bad_buffer(addr::text()),
        _ => swapped(),
    }
}

/// `RUSAGE_LWP` of the calling LWP.
fn mine() -> Rusage {
    ok!(1, getrusage(RUSAGE_LWP))
}

/// The calling LWP's count of system calls, this call included.
fn sysc() -> u64 {
    ok!(1, lwp_times()).lwp_sysc
}

/// Spins in user code until the calling LWP has used `ticks` more of user time.
fn spin_ticks(ticks: u64) {
    let until = ok!(1, lwp_times()).lwp_utime + ticks;
    while ok!(1, lwp_times()).lwp_utime < until {
        for i in 0..1u64 << 14 {
            core::hint::black_box(i);
        }
    }
}

/// What each LWP of mode 0 recorded just before its exit.
static RECORDS: [[AtomicU64; 4]; 6] = [const { [const { AtomicU64::new(0) }; 4] }; 6];

/// Keeps `r`'s switch counts and times in record `i`.
fn record(i: u64, r: &Rusage) {
    let rec = &RECORDS[i as usize];
    rec[0].store(r.ru_nvcsw as u64, SeqCst);
    rec[1].store(r.ru_nivcsw as u64, SeqCst);
    rec[2].store(usecs(&r.ru_utime), SeqCst);
    rec[3].store(r.ru_nsignals as u64, SeqCst);
}

fn usecs(t: &Timeval) -> u64 {
    t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64
}

/// Sleeps `SLEEPS` times: as many voluntary switches at least, and exactly the
/// system calls it made.
fn sleeper(i: u64) {
    let (before, s0) = (mine(), sysc());
    for _ in 0..SLEEPS {
        sleep_ms(1);
    }
    let (after, s1) = (mine(), sysc());
    // The sleeps, the `getrusage` and this `lwp_times`.
    check!(4, s1 == s0 + SLEEPS + 2, "the sleeper made {} calls, not {}", s1 - s0, SLEEPS + 2);
    let slept = after.ru_nvcsw - before.ru_nvcsw;
    check!(2, slept as u64 >= SLEEPS, "{SLEEPS} sleeps, {slept} voluntary switches");
    record(i, &after);
}

/// Spins `SPIN_TICKS` ticks of user time beside the other spinner: the clock
/// switches between them.
fn spinner(i: u64) {
    spin_ticks(SPIN_TICKS);
    let r = mine();
    check!(3, r.ru_nivcsw > 0, "spinner {i}: no involuntary switch in {SPIN_TICKS} ticks: {r:?}");
    record(i, &r);
}

/// Yields `YIELDS` times to the other yielder.
fn yielder(i: u64) {
    let before = mine();
    for _ in 0..YIELDS {
        ok!(1, yield_now());
    }
    let r = mine();
    let n = r.ru_nivcsw - before.ru_nivcsw;
    check!(5, n as u64 >= YIELDS / 2, "yielder {i}: {YIELDS} yields, {n} involuntary switches");
    record(i, &r);
}

static CAUGHT: AtomicU64 = AtomicU64::new(0);

fn on_usr1(_: u64, _: Option<&SigInfoT>, _: &mut UContext) {
    CAUGHT.fetch_add(1, SeqCst);
}

/// Sends itself `SIGNALS` caught signals, and moves `PIPE_BYTES` through a pipe.
fn signalled(i: u64) {
    let me = ok!(1, lwp_self());
    let before = mine();
    for _ in 0..SIGNALS {
        ok!(1, lwp_kill(me, SIGUSR1));
    }
    let after = mine();
    let n = after.ru_nsignals - before.ru_nsignals;
    check!(
        6,
        n as u64 == SIGNALS && CAUGHT.load(SeqCst) == SIGNALS,
        "{SIGNALS} signals, {n} taken"
    );
    let (r, w) = ok!(1, pipe());
    let buf = [7u8; PIPE_BYTES];
    let mut back = [0u8; PIPE_BYTES];
    let io0 = ok!(1, lwp_times()).lwp_ioch;
    ok!(1, write(w, &buf));
    let got = ok!(1, read(r, &mut back));
    let io1 = ok!(1, lwp_times()).lwp_ioch;
    check!(1, got == PIPE_BYTES && back == buf, "the pipe gave {got} bytes back");
    let moved = io1 - io0;
    check!(7, moved == 2 * PIPE_BYTES as u64, "{PIPE_BYTES} bytes written and read, ioch {moved}");
    record(i, &after);
}

/// LWPs that run together: each one's function and record.
type Phase = &'static [(fn(u64), u64)];

fn lwp_counts() {
    ok!(1, sigaction(SIGUSR1, Disposition::Catch(on_usr1), 0, SigSet::EMPTY));
    // Phase 1: a sleeper beside two spinners; phase 2: two yielders; 3: signals and a pipe.
    let phases: [Phase; 3] = [
        &[(sleeper, 0), (spinner, 1), (spinner, 2)],
        &[(yielder, 3), (yielder, 4)],
        &[(signalled, 5)],
    ];
    for phase in phases {
        let mut ids = [0; 3];
        for (k, &(f, i)) in phase.iter().enumerate() {
            ids[k] = ok!(1, spawn(f, i, 0));
        }
        for id in &ids[..phase.len()] {
            ok!(1, lwp_wait(*id));
        }
    }
    let me = mine();
    let total = ok!(1, getrusage(RUSAGE_SELF));
    let sum = |k: usize, own: u64| RECORDS.iter().map(|r| r[k].load(SeqCst)).sum::<u64>() + own;
    for (what, k, own, have) in [
        ("nvcsw", 0, me.ru_nvcsw as u64, total.ru_nvcsw as u64),
        ("nivcsw", 1, me.ru_nivcsw as u64, total.ru_nivcsw as u64),
        ("utime", 2, usecs(&me.ru_utime), usecs(&total.ru_utime)),
        ("nsignals", 3, me.ru_nsignals as u64, total.ru_nsignals as u64),
    ] {
        let want = sum(k, own);
        check!(8, have >= want, "the process's {what} {have} < its LWPs' {want}");
    }
    bad_arguments();
    say!(
        "process: {} voluntary, {} involuntary switches, {} signals, {} us user time",
        total.ru_nvcsw,
        total.ru_nivcsw,
        total.ru_nsignals,
        usecs(&total.ru_utime)
    );
}

/// `rusagesys` with a bad subcode or a structure that cannot be written.
fn bad_arguments() {
    let mut r = Rusage::default();
    let good = &mut r as *mut Rusage as u64;
    let call = |code: u64, p: u64| {
        // SAFETY: `good` is this frame's `Rusage`; the rest are bad on purpose.
        unsafe { syscall6(SYS_RUSAGESYS, [code, p, 0, 0, 0, 0]) }.map(drop)
    };
    for code in [3, 4, 99, u64::MAX] {
        check!(9, call(code, good) == Err(EINVAL), "subcode {code}: {:?}", call(code, good));
    }
    for p in [addr::UNMAPPED, addr::text(), addr::KERNEL, addr::LIMIT - 8, 0] {
        for code in [RUSAGESYS_GETRUSAGE, RUSAGESYS_GETRUSAGE_LWP] {
            check!(
                9,
                call(code, p) == Err(EFAULT),
                "subcode {code} to {p:#x}: {:?}",
                call(code, p)
            );
        }
    }
    check!(9, call(RUSAGESYS_GETRUSAGE, good).is_ok(), "a good call after the bad ones");
}

/// Mode 1: the children's usage, before and after a child was waited for.
fn children() {
    let none = ok!(1, getrusage(RUSAGE_CHILDREN));
    check!(10, none == Rusage::default(), "children's usage before any child: {none:?}");
    let pid = ok!(1, fork1());
    if pid == 0 {
        child();
    }
    let (got, status) = ok!(1, waitpid(pid, 0));
    check!(10, got == pid && status == 0, "child {pid}: {got} status {status:#x}");
    let c = ok!(1, getrusage(RUSAGE_CHILDREN));
    // The child's sleeps and its grandchild's, its signal, its ticks of user time.
    check!(10, c.ru_nvcsw as u64 >= 2 * SLEEPS, "children's nvcsw {}", c.ru_nvcsw);
    check!(10, c.ru_nsignals == 1, "children's nsignals {}", c.ru_nsignals);
    let hz = ok!(1, lwp_times()).hz;
    let spun = usecs(&c.ru_utime);
    check!(10, spun >= SPIN_TICKS * 1_000_000 / hz, "children's utime {spun} us");
    // Its own usage did not move to the children's.
    let me = ok!(1, getrusage(RUSAGE_SELF));
    check!(10, me.ru_nsignals == 0, "the parent took {} signals", me.ru_nsignals);
}

/// The child of mode 1: a grandchild that sleeps, waited for; its own sleeps, a
/// signal, spinning.
fn child() -> ! {
    let pid = ok!(1, fork1());
    if pid == 0 {
        for _ in 0..SLEEPS {
            sleep_ms(1);
        }
        exit(0);
    }
    let (_, status) = ok!(1, waitpid(pid, 0));
    check!(10, status == 0, "the grandchild's status {status:#x}");
    let c = ok!(1, getrusage(RUSAGE_CHILDREN));
    check!(10, c.ru_nvcsw as u64 >= SLEEPS, "the child's children's nvcsw {}", c.ru_nvcsw);
    ok!(1, sigaction(SIGUSR1, Disposition::Catch(on_usr1), 0, SigSet::EMPTY));
    ok!(1, lwp_kill(ok!(1, lwp_self()), SIGUSR1));
    for _ in 0..SLEEPS {
        sleep_ms(1);
    }
    spin_ticks(SPIN_TICKS);
    exit(0)
}

/// The histogram: a counter per instruction (4 bytes: scale 0x8000) of the first
/// 32 KiB of text, where the hot function is.
const HIST: usize = 8192;
const PER: u64 = 4;
static HISTOGRAM: [AtomicU16; HIST] = [const { AtomicU16::new(0) }; HIST];
/// How far past its start the hot function may reach: it compiles to 12
/// instructions (48 bytes, its loop 5 of them); the next function starts there.
const HOT_LEN: u64 = 64;

/// The hot function: a tight loop.
#[inline(never)]
fn hot(n: u64) {
    for i in 0..n {
        core::hint::black_box(i);
    }
}

fn histogram() {
    let (text, per) = (addr::text(), PER);
    let h = hot as *const () as u64;
    check!(11, h + HOT_LEN <= text + HIST as u64 * per, "hot at {h:#x}, beyond the histogram");
    ok!(1, profil(&HISTOGRAM, text, (0x20000 / per) as u32));
    let hz = ok!(1, lwp_times()).hz;
    let stop = ok!(1, lwp_user::clock_ns()) + 50 * 1_000_000_000 / hz;
    while ok!(1, lwp_user::clock_ns()) < stop {
        hot(1 << 16);
    }
    ok!(1, profil(&HISTOGRAM, 0, 0));
    let counts: [u64; HIST] = core::array::from_fn(|i| u64::from(HISTOGRAM[i].load(SeqCst)));
    let total: u64 = counts.iter().sum();
    let peak = (0..HIST).max_by_key(|&i| counts[i]).unwrap_or(0);
    let pc_of = |i: usize| text + i as u64 * per;
    let in_hot = |i: usize| pc_of(i) + per > h && pc_of(i) < h + HOT_LEN;
    let hot_ticks: u64 = (0..HIST).filter(|&i| in_hot(i)).map(|i| counts[i]).sum();
    check!(
        11,
        in_hot(peak) && total >= 25 && hot_ticks * 10 >= total * 7,
        "peak {} at {:#x} (hot at {h:#x}): {hot_ticks} of {total} ticks in hot",
        counts[peak],
        pc_of(peak)
    );
    // Off: nothing moves any more.
    hot(1 << 20);
    spin_ticks(3);
    let again: u64 = (0..HIST).map(|i| u64::from(HISTOGRAM[i].load(SeqCst))).sum();
    check!(12, again == total, "{} ticks counted with profiling off", again - total);
    say!(
        "{total} ticks, {hot_ticks} in hot; peak {} at {:#x}, {per} bytes a counter",
        counts[peak],
        pc_of(peak)
    );
}

/// Profiles into `buf`, which cannot be written, and spins on.
fn bad_buffer(buf: u64) {
    // SAFETY: the kernel only ever writes to `buf`, which is bad on purpose.
    // Scale 2: every tick in the first counter, `buf` itself.
    let r = unsafe { syscall6(lwp_user::abi::SYS_PROFIL, [buf, 4096, 0, 2, 0, 0]) };
    check!(1, r == Ok((0, 0)), "profil: {r:?}");
    spin_ticks(BAD_TICKS);
}

static SWAP_DONE: AtomicBool = AtomicBool::new(false);

/// Sleeps `SWAP_SLEEPS` times while the kernel swaps it out: every swap-out came
/// back in before it ran, and every other count is exact.
fn swap_sleeper(_: u64) {
    let (before, s0) = (mine(), sysc());
    for _ in 0..SWAP_SLEEPS {
        sleep_ms(20);
    }
    let (r, s1) = (mine(), sysc());
    check!(4, s1 == s0 + SWAP_SLEEPS + 2, "{} calls, not {}", s1 - s0, SWAP_SLEEPS + 2);
    let slept = r.ru_nvcsw - before.ru_nvcsw;
    check!(2, slept as u64 >= SWAP_SLEEPS, "{SWAP_SLEEPS} sleeps, {slept} voluntary switches");
    check!(
        13,
        r.ru_nswap > 0
            && r.ru_majflt == r.ru_nswap
            && r.ru_inblock == r.ru_majflt
            && r.ru_oublock >= r.ru_nswap,
        "swapped: {r:?}"
    );
    SWAP_DONE.store(true, SeqCst);
}

fn swapped() {
    let id = ok!(1, spawn(swap_sleeper, 0, 0));
    ok!(1, lwp_wait(id));
    check!(13, SWAP_DONE.load(SeqCst), "the sleeper did not finish");
    // Its swaps are the process's now.
    let total = ok!(1, getrusage(RUSAGE_SELF));
    check!(13, total.ru_nswap > 0 && total.ru_majflt > 0, "the process: {total:?}");
}
