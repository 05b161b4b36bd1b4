//! `ubench`: the thread library's costs (S18, TARGETS.md), measured with the
//! `gethrtime` fast trap (under `qemu -icount shift=0`, one nanosecond is one
//! guest instruction). The argument's low byte selects the benchmark, the rest is
//! the number of operations (0: the default); each prints
//! `bench: <name> <ns per op> ns/op (<ops> ops)` and checks that it measured what
//! it claims:
//!
//! 1. `uthread_yield_switch`: two unbound threads of one LWP yield to each other;
//!    an op is one yield and the switch it makes (every yield switched: counted),
//!    and the LWP made no system call meanwhile (S18: its count of them, from
//!    `lwp_times`, moved by the `lwp_times` call that reads it only — and by the
//!    yields the kernel asked for, `lwp_thread::Stats::kernel_yields`: a time
//!    slice that ended while the LWP held a library lock, which the kernel would
//!    otherwise have preempted there);
//! 2. `uthread_create_exit_join`: an unbound thread made, run to its exit and
//!    joined, by an unbound thread of the same one-LWP pool, without a system call;
//! 3. `umutex_lock_unlock`: an uncontended mutex taken and left;
//! 4. `umutex_handoff_lwps`: two bound threads walk a ring of three mutexes hand
//!    over hand (lock the next, unlock the current), as Linux's glibc benchmark
//!    does: every step is "the unlock hands the mutex to the waiter, the lock
//!    blocks": an op is one hand-off (the other thread made as many steps);
//! 5. `umutex_handoff_unbound`: the same between two unbound threads of one LWP,
//!    without a system call;
//! 6. `ucond_pingpong_lwps`: two bound threads take turns through one mutex and
//!    two condition variables, as glibc's benchmark does; an op is one switch
//!    (two per round), and every round was answered.
//!
//! Exit codes: 0 done; 1 a call failed; 2 a yield did not switch; 3 a system call
//! where none may be; 4 the other side did not make as many steps; 5 an unknown
//! benchmark.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use lwp_thread::{self as thr, Cond, Mutex, SyncKind, THR_BOUND};
use lwp_user::{check, gethrtime, lwp_times, ok, println};

lwp_user::main!(main);

fn report(name: &str, start: u64, end: u64, ops: u64) {
    println!("bench: {name} {} ns/op ({ops} ops)", (end - start) / ops.max(1));
}

/// The calling LWP's system calls so far (this one included), less the yields
/// the kernel asked for (a time slice that ended while the LWP held a library
/// lock: the kernel would have preempted it there otherwise).
fn syscalls() -> u64 {
    ok!(1, lwp_times()).lwp_sysc - thr::STATS.kernel_yields.load(Relaxed)
}

/// Checks that the LWP made no system call between the counts `before` and
/// `after` but the second count's own.
fn no_syscalls(before: u64, after: u64) {
    let n = after - before - 1;
    check!(3, n == 0, "{n} system calls where none may be");
}

static STEPS: AtomicU64 = AtomicU64::new(0);

fn yielder(n: u64) -> u64 {
    for _ in 0..n {
        thr::yield_now();
    }
    0
}

fn nothing(_: u64) -> u64 {
    0
}

static RING: [Mutex; 3] = [const { Mutex::new(SyncKind::Block) }; 3];
static READY: AtomicU64 = AtomicU64::new(0);

/// Walks the ring `n` steps from mutex `k` (held): locks the next, unlocks `k`.
fn walk(mut k: usize, n: u64, count: bool) -> usize {
    for _ in 0..n {
        let next = (k + 1) % 3;
        ok!(1, RING[next].lock());
        ok!(1, RING[k].unlock());
        k = next;
        if count {
            STEPS.fetch_add(1, Relaxed);
        }
    }
    k
}

/// The other walker: starts holding mutex 1.
fn walker(n: u64) -> u64 {
    ok!(1, RING[1].lock());
    READY.store(1, Relaxed);
    let k = walk(1, n, true);
    ok!(1, RING[k].unlock());
    0
}

/// How the two sides of modes 4 to 6 are made: `THR_BOUND` or 0.
static FLAGS: AtomicU64 = AtomicU64::new(0);

/// Modes 4 and 5: one side of the ring, which makes the other with the same
/// flags: `n` hand-offs each way after a warm-up.
fn ring(n: u64) -> u64 {
    let flags = FLAGS.load(Relaxed) as u32;
    let warm = n / 10;
    STEPS.store(0, Relaxed);
    READY.store(0, Relaxed);
    ok!(1, RING[0].lock());
    let other = ok!(1, thr::create(walker, warm + n + 1, flags));
    while READY.load(Relaxed) == 0 {
        thr::yield_now();
    }
    let k = walk(0, warm, false);
    let (b0, sc) = (STEPS.load(Relaxed), syscalls());
    let start = gethrtime();
    let k = walk(k, n, false);
    let end = gethrtime();
    if flags & THR_BOUND == 0 {
        no_syscalls(sc, syscalls());
    }
    let name =
        if flags & THR_BOUND != 0 { "umutex_handoff_lwps" } else { "umutex_handoff_unbound" };
    report(name, start, end, 2 * n);
    let steps = STEPS.load(Relaxed) - b0;
    ok!(1, RING[k].unlock());
    ok!(1, thr::join(other));
    check!(4, steps.abs_diff(n) <= 1, "the other walker made {steps} steps, this one {n}");
    0
}

/// Runs `side(n)` as a thread made with `flags`, and waits for it.
fn as_thread(side: fn(u64) -> u64, n: u64, flags: u32) {
    FLAGS.store(u64::from(flags), Relaxed);
    let t = ok!(1, thr::create(side, n, flags));
    ok!(1, thr::join(t));
}

static CV_MU: Mutex = Mutex::new(SyncKind::Block);
static CV: [Cond; 2] = [const { Cond::new(SyncKind::Block) }; 2];
static TURN: AtomicU64 = AtomicU64::new(0);

/// The other side of the condition-variable ping-pong: answers `n` rounds.
fn ponger(n: u64) -> u64 {
    ok!(1, CV_MU.lock());
    for _ in 0..n {
        while TURN.load(Relaxed) != 1 {
            ok!(1, CV[1].wait(&CV_MU));
        }
        TURN.store(0, Relaxed);
        STEPS.fetch_add(1, Relaxed);
        ok!(1, CV[0].signal());
    }
    ok!(1, CV_MU.unlock());
    0
}

fn pings(n: u64) {
    ok!(1, CV_MU.lock());
    for _ in 0..n {
        TURN.store(1, Relaxed);
        ok!(1, CV[1].signal());
        while TURN.load(Relaxed) != 0 {
            ok!(1, CV[0].wait(&CV_MU));
        }
    }
    ok!(1, CV_MU.unlock());
}

/// Mode 6: the pinging side, which makes the other with the same flags.
fn cv_pingpong(n: u64) -> u64 {
    let warm = n / 10;
    STEPS.store(0, Relaxed);
    let other = ok!(1, thr::create(ponger, warm + n, FLAGS.load(Relaxed) as u32));
    pings(warm);
    let s0 = STEPS.load(Relaxed);
    let start = gethrtime();
    pings(n);
    report("ucond_pingpong_lwps", start, gethrtime(), 2 * n);
    let answered = STEPS.load(Relaxed) - s0;
    ok!(1, thr::join(other));
    check!(4, answered == n, "the other side answered {answered} of {n} rounds");
    0
}

fn main(arg: u64) {
    thr::init();
    let (which, n) = (arg & 0xff, arg >> 8);
    let ops = |default: u64| if n == 0 { default } else { n };
    match which {
        1 => {
            let n = ops(20_000);
            let other = ok!(1, thr::create(yielder, n + 1, 0));
            thr::yield_now();
            let (sw, sc) = (thr::STATS.switches.load(Relaxed), syscalls());
            let start = gethrtime();
            for _ in 0..n {
                thr::yield_now();
            }
            let end = gethrtime();
            no_syscalls(sc, syscalls());
            report("uthread_yield_switch", start, end, 2 * n);
            let switched = thr::STATS.switches.load(Relaxed) - sw;
            ok!(1, thr::join(other));
            check!(2, switched == 2 * n, "{switched} switches for {} yields", 2 * n);
        }
        2 => {
            let n = ops(10_000);
            for _ in 0..n / 10 {
                ok!(1, thr::join(ok!(1, thr::create(nothing, 0, 0))));
            }
            let sc = syscalls();
            let start = gethrtime();
            for _ in 0..n {
                let id = ok!(1, thr::create(nothing, 0, 0));
                ok!(1, thr::join(id));
            }
            let end = gethrtime();
            no_syscalls(sc, syscalls());
            report("uthread_create_exit_join", start, end, n);
        }
        3 => {
            let n = ops(100_000);
            let m = Mutex::new(SyncKind::Adaptive);
            let start = gethrtime();
            for _ in 0..n {
                ok!(1, m.lock());
                ok!(1, m.unlock());
            }
            report("umutex_lock_unlock", start, gethrtime(), n);
        }
        4 => as_thread(ring, ops(10_000), THR_BOUND),
        5 => as_thread(ring, ops(10_000), 0),
        6 => as_thread(cv_pingpong, ops(10_000), THR_BOUND),
        _ => check!(5, false, "no benchmark {which}"),
    }
}
