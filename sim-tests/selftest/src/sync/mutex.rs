//! Mutexes (S8, S9): the kinds under contention and preemption, `try_enter` and
//! `owner`, an adaptive mutex whose owner sleeps, a spin mutex shared with an
//! interrupt handler.

use alloc::format;
use core::sync::atomic::Ordering::{Relaxed, SeqCst};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize};

use arch::Machine;

use crate::{crowd, ensure, ensure_eq, spawn_ts, wait_for, TestResult};
use kern::callout::Callout;
use kern::class::{self, SchedClass};
use kern::sync::{KMutex, MutexKind, STATS};
use kern::thread::life::thread_create_bound;
use kern::thread::{curthread, ThreadState};
use kern::{clock, disp, sleepq, M};

use super::{measured, reset, same, sleep_until, spawn_sys, work, DONE, STOP};

static CS_MUTEX: [KMutex; 3] =
    [KMutex::new(MutexKind::Adaptive), KMutex::new(MutexKind::Block), KMutex::new(MutexKind::Spin)];
/// The counter, incremented by a separate load and store inside the critical
/// section: any overlap of two sections loses an update.
static CS_COUNT: AtomicU64 = AtomicU64::new(0);
static CS_ENTRIES: AtomicU64 = AtomicU64::new(0);
static CS_INSIDE: AtomicUsize = AtomicUsize::new(0);
static CS_MAX_INSIDE: AtomicUsize = AtomicUsize::new(0);
/// Critical sections during which the holder was switched out (preempted).
static CS_SWITCHED_INSIDE: AtomicU64 = AtomicU64::new(0);
static CS_NOT_HELD: AtomicU64 = AtomicU64::new(0);

/// A SYS thread bound to one CPU that wakes up every tick: it preempts whatever
/// TS thread runs there, on every CPU.
fn ticker(_: usize) {
    while !STOP.load(Relaxed) {
        sleepq::delay(1);
    }
    DONE.fetch_add(1, SeqCst);
}

/// Starts a [`ticker`] on every CPU.
fn start_tickers() {
    for c in 0..M::ncpus() {
        disp::setrun(thread_create_bound(
            "ticker",
            ticker,
            0,
            SchedClass::Sys,
            class::SYS_PRI + 2,
            Some(c),
        ));
    }
}

fn cs_worker(k: usize) {
    let m = &CS_MUTEX[k];
    let me = curthread();
    let mut n = 0u64;
    while !STOP.load(Relaxed) {
        m.enter();
        let inside = CS_INSIDE.fetch_add(1, SeqCst) + 1;
        CS_MAX_INSIDE.fetch_max(inside, SeqCst);
        if !m.held() {
            CS_NOT_HELD.fetch_add(1, SeqCst);
        }
        let sw = me.nswitch();
        let v = CS_COUNT.load(Relaxed);
        work(3000);
        CS_COUNT.store(v + 1, Relaxed);
        if me.nswitch() != sw {
            CS_SWITCHED_INSIDE.fetch_add(1, SeqCst);
        }
        CS_INSIDE.fetch_sub(1, SeqCst);
        m.exit();
        work(500);
        n += 1;
    }
    CS_ENTRIES.fetch_add(n, SeqCst);
    DONE.fetch_add(1, SeqCst);
}

/// `crowd()` TS threads increment one counter under a mutex of `kind`, preempted
/// every tick on every CPU by a SYS thread: the count is exact and at most one
/// thread is ever inside.
/// Measured alongside: holders were preempted inside (blocking kinds; a spin
/// mutex holds interrupts off) and the waiters really waited the way the kind
/// says (spun for a spin mutex on several CPUs; blocked for the others, and an
/// adaptive one also spun on several CPUs; a blocking one never spun).
fn mutex_counter(kind: MutexKind) -> TestResult {
    let k = match kind {
        MutexKind::Adaptive => 0,
        MutexKind::Block => 1,
        MutexKind::Spin => 2,
    };
    reset();
    for c in [&CS_COUNT, &CS_ENTRIES, &CS_SWITCHED_INSIDE, &CS_NOT_HELD] {
        c.store(0, SeqCst);
    }
    CS_MAX_INSIDE.store(0, SeqCst);
    let s0 = STATS.snapshot();
    let n = crowd();
    let mp = M::ncpus() > 1;
    for _ in 0..n {
        spawn_ts("cs", cs_worker, k);
    }
    start_tickers();
    let t0 = clock::lbolt();
    let enough = || {
        let s = STATS.snapshot().since(&s0);
        let waited = match kind {
            MutexKind::Spin => !mp || s.spin_waits > 0,
            MutexKind::Adaptive => s.blocks > 0 && (!mp || s.adaptive_spins > 0),
            MutexKind::Block => s.blocks > 0,
        };
        let preempted = kind == MutexKind::Spin || CS_SWITCHED_INSIDE.load(SeqCst) > 0;
        clock::lbolt() >= t0 + 5 && CS_COUNT.load(Relaxed) >= 200 && waited && preempted
    };
    let r = wait_for("contention and preemption inside the critical section", 5, enough);
    STOP.store(true, SeqCst);
    wait_for("the workers to stop", 10, || DONE.load(SeqCst) == n + M::ncpus())?;
    let s = STATS.snapshot().since(&s0);
    r.map_err(|e| {
        format!(
            "{e}: {s:?}, {} sections, {} preempted inside",
            CS_COUNT.load(SeqCst),
            CS_SWITCHED_INSIDE.load(SeqCst)
        )
    })?;
    ensure_eq!(CS_COUNT.load(SeqCst), CS_ENTRIES.load(SeqCst));
    ensure_eq!(CS_MAX_INSIDE.load(SeqCst), 1);
    ensure_eq!(CS_NOT_HELD.load(SeqCst), 0);
    ensure!(CS_MUTEX[k].owner().is_none(), "the mutex is still held: {:?}", CS_MUTEX[k]);
    measured!(
        "{kind:?}: {} sections by {n} threads, {} preempted inside; {} spin waits, \
         {} adaptive spins, {} blocks, {} hand-offs",
        CS_COUNT.load(SeqCst),
        CS_SWITCHED_INSIDE.load(SeqCst),
        s.spin_waits,
        s.adaptive_spins,
        s.blocks,
        s.handoffs
    );
    match kind {
        MutexKind::Block => {
            ensure!(s.adaptive_spins == 0 && s.spin_waits == 0, "a blocking mutex spun: {s:?}")
        }
        MutexKind::Spin => ensure!(s.blocks == 0 && s.handoffs == 0, "a spin mutex blocked: {s:?}"),
        MutexKind::Adaptive => {}
    }
    Ok(())
}

pub(super) fn sync_mutex_counter_adaptive() -> TestResult {
    mutex_counter(MutexKind::Adaptive)
}

pub(super) fn sync_mutex_counter_block() -> TestResult {
    mutex_counter(MutexKind::Block)
}

pub(super) fn sync_mutex_counter_spin() -> TestResult {
    mutex_counter(MutexKind::Spin)
}

// ------------------------------------------------------------------ try_enter, owner

static TRY_MUTEX: [KMutex; 3] =
    [KMutex::new(MutexKind::Adaptive), KMutex::new(MutexKind::Block), KMutex::new(MutexKind::Spin)];
static HELPER_HOLDS: AtomicBool = AtomicBool::new(false);
static HELPER_RESULT: AtomicU8 = AtomicU8::new(0);

/// Tries the mutex from another thread: records 1 if it got it (and left it), 2 if not.
fn try_helper(k: usize) {
    let m = &TRY_MUTEX[k];
    let got = m.try_enter();
    if got {
        if !m.held() {
            HELPER_RESULT.store(9, SeqCst);
            DONE.fetch_add(1, SeqCst);
            return;
        }
        m.exit();
    }
    HELPER_RESULT.store(if got { 1 } else { 2 }, SeqCst);
    DONE.fetch_add(1, SeqCst);
}

/// Holds the mutex until told to stop: sleeping for a blocking kind, spinning (on
/// another CPU) for a spin mutex.
fn hold_helper(k: usize) {
    let m = &TRY_MUTEX[k];
    m.enter();
    HELPER_HOLDS.store(true, SeqCst);
    if m.kind() == MutexKind::Spin {
        while !STOP.load(SeqCst) {
            M::relax();
        }
    } else {
        sleep_until(|| STOP.load(SeqCst));
    }
    HELPER_HOLDS.store(false, SeqCst);
    m.exit();
    DONE.fetch_add(1, SeqCst);
}

fn run_try_helper(k: usize) -> Result<u8, alloc::string::String> {
    reset();
    HELPER_RESULT.store(0, SeqCst);
    spawn_sys("try", try_helper, k);
    wait_for("the helper's try", 5, || DONE.load(SeqCst) == 1)?;
    Ok(HELPER_RESULT.load(SeqCst))
}

/// `try_enter` takes a free mutex and refuses a held one, for every kind; the owner
/// is recorded (`owner`, `held`) and is the only thread that `held` says yes to; a
/// spin mutex keeps interrupts off while held and restores them after.
pub(super) fn sync_mutex_try_enter_and_owner() -> TestResult {
    let me = curthread();
    for (k, m) in TRY_MUTEX.iter().enumerate() {
        ensure!(m.owner().is_none() && !m.held(), "{m:?} is held before the test");
        ensure!(m.try_enter(), "try_enter of a free {:?} mutex failed", m.kind());
        ensure!(m.held() && same(m.owner(), me), "{m:?}: the owner is not the thread that entered");
        if m.kind() == MutexKind::Spin {
            ensure!(!M::intr_enabled(), "interrupts are on while a spin mutex is held");
            m.exit();
            ensure!(M::intr_enabled(), "interrupts stayed off after the spin mutex was left");
        } else {
            // Another thread is refused while we hold it, and does not see it as its own.
            let r = run_try_helper(k)?;
            ensure!(
                r == 2,
                "another thread's try_enter of a held {:?} mutex returned {r}",
                m.kind()
            );
            m.exit();
        }
        ensure!(m.owner().is_none() && !m.held(), "{m:?} still held after exit");
        let r = run_try_helper(k)?;
        ensure!(r == 1, "another thread's try_enter of a free {:?} mutex returned {r}", m.kind());
        // Held by another thread: refused here, and the owner is that thread.
        if m.kind() != MutexKind::Spin || M::ncpus() > 1 {
            reset();
            // The helper of a spin mutex spins with interrupts off on CPU 1 until
            // told to stop: this thread stays on CPU 0, whose clock (lbolt, the
            // callouts that end its sleeps) must keep running.
            disp::thread_bind(Some(0));
            let cpu = (m.kind() == MutexKind::Spin).then_some(1);
            let h = thread_create_bound(
                "hold",
                hold_helper,
                k,
                SchedClass::Sys,
                class::SYS_PRI + 1,
                cpu,
            );
            disp::setrun(h);
            let held = wait_for("the helper to hold the mutex", 5, || HELPER_HOLDS.load(SeqCst));
            let refused = !m.try_enter();
            let owner_ok = same(m.owner(), h) && !m.held();
            STOP.store(true, SeqCst);
            let left = wait_for("the helper to leave", 5, || DONE.load(SeqCst) == 1);
            disp::thread_bind(None);
            held?;
            left?;
            ensure!(
                refused,
                "try_enter of a {:?} mutex held by another thread succeeded",
                m.kind()
            );
            ensure!(owner_ok, "{m:?}: owner() is not the helper that holds it");
            ensure!(m.try_enter(), "try_enter failed after the helper left");
            m.exit();
        }
    }
    Ok(())
}

static SLEEPY: KMutex = KMutex::new(MutexKind::Adaptive);

fn sleepy_holder(_: usize) {
    SLEEPY.enter();
    HELPER_HOLDS.store(true, SeqCst);
    // Long enough that it cannot be waking up while the test thread enters.
    sleepq::delay(20);
    SLEEPY.exit();
    DONE.fetch_add(1, SeqCst);
}

/// An adaptive mutex whose owner sleeps makes the next thread block, not spin,
/// and the owner's exit hands the mutex over to it (S9).
pub(super) fn sync_adaptive_blocks_when_owner_sleeps() -> TestResult {
    reset();
    HELPER_HOLDS.store(false, SeqCst);
    let holder = spawn_sys("sleepy", sleepy_holder, 0);
    // It must really be asleep and off its CPU: on the way to sleep it is still
    // running, and spinning on it then is what an adaptive mutex should do.
    wait_for("the holder to hold the mutex and sleep", 5, || {
        HELPER_HOLDS.load(SeqCst)
            && holder.state() == ThreadState::Sleep
            && !disp::is_running(holder)
    })?;
    let s0 = STATS.snapshot();
    SLEEPY.enter();
    let s = STATS.snapshot().since(&s0);
    let mine = SLEEPY.held();
    SLEEPY.exit();
    wait_for("the holder to finish", 5, || DONE.load(SeqCst) == 1)?;
    ensure!(mine, "enter returned without the mutex");
    ensure!(s.blocks == 1 && s.handoffs == 1, "expected one block and one hand-off: {s:?}");
    ensure!(s.adaptive_spins == 0, "spun on an owner that sleeps: {s:?}");
    Ok(())
}

// ------------------------------------------------------------------ spin mutex in an interrupt

static INTR_MUTEX: KMutex = KMutex::new(MutexKind::Spin);
static INTR_COUNT: AtomicU64 = AtomicU64::new(0);
static INTR_RUNS: AtomicU64 = AtomicU64::new(0);
static INTR_BAD: AtomicU64 = AtomicU64::new(0);
const INTR_WANT: u64 = 8;
static INTR_CALLOUT: Callout = Callout::new();

/// A callout: runs in the clock interrupt, takes the spin mutex, re-arms itself.
fn intr_callout(_: usize) {
    if M::intr_enabled() {
        INTR_BAD.fetch_add(1, SeqCst);
    }
    INTR_MUTEX.enter();
    let v = INTR_COUNT.load(Relaxed);
    INTR_COUNT.store(v + 1, Relaxed);
    INTR_MUTEX.exit();
    if M::intr_enabled() {
        INTR_BAD.fetch_add(1, SeqCst);
    }
    if INTR_RUNS.fetch_add(1, SeqCst) + 1 < INTR_WANT {
        INTR_CALLOUT.timeout(intr_callout, 0, 1);
    }
}

fn intr_worker(_: usize) {
    let mut n = 0;
    while !STOP.load(Relaxed) {
        INTR_MUTEX.enter();
        let v = INTR_COUNT.load(Relaxed);
        work(200);
        INTR_COUNT.store(v + 1, Relaxed);
        INTR_MUTEX.exit();
        n += 1;
    }
    CS_ENTRIES.fetch_add(n, SeqCst);
    DONE.fetch_add(1, SeqCst);
}

/// A spin mutex is shared between threads and an interrupt handler (a callout, run
/// by the clock interrupt): the handler takes it with interrupts off, the threads
/// take it with interrupts off, and the shared counter is exact.
pub(super) fn sync_spin_mutex_in_interrupt_handler() -> TestResult {
    reset();
    INTR_COUNT.store(0, SeqCst);
    INTR_RUNS.store(0, SeqCst);
    INTR_BAD.store(0, SeqCst);
    CS_ENTRIES.store(0, SeqCst);
    let n = M::ncpus() + 1;
    for _ in 0..n {
        spawn_ts("intr_cs", intr_worker, 0);
    }
    INTR_CALLOUT.timeout(intr_callout, 0, 1);
    let r = wait_for("the interrupt handler's runs", 5, || INTR_RUNS.load(SeqCst) >= INTR_WANT);
    STOP.store(true, SeqCst);
    wait_for("the workers", 10, || DONE.load(SeqCst) == n)?;
    r?;
    ensure_eq!(INTR_BAD.load(SeqCst), 0);
    ensure_eq!(INTR_COUNT.load(SeqCst), CS_ENTRIES.load(SeqCst) + INTR_RUNS.load(SeqCst));
    Ok(())
}
