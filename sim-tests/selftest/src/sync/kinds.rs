//! The kinds of reader-writer locks, semaphores and condition variables (S9):
//! what a waiter really does when the object is busy, counted by `sync::STATS`.
//!
//! Each test has two threads: a *holder* (the writer or readers of a rwlock, the
//! thread that makes the `V` or the signal of a semaphore or condition variable),
//! bound to another CPU when there is one, and the test thread, which waits.
//! A holder that runs keeps its CPU until the waiter's spin or block shows in the
//! counts, then lets it through; a holder that sleeps is off its CPU before the
//! waiter comes. A spin waiter must never block, a block waiter must block at once
//! (even while the holder runs), an adaptive one must spin on a running holder and
//! block at once on a sleeping one (and on readers, which have no names).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::Ordering::SeqCst;
use core::sync::atomic::{AtomicBool, AtomicU64};

use arch::Machine;

use crate::{ensure, skip, spawn, spawn_ts, wait_for, TestResult};
use kern::callout::Callout;
use kern::class::{self, SchedClass};
use kern::sync::{CondVar, KMutex, KRwLock, MutexKind, RwMode, Sema, StatsSnapshot, STATS};
use kern::thread::ThreadState;
use kern::{clock, disp, sleepq, M};

use super::{measured, reset, work, DONE, STOP};

const KINDS: [MutexKind; 3] = [MutexKind::Adaptive, MutexKind::Block, MutexKind::Spin];

static RWS: [KRwLock; 3] = [
    KRwLock::with_kind(MutexKind::Adaptive),
    KRwLock::with_kind(MutexKind::Block),
    KRwLock::with_kind(MutexKind::Spin),
];
static SEMAS: [Sema; 3] = [
    Sema::with_kind(0, MutexKind::Adaptive),
    Sema::with_kind(0, MutexKind::Block),
    Sema::with_kind(0, MutexKind::Spin),
];
static CVS: [CondVar; 3] = [
    CondVar::with_kind(MutexKind::Adaptive),
    CondVar::with_kind(MutexKind::Block),
    CondVar::with_kind(MutexKind::Spin),
];
static CV_MUTEX: KMutex = KMutex::new(MutexKind::Adaptive);
/// The condition the condition-variable tests wait for (under `CV_MUTEX`).
static CV_FLAG: AtomicBool = AtomicBool::new(false);

/// The holder holds (or has made its first `V` or signal).
static HOLDS: AtomicBool = AtomicBool::new(false);
static HOLDER_DONE: AtomicBool = AtomicBool::new(false);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Obj {
    Rw,
    Sema,
    Cv,
}

/// How a holder behaves while the waiter waits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Holder {
    /// Keeps its CPU until the waiter's wait shows in the counts.
    Runs,
    /// Sleeps for a while.
    Sleeps,
}

/// One object's waits: (spins of a spin waiter, adaptive spins, blocks).
fn waits(obj: Obj, s: &StatsSnapshot) -> (u64, u64, u64) {
    match obj {
        Obj::Rw => (s.rw_spin_waits, s.rw_adaptive_spins, s.rw_read_blocks + s.rw_write_blocks),
        Obj::Sema => (s.sema_spin_waits, s.sema_adaptive_spins, s.sema_blocks),
        Obj::Cv => (s.cv_spin_waits, s.cv_adaptive_spins, s.cv_blocks),
    }
}

fn total(obj: Obj) -> u64 {
    let (a, b, c) = waits(obj, &STATS.snapshot());
    a + b + c
}

fn encode(obj: Obj, k: usize, holder: Holder, read: bool) -> usize {
    (obj as usize) | k << 2 | (holder as usize) << 4 | usize::from(read) << 5
}

fn decode(arg: usize) -> (Obj, usize, Holder, bool) {
    let obj = [Obj::Rw, Obj::Sema, Obj::Cv][arg & 3];
    let holder = if arg >> 4 & 1 == 0 { Holder::Runs } else { Holder::Sleeps };
    (obj, arg >> 2 & 3, holder, arg >> 5 & 1 == 1)
}

/// Holds for the waiter: on its CPU until `obj`'s wait counts pass `base` (or a
/// few seconds go by: the test then fails on the counts), or asleep.
fn hold(obj: Obj, holder: Holder, base: u64) {
    match holder {
        Holder::Sleeps => sleepq::delay(20),
        Holder::Runs => {
            let end = clock::lbolt() + 5 * u64::from(clock::hz());
            while total(obj) == base && clock::lbolt() < end {
                M::relax();
            }
        }
    }
}

/// The holder thread: `arg` from [`encode`].
fn holder(arg: usize) {
    let (obj, k, how, read) = decode(arg);
    let base = BASE.load(SeqCst);
    match obj {
        Obj::Rw => {
            let l = &RWS[k];
            l.enter(if read { RwMode::Read } else { RwMode::Write });
            HOLDS.store(true, SeqCst);
            hold(obj, how, base);
            l.exit();
        }
        Obj::Sema => {
            SEMAS[k].v();
            HOLDS.store(true, SeqCst);
            hold(obj, how, base);
            SEMAS[k].v();
        }
        Obj::Cv => {
            CVS[k].signal();
            HOLDS.store(true, SeqCst);
            hold(obj, how, base);
            CV_MUTEX.enter();
            CV_FLAG.store(true, SeqCst);
            CVS[k].signal();
            CV_MUTEX.exit();
        }
    }
    HOLDER_DONE.store(true, SeqCst);
}

/// The object's wait counts (summed) before the waiter waits.
static BASE: AtomicU64 = AtomicU64::new(0);

/// One round: a holder of `obj` of kind `k` that behaves as `how`, then the test
/// thread waits (a writer for a rwlock, unless `read`; the holder takes the
/// other mode). Returns the wait counts of the round.
fn round(obj: Obj, k: usize, how: Holder, holder_reads: bool) -> Result<(u64, u64, u64), String> {
    HOLDS.store(false, SeqCst);
    HOLDER_DONE.store(false, SeqCst);
    CV_FLAG.store(false, SeqCst);
    let here = M::cpu_id();
    disp::thread_bind(Some(here));
    let there = (here + 1) % M::ncpus();
    BASE.store(total(obj), SeqCst);
    let arg = encode(obj, k, how, holder_reads);
    let h = spawn("kinds-holder", holder, arg, SchedClass::Sys, class::SYS_PRI + 1, Some(there));
    let r = wait_for("the holder to hold", 5, || {
        HOLDS.load(SeqCst)
            && (how == Holder::Runs || (h.state() == ThreadState::Sleep && !disp::is_running(h)))
    });
    if r.is_err() {
        disp::thread_bind(None);
        r?;
    }
    let s0 = STATS.snapshot();
    match obj {
        Obj::Rw => {
            // The waiter takes the mode that conflicts: a writer behind readers.
            let l = &RWS[k];
            l.enter(if holder_reads { RwMode::Write } else { RwMode::Read });
            l.exit();
        }
        Obj::Sema => {
            // The holder's first unit, then a wait for its second.
            SEMAS[k].p();
            SEMAS[k].p();
        }
        Obj::Cv => {
            CV_MUTEX.enter();
            while !CV_FLAG.load(SeqCst) {
                CVS[k].wait_raw(&CV_MUTEX);
            }
            CV_MUTEX.exit();
        }
    }
    let s = STATS.snapshot().since(&s0);
    let r = wait_for("the holder to finish", 10, || HOLDER_DONE.load(SeqCst));
    disp::thread_bind(None);
    r?;
    Ok(waits(obj, &s))
}

fn kind_index(kind: MutexKind) -> usize {
    KINDS.iter().position(|&k| k == kind).expect("a kind")
}

/// Checks a round against what the kind must do: (spin waits, adaptive spins, blocks).
fn expect(
    obj: Obj,
    kind: MutexKind,
    how: Holder,
    holder_reads: bool,
    want: (u64, u64, u64),
) -> TestResult {
    let got = round(obj, kind_index(kind), how, holder_reads)?;
    measured!(
        "{obj:?} {kind:?}, holder {how:?}: {} spin waits, {} adaptive spins, {} blocks",
        got.0,
        got.1,
        got.2
    );
    ensure!(
        got == want,
        "{obj:?} {kind:?}, holder {how:?}: expected (spin waits, adaptive spins, blocks) \
         = {want:?}, got {got:?}"
    );
    Ok(())
}

/// A spin waiter busy-waits for a holder on another CPU and never blocks.
fn spin_waiter_spins(obj: Obj) -> TestResult {
    if M::ncpus() == 1 {
        skip!("one CPU: a spin waiter needs its holder on another CPU");
    }
    expect(obj, MutexKind::Spin, Holder::Runs, false, (1, 0, 0))
}

/// A block waiter sleeps at once, even while its holder runs on another CPU (on
/// one CPU the holder sleeps).
fn block_waiter_sleeps(obj: Obj) -> TestResult {
    let how = if M::ncpus() > 1 { Holder::Runs } else { Holder::Sleeps };
    expect(obj, MutexKind::Block, how, false, (0, 0, 1))
}

/// An adaptive waiter spins while its holder runs on another CPU. A semaphore or a
/// condition variable spins a bounded time only (its waker may never come), so a
/// round may end in a block when the host stalls the holder's CPU: several
/// rounds, every one spinning and at least one ending without a block.
fn adaptive_spins_on_running(obj: Obj) -> TestResult {
    if M::ncpus() == 1 {
        skip!("one CPU: the holder cannot run while the waiter does");
    }
    let rounds = if obj == Obj::Rw { 1 } else { 5 };
    let mut seen = Vec::new();
    for _ in 0..rounds {
        let got = round(obj, kind_index(MutexKind::Adaptive), Holder::Runs, false)?;
        seen.push(got);
        ensure!(
            got.0 == 0 && got.1 == 1,
            "{obj:?} Adaptive did not spin on a running holder: {got:?}"
        );
        if got.2 == 0 {
            measured!(
                "{obj:?} Adaptive, holder Runs: rounds {seen:?} \
                 (spin waits, adaptive spins, blocks)"
            );
            return Ok(());
        }
    }
    Err(format!("{obj:?} Adaptive: every spin on a running holder ended in a block: {seen:?}"))
}

/// An adaptive waiter blocks at once when its holder sleeps.
fn adaptive_blocks_on_sleeping(obj: Obj) -> TestResult {
    expect(obj, MutexKind::Adaptive, Holder::Sleeps, false, (0, 0, 1))
}

pub(super) fn sync_rwlock_spin_waiter_spins() -> TestResult {
    spin_waiter_spins(Obj::Rw)
}

pub(super) fn sync_rwlock_block_waiter_sleeps() -> TestResult {
    block_waiter_sleeps(Obj::Rw)
}

pub(super) fn sync_rwlock_adaptive_spins_on_running_writer() -> TestResult {
    adaptive_spins_on_running(Obj::Rw)
}

pub(super) fn sync_rwlock_adaptive_blocks_on_sleeping_writer() -> TestResult {
    adaptive_blocks_on_sleeping(Obj::Rw)
}

/// A writer behind readers blocks at once on an adaptive rwlock, even while the
/// readers run: they have no names to check.
pub(super) fn sync_rwlock_adaptive_blocks_on_readers() -> TestResult {
    let how = if M::ncpus() > 1 { Holder::Runs } else { Holder::Sleeps };
    expect(Obj::Rw, MutexKind::Adaptive, how, true, (0, 0, 1))
}

pub(super) fn sync_sema_spin_waiter_spins() -> TestResult {
    spin_waiter_spins(Obj::Sema)
}

pub(super) fn sync_sema_block_waiter_sleeps() -> TestResult {
    block_waiter_sleeps(Obj::Sema)
}

pub(super) fn sync_sema_adaptive_spins_on_running_waker() -> TestResult {
    adaptive_spins_on_running(Obj::Sema)
}

pub(super) fn sync_sema_adaptive_blocks_on_sleeping_waker() -> TestResult {
    adaptive_blocks_on_sleeping(Obj::Sema)
}

pub(super) fn sync_cv_spin_waiter_spins() -> TestResult {
    spin_waiter_spins(Obj::Cv)
}

pub(super) fn sync_cv_block_waiter_sleeps() -> TestResult {
    block_waiter_sleeps(Obj::Cv)
}

pub(super) fn sync_cv_adaptive_spins_on_running_waker() -> TestResult {
    adaptive_spins_on_running(Obj::Cv)
}

pub(super) fn sync_cv_adaptive_blocks_on_sleeping_waker() -> TestResult {
    adaptive_blocks_on_sleeping(Obj::Cv)
}

// ------------------------------------------------------------------ spin rwlock in an interrupt

static INTR_RW: KRwLock = KRwLock::with_kind(MutexKind::Spin);
/// Two counts that writers move together: a reader that finds them apart was let
/// in beside a writer.
static INTR_A: AtomicU64 = AtomicU64::new(0);
static INTR_B: AtomicU64 = AtomicU64::new(0);
static INTR_WRITES: AtomicU64 = AtomicU64::new(0);
static INTR_RUNS: AtomicU64 = AtomicU64::new(0);
/// Interrupts found on while the spin rwlock was held, or readers that saw a
/// write half done.
static INTR_BAD: AtomicU64 = AtomicU64::new(0);
const INTR_WANT: u64 = 8;
static INTR_CALLOUT: Callout = Callout::new();

/// One write under `INTR_RW` (held by the caller): the counts apart, then together.
fn intr_write() {
    if M::intr_enabled() {
        INTR_BAD.fetch_add(1, SeqCst);
    }
    INTR_A.fetch_add(1, SeqCst);
    work(100);
    INTR_B.fetch_add(1, SeqCst);
    INTR_WRITES.fetch_add(1, SeqCst);
}

/// One read under `INTR_RW` (held by the caller).
fn intr_read() {
    if M::intr_enabled() || INTR_A.load(SeqCst) != INTR_B.load(SeqCst) {
        INTR_BAD.fetch_add(1, SeqCst);
    }
    work(100);
}

/// A callout: runs in the clock interrupt, reads and writes under the spin
/// rwlock, re-arms itself.
fn intr_rw_callout(_: usize) {
    INTR_RW.enter(RwMode::Read);
    intr_read();
    INTR_RW.exit();
    INTR_RW.enter(RwMode::Write);
    intr_write();
    INTR_RW.exit();
    if INTR_RUNS.fetch_add(1, SeqCst) + 1 < INTR_WANT {
        INTR_CALLOUT.timeout(intr_rw_callout, 0, 1);
    }
}

/// Reads three times for each write, until told to stop. It holds the lock with
/// interrupts off, as every holder of a spin rwlock shared with an interrupt
/// handler must, and so also waits with them off: every holder it can wait for
/// runs on another CPU and cannot be interrupted or preempted.
fn intr_rw_worker(_: usize) {
    let mut n = 0u64;
    while !STOP.load(SeqCst) {
        let mode = if n.is_multiple_of(4) { RwMode::Write } else { RwMode::Read };
        let was = M::intr_disable();
        INTR_RW.enter(mode);
        match mode {
            RwMode::Write => intr_write(),
            RwMode::Read => intr_read(),
        }
        INTR_RW.exit();
        M::intr_restore(was);
        work(200);
        n += 1;
    }
    DONE.fetch_add(1, SeqCst);
}

/// A spin rwlock is shared between threads on every CPU and an interrupt handler
/// (a callout, run by the clock interrupt), every holder with interrupts off: no
/// reader sees a write half done, no write is lost, and on several CPUs the
/// threads' contention shows as spin waits and never as a block.
pub(super) fn sync_spin_rwlock_in_interrupt_handler() -> TestResult {
    reset();
    for c in [&INTR_A, &INTR_B, &INTR_WRITES, &INTR_RUNS, &INTR_BAD] {
        c.store(0, SeqCst);
    }
    let s0 = STATS.snapshot();
    let n = M::ncpus() + 1;
    for _ in 0..n {
        spawn_ts("intr_rw", intr_rw_worker, 0);
    }
    INTR_CALLOUT.timeout(intr_rw_callout, 0, 1);
    let mp = M::ncpus() > 1;
    let r = wait_for("the interrupt handler's runs and spin waits", 5, || {
        INTR_RUNS.load(SeqCst) >= INTR_WANT
            && (!mp || STATS.snapshot().since(&s0).rw_spin_waits > 0)
    });
    STOP.store(true, SeqCst);
    wait_for("the workers", 10, || DONE.load(SeqCst) == n)?;
    let s = STATS.snapshot().since(&s0);
    r.map_err(|e| format!("{e}: {s:?}"))?;
    measured!(
        "{} writes, {} handler runs; {} spin waits, {} blocks",
        INTR_WRITES.load(SeqCst),
        INTR_RUNS.load(SeqCst),
        s.rw_spin_waits,
        s.rw_read_blocks + s.rw_write_blocks
    );
    ensure!(INTR_BAD.load(SeqCst) == 0, "interrupts on while held, or a torn read");
    ensure!(M::intr_enabled(), "interrupts left off");
    ensure!(INTR_A.load(SeqCst) == INTR_WRITES.load(SeqCst), "lost writes");
    ensure!(s.rw_read_blocks + s.rw_write_blocks == 0, "a spin rwlock blocked: {s:?}");
    ensure!(INTR_RW.writer().is_none() && INTR_RW.readers() == 0, "{INTR_RW:?} is still held");
    Ok(())
}

// ------------------------------------------------------------------ timed waits

static TIMED_CVS: [CondVar; 3] = [
    CondVar::with_kind(MutexKind::Adaptive),
    CondVar::with_kind(MutexKind::Block),
    CondVar::with_kind(MutexKind::Spin),
];
static TIMED_STOP: AtomicBool = AtomicBool::new(false);

/// Becomes the adaptive variable's waker, then keeps its CPU without signalling
/// again until told to stop.
fn timed_waker(_: usize) {
    TIMED_CVS[0].signal();
    HOLDS.store(true, SeqCst);
    while !TIMED_STOP.load(SeqCst) {
        M::relax();
    }
    HOLDER_DONE.store(true, SeqCst);
}

/// A timed wait that nobody signals times out after its ticks, and not much
/// later, whatever the kind: a spin waiter watches the clock, and an adaptive one
/// (whose waker runs on another CPU, never signalling) spins no longer than the
/// time it has, then sleeps for what is left.
pub(super) fn sync_cv_timedwait_every_kind() -> TestResult {
    const TICKS: u64 = 3;
    HOLDS.store(false, SeqCst);
    HOLDER_DONE.store(false, SeqCst);
    TIMED_STOP.store(false, SeqCst);
    let here = M::cpu_id();
    disp::thread_bind(Some(here));
    let mp = M::ncpus() > 1;
    if mp {
        let there = (here + 1) % M::ncpus();
        spawn("timed-waker", timed_waker, 0, SchedClass::Sys, class::SYS_PRI + 1, Some(there));
    }
    let r = (|| {
        if mp {
            wait_for("the waker to run", 5, || HOLDS.load(SeqCst))?;
        }
        for (k, kind) in KINDS.iter().enumerate() {
            let s0 = STATS.snapshot();
            CV_MUTEX.enter();
            let t0 = clock::lbolt();
            let woken = TIMED_CVS[k].timedwait_raw(&CV_MUTEX, TICKS);
            let took = clock::lbolt() - t0;
            CV_MUTEX.exit();
            let s = STATS.snapshot().since(&s0);
            measured!("{kind:?}: timed out after {took} ticks; {:?}", waits(Obj::Cv, &s));
            ensure!(!woken, "{kind:?}: a timed wait nobody signalled says it was woken");
            ensure!(
                (TICKS..=TICKS + 1).contains(&took),
                "{kind:?}: waited {took} ticks for {TICKS}"
            );
            if mp && *kind == MutexKind::Adaptive {
                ensure!(s.cv_adaptive_spins == 1, "did not spin on the running waker: {s:?}");
            }
        }
        Ok(())
    })();
    TIMED_STOP.store(true, SeqCst);
    let done =
        if mp { wait_for("the waker to stop", 5, || HOLDER_DONE.load(SeqCst)) } else { Ok(()) };
    disp::thread_bind(None);
    r?;
    done
}
