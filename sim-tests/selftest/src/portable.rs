//! The portable self-tests: run in QEMU on sparc64 and on the host simulation.
//!
//! Each one checks a real effect of the running kernel: threads that really ran,
//! switches and preemptions the CPU really made, values that survived them.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::hint::black_box;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use arch::cell::StaticRef;
use arch::Machine;

use crate::{
    crowd, dispatcher_state, ensure, ensure_eq, spawn, spawn_ts, wait_for, Test, TestResult,
};
use kern::class::{self, SchedClass};
use kern::cpu::{cpu, total_preempts, total_ticks};
use kern::proc::life::{proc_create, proc_wait};
use kern::thread::{self, curlwp, curproc, curthread, KThread, ThreadState};
use kern::{clock, disp, M};

/// The portable suite, in the order it runs.
pub static PORTABLE: &[Test] = &[
    Test::new("clock_ticks", clock_ticks),
    Test::new("heap_alloc_free", heap_alloc_free),
    Test::new("thread_create_exit_reuse", thread_create_exit_reuse),
    Test::new("g7_is_curthread_across_switches", g7_is_curthread_across_switches),
    Test::new("curlwp_curproc", curlwp_curproc),
    Test::new("clock_preempts_cpu_bound_threads", clock_preempts_cpu_bound_threads),
    Test::new("deep_recursion_preempted", deep_recursion_preempted),
    Test::explicit("panic_reported", panic_reported),
    Test::explicit("hang_detected", hang_detected),
];

/// The clock interrupt arrives, at about the configured rate.
fn clock_ticks() -> TestResult {
    ensure!(M::intr_enabled(), "interrupts are off in the test thread");
    let hz = u64::from(clock::hz());
    let (t0, n0) = (clock::lbolt(), M::now_ns());
    let want = (hz / 5).max(2); // ~200 ms of ticks
    while clock::lbolt() < t0 + want {
        ensure!(
            M::now_ns() - n0 < 5_000_000_000,
            "no clock tick for 5 s (lbolt {})",
            clock::lbolt()
        );
        core::hint::spin_loop();
    }
    let ticks = clock::lbolt() - t0;
    let elapsed_ns = M::now_ns() - n0;
    let expected = elapsed_ns * hz / 1_000_000_000;
    // Behaviour, not speed: the rate is right within a factor of two.
    ensure!(
        ticks * 2 >= expected && ticks <= expected * 2 + 2,
        "{ticks} ticks in {elapsed_ns} ns at HZ={hz} (expected about {expected})"
    );
    ensure!(total_ticks() >= ticks, "per-CPU tick counts {} below lbolt's {ticks}", total_ticks());
    Ok(())
}

/// The kernel heap hands out and takes back memory of every size, contents intact.
fn heap_alloc_free() -> TestResult {
    let mut boxes: Vec<Box<[u8]>> = Vec::new();
    for size in (1..4096).step_by(61) {
        let fill = (size % 251) as u8;
        boxes.push(alloc::vec![fill; size].into_boxed_slice());
    }
    for b in &boxes {
        let fill = (b.len() % 251) as u8;
        ensure!(b.iter().all(|&x| x == fill), "a {}-byte block was overwritten", b.len());
    }
    // Free every other block, then allocate into the holes.
    let mut kept: Vec<Box<[u8]>> = boxes.into_iter().step_by(2).collect();
    let mut map = BTreeMap::new();
    for k in 0..2000u64 {
        map.insert(k.wrapping_mul(0x9e37_79b9) % 100_003, k);
    }
    for k in 0..2000u64 {
        ensure_eq!(map.get(&(k.wrapping_mul(0x9e37_79b9) % 100_003)).copied(), Some(k));
    }
    map.retain(|_, v| *v % 3 == 0);
    ensure_eq!(map.len(), 667);
    kept.push(alloc::vec![0xa5u8; 64 * 1024].into_boxed_slice());
    let big = kept.last().unwrap();
    ensure!(big.iter().all(|&x| x == 0xa5), "a 64 KiB block was overwritten");
    let s: String = (0..500).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    ensure_eq!(s.len(), 500);
    Ok(())
}

static DONE: AtomicUsize = AtomicUsize::new(0);
static IDS: spin::Mutex<Vec<u64>> = spin::Mutex::new(Vec::new());

fn record_and_exit(_: usize) {
    IDS.lock().push(curthread().id());
    DONE.fetch_add(1, Ordering::SeqCst);
}

/// Threads are created, run once each, exit, and are reaped; their structures and
/// stacks are reused by later threads: 60 threads, 20 at most alive at once, never
/// need more than 20 thread structures (S2).
fn thread_create_exit_reuse() -> TestResult {
    const BATCH: usize = 20;
    DONE.store(0, Ordering::SeqCst);
    IDS.lock().clear();
    let allocated0 = thread::nthreads_allocated();
    for round in 1..=3 {
        let batch: Vec<&KThread> =
            (0..BATCH).map(|_| thread::life::thread_create("reuse", record_and_exit, 0)).collect();
        wait_for("the batch to run", 10, || DONE.load(Ordering::SeqCst) == round * BATCH)?;
        // Exited threads are reaped when the switch away from them completes.
        wait_for("the batch to be reaped", 10, || {
            batch.iter().all(|t| t.state() == ThreadState::Free)
        })?;
    }
    let allocated = thread::nthreads_allocated() - allocated0;
    ensure!(
        allocated <= BATCH,
        "{allocated} thread structures allocated for {BATCH} threads alive at once"
    );
    let mut ids = IDS.lock().clone();
    ensure_eq!(ids.len(), 3 * BATCH);
    ids.sort_unstable();
    ids.dedup();
    ensure!(
        ids.len() == 3 * BATCH,
        "thread ids were reused: {} distinct of {}",
        ids.len(),
        3 * BATCH
    );
    Ok(())
}

const MAX_CROWD: usize = 2 * kern::cpu::MAX_CPUS;

/// Two CPU-bound threads bound to each CPU: every CPU has to time-slice between
/// them. (Unbound, a thread that happens to be alone on its CPU may rightly run on
/// undisturbed: nothing of its priority waits there.)
fn pairs() -> usize {
    2 * M::ncpus()
}

/// Like `spawn_ts`, bound to CPU `k / 2`.
fn spawn_ts_pair(name: &'static str, func: fn(usize), k: usize) -> &'static KThread {
    spawn(name, func, k, SchedClass::Ts, class::TS_DEFAULT_PRI, Some(k / 2))
}

static G7_SLOTS: [StaticRef<KThread>; MAX_CROWD] = [const { StaticRef::none() }; MAX_CROWD];
static G7_WRONG: AtomicU64 = AtomicU64::new(0);
static G7_CHECKS: AtomicU64 = AtomicU64::new(0);

fn g7_checker(slot: usize) {
    let me = loop {
        if let Some(t) = G7_SLOTS[slot].get() {
            break t;
        }
        disp::yield_now();
    };
    let start = clock::lbolt();
    let mut i = 0u64;
    // Long enough for clock interrupts and preemptions to land in the middle.
    while clock::lbolt() < start + 6 || i < 20_000 {
        // With interrupts off the thread cannot move to another CPU between the reads.
        let was = M::intr_disable();
        if !core::ptr::eq(curthread(), me) || !core::ptr::eq(cpu().cpu_thread.get().unwrap(), me) {
            G7_WRONG.fetch_add(1, Ordering::SeqCst);
        }
        M::intr_restore(was);
        G7_CHECKS.fetch_add(1, Ordering::Relaxed);
        i += 1;
        if i.is_multiple_of(4096) {
            disp::yield_now();
        }
    }
    DONE.fetch_add(1, Ordering::SeqCst);
}

/// The current-thread register names the running thread after voluntary switches and
/// after clock preemptions, in every thread (S7).
fn g7_is_curthread_across_switches() -> TestResult {
    DONE.store(0, Ordering::SeqCst);
    G7_WRONG.store(0, Ordering::SeqCst);
    G7_CHECKS.store(0, Ordering::SeqCst);
    let preempts0 = total_preempts();
    let n = crowd();
    for (slot, s) in G7_SLOTS.iter().enumerate().take(n) {
        s.set(None);
        s.set(Some(spawn_ts("g7", g7_checker, slot)));
    }
    let me = curthread();
    wait_for("the checkers", 20, || {
        DONE.load(Ordering::SeqCst) == n && core::ptr::eq(curthread(), me)
    })?;
    ensure_eq!(G7_WRONG.load(Ordering::SeqCst), 0);
    ensure!(
        G7_CHECKS.load(Ordering::SeqCst) >= 20_000 * n as u64,
        "only {} checks",
        G7_CHECKS.load(Ordering::SeqCst)
    );
    ensure!(total_preempts() > preempts0, "no preemption happened during the test");
    Ok(())
}

static LWP_SEEN: spin::Mutex<Option<(bool, bool, bool)>> = spin::Mutex::new(None);

fn lwp_body(_: usize) {
    let (lwp, p) = (curlwp(), curproc());
    // The `lwp` structure points back at the thread and the process (S5.7, S5.8).
    let back = lwp.and_then(|l| {
        l.with_data(|d| (d.lwp_thread.0 as *const KThread, d.lwp_procp.0 as *const _))
    });
    let me = (curthread() as *const KThread, p.map_or(core::ptr::null(), |p| p as *const _));
    *LWP_SEEN.lock() = Some((lwp.is_some(), p.is_some(), back == Some(me)));
    DONE.fetch_add(1, Ordering::SeqCst);
}

/// `curlwp`/`curproc` find a thread's LWP and process (S7); a kernel thread has none (S2).
fn curlwp_curproc() -> TestResult {
    ensure!(
        curlwp().is_none() && curproc().is_none(),
        "the boot thread (S2) has an LWP or a process"
    );
    DONE.store(0, Ordering::SeqCst);
    *LWP_SEEN.lock() = None;
    let pid = proc_create(lwp_body, 0).map_err(|e| format!("proc_create: {e}"))?;
    wait_for("the LWP's thread", 10, || DONE.load(Ordering::SeqCst) == 1)?;
    ensure_eq!(*LWP_SEEN.lock(), Some((true, true, true)));
    ensure_eq!(proc_wait(Some(pid)), Ok((pid, 0)));
    Ok(())
}

static SPIN_STOP: AtomicBool = AtomicBool::new(false);
static SPIN_COUNT: [AtomicU64; MAX_CROWD] = [const { AtomicU64::new(0) }; MAX_CROWD];

fn spinner(k: usize) {
    // Never yields: only the clock can take the CPU away.
    while !SPIN_STOP.load(Ordering::Relaxed) {
        SPIN_COUNT[k].fetch_add(1, Ordering::Relaxed);
    }
    DONE.fetch_add(1, Ordering::SeqCst);
}

/// Two threads on each CPU that never give up the CPU all make progress, and each
/// is switched in again after being taken off: the clock preempts on every CPU.
fn clock_preempts_cpu_bound_threads() -> TestResult {
    let n = pairs();
    DONE.store(0, Ordering::SeqCst);
    SPIN_STOP.store(false, Ordering::SeqCst);
    for c in &SPIN_COUNT {
        c.store(0, Ordering::SeqCst);
    }
    let preempts0 = total_preempts();
    let spinners: Vec<&KThread> = (0..n).map(|k| spawn_ts_pair("spin", spinner, k)).collect();
    let progress = wait_for("every spinner to run, and to be preempted and resumed", 20, || {
        SPIN_COUNT[..n].iter().all(|c| c.load(Ordering::Relaxed) > 0)
            && spinners.iter().all(|t| t.nswitch() >= 2)
    })
    .map_err(|e| {
        let seen: Vec<_> = spinners
            .iter()
            .zip(&SPIN_COUNT)
            .map(|(t, c)| (c.load(Ordering::Relaxed), t.nswitch(), t.pri(), t.cpu()))
            .collect();
        format!("{e}: (count, switched in, pri, cpu) = {seen:?}, {}", dispatcher_state())
    });
    SPIN_STOP.store(true, Ordering::SeqCst);
    progress?;
    wait_for("the spinners to stop", 10, || DONE.load(Ordering::SeqCst) == n)?;
    ensure!(
        total_preempts() >= preempts0 + n as u64,
        "only {} preemptions",
        total_preempts() - preempts0
    );
    Ok(())
}

fn mix(x: u64, y: u64) -> u64 {
    (x ^ y).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(23) ^ (y << 7)
}

/// A recursion whose every level keeps several values live across the call: on SPARC
/// each level is a register window that spills to the stack and fills back.
#[inline(never)]
pub(crate) fn rec(n: u64, seed: u64) -> u64 {
    if n == 0 {
        return seed;
    }
    let a = mix(seed, n);
    let b = mix(a, 0x9e37);
    let c = rec(black_box(n - 1), a ^ b);
    mix(c ^ a, b.wrapping_add(n)) ^ black_box(seed)
}

/// The same function, computed with a loop and a heap array instead of the stack.
pub(crate) fn rec_by_loop(n: u64, seed: u64) -> u64 {
    let mut levels = Vec::with_capacity(n as usize);
    let mut s = seed;
    for k in (1..=n).rev() {
        let a = mix(s, k);
        let b = mix(a, 0x9e37);
        levels.push((a, b, k, s));
        s = a ^ b;
    }
    let mut c = s;
    for &(a, b, k, seed_k) in levels.iter().rev() {
        c = mix(c ^ a, b.wrapping_add(k)) ^ seed_k;
    }
    c
}

static REC_BAD: AtomicU64 = AtomicU64::new(0);
/// Times the recursing threads were switched in, summed as each one ends.
static REC_SWITCHES: AtomicU64 = AtomicU64::new(0);
/// Each recursing thread's switches in so far, for its partner on the CPU.
static REC_NSWITCH: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];

fn recurser(k: usize) {
    // 40..130 levels of 192-byte frames: deep enough for many window spills and
    // fills, within a 32 KiB kernel stack.
    let depth = 40 + 30 * (k % 4) as u64;
    let deadline = M::now_ns() + 30_000_000_000;
    let mut round = 0u64;
    let (mine, partner) = (&REC_NSWITCH[k % 64], &REC_NSWITCH[(k ^ 1) % 64]);
    // Until it and its partner on the CPU have each been preempted in the middle of
    // it and resumed: each one's quantum ends while the other waits, and neither
    // leaves the other alone on the CPU, with nothing to preempt it, before that.
    loop {
        let switched = curthread().nswitch();
        mine.store(switched, Ordering::SeqCst);
        let both = switched >= 2 && partner.load(Ordering::SeqCst) >= 2;
        if (both && round >= 200) || M::now_ns() >= deadline {
            break;
        }
        let seed = (k as u64) << 32 | round;
        if rec(depth, seed) != rec_by_loop(depth, seed) {
            REC_BAD.fetch_add(1, Ordering::SeqCst);
        }
        round += 1;
    }
    REC_SWITCHES.fetch_add(curthread().nswitch(), Ordering::SeqCst);
    DONE.fetch_add(1, Ordering::SeqCst);
}

/// Deep recursion in two threads per CPU, preempted in the middle of it keeps every
/// register window intact: the checksums match a loop's (S17).
fn deep_recursion_preempted() -> TestResult {
    DONE.store(0, Ordering::SeqCst);
    REC_BAD.store(0, Ordering::SeqCst);
    REC_SWITCHES.store(0, Ordering::SeqCst);
    REC_NSWITCH.iter().for_each(|c| c.store(0, Ordering::SeqCst));
    let n = pairs();
    for k in 0..n {
        spawn_ts_pair("recurse", recurser, k);
    }
    wait_for("the recursing threads", 60, || DONE.load(Ordering::SeqCst) == n).map_err(|e| {
        format!("{e}: {} of {n} done, {}", DONE.load(Ordering::SeqCst), dispatcher_state())
    })?;
    ensure_eq!(REC_BAD.load(Ordering::SeqCst), 0);
    // They never yield: every switch in after the first one followed a preemption.
    let resumed = REC_SWITCHES.load(Ordering::SeqCst) - n as u64;
    ensure!(
        resumed >= n as u64,
        "the recursing threads were resumed after preemption only {resumed} times"
    );
    Ok(())
}

/// Runs only when named: panics. The kernel must print the message with its
/// location and stop with failure; `scripts/test` checks that it did.
fn panic_reported() -> TestResult {
    panic!("self-test panic on purpose");
}

/// Runs only when named: spins forever with interrupts off. Nothing in the kernel
/// can notice; the host harness's time limit must, and `scripts/test` checks that
/// it reports a hang.
fn hang_detected() -> TestResult {
    M::intr_disable();
    loop {
        core::hint::spin_loop();
    }
}
