//! `bench`: the costs of S16 and S17 from user mode, measured with `clock_ns`
//! (under `qemu -icount shift=0`, one nanosecond is one guest instruction). The
//! argument's low byte selects the benchmark, the rest is the number of
//! operations (0: the default); each prints
//! `bench: <name> <ns per op> ns/op (<ops> ops)` and checks that it measured what
//! it claims:
//!
//! 1. `null_syscall`: `getpid`, the cheapest system call;
//! 2. `lwp_create_exit_wait`: an LWP made, run to its exit and reaped (S16);
//! 3. `lwp_yield_switch`: two LWPs of the process yield in turn, each in a loop of
//!    nothing else: an op is one yield, and each must have switched to the other
//!    LWP (counted as Linux's reference counts them, by the switches its usage
//!    shows: the yields that gave the CPU away, `nivcsw` of `RUSAGE_LWP`; at most
//!    one in 64 may have found no one to switch to, for the clock's preemptions);
//! 4. `proc_yield_switch`: one of two processes that the kernel starts together,
//!    each yielding for 30 clock ticks, measured per real switch: a yield after
//!    which the wall clock (gethrtime) moved on more than the LWP's own time on
//!    the CPU (gethrvtime) let the other process run in between — two switches,
//!    one there and one back, and both sides' loops, whose two clock reads (timed
//!    on their own first) are taken out. Yields that found no one to switch to
//!    (the TS class lowers a process whose quantum expired, and a yield goes only
//!    to an equal or higher priority) are not counted; nor is what the other did
//!    meanwhile when it ran longer than one turn: the figure is the median of
//!    those intervals (to 16 ns). The other must really have run between its
//!    yields (S17 across address spaces): a real switch a clock tick at least,
//!    and not every tick charged to this process;
//! 5. `fast_trap_gethrtime`: the fast trap `ta 0x24`, served in the kernel's trap
//!    table without a system call: beside the null system call;
//! 6. `park_unpark_pingpong`: two LWPs take turns as Linux's futex ping-pong does,
//!    each unparking the other and parking until its turn comes back; an op is
//!    one switch (two per round trip), and the other must have answered every
//!    round;
//! 7. `park_handoff_pingpong`: the same, each side unparking the other with the
//!    park itself (`_lwp_park(timeout, lwpid)`, as Solaris' libthread hands a lock
//!    over): one system call per switch where 6 makes two.
//! 8. `signal_roundtrip`: `kill` of the own process, the handler entered (it
//!    counts), and the return from it through `setcontext`: each op is all three,
//!    the signal being taken on the way back from `kill`;
//! 9. `sigprocmask_pair`: SIGUSR1 blocked, then unblocked (`_lwp_sigmask` twice).
//! 10. `lwp_yield_switch_fp`: 3 between two LWPs that have both used the FPU, whose
//!     FP state then goes out and in at every switch (S17's cost for FP users).
//! 11. `fork1_exit_wait`: a child forked, exiting at once, and reaped by `waitid`
//!     (its exit code checked).
//! 13. `pipe_pingpong`: two processes (a `fork1` child and its parent) hand a byte
//!     back and forth through two pipes, each blocking in `read` until the other
//!     writes (Linux's pipe ping-pong); an op is one switch (two per round trip),
//!     and every byte must come back as it was sent, on both sides.
//! 14. `forkall_exit_wait`: `forkall` of a process of four LWPs — three asleep in
//!     `_lwp_park` — whose child exits at once, reaped by `waitid`: the holding of
//!     the three, their copies, and the process;
//! 15. `fork1_exec_exit_wait`: a child forked, which `exec`s this program with
//!     the argument `exit` (it exits at once, code 0), and reaped: `exec` of a
//!     small program beside `fork1_exit_wait`.
//! 16. `mmap_touch_munmap`: one page of anonymous memory mapped, a byte written to
//!     it, the page unmapped (Linux's figure is the same loop); the page pool
//!     must have every page back afterwards, and each page must have come zeroed.
//!
//! Exit codes: 0 done; 1 a call failed; 2 a created LWP was not the one reaped;
//! 3 too many yields switched to nobody; 4 this process had the CPU to itself,
//! or never switched; 5 an unknown benchmark; 6 the fast trap's clock went back;
//! 7 the ping-pong's other side did not answer every round; 8 a handler ran other
//! than once per `kill`; 9 the mask is not what the pairs should leave; 10 a
//! pipe ping-pong byte came back wrong, or a round was not answered; 11 a page
//! came mapped with something in it, or the pool did not get every page back.

#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

use core::hint::black_box;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};

use lwp_user::abi::{SigInfoT, SigSet, UContext, SIGUSR1, SIG_BLOCK, SIG_UNBLOCK};
use lwp_user::abi::{CONFIG_AVPHYS_PAGES, PROT_READ, PROT_WRITE};
use lwp_user::abi::{LWP_SUSPENDED, RUSAGE_LWP};
use lwp_user::signal::{kill, sigaction, sigmask, sigprocmask, Disposition};
use lwp_user::{args, execve, exit, fork1, forkall, mmap_anon, munmap, sysconfig, waitpid};
use lwp_user::{
    check, clock_ns, gethrtime, gethrvtime, getpid, getrusage, lwp_continue, lwp_park, lwp_self,
    lwp_times, lwp_unpark, lwp_wait, ok, pipe, println, read, spawn, write, yield_now,
};

lwp_user::main!(main);

/// Each side's yields so far in `lwp_yield_switch` (0 main, 1 the other LWP; one
/// writer each, so a store, not an atomic add), and the switches its LWP made in
/// its loop (the growth of its `nivcsw`).
static YIELDS: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static SWITCHED: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
/// The yields each side of `lwp_yield_switch` makes.
static ROUNDS: AtomicU64 = AtomicU64::new(0);

/// Handler runs of `signal_roundtrip`.
static HANDLED: AtomicU64 = AtomicU64::new(0);

fn count_signal(_: u64, _: Option<&SigInfoT>, _: &mut UContext) {
    HANDLED.fetch_add(1, Relaxed);
}

/// `park_unpark_pingpong`: whose turn it is (0 main, 1 the other), the LWPs' ids,
/// and the rounds the other answered.
static PING: AtomicU64 = AtomicU64::new(0);
static PING_IDS: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static PONGS: AtomicU64 = AtomicU64::new(0);

/// The ping-pong unparks with the park (`park_handoff_pingpong`).
static HANDOFF: AtomicBool = AtomicBool::new(false);

/// The other side of the ping-pongs: answers `n` pings.
fn ponger(n: u64) {
    let main = PING_IDS[0].load(Relaxed) as u32;
    let handoff = HANDOFF.load(Relaxed);
    // An unpark of main not given yet: the next park gives it.
    let mut owed = false;
    for _ in 0..n {
        while PING.load(SeqCst) != 1 {
            ok!(1, lwp_park(None, if owed { main } else { 0 }));
            owed = false;
        }
        PONGS.fetch_add(1, Relaxed);
        PING.store(0, SeqCst);
        if handoff {
            owed = true;
        } else {
            ok!(1, lwp_unpark(main));
        }
    }
    if owed {
        ok!(1, lwp_unpark(main));
    }
}

/// `n` round trips of the ping-pongs, from main's side.
fn ping(n: u64) {
    let other = PING_IDS[1].load(Relaxed) as u32;
    let handoff = HANDOFF.load(Relaxed);
    for _ in 0..n {
        PING.store(1, SeqCst);
        if handoff {
            // A permit left from an earlier round may end this park at once: the
            // loop below parks again.
            ok!(1, lwp_park(None, other));
        } else {
            ok!(1, lwp_unpark(other));
        }
        while PING.load(SeqCst) != 0 {
            ok!(1, lwp_park(None, 0));
        }
    }
}

/// Clock ticks `proc_yield_switch` runs for.
const PROC_TICKS: u64 = 30;

fn now() -> u64 {
    ok!(1, clock_ns())
}

fn report(name: &str, start: u64, ops: u64) {
    println!("bench: {name} {} ns/op ({ops} ops)", (now() - start) / ops.max(1));
}

/// Whether the sides of the yield benchmark use the FPU (`lwp_yield_switch_fp`).
static FP: AtomicBool = AtomicBool::new(false);

/// Benchmarks 3 and 10: `n` yields of each side, using the FPU or not.
fn yield_switch(name: &str, n: u64, fp: bool) {
    ROUNDS.store(n, Relaxed);
    FP.store(fp, Relaxed);
    let other = ok!(1, spawn(play, 1, 0));
    let start = now();
    play(0);
    // Main's last yield went to the other side's last one, which came back here:
    // both loops ran in the time measured.
    let yields = YIELDS[0].load(Relaxed) + YIELDS[1].load(Relaxed);
    report(name, start, yields);
    ok!(1, lwp_wait(other));
    let switched = SWITCHED[0].load(Relaxed) + SWITCHED[1].load(Relaxed);
    check!(
        3,
        switched + yields / 64 >= 2 * n,
        "{switched} switches for {} yields: the rest found no one to switch to",
        2 * n
    );
}

/// One side of `lwp_yield_switch`: its yields, and the switches they made.
fn play(me: u64) {
    let side = me as usize;
    if FP.load(Relaxed) {
        // SAFETY: an FP instruction, the LWP's first: from now on it uses the FPU.
        // Nothing of this program's keeps a value in %f0 (it uses no floating point).
        unsafe { core::arch::asm!("fmovd %f0, %f0", options(nomem, nostack)) };
    }
    let before = ok!(1, getrusage(RUSAGE_LWP)).ru_nivcsw;
    for i in 0..ROUNDS.load(Relaxed) {
        ok!(1, yield_now());
        YIELDS[side].store(i + 1, Relaxed);
    }
    let after = ok!(1, getrusage(RUSAGE_LWP)).ru_nivcsw;
    SWITCHED[side].store((after - before) as u64, Relaxed);
}

/// One side of `pipe_pingpong`: the round trips `rounds`, reading from `r` and
/// writing to `w`; the asking side writes first (round `k`'s byte is `k`), the
/// answering side sends back what it read. Returns the rounds whose byte came as
/// it should.
fn pipe_side(r: u64, w: u64, rounds: core::ops::Range<u64>, asks: bool) -> u64 {
    let mut good = 0;
    let mut b = [0u8; 1];
    for k in rounds {
        if asks {
            ok!(1, write(w, &[k as u8]));
        }
        let n = ok!(1, read(r, &mut b));
        good += u64::from(n == 1 && b[0] == k as u8);
        if !asks {
            ok!(1, write(w, &b));
        }
    }
    good
}

/// Benchmark 13: `n` round trips between this process and a child, after a tenth
/// as many to warm up.
fn pipe_pingpong(n: u64) {
    let (to_r, to_w) = ok!(1, pipe());
    let (back_r, back_w) = ok!(1, pipe());
    let warm = n / 10;
    let child = match ok!(1, fork1()) {
        0 => {
            let good = pipe_side(to_r, back_w, 0..warm + n, false);
            exit(if good == warm + n { 0 } else { 10 })
        }
        pid => pid,
    };
    let mut good = pipe_side(back_r, to_w, 0..warm, true);
    let start = now();
    good += pipe_side(back_r, to_w, warm..warm + n, true);
    report("pipe_pingpong", start, 2 * n);
    let (_, status) = ok!(1, waitpid(child, 0));
    check!(
        10,
        good == warm + n && status == 0,
        "{good} of {} rounds; the child's status {status:#x}",
        warm + n
    );
}

/// Mode 14's sleepers park until told to stop.
static PARKED_STOP: AtomicBool = AtomicBool::new(false);

fn parked(_: u64) {
    while !PARKED_STOP.load(SeqCst) {
        let _ = lwp_park(None, 0);
    }
}

/// Forks `n` children, each made by `fork` and exiting with code 3 or made to by
/// `child`, reaps each, and reports the figure as `name`.
fn fork_exit_wait(name: &str, n: u64, fork: fn() -> Result<u64, u64>, child: fn() -> !) {
    let start = now();
    for _ in 0..n {
        let pid = match ok!(1, fork()) {
            0 => child(),
            pid => pid,
        };
        let (gone, status) = ok!(1, waitpid(pid, 0));
        check!(2, gone == pid && status == 3 << 8, "reaped {gone} status {status:#x}");
    }
    report(name, start, n);
}

/// Benchmark 16: `n` rounds of a page mapped, a byte of it written, and unmapped.
fn mmap_touch_munmap(n: u64) {
    let free = ok!(1, sysconfig(CONFIG_AVPHYS_PAGES));
    // Once first, so that the page tables the rounds use are there.
    let warm = ok!(1, mmap_anon(8192, PROT_READ | PROT_WRITE));
    // SAFETY: the page was just mapped, and nothing uses it.
    ok!(1, unsafe { munmap(warm, 8192) });
    let mut dirty = 0;
    let start = now();
    for _ in 0..n {
        let page = ok!(1, mmap_anon(8192, PROT_READ | PROT_WRITE)) as *mut u8;
        // SAFETY: a byte of the page just mapped, which nothing else uses; it is
        // unmapped after, and the pointer dropped.
        unsafe {
            dirty |= page.read_volatile();
            page.write_volatile(1);
            ok!(1, munmap(page as u64, 8192));
        }
    }
    report("mmap_touch_munmap", start, n);
    let left = ok!(1, sysconfig(CONFIG_AVPHYS_PAGES));
    check!(11, dirty == 0 && left == free, "pages dirty: {dirty}; {left} of {free} free after");
}

fn main(arg: u64) {
    if args().nth(1) == Some(b"exit") {
        exit(3)
    }
    let (which, n) = (arg & 0xff, arg >> 8);
    let ops = |default: u64| if n == 0 { default } else { n };
    match which {
        1 => {
            let n = ops(10_000);
            let start = now();
            for _ in 0..n {
                ok!(1, getpid());
            }
            report("null_syscall", start, n);
        }
        2 => {
            let n = ops(1_000);
            let start = now();
            for _ in 0..n {
                let id = ok!(1, spawn(|_| {}, 0, 0));
                let gone = ok!(1, lwp_wait(id));
                check!(2, gone == id, "made LWP {id}, reaped {gone}");
            }
            report("lwp_create_exit_wait", start, n);
        }
        3 => yield_switch("lwp_yield_switch", ops(10_000), false),
        10 => yield_switch("lwp_yield_switch_fp", ops(10_000), true),
        11 => fork_exit_wait("fork1_exit_wait", ops(200), fork1, || exit(3)),
        14 => {
            let sleepers = [0; 3].map(|_| ok!(1, spawn(parked, 0, 0)));
            fork_exit_wait("forkall_exit_wait", ops(200), forkall, || exit(3));
            PARKED_STOP.store(true, SeqCst);
            for id in sleepers {
                ok!(1, lwp_unpark(id));
                ok!(1, lwp_wait(id));
            }
        }
        15 => fork_exit_wait("fork1_exec_exit_wait", ops(200), fork1, || {
            execve(b"bench\0", &[b"bench\0", b"exit\0"], &[]);
            exit(1)
        }),
        4 => {
            // The two clock reads of the loop, timed alone.
            const CALIBRATE: u64 = 1_000;
            let c0 = gethrtime();
            for _ in 0..CALIBRATE {
                black_box(gethrtime());
                black_box(gethrvtime());
            }
            let reads = (gethrtime() - c0) / CALIBRATE;
            let hz = ok!(1, lwp_times()).hz;
            let before = ok!(1, lwp_times());
            let (mut h, mut v) = (gethrtime(), gethrvtime());
            let end = h + PROC_TICKS * 1_000_000_000 / hz;
            // Intervals with a switch, by length in 16 ns steps (the last: longer).
            let mut intervals = [0u64; 256];
            let mut switched = 0;
            while h < end {
                ok!(1, yield_now());
                let (h1, v1) = (gethrtime(), gethrvtime());
                if h1 - h > v1 - v {
                    // The other process ran: this side's loop and the other's, two
                    // switches, and two pairs of clock reads.
                    switched += 1;
                    intervals[(((h1 - h) / 16) as usize).min(255)] += 1;
                }
                (h, v) = (h1, v1);
            }
            let after = ok!(1, lwp_times());
            let mine = (after.lwp_utime + after.lwp_stime) - (before.lwp_utime + before.lwp_stime);
            let mut seen = 0;
            let median = intervals.iter().position(|&n| {
                seen += n;
                2 * seen >= switched
            });
            let interval = median.map_or(0, |i| 16 * i as u64 + 8);
            println!(
                "bench: proc_yield_switch {} ns/op ({} ops)",
                interval.saturating_sub(2 * reads) / 2,
                2 * switched
            );
            check!(
                4,
                // Ticks charge whoever runs at each tick: with hundreds of switches
                // between two ticks that sample can favour one side (the TS table
                // decides who runs after a yield), so what proves the other ran is
                // the switches, at least one a tick, and a tick not charged here.
                mine < PROC_TICKS && switched >= PROC_TICKS,
                "pid {}: {mine} of {PROC_TICKS} ticks were this process's, {switched} switches",
                ok!(1, getpid())
            );
        }
        5 => {
            let n = ops(100_000);
            let start = now();
            let (mut last, mut back) = (0, false);
            for _ in 0..n {
                let t = gethrtime();
                back |= t < last;
                last = t;
            }
            report("fast_trap_gethrtime", start, n);
            check!(6, !back, "gethrtime went back");
        }
        8 => {
            let n = ops(10_000);
            ok!(1, sigaction(SIGUSR1, Disposition::Catch(count_signal), 0, SigSet::EMPTY));
            let pid = ok!(1, getpid());
            let start = now();
            for _ in 0..n {
                ok!(1, kill(pid, SIGUSR1));
            }
            report("signal_roundtrip", start, n);
            let handled = HANDLED.load(Relaxed);
            check!(8, handled == n, "{n} kills ran the handler {handled} times");
        }
        9 => {
            let n = ops(10_000);
            let usr1 = SigSet::of(&[SIGUSR1]);
            let start = now();
            for _ in 0..n {
                ok!(1, sigprocmask(SIG_BLOCK, usr1));
                ok!(1, sigprocmask(SIG_UNBLOCK, usr1));
            }
            report("sigprocmask_pair", start, n);
            let mask = ok!(1, sigmask());
            check!(9, mask == SigSet::EMPTY, "the pairs left the mask {mask:?}");
        }
        6 | 7 => {
            let n = ops(10_000);
            HANDOFF.store(which == 7, Relaxed);
            let warm = n / 10;
            PING_IDS[0].store(u64::from(ok!(1, lwp_self())), Relaxed);
            let other = ok!(1, spawn(ponger, warm + n, LWP_SUSPENDED));
            PING_IDS[1].store(u64::from(other), Relaxed);
            ok!(1, lwp_continue(other));
            ping(warm);
            let answered = PONGS.load(Relaxed);
            let start = now();
            ping(n);
            let name = if which == 7 { "park_handoff_pingpong" } else { "park_unpark_pingpong" };
            report(name, start, 2 * n);
            let answered = PONGS.load(Relaxed) - answered;
            ok!(1, lwp_wait(other));
            check!(7, answered == n, "the other side answered {answered} of {n} rounds");
        }
        13 => pipe_pingpong(ops(10_000)),
        16 => mmap_touch_munmap(ops(10_000)),
        _ => check!(5, false, "no benchmark {which}"),
    }
}
