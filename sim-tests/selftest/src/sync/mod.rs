//! Self-tests of the synchronization objects (S8, S9): run in QEMU (one CPU, under
//! clock preemption) and on the host simulation (1 to 8 CPUs).
//!
//! Each test measures what it claims: critical sections that really were preempted
//! or really contended (the `sync::STATS` counts of spins, blocks and hand-offs),
//! readers really inside together, a priority really inherited while the waiter
//! was blocked, and the order in which threads really finished.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::vec::Vec;
use core::hint::black_box;
use core::sync::atomic::Ordering::{Relaxed, SeqCst};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize};

use arch::cell::StaticRef;
use arch::Machine;

use crate::{crowd, ensure, ensure_eq, spawn, spawn_ts, wait_for, Test, TestResult};
use kern::class::{self, SchedClass};
use kern::sync::turnstile::blocked_on;
use kern::sync::{CondVar, KMutex, KRwLock, Mutex, MutexKind, RwLock, RwMode, Sema, STATS};
use kern::thread::{curthread, thread_create_bound, KThread, ThreadState};
use kern::{callout, clock, disp, kprintln, sleepq, M};

/// The synchronization suite, in the order it runs.
pub static SYNC: &[Test] = &[
    Test::new("sync_mutex_counter_adaptive", sync_mutex_counter_adaptive),
    Test::new("sync_mutex_counter_block", sync_mutex_counter_block),
    Test::new("sync_mutex_counter_spin", sync_mutex_counter_spin),
    Test::new("sync_mutex_try_enter_and_owner", sync_mutex_try_enter_and_owner),
    Test::new("sync_adaptive_blocks_when_owner_sleeps", sync_adaptive_blocks_when_owner_sleeps),
    Test::new("sync_spin_mutex_in_interrupt_handler", sync_spin_mutex_in_interrupt_handler),
    Test::new("sync_cv_producer_consumer", sync_cv_producer_consumer),
    Test::new("sync_cv_timedwait", sync_cv_timedwait),
    Test::new("sync_cv_signal_one_broadcast_all", sync_cv_signal_one_broadcast_all),
    Test::new("sync_sema_never_over_admits", sync_sema_never_over_admits),
    Test::new("sync_sema_p_v_try_p", sync_sema_p_v_try_p),
    Test::new("sync_rwlock_readers_overlap", sync_rwlock_readers_overlap),
    Test::new("sync_rwlock_writer_not_starved", sync_rwlock_writer_not_starved),
    Test::new("sync_rwlock_try_downgrade_upgrade", sync_rwlock_try_downgrade_upgrade),
    Test::new("sync_pi_mutex_inversion", sync_pi_mutex_inversion),
    Test::new("sync_pi_chain_of_two_locks", sync_pi_chain_of_two_locks),
    Test::new("sync_pi_recomputed_on_release", sync_pi_recomputed_on_release),
    Test::new("sync_pi_rwlock_writer", sync_pi_rwlock_writer),
    Test::explicit("sync_deadlock_detected", sync_deadlock_detected),
    Test::explicit("sync_mutex_recursive_enter_reported", sync_mutex_recursive_enter_reported),
    Test::explicit("sync_mutex_exit_by_non_owner_reported", sync_mutex_exit_by_non_owner_reported),
];

// ------------------------------------------------------------------ helpers

/// Sleeps (a tick at a time) until `done()` holds: for test threads, which give up
/// when the machine halts.
fn sleep_until(done: impl Fn() -> bool) {
    while !done() {
        sleepq::delay(1);
    }
}

/// Creates and starts a SYS thread one above the test thread's priority: it runs
/// as soon as the test thread sleeps, and before any TS thread.
fn spawn_sys(name: &'static str, f: fn(usize), arg: usize) -> &'static KThread {
    spawn(name, f, arg, SchedClass::Sys, class::SYS_PRI + 1, None)
}

/// Makes all of `ts` runnable before any of them runs, then lets the best run.
fn start_together(ts: &[&'static KThread]) {
    let was = M::intr_disable();
    for t in ts {
        disp::setrun(t);
    }
    M::intr_restore(was);
    disp::kpreempt();
}

fn mix(x: u64, y: u64) -> u64 {
    (x ^ y).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(23)
}

/// CPU work that the compiler cannot remove.
fn work(n: u64) -> u64 {
    let mut x = 0;
    for i in 0..n {
        x = mix(x, black_box(i));
    }
    black_box(x)
}

/// Spins on the CPU (never yields) for `ticks` clock ticks.
fn spin_ticks(ticks: u64) {
    let end = clock::lbolt() + ticks;
    while clock::lbolt() < end {
        work(50);
    }
}

fn same(a: Option<&KThread>, b: &KThread) -> bool {
    a.is_some_and(|a| core::ptr::eq(a, b))
}

/// Prints what a test measured, on a line of its own before the test's verdict.
macro_rules! measured {
    ($($arg:tt)*) => { kprintln!("  measured: {}", format_args!($($arg)*)) };
}

static DONE: AtomicUsize = AtomicUsize::new(0);
static STOP: AtomicBool = AtomicBool::new(false);
/// A sequence number: threads take one to record the order of events.
static SEQ: AtomicU64 = AtomicU64::new(1);

fn reset() {
    DONE.store(0, SeqCst);
    STOP.store(false, SeqCst);
}

fn next_seq() -> u64 {
    SEQ.fetch_add(1, SeqCst)
}

// ------------------------------------------------------------------ mutex counters

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
/// every tick on every CPU by a SYS thread: the count is exact and at most one thread is ever inside.
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
        "{kind:?}: {} sections by {n} threads, {} preempted inside; {} spin waits, {} adaptive spins, {} blocks, {} hand-offs",
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

fn sync_mutex_counter_adaptive() -> TestResult {
    mutex_counter(MutexKind::Adaptive)
}

fn sync_mutex_counter_block() -> TestResult {
    mutex_counter(MutexKind::Block)
}

fn sync_mutex_counter_spin() -> TestResult {
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
fn sync_mutex_try_enter_and_owner() -> TestResult {
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
fn sync_adaptive_blocks_when_owner_sleeps() -> TestResult {
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
        callout::timeout(intr_callout, 0, 1);
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
fn sync_spin_mutex_in_interrupt_handler() -> TestResult {
    reset();
    INTR_COUNT.store(0, SeqCst);
    INTR_RUNS.store(0, SeqCst);
    INTR_BAD.store(0, SeqCst);
    CS_ENTRIES.store(0, SeqCst);
    let n = M::ncpus() + 1;
    for _ in 0..n {
        spawn_ts("intr_cs", intr_worker, 0);
    }
    callout::timeout(intr_callout, 0, 1);
    let r = wait_for("the interrupt handler's runs", 5, || INTR_RUNS.load(SeqCst) >= INTR_WANT);
    STOP.store(true, SeqCst);
    wait_for("the workers", 10, || DONE.load(SeqCst) == n)?;
    r?;
    ensure_eq!(INTR_BAD.load(SeqCst), 0);
    ensure_eq!(INTR_COUNT.load(SeqCst), CS_ENTRIES.load(SeqCst) + INTR_RUNS.load(SeqCst));
    Ok(())
}

// ------------------------------------------------------------------ condition variables

struct Buffer {
    q: VecDeque<u32>,
    consumed: u32,
}

const BUF_CAP: usize = 2;
static BUF: Mutex<Buffer> = Mutex::new(Buffer { q: VecDeque::new(), consumed: 0 });
static NOT_FULL: CondVar = CondVar::new();
static NOT_EMPTY: CondVar = CondVar::new();
static PC_ITEMS: AtomicU64 = AtomicU64::new(0);
static PC_SEEN: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static PC_WAITS: AtomicU64 = AtomicU64::new(0);
const PER_PRODUCER: u32 = 150;

fn producer(p: usize) {
    for i in 0..PER_PRODUCER {
        let mut g = BUF.lock();
        while g.q.len() >= BUF_CAP {
            PC_WAITS.fetch_add(1, Relaxed);
            g = NOT_FULL.wait(g);
        }
        g.q.push_back(p as u32 * PER_PRODUCER + i);
        NOT_EMPTY.signal();
        drop(g);
        if i % 8 == 0 {
            work(200);
        }
    }
    DONE.fetch_add(1, SeqCst);
}

fn consumer(_: usize) {
    let total = PC_ITEMS.load(SeqCst) as u32;
    loop {
        let mut g = BUF.lock();
        let item = loop {
            if let Some(x) = g.q.pop_front() {
                g.consumed += 1;
                if g.consumed == total {
                    NOT_EMPTY.broadcast();
                }
                break Some(x);
            }
            if g.consumed == total {
                break None;
            }
            PC_WAITS.fetch_add(1, Relaxed);
            g = NOT_EMPTY.wait(g);
        };
        NOT_FULL.signal();
        drop(g);
        let Some(x) = item else { break };
        let mut seen = PC_SEEN.lock();
        seen[x as usize] = seen[x as usize].saturating_add(1);
    }
    DONE.fetch_add(1, SeqCst);
}

/// Producers and consumers (TS threads, preempted at will) pass items through a
/// two-slot buffer guarded by a mutex and two condition variables: every item
/// arrives exactly once, and both sides really waited.
fn sync_cv_producer_consumer() -> TestResult {
    reset();
    let (np, nc) = (M::ncpus() + 1, M::ncpus() + 1);
    let total = np as u64 * u64::from(PER_PRODUCER);
    PC_ITEMS.store(total, SeqCst);
    PC_WAITS.store(0, SeqCst);
    {
        let mut g = BUF.lock();
        g.q.clear();
        g.consumed = 0;
    }
    *PC_SEEN.lock() = alloc::vec![0; total as usize];
    for c in 0..nc {
        spawn_ts("consumer", consumer, c);
    }
    for p in 0..np {
        spawn_ts("producer", producer, p);
    }
    wait_for("producers and consumers", 20, || DONE.load(SeqCst) == np + nc)?;
    let seen = PC_SEEN.lock();
    let lost = seen.iter().filter(|&&c| c == 0).count();
    let dup = seen.iter().filter(|&&c| c > 1).count();
    ensure!(lost == 0 && dup == 0, "{lost} items lost, {dup} items delivered twice, of {total}");
    ensure!(BUF.lock().q.is_empty(), "items left in the buffer");
    ensure!(
        PC_WAITS.load(SeqCst) > 0,
        "nobody ever waited: the test did not exercise the condition variables"
    );
    ensure_eq!(NOT_EMPTY.waiters() + NOT_FULL.waiters(), 0);
    Ok(())
}

static TW_MUTEX: Mutex<bool> = Mutex::new(false);
static TW_CV: CondVar = CondVar::new();
static TW_RAW: KMutex = KMutex::new(MutexKind::Block);

fn tw_signaller(_: usize) {
    sleepq::delay(2);
    *TW_MUTEX.lock() = true;
    TW_CV.signal();
    DONE.fetch_add(1, SeqCst);
}

/// A timed wait with nobody signalling times out after its ticks and says so; one
/// that is signalled first returns early and says it was woken.
fn sync_cv_timedwait() -> TestResult {
    reset();
    *TW_MUTEX.lock() = false;
    // Nobody signals.
    let t0 = clock::lbolt();
    let g = TW_MUTEX.lock();
    let (g, timed_out) = TW_CV.wait_timeout(g, 5);
    let waited = clock::lbolt() - t0;
    let held = TW_MUTEX.held();
    drop(g);
    ensure!(held, "the mutex was not entered again after the timed wait");
    ensure!(timed_out, "a timed wait with no signal did not report a timeout");
    ensure!((5..=50).contains(&waited), "a 5-tick timed wait took {waited} ticks");
    // The kmutex-style call on a blocking mutex, too.
    TW_RAW.enter();
    let t0 = clock::lbolt();
    let woken = TW_CV.timedwait_raw(&TW_RAW, 3);
    let waited = clock::lbolt() - t0;
    let held = TW_RAW.held();
    TW_RAW.exit();
    ensure!(
        !woken && held && waited >= 3,
        "timedwait_raw: woken {woken}, held {held}, {waited} ticks"
    );
    // Signalled after 2 ticks, long before the 100-tick limit.
    spawn_sys("signaller", tw_signaller, 0);
    let t0 = clock::lbolt();
    let mut g = TW_MUTEX.lock();
    let mut timed_out = false;
    while !*g && !timed_out {
        (g, timed_out) = TW_CV.wait_timeout(g, 100);
    }
    let waited = clock::lbolt() - t0;
    drop(g);
    wait_for("the signaller", 5, || DONE.load(SeqCst) == 1)?;
    ensure!(!timed_out, "a signalled timed wait reported a timeout after {waited} ticks");
    ensure!(waited < 100, "a signalled timed wait took {waited} ticks");
    Ok(())
}

static TOK_MUTEX: Mutex<u32> = Mutex::new(0);
static TOK_CV: CondVar = CondVar::new();
static TOK_TAKEN: AtomicUsize = AtomicUsize::new(0);

fn token_taker(_: usize) {
    let mut g = TOK_MUTEX.lock();
    g = TOK_CV.wait_while(g, |tokens| *tokens == 0);
    *g -= 1;
    drop(g);
    TOK_TAKEN.fetch_add(1, SeqCst);
    DONE.fetch_add(1, SeqCst);
}

/// With N threads waiting, `signal` wakes one (one token is taken, the rest keep
/// waiting), `broadcast` wakes all.
fn sync_cv_signal_one_broadcast_all() -> TestResult {
    reset();
    TOK_TAKEN.store(0, SeqCst);
    *TOK_MUTEX.lock() = 0;
    let n = crowd();
    let ts: Vec<_> = (0..n).map(|_| spawn_ts("taker", token_taker, 0)).collect();
    wait_for("every taker to sleep", 5, || {
        TOK_CV.waiters() == n && ts.iter().all(|t| t.state() == ThreadState::Sleep)
    })?;
    *TOK_MUTEX.lock() += 1;
    TOK_CV.signal();
    wait_for("one taker", 5, || TOK_TAKEN.load(SeqCst) == 1)?;
    sleepq::delay(3);
    ensure_eq!(TOK_TAKEN.load(SeqCst), 1);
    ensure_eq!(TOK_CV.waiters(), n - 1);
    *TOK_MUTEX.lock() += (n - 1) as u32;
    TOK_CV.broadcast();
    wait_for("every taker after the broadcast", 5, || DONE.load(SeqCst) == n)?;
    ensure_eq!(*TOK_MUTEX.lock(), 0);
    ensure_eq!(TOK_CV.waiters(), 0);
    Ok(())
}

// ------------------------------------------------------------------ semaphores

static SEMA: Sema = Sema::new(3);
static SEMA_INSIDE: AtomicUsize = AtomicUsize::new(0);
static SEMA_MAX: AtomicUsize = AtomicUsize::new(0);

fn sema_worker(k: usize) {
    for i in 0..6 {
        SEMA.p();
        let inside = SEMA_INSIDE.fetch_add(1, SeqCst) + 1;
        SEMA_MAX.fetch_max(inside, SeqCst);
        if (i + k).is_multiple_of(2) {
            sleepq::delay(1);
        } else {
            work(2000);
        }
        SEMA_INSIDE.fetch_sub(1, SeqCst);
        SEMA.v();
    }
    DONE.fetch_add(1, SeqCst);
}

/// A semaphore of 3 shared by more threads than CPUs (some sleeping while they
/// hold a unit) never lets more than 3 in, and does let 3 in.
fn sync_sema_never_over_admits() -> TestResult {
    reset();
    SEMA_INSIDE.store(0, SeqCst);
    SEMA_MAX.store(0, SeqCst);
    let n = crowd() + 2;
    for k in 0..n {
        spawn_ts("sema", sema_worker, k);
    }
    wait_for("the semaphore users", 20, || DONE.load(SeqCst) == n)?;
    ensure_eq!(SEMA_MAX.load(SeqCst), 3);
    ensure_eq!(SEMA.count(), 3);
    Ok(())
}

static SEMA0: Sema = Sema::new(0);
static SEMA_PASSED: AtomicBool = AtomicBool::new(false);

fn sema_p_waiter(_: usize) {
    SEMA0.p();
    SEMA_PASSED.store(true, SeqCst);
    DONE.fetch_add(1, SeqCst);
}

/// `try_p` takes a unit only if there is one; `p` on an empty semaphore sleeps
/// until a `v`.
fn sync_sema_p_v_try_p() -> TestResult {
    let s = Sema::new(1);
    ensure!(s.try_p(), "try_p of a semaphore holding 1 failed");
    ensure!(!s.try_p(), "try_p of an empty semaphore succeeded");
    ensure_eq!(s.count(), 0);
    s.v();
    ensure_eq!(s.count(), 1);
    s.p();
    ensure_eq!(s.count(), 0);
    reset();
    SEMA_PASSED.store(false, SeqCst);
    let t = spawn_sys("p", sema_p_waiter, 0);
    wait_for("the waiter to sleep", 5, || t.state() == ThreadState::Sleep)?;
    sleepq::delay(2);
    ensure!(!SEMA_PASSED.load(SeqCst), "p passed an empty semaphore");
    SEMA0.v();
    wait_for("the waiter to pass", 5, || DONE.load(SeqCst) == 1)?;
    ensure!(SEMA_PASSED.load(SeqCst) && SEMA0.count() == 0, "the unit was not taken by the waiter");
    Ok(())
}

// ------------------------------------------------------------------ rwlocks

static RW: RwLock<u64> = RwLock::new(0);
static RW_INSIDE: AtomicUsize = AtomicUsize::new(0);
static RW_MAX: AtomicUsize = AtomicUsize::new(0);
static RW_BAD: AtomicU64 = AtomicU64::new(0);
static RW_TRIED: AtomicBool = AtomicBool::new(false);

fn overlap_reader(_: usize) {
    let g = RW.read();
    let inside = RW_INSIDE.fetch_add(1, SeqCst) + 1;
    RW_MAX.fetch_max(inside, SeqCst);
    // Never yields: on one CPU another reader gets in only when this one is
    // preempted inside. Stays until two were seen inside and the test thread has
    // tried to write meanwhile.
    let deadline = M::now_ns() + 3_000_000_000;
    while (RW_MAX.load(SeqCst) < 2 || !RW_TRIED.load(SeqCst)) && M::now_ns() < deadline {
        work(50);
    }
    if *g != 7 {
        RW_BAD.fetch_add(1, SeqCst);
    }
    RW_INSIDE.fetch_sub(1, SeqCst);
    drop(g);
    DONE.fetch_add(1, SeqCst);
}

/// Readers hold the lock together: at least two are observed inside at once (on
/// several CPUs, side by side; on one, a reader preempted inside lets the next one
/// in). A writer is kept out while they are in, and gets in after.
fn sync_rwlock_readers_overlap() -> TestResult {
    reset();
    RW_INSIDE.store(0, SeqCst);
    RW_MAX.store(0, SeqCst);
    RW_BAD.store(0, SeqCst);
    *RW.write() = 7;
    let n = M::ncpus().max(2) + 1;
    for _ in 0..n {
        spawn_ts("reader", overlap_reader, 0);
    }
    RW_TRIED.store(false, SeqCst);
    let r = wait_for("a reader inside", 5, || RW_INSIDE.load(SeqCst) > 0);
    let refused = RW.try_write().is_none();
    RW_TRIED.store(true, SeqCst);
    r?;
    wait_for("the readers", 10, || DONE.load(SeqCst) == n)?;
    measured!("up to {} readers inside at once", RW_MAX.load(SeqCst));
    ensure!(
        RW_MAX.load(SeqCst) >= 2,
        "readers never overlapped (at most {} inside)",
        RW_MAX.load(SeqCst)
    );
    ensure_eq!(RW_BAD.load(SeqCst), 0);
    ensure!(refused, "try_write succeeded while a reader was inside");
    ensure!(RW.try_write().is_some(), "try_write failed once the readers left");
    ensure!(!RW.raw().read_held() && RW.raw().writer().is_none(), "{:?} still held", RW.raw());
    Ok(())
}

static STREAM: KRwLock = KRwLock::new();
static STREAM_ENTRIES: AtomicU64 = AtomicU64::new(0);
static WRITES: AtomicU64 = AtomicU64::new(0);
static WRITER_SAW_READERS: AtomicU64 = AtomicU64::new(0);
static WRITE_WAIT_TICKS: AtomicU64 = AtomicU64::new(0);

/// Reads in overlapping relays: stays inside until another reader has entered
/// after it (or 3 ticks pass), so that without writer preference the lock would
/// never be free.
fn stream_reader(_: usize) {
    while !STOP.load(SeqCst) {
        STREAM.enter(RwMode::Read);
        let entered = STREAM_ENTRIES.fetch_add(1, SeqCst) + 1;
        RW_INSIDE.fetch_add(1, SeqCst);
        let t0 = clock::lbolt();
        while STREAM_ENTRIES.load(SeqCst) == entered && clock::lbolt() < t0 + 3 {
            sleepq::delay(1);
        }
        RW_INSIDE.fetch_sub(1, SeqCst);
        STREAM.exit();
    }
    DONE.fetch_add(1, SeqCst);
}

fn stream_writer(_: usize) {
    for round in 0..3 {
        let t0 = clock::lbolt();
        STREAM.enter(RwMode::Write);
        WRITE_WAIT_TICKS.fetch_max(clock::lbolt() - t0, SeqCst);
        if RW_INSIDE.load(SeqCst) != 0 {
            WRITER_SAW_READERS.fetch_add(1, SeqCst);
        }
        work(1000);
        WRITES.fetch_add(1, SeqCst);
        STREAM.exit();
        // Let the readers' stream build up again.
        let e = STREAM_ENTRIES.load(SeqCst);
        if round < 2 {
            sleep_until(|| STOP.load(SeqCst) || STREAM_ENTRIES.load(SeqCst) >= e + 4);
        }
    }
    DONE.fetch_add(1, SeqCst);
}

/// A writer is not starved by a stream of readers that always overlap (so the lock
/// is never free of readers by itself): once the writer waits, new readers block
/// behind it, the ones inside drain out, and the writer gets in, three times, each
/// within a few ticks; the readers stream on between the writes.
fn sync_rwlock_writer_not_starved() -> TestResult {
    reset();
    RW_INSIDE.store(0, SeqCst);
    STREAM_ENTRIES.store(0, SeqCst);
    WRITES.store(0, SeqCst);
    WRITER_SAW_READERS.store(0, SeqCst);
    WRITE_WAIT_TICKS.store(0, SeqCst);
    let nr = M::ncpus() + 2;
    for _ in 0..nr {
        spawn_ts("stream_reader", stream_reader, 0);
    }
    wait_for("the reader stream", 5, || STREAM_ENTRIES.load(SeqCst) >= 2 * nr as u64)?;
    let s0 = STATS.snapshot();
    spawn_ts("writer", stream_writer, 0);
    let r = wait_for("three writes", 10, || WRITES.load(SeqCst) == 3);
    let entries_at_end = STREAM_ENTRIES.load(SeqCst);
    STOP.store(true, SeqCst);
    let finished = wait_for("the readers and the writer", 10, || DONE.load(SeqCst) == nr + 1);
    r.map_err(|e| {
        format!(
            "{e}: the writer starved ({} writes, {} reader entries)",
            WRITES.load(SeqCst),
            entries_at_end
        )
    })?;
    finished.map_err(|e| format!("{e}: {} of {} done, {:?}", DONE.load(SeqCst), nr + 1, STREAM))?;
    let s = STATS.snapshot().since(&s0);
    measured!(
        "3 writes among {} reader entries, the longest write wait {} ticks, {} readers held off, the writer blocked {} times",
        entries_at_end,
        WRITE_WAIT_TICKS.load(SeqCst),
        s.rw_read_blocks,
        s.rw_write_blocks
    );
    ensure_eq!(WRITER_SAW_READERS.load(SeqCst), 0);
    ensure!(s.rw_read_blocks > 0, "no reader was held off by the waiting writer: {s:?}");
    ensure!(
        s.rw_write_blocks > 0,
        "the writer never had to wait: the readers did not overlap ({s:?})"
    );
    let w = WRITE_WAIT_TICKS.load(SeqCst);
    ensure!(w <= 30, "a write waited {w} ticks");
    Ok(())
}

static DG: RwLock<u64> = RwLock::new(0);
static DG_READER_IN: AtomicBool = AtomicBool::new(false);
static DG_WRITER_IN: AtomicBool = AtomicBool::new(false);
static DG_RESULT: AtomicU8 = AtomicU8::new(0);
static DG_MODE: AtomicU8 = AtomicU8::new(0);

/// Tries the lock from another thread: bit 0 try_read succeeded, bit 1 try_write did.
fn dg_try(_: usize) {
    let mut r = 0;
    if let Some(g) = DG.try_read() {
        drop(g);
        r |= 1;
    }
    if let Some(g) = DG.try_write() {
        drop(g);
        r |= 2;
    }
    DG_RESULT.store(r | 4, SeqCst);
    DONE.fetch_add(1, SeqCst);
}

fn dg_try_from_other() -> Result<u8, alloc::string::String> {
    let d = DONE.load(SeqCst);
    DG_RESULT.store(0, SeqCst);
    spawn_sys("try", dg_try, 0);
    wait_for("the try", 5, || DONE.load(SeqCst) > d)?;
    Ok(DG_RESULT.load(SeqCst) & 3)
}

fn dg_reader(_: usize) {
    let g = DG.read();
    DG_READER_IN.store(true, SeqCst);
    if *g != 1 {
        DG_RESULT.store(99, SeqCst);
    }
    sleep_until(|| STOP.load(SeqCst) || DG_MODE.load(SeqCst) == 1);
    drop(g);
    DG_READER_IN.store(false, SeqCst);
    DONE.fetch_add(1, SeqCst);
}

fn dg_writer(_: usize) {
    let mut g = DG.write();
    DG_WRITER_IN.store(true, SeqCst);
    *g += 1;
    drop(g);
    DONE.fetch_add(1, SeqCst);
}

/// `try_read`/`try_write` from another thread: refused by a writer; a reader lets
/// readers in and keeps writers out. A downgrade lets in the reader that was
/// blocked behind the write hold, not the writer queued after it. An upgrade
/// succeeds for the only reader and fails while another reader is inside.
fn sync_rwlock_try_downgrade_upgrade() -> TestResult {
    reset();
    DG_MODE.store(0, SeqCst);
    DG_READER_IN.store(false, SeqCst);
    DG_WRITER_IN.store(false, SeqCst);
    *DG.write() = 0;
    // Write-held: both refused.
    let w = DG.write();
    ensure_eq!(dg_try_from_other()?, 0);
    drop(w);
    // Read-held: readers in, writers out.
    let r = DG.read();
    ensure_eq!(dg_try_from_other()?, 1);
    drop(r);
    ensure_eq!(dg_try_from_other()?, 3);

    // Downgrade with a reader and then a writer blocked behind the write hold.
    let d0 = DONE.load(SeqCst);
    let mut w = DG.write();
    *w = 1;
    let rt = spawn_sys("dg_reader", dg_reader, 0);
    wait_for("the reader to block", 5, || blocked_on(rt) == Some(DG.raw().addr()))?;
    let wt = spawn_sys("dg_writer", dg_writer, 0);
    wait_for("the writer to block", 5, || blocked_on(wt) == Some(DG.raw().addr()))?;
    let r = w.downgrade();
    wait_for("the blocked reader to get in beside the downgraded hold", 5, || {
        DG_READER_IN.load(SeqCst)
    })?;
    ensure!(*r == 1, "the downgraded hold reads {}", *r);
    ensure!(DG.raw().readers() == 2, "{:?}: expected two readers", DG.raw());
    ensure!(
        blocked_on(wt).is_some() && !DG_WRITER_IN.load(SeqCst),
        "the writer got in after a downgrade"
    );
    // Two readers inside (and a writer waiting): no upgrade.
    let r = match r.try_upgrade() {
        Ok(_) => return Err("try_upgrade succeeded with two readers inside".into()),
        Err(r) => r,
    };
    drop(r);
    DG_MODE.store(1, SeqCst);
    wait_for("the reader and the writer", 5, || DONE.load(SeqCst) == d0 + 2)?;
    ensure!(DG_WRITER_IN.load(SeqCst), "the writer never got in");
    ensure!(
        DG_RESULT.load(SeqCst) != 99,
        "the reader let in by the downgrade did not see the write"
    );

    // Upgrade as the only reader.
    let r = DG.read();
    let mut w = match r.try_upgrade() {
        Ok(w) => w,
        Err(_) => return Err("try_upgrade failed for the only reader".into()),
    };
    ensure!(DG.raw().write_held(), "upgraded, but not write-held by this thread");
    *w = 5;
    ensure_eq!(dg_try_from_other()?, 0);
    let r = w.downgrade();
    ensure_eq!(*r, 5);
    ensure_eq!(dg_try_from_other()?, 1);
    drop(r);
    ensure!(!DG.raw().read_held() && DG.raw().writer().is_none(), "{:?} still held", DG.raw());
    Ok(())
}

// ------------------------------------------------------------------ priority inheritance

static PI_M1: KMutex = KMutex::new(MutexKind::Adaptive);
static PI_M2: KMutex = KMutex::new(MutexKind::Adaptive);
static PI_HIGH: StaticRef<KThread> = StaticRef::none();
static PI_HOLDS: AtomicBool = AtomicBool::new(false);
/// What the owner saw of itself while the high-priority waiter was blocked:
/// its priority, its inherited priority (0: none), and the lowest priority it ran
/// at while working with the lock held.
static PI_OWNER_PRI: AtomicU8 = AtomicU8::new(0);
static PI_OWNER_EPRI: AtomicU8 = AtomicU8::new(0);
static PI_OWNER_MINPRI: AtomicU8 = AtomicU8::new(0);
/// After the release: inherited (0: none), and priority.
static PI_AFTER_EPRI: AtomicU8 = AtomicU8::new(0);
static PI_AFTER_PRI: AtomicU8 = AtomicU8::new(0);
static PI_AFTER_BASE: AtomicU8 = AtomicU8::new(0);
/// A middle thread's view after it got the first lock back (chain test).
static PI_MID_EPRI: AtomicU8 = AtomicU8::new(0);
static PI_MID_AFTER_EPRI: AtomicU8 = AtomicU8::new(0);
static PI_OWNER_DONE: AtomicU64 = AtomicU64::new(0);
static PI_MED_DONE: AtomicU64 = AtomicU64::new(0);
static PI_HIGH_GOT: AtomicU64 = AtomicU64::new(0);
const PI_HIGH_PRI: u8 = class::RT_MINPRI;
const PI_MED_PRI: u8 = class::SYS_PRI + 10;

fn pi_reset() {
    reset();
    PI_HIGH.set(None);
    PI_HOLDS.store(false, SeqCst);
    for a in [
        &PI_OWNER_PRI,
        &PI_OWNER_EPRI,
        &PI_OWNER_MINPRI,
        &PI_AFTER_EPRI,
        &PI_AFTER_PRI,
        &PI_AFTER_BASE,
        &PI_MID_EPRI,
        &PI_MID_AFTER_EPRI,
    ] {
        a.store(0, SeqCst);
    }
    for a in [&PI_OWNER_DONE, &PI_MED_DONE, &PI_HIGH_GOT] {
        a.store(0, SeqCst);
    }
}

/// Whether the high-priority thread is blocked on `m`.
fn high_blocked_on(m: &KMutex) -> bool {
    PI_HIGH.get().is_some_and(|h| blocked_on(h) == Some(m.addr()))
}

/// The low-priority owner: holds `PI_M1`, sleeps until the high-priority thread is
/// blocked on `waited_on` (M1, or M2 in the chain test), notes its own priority,
/// then works on the CPU for 3 ticks holding the lock, and releases it.
fn pi_owner(chain: usize) {
    let me = curthread();
    PI_M1.enter();
    PI_HOLDS.store(true, SeqCst);
    let waited_on = if chain == 1 { &PI_M2 } else { &PI_M1 };
    sleep_until(|| high_blocked_on(waited_on));
    PI_OWNER_PRI.store(me.pri(), SeqCst);
    PI_OWNER_EPRI.store(me.inherited_pri().unwrap_or(0), SeqCst);
    let mut min = u8::MAX;
    let end = clock::lbolt() + 3;
    while clock::lbolt() < end {
        work(50);
        min = min.min(me.pri());
    }
    PI_OWNER_MINPRI.store(min, SeqCst);
    PI_OWNER_DONE.store(next_seq(), SeqCst);
    PI_M1.exit();
    PI_AFTER_EPRI.store(me.inherited_pri().unwrap_or(0), SeqCst);
    PI_AFTER_PRI.store(me.pri(), SeqCst);
    PI_AFTER_BASE.store(me.base_pri(), SeqCst);
    DONE.fetch_add(1, SeqCst);
}

/// The middle of the chain: holds M2, then blocks on M1 (held by the owner).
fn pi_middle(_: usize) {
    let me = curthread();
    PI_M2.enter();
    PI_M1.enter();
    // Handed M1 by the owner; the high thread still waits on our M2.
    PI_MID_EPRI.store(me.inherited_pri().unwrap_or(0), SeqCst);
    PI_M1.exit();
    // Still inherits: from the waiter on M2, the lock we still hold.
    PI_MID_AFTER_EPRI.store(me.inherited_pri().unwrap_or(0), SeqCst);
    PI_M2.exit();
    PI_AFTER_EPRI.store(me.inherited_pri().unwrap_or(0), SeqCst);
    DONE.fetch_add(1, SeqCst);
}

/// The high-priority waiter: blocks on M1 (or M2 in the chain test).
fn pi_high(chain: usize) {
    let m = if chain == 1 { &PI_M2 } else { &PI_M1 };
    m.enter();
    PI_HIGH_GOT.store(next_seq(), SeqCst);
    m.exit();
    DONE.fetch_add(1, SeqCst);
}

/// The medium-priority CPU hog: 10 ticks on the CPU without a break.
fn pi_medium(_: usize) {
    spin_ticks(10);
    PI_MED_DONE.store(next_seq(), SeqCst);
    DONE.fetch_add(1, SeqCst);
}

/// Starts the high-priority waiter and the medium-priority hog, both bound to
/// `cpu`, queued together so that the waiter runs (and blocks) first.
fn start_high_and_medium(cpu: usize, chain: usize) {
    let h = thread_create_bound("pi_high", pi_high, chain, SchedClass::Rt, PI_HIGH_PRI, Some(cpu));
    let m = thread_create_bound("pi_medium", pi_medium, 0, SchedClass::Sys, PI_MED_PRI, Some(cpu));
    PI_HIGH.set(Some(h));
    start_together(&[h, m]);
}

/// Checks what the owner measured: it ran at the waiter's priority from the moment
/// the waiter blocked until it released the lock, finished before the CPU hog of
/// medium priority (which would have kept it off the CPU without inheritance), and
/// went back to its own priority after the release.
fn check_owner(chain: bool) -> TestResult {
    let (pri, epri, min) =
        (PI_OWNER_PRI.load(SeqCst), PI_OWNER_EPRI.load(SeqCst), PI_OWNER_MINPRI.load(SeqCst));
    measured!(
        "owner at {pri} (inherited {epri}, lowest {min}) while the waiter ({PI_HIGH_PRI}) was blocked; finish order: owner #{}, waiter #{}, hog ({PI_MED_PRI}) #{}",
        PI_OWNER_DONE.load(SeqCst),
        PI_HIGH_GOT.load(SeqCst),
        PI_MED_DONE.load(SeqCst)
    );
    ensure!(
        pri == PI_HIGH_PRI && epri == PI_HIGH_PRI,
        "while the waiter was blocked the owner ran at {pri}, inheriting {epri} (expected {PI_HIGH_PRI}){}",
        if chain { " through the chain" } else { "" }
    );
    ensure!(min >= PI_HIGH_PRI, "the owner dropped to priority {min} while it held the lock");
    let (owner, med, high) =
        (PI_OWNER_DONE.load(SeqCst), PI_MED_DONE.load(SeqCst), PI_HIGH_GOT.load(SeqCst));
    ensure!(owner < med, "the medium-priority hog finished (#{med}) before the boosted owner (#{owner}): no inheritance");
    ensure!(high > owner && high < med, "order: owner #{owner}, waiter #{high}, hog #{med}");
    Ok(())
}

/// Priority inversion, measured on one CPU: a TS owner, an RT waiter blocked on its
/// mutex and a SYS CPU hog in between. The owner inherits the waiter's priority
/// while the waiter is blocked (it reads `pri()` and `inherited_pri()` of itself),
/// so it finishes before the hog; after the release it is back to its own
/// priority, with nothing inherited.
fn sync_pi_mutex_inversion() -> TestResult {
    pi_reset();
    let cpu = M::ncpus() - 1;
    let s0 = STATS.snapshot();
    let o = thread_create_bound(
        "pi_owner",
        pi_owner,
        0,
        SchedClass::Ts,
        class::TS_DEFAULT_PRI,
        Some(cpu),
    );
    disp::setrun(o);
    wait_for("the owner to hold the mutex", 5, || PI_HOLDS.load(SeqCst))?;
    start_high_and_medium(cpu, 0);
    wait_for("the three threads", 10, || DONE.load(SeqCst) == 3)?;
    check_owner(false)?;
    let (after_e, after_p, base) =
        (PI_AFTER_EPRI.load(SeqCst), PI_AFTER_PRI.load(SeqCst), PI_AFTER_BASE.load(SeqCst));
    ensure!(
        after_e == 0 && after_p == base && base <= class::TS_MAXPRI,
        "after the release the owner inherits {after_e}, runs at {after_p} (base {base})"
    );
    ensure!(STATS.snapshot().since(&s0).pi_lends >= 1, "no priority was lent");
    Ok(())
}

/// Inheritance through a chain of two locks: the RT waiter blocks on M2, held by a
/// middle thread that is blocked on M1, held by the TS owner. The owner inherits
/// the waiter's priority through the middle thread and finishes before the hog.
/// The middle thread, handed M1, still inherits while it holds M2 (recomputed from
/// the locks it still holds), and nothing once it has released M2.
fn sync_pi_chain_of_two_locks() -> TestResult {
    pi_reset();
    let cpu = M::ncpus() - 1;
    let s0 = STATS.snapshot();
    let o = thread_create_bound(
        "pi_owner",
        pi_owner,
        1,
        SchedClass::Ts,
        class::TS_DEFAULT_PRI,
        Some(cpu),
    );
    disp::setrun(o);
    wait_for("the owner to hold M1", 5, || PI_HOLDS.load(SeqCst))?;
    let mid = thread_create_bound(
        "pi_middle",
        pi_middle,
        0,
        SchedClass::Ts,
        class::TS_DEFAULT_PRI,
        Some(cpu),
    );
    disp::setrun(mid);
    wait_for("the middle thread to block on M1", 5, || blocked_on(mid) == Some(PI_M1.addr()))?;
    start_high_and_medium(cpu, 1);
    wait_for("the four threads", 10, || DONE.load(SeqCst) == 4)?;
    check_owner(true)?;
    ensure_eq!(PI_MID_EPRI.load(SeqCst), PI_HIGH_PRI);
    ensure_eq!(PI_MID_AFTER_EPRI.load(SeqCst), PI_HIGH_PRI);
    ensure!(
        PI_AFTER_EPRI.load(SeqCst) == 0,
        "a thread still inherits {} after releasing everything",
        PI_AFTER_EPRI.load(SeqCst)
    );
    ensure!(STATS.snapshot().since(&s0).pi_lends >= 2, "the priority was not lent along the chain");
    Ok(())
}

static RC_A: KMutex = KMutex::new(MutexKind::Block);
static RC_B: KMutex = KMutex::new(MutexKind::Block);
static RC_WAITERS: [StaticRef<KThread>; 2] = [const { StaticRef::none() }; 2];
/// The holder's inherited priority: with both waiters, after leaving B, after A.
static RC_SEEN: [AtomicU8; 3] = [const { AtomicU8::new(0) }; 3];

fn rc_holder(_: usize) {
    let me = curthread();
    RC_A.enter();
    RC_B.enter();
    PI_HOLDS.store(true, SeqCst);
    let blocked =
        |i: usize, m: &KMutex| RC_WAITERS[i].get().is_some_and(|t| blocked_on(t) == Some(m.addr()));
    sleep_until(|| blocked(0, &RC_A) && blocked(1, &RC_B));
    RC_SEEN[0].store(me.inherited_pri().unwrap_or(0), SeqCst);
    RC_B.exit();
    RC_SEEN[1].store(me.inherited_pri().unwrap_or(0), SeqCst);
    RC_A.exit();
    RC_SEEN[2].store(me.inherited_pri().unwrap_or(0), SeqCst);
    DONE.fetch_add(1, SeqCst);
}

fn rc_waiter(i: usize) {
    let m = if i == 0 { &RC_A } else { &RC_B };
    m.enter();
    m.exit();
    DONE.fetch_add(1, SeqCst);
}

/// A thread holding two locks, with waiters of priorities 100 (on A) and 110 (on B),
/// inherits 110; after releasing B it inherits 100 (from A, which it still holds);
/// after releasing A, nothing.
fn sync_pi_recomputed_on_release() -> TestResult {
    pi_reset();
    for s in &RC_SEEN {
        s.store(0, SeqCst);
    }
    for w in &RC_WAITERS {
        w.set(None);
    }
    spawn_ts("rc_holder", rc_holder, 0);
    wait_for("the holder", 5, || PI_HOLDS.load(SeqCst))?;
    for (i, pri) in [(0, class::RT_MINPRI), (1, class::RT_MINPRI + 10)] {
        let t = thread_create_bound("rc_waiter", rc_waiter, i, SchedClass::Rt, pri, None);
        RC_WAITERS[i].set(Some(t));
        disp::setrun(t);
    }
    wait_for("the holder and the waiters", 10, || DONE.load(SeqCst) == 3)?;
    let seen: Vec<u8> = RC_SEEN.iter().map(|s| s.load(SeqCst)).collect();
    ensure!(
        seen == [class::RT_MINPRI + 10, class::RT_MINPRI, 0],
        "inherited priorities (both held, after B, after A) = {seen:?}, expected [{}, {}, 0]",
        class::RT_MINPRI + 10,
        class::RT_MINPRI
    );
    Ok(())
}

static PW: KRwLock = KRwLock::new();

fn pw_writer(_: usize) {
    let me = curthread();
    PW.enter(RwMode::Write);
    PI_HOLDS.store(true, SeqCst);
    sleep_until(|| PI_HIGH.get().is_some_and(|h| blocked_on(h) == Some(PW.addr())));
    PI_OWNER_EPRI.store(me.inherited_pri().unwrap_or(0), SeqCst);
    PW.exit();
    PI_AFTER_EPRI.store(me.inherited_pri().unwrap_or(0), SeqCst);
    DONE.fetch_add(1, SeqCst);
}

fn pw_reader(_: usize) {
    PW.enter(RwMode::Read);
    PW.exit();
    DONE.fetch_add(1, SeqCst);
}

/// A reader of RT priority blocked on a write-held rwlock lends its priority to the
/// writer, which gives it up with the lock.
fn sync_pi_rwlock_writer() -> TestResult {
    pi_reset();
    spawn_ts("pw_writer", pw_writer, 0);
    wait_for("the writer", 5, || PI_HOLDS.load(SeqCst))?;
    let r = thread_create_bound("pw_reader", pw_reader, 0, SchedClass::Rt, PI_HIGH_PRI, None);
    PI_HIGH.set(Some(r));
    disp::setrun(r);
    wait_for("the writer and the reader", 10, || DONE.load(SeqCst) == 2)?;
    ensure_eq!(PI_OWNER_EPRI.load(SeqCst), PI_HIGH_PRI);
    ensure_eq!(PI_AFTER_EPRI.load(SeqCst), 0);
    Ok(())
}

// ------------------------------------------------------------------ fatal on purpose

static DL: [KMutex; 2] = [KMutex::new(MutexKind::Adaptive), KMutex::new(MutexKind::Adaptive)];
static DL_THREADS: [StaticRef<KThread>; 2] = [const { StaticRef::none() }; 2];
static DL_HOLDS: [AtomicBool; 2] = [const { AtomicBool::new(false) }; 2];

fn dl_thread(k: usize) {
    DL[k].enter();
    DL_HOLDS[k].store(true, SeqCst);
    sleep_until(|| DL_HOLDS[1 - k].load(SeqCst));
    if k == 1 {
        // Let the first thread block on our lock, then close the cycle.
        sleep_until(|| DL_THREADS[0].get().is_some_and(|t| blocked_on(t) == Some(DL[1].addr())));
    }
    DL[1 - k].enter();
    DL[1 - k].exit();
    DL[k].exit();
    DONE.fetch_add(1, SeqCst);
}

/// Runs only when named: two threads each hold one mutex and want the other's. The
/// second one to block closes the cycle: the kernel must panic with a deadlock
/// report naming both threads (`scripts/test` checks it).
fn sync_deadlock_detected() -> TestResult {
    reset();
    for (k, name) in ["deadlock_a", "deadlock_b"].into_iter().enumerate() {
        let t = thread_create_bound(name, dl_thread, k, SchedClass::Sys, class::SYS_PRI + 1, None);
        DL_THREADS[k].set(Some(t));
    }
    for t in &DL_THREADS {
        disp::setrun(t.get().expect("created"));
    }
    wait_for("the deadlock report", 10, || false)?;
    Err("the deadlock was not detected".into())
}

static REC: KMutex = KMutex::new(MutexKind::Adaptive);

/// Runs only when named: enters a mutex twice. The kernel must panic, naming the
/// thread.
fn sync_mutex_recursive_enter_reported() -> TestResult {
    REC.enter();
    REC.enter();
    Err("a recursive mutex_enter was not reported".into())
}

static NONOWNER: KMutex = KMutex::new(MutexKind::Block);

fn nonowner_holder(_: usize) {
    NONOWNER.enter();
    HELPER_HOLDS.store(true, SeqCst);
    sleep_until(|| false);
}

/// Runs only when named: exits a mutex that another thread holds. The kernel must
/// panic, naming both threads.
fn sync_mutex_exit_by_non_owner_reported() -> TestResult {
    HELPER_HOLDS.store(false, SeqCst);
    spawn_sys("nonowner_holder", nonowner_holder, 0);
    wait_for("the holder", 5, || HELPER_HOLDS.load(SeqCst))?;
    NONOWNER.exit();
    Err("an exit by a non-owner was not reported".into())
}
