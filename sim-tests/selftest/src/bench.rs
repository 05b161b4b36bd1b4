//! Benchmarks: figures for `../shared/TARGETS.md`, never assertions about speed.
//!
//! Booted with the argument `bench` (and optionally `bench=NAME[,NAME...]`), the kernel
//! runs the benchmarks instead of its self-tests ([`crate::main`]): these, the
//! kernel's own ([`KERNEL`]), and those its image adds (which need its user
//! programs). It prints one line per figure:
//!
//! ```text
//! bench: yield_switch 412 ns/op (20000 ops)
//! ```
//!
//! Under `qemu-system-sparc64 -icount shift=0,sleep=off` the clock advances exactly one
//! nanosecond per guest instruction, so `ns/op` there *is* guest instructions per
//! operation, the same run to run (`scripts/bench` boots that way). Each benchmark
//! checks that it measured what it says (every yield switched, every ping was
//! answered); if not, it reports an error instead of a figure.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use arch::Machine;

use kern::class::{self, SchedClass};
use kern::cpu::cpu;
use kern::disp;
use kern::dispq::DispQ;
use kern::lwp::LwpId;
use kern::proc::{self, PStat};
use kern::sync::{KMutex, KRwLock, Mutex, MutexKind, RwMode, STATS};
use kern::thread::{self, KThread, ThreadState};
use kern::{kprintln, sleepq, swap, M};

/// A benchmark's result: nanoseconds (or guest instructions) per operation.
pub struct Figure {
    pub ns_per_op: u64,
    pub ops: u64,
}

/// A benchmark: its name (for `bench=NAME`) and the function that measures it,
/// returning its labelled figures.
pub type Bench = (&'static str, fn() -> Result<Vec<(String, Figure)>, String>);

/// The kernel's benchmarks, in the order they run.
pub static KERNEL: &[Bench] = &[
    ("dispq_pick_enqueue", dispq_pick_enqueue),
    ("yield_switch", yield_switch),
    ("sleep_wakeup_pingpong", sleep_wakeup_pingpong),
    ("thread_create_exit", thread_create_exit),
    ("mutex_enter_exit", mutex_enter_exit),
    ("rwlock_read_enter_exit", rwlock_read_enter_exit),
    ("mutex_handoff", mutex_handoff),
    ("swap_out_in", swap_out_in),
];

/// Runs the benchmarks of `benches` that `bootargs` selects (all without
/// `bench=NAME,...`); false if any could not measure.
pub fn run(benches: &[&[Bench]], bootargs: &str) -> bool {
    let sel = bootargs.split_whitespace().find_map(|w| w.strip_prefix("bench=")).unwrap_or("");
    let mut ok = true;
    for (name, f) in benches
        .iter()
        .flat_map(|b| b.iter())
        .filter(|(n, _)| sel.is_empty() || sel.split(',').any(|s| s == *n))
    {
        match f() {
            Ok(figures) => {
                for (label, fig) in figures {
                    kprintln!("bench: {} {} ns/op ({} ops)", label, fig.ns_per_op, fig.ops);
                }
            }
            Err(why) => {
                ok = false;
                kprintln!("bench: {name} ERROR: {why}");
            }
        }
    }
    ok
}

/// The figure of an operation measured over `ops` operations since `t0`.
pub fn per_op(t0: u64, ops: u64) -> Figure {
    Figure { ns_per_op: (M::now_ns() - t0) / ops.max(1), ops }
}

/// Pick-next plus enqueue on a dispatch queue holding 1 to 10,000 runnable threads
/// spread over every TS priority: with the priority bitmap it must stay flat.
fn dispq_pick_enqueue() -> Result<Vec<(String, Figure)>, String> {
    const OPS: u64 = 20_000;
    // Thread structures only: they are queued, never run, so they need no stack.
    let pool: Vec<&'static KThread> = (0..10_000)
        .map(|i| {
            let t: &'static KThread = Box::leak(Box::new(KThread::boot("bench")));
            t.set_class(SchedClass::Ts, (i % (usize::from(class::TS_MAXPRI) + 1)) as u8);
            t
        })
        .collect();
    let mut out = Vec::new();
    for n in [1usize, 10, 100, 1_000, 10_000] {
        let mut q = DispQ::new();
        for t in &pool[..n] {
            q.push(t, false);
        }
        let t0 = M::now_ns();
        for _ in 0..OPS {
            let t = q.take_best().ok_or("the queue ran dry")?;
            q.push(t, false);
        }
        out.push((format!("dispq_pick_enqueue_{n}"), per_op(t0, OPS)));
        while q.take_best().is_some() {}
    }
    Ok(out)
}

const YIELDS: u64 = 10_000;
static YIELD_DONE: AtomicUsize = AtomicUsize::new(0);

fn yielder(_: usize) {
    for _ in 0..YIELDS {
        disp::yield_now();
    }
    YIELD_DONE.fetch_add(1, Ordering::SeqCst);
}

/// Runs `body` in `n` threads of the SYS class one priority above the caller, bound
/// to this CPU, and waits for them; returns the switches this CPU made meanwhile.
fn run_pair(name: &'static str, body: fn(usize), done: &AtomicUsize) -> Result<(u64, u64), String> {
    disp::thread_bind(Some(M::cpu_id()));
    let here = M::cpu_id();
    done.store(0, Ordering::SeqCst);
    let pri = class::SYS_PRI + 1;
    let threads: Vec<_> = (0..2)
        .map(|k| thread::life::thread_create_bound(name, body, k, SchedClass::Sys, pri, Some(here)))
        .collect();
    let s0 = cpu().switches();
    let t0 = M::now_ns();
    // Both outrank the caller, which runs again only when they are done; queue both
    // before either runs.
    let was = M::intr_disable();
    for t in threads {
        disp::setrun(t);
    }
    M::intr_restore(was);
    disp::kpreempt();
    while done.load(Ordering::SeqCst) < 2 {
        sleepq::delay(1);
    }
    let elapsed = M::now_ns() - t0;
    let switches = cpu().switches() - s0;
    disp::thread_bind(None);
    Ok((elapsed, switches))
}

/// Two threads of one priority yielding to each other: the cost of one yield and
/// the switch it makes (S17).
fn yield_switch() -> Result<Vec<(String, Figure)>, String> {
    let (elapsed, switches) = run_pair("yielder", yielder, &YIELD_DONE)?;
    if switches < 2 * YIELDS {
        return Err(format!("only {switches} switches for {} yields", 2 * YIELDS));
    }
    Ok(alloc::vec![(
        "yield_switch".into(),
        Figure { ns_per_op: elapsed / (2 * YIELDS), ops: 2 * YIELDS }
    )])
}

const PINGS: u64 = 5_000;
static TURN: AtomicU64 = AtomicU64::new(0);
static PING_DONE: AtomicUsize = AtomicUsize::new(0);

fn pinger(k: usize) {
    let k = k as u64;
    let chan = |who: u64| &TURN as *const AtomicU64 as usize + who as usize;
    for _ in 0..PINGS {
        sleepq::sleep(chan(k), || TURN.load(Ordering::SeqCst) % 2 == k);
        TURN.fetch_add(1, Ordering::SeqCst);
        sleepq::wakeup_one(chan(1 - k));
    }
    PING_DONE.fetch_add(1, Ordering::SeqCst);
}

/// Two threads handing a turn back and forth by sleep and wakeup: the cost of one
/// block, one wakeup and the switch between them.
fn sleep_wakeup_pingpong() -> Result<Vec<(String, Figure)>, String> {
    TURN.store(0, Ordering::SeqCst);
    let (elapsed, switches) = run_pair("pinger", pinger, &PING_DONE)?;
    let turns = TURN.load(Ordering::SeqCst);
    if turns != 2 * PINGS || switches < 2 * PINGS {
        return Err(format!("{turns} turns and {switches} switches for {} pings", 2 * PINGS));
    }
    Ok(alloc::vec![(
        "sleep_wakeup_switch".into(),
        Figure { ns_per_op: elapsed / (2 * PINGS), ops: 2 * PINGS }
    )])
}

const CREATES: u64 = 2_000;
static CREATED_RAN: AtomicU64 = AtomicU64::new(0);

fn noop(_: usize) {
    CREATED_RAN.fetch_add(1, Ordering::SeqCst);
}

/// Creating a kernel thread that runs at once (it outranks the creator), exits, and
/// is reaped into the thread cache: the kernel-thread half of "LWP create + exit +
/// wait" (S16).
fn thread_create_exit() -> Result<Vec<(String, Figure)>, String> {
    CREATED_RAN.store(0, Ordering::SeqCst);
    disp::thread_bind(Some(M::cpu_id()));
    let here = M::cpu_id();
    let t0 = M::now_ns();
    for _ in 0..CREATES {
        let t = thread::life::thread_create_bound(
            "noop",
            noop,
            0,
            SchedClass::Sys,
            class::SYS_PRI + 1,
            Some(here),
        );
        disp::setrun(t);
    }
    let fig = per_op(t0, CREATES);
    disp::thread_bind(None);
    let ran = CREATED_RAN.load(Ordering::SeqCst);
    if ran != CREATES {
        return Err(format!("only {ran} of {CREATES} threads ran before their creator went on"));
    }
    Ok(alloc::vec![("thread_create_exit".into(), fig)])
}

const LOCK_OPS: u64 = 20_000;

/// Checks that a run of uncontended operations never left the fast path: no spin,
/// no block, no hand-off since `s0`.
fn all_fast(s0: &kern::sync::StatsSnapshot, what: &str) -> Result<(), String> {
    let s = STATS.snapshot().since(s0);
    if s != kern::sync::StatsSnapshot::default() {
        return Err(format!("{what} took the slow path: {s:?}"));
    }
    Ok(())
}

/// Entering and leaving a free kernel mutex of each kind (S9): the fast path, one
/// compare-and-swap each way (a spin mutex also turns interrupts off and back on);
/// and the same through `Mutex<T>`'s guard.
fn mutex_enter_exit() -> Result<Vec<(String, Figure)>, String> {
    let mut out = Vec::new();
    for (name, kind) in
        [("adaptive", MutexKind::Adaptive), ("block", MutexKind::Block), ("spin", MutexKind::Spin)]
    {
        let m = KMutex::new(kind);
        let s0 = STATS.snapshot();
        let t0 = M::now_ns();
        for _ in 0..LOCK_OPS {
            m.enter();
            m.exit();
        }
        let fig = per_op(t0, LOCK_OPS);
        all_fast(&s0, name)?;
        if m.owner().is_some() || !M::intr_enabled() {
            return Err(format!("{m:?} left held, or interrupts off"));
        }
        out.push((format!("mutex_{name}_enter_exit"), fig));
    }
    let m = Mutex::new(0u64);
    let s0 = STATS.snapshot();
    let t0 = M::now_ns();
    for _ in 0..LOCK_OPS {
        *m.lock() += 1;
    }
    let fig = per_op(t0, LOCK_OPS);
    all_fast(&s0, "Mutex<T>")?;
    if *m.lock() != LOCK_OPS {
        return Err("the guarded counter is wrong".into());
    }
    out.push(("mutex_guard_lock_unlock".into(), fig));
    Ok(out)
}

/// Entering a free reader-writer lock to read, and leaving it.
fn rwlock_read_enter_exit() -> Result<Vec<(String, Figure)>, String> {
    let l = KRwLock::new();
    let s0 = STATS.snapshot();
    let t0 = M::now_ns();
    for _ in 0..LOCK_OPS {
        l.enter(RwMode::Read);
        l.exit();
    }
    let fig = per_op(t0, LOCK_OPS);
    all_fast(&s0, "rwlock read")?;
    if l.read_held() || l.writer().is_some() {
        return Err(format!("{l:?} left held"));
    }
    Ok(alloc::vec![("rwlock_read_enter_exit".into(), fig)])
}

const HANDOFFS: u64 = 5_000;
static HANDOFF_MUTEX: KMutex = KMutex::new(MutexKind::Adaptive);
static HANDOFF_DONE: AtomicUsize = AtomicUsize::new(0);

fn handoff_body(k: usize) {
    HANDOFF_MUTEX.enter();
    if k == 0 {
        // Let the other thread block on the mutex before the relay starts.
        disp::yield_now();
    }
    for _ in 0..HANDOFFS {
        // Hands the mutex to the blocked thread, then blocks until it comes back.
        HANDOFF_MUTEX.exit();
        HANDOFF_MUTEX.enter();
    }
    HANDOFF_MUTEX.exit();
    HANDOFF_DONE.fetch_add(1, Ordering::SeqCst);
}

/// Two threads on one CPU relaying a contended mutex: each exit hands the mutex to
/// the thread blocked on it (turnstile), which runs once the leaving thread blocks
/// on its next enter. The cost of one hand-off: exit slow path, wakeup, block, switch.
fn mutex_handoff() -> Result<Vec<(String, Figure)>, String> {
    let s0 = STATS.snapshot();
    let (elapsed, switches) = run_pair("handoff", handoff_body, &HANDOFF_DONE)?;
    let handoffs = STATS.snapshot().since(&s0).handoffs;
    if handoffs < 2 * HANDOFFS - 2 || switches < handoffs {
        return Err(format!(
            "{handoffs} hand-offs and {switches} switches for {} relays",
            2 * HANDOFFS
        ));
    }
    Ok(alloc::vec![(
        "mutex_handoff".into(),
        Figure { ns_per_op: elapsed / handoffs, ops: handoffs }
    )])
}

const SWAPS: u64 = 100;
/// The swap benchmark's turn (the bench thread's) and the subject's answer.
static SWAP_TURN: AtomicU64 = AtomicU64::new(0);
static SWAP_ACK: AtomicU64 = AtomicU64::new(0);

fn turn_chan() -> usize {
    &SWAP_TURN as *const AtomicU64 as usize
}

fn ack_chan() -> usize {
    &SWAP_ACK as *const AtomicU64 as usize
}

/// The subject LWP: answers each turn, then sleeps until the next (where it may be
/// swapped out); a turn of `u64::MAX` ends it.
fn swap_subject(_: usize) {
    loop {
        let turn = SWAP_TURN.load(Ordering::SeqCst);
        SWAP_ACK.store(turn, Ordering::SeqCst);
        sleepq::wakeup(ack_chan());
        if turn == u64::MAX {
            return;
        }
        sleepq::sleep(turn_chan(), || SWAP_TURN.load(Ordering::SeqCst) != turn);
    }
}

/// Gives the subject turn `turn` and sleeps until it has answered: the time it took.
fn swap_turn(turn: u64) -> u64 {
    let t0 = M::now_ns();
    SWAP_TURN.store(turn, Ordering::SeqCst);
    sleepq::wakeup(turn_chan());
    sleepq::sleep(ack_chan(), || SWAP_ACK.load(Ordering::SeqCst) == turn);
    M::now_ns() - t0
}

/// An LWP asleep in the kernel swapped out (its structure written to the swap
/// device, its memory freed), then woken: brought back in by the swapper before it
/// runs, it answers. The figures: the swap-out; the swap-in, as the time from the
/// wakeup to the answer less the same without a swap; their sum; and, on a line of
/// its own, the memory one swapped-out LWP frees. They include the disk's own time
/// (under `-icount`, what the CPU executes while it waits).
fn swap_out_in() -> Result<Vec<(String, Figure)>, String> {
    if !swap::has_device() {
        return Err("no swap device".into());
    }
    let old = swap::set_mode(swap::Mode::Off);
    let r = measure_swaps();
    swap::set_mode(old);
    r
}

fn measure_swaps() -> Result<Vec<(String, Figure)>, String> {
    SWAP_TURN.store(0, Ordering::SeqCst);
    SWAP_ACK.store(u64::MAX - 1, Ordering::SeqCst);
    let pid = proc::life::proc_create(swap_subject, 0).map_err(|e| format!("proc_create: {e}"))?;
    let p = proc::prfind(pid).ok_or("no subject process")?;
    let t = kern::lwp::idtot(p, LwpId(1)).ok_or("no subject LWP")?;
    let asleep = || {
        for _ in 0..500 {
            if t.state() == ThreadState::Sleep && !disp::is_running(t) {
                return Ok(());
            }
            sleepq::delay(1);
        }
        Err(String::from("the subject does not go back to sleep"))
    };
    let (mut base, mut out, mut back, mut freed) = (0, 0, 0, 0);
    let ins0 = swap::stats().swapins;
    for turn in 1..=2 * SWAPS {
        asleep()?;
        if turn <= SWAPS {
            base += swap_turn(turn);
            continue;
        }
        let (used, t0) = (M::heap_stats().used, M::now_ns());
        swap::swapout(p, LwpId(1)).map_err(|e| format!("swapout: {e}"))?;
        out += M::now_ns() - t0;
        freed += used.saturating_sub(M::heap_stats().used);
        back += swap_turn(turn);
    }
    let ins = swap::stats().swapins - ins0;
    SWAP_TURN.store(u64::MAX, Ordering::SeqCst);
    sleepq::wakeup(turn_chan());
    while p.stat() != PStat::Zombie {
        sleepq::delay(1);
    }
    proc::life::proc_wait(Some(pid)).map_err(|e| format!("proc_wait: {e}"))?;
    // Each answer came after a swap-in: none was skipped.
    if ins != SWAPS {
        return Err(format!("{ins} swap-ins for {SWAPS} swap-outs"));
    }
    let swap_in = back.saturating_sub(base) / SWAPS;
    let swap_out = out / SWAPS;
    kprintln!("bench: swap_memory_freed {} bytes/lwp ({SWAPS} swap-outs)", freed / SWAPS as usize);
    Ok(alloc::vec![
        ("swap_out".into(), Figure { ns_per_op: swap_out, ops: SWAPS }),
        ("swap_in".into(), Figure { ns_per_op: swap_in, ops: SWAPS }),
        ("swap_out_in".into(), Figure { ns_per_op: swap_out + swap_in, ops: SWAPS }),
        ("swap_wake_resident".into(), Figure { ns_per_op: base / SWAPS, ops: SWAPS }),
    ])
}
