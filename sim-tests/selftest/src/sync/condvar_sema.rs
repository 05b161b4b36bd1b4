//! Condition variables and semaphores (S8): producers and consumers, timed waits,
//! `signal` and `broadcast`; admission counts, `p`, `v` and `try_p`.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::sync::atomic::Ordering::{Relaxed, SeqCst};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};

use arch::Machine;

use crate::{crowd, ensure, ensure_eq, spawn_ts, wait_for, TestResult};
use kern::sync::{CondVar, KMutex, Mutex, MutexKind, Sema};
use kern::thread::ThreadState;
use kern::{clock, sleepq, M};

use super::{reset, spawn_sys, work, DONE};

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
pub(super) fn sync_cv_producer_consumer() -> TestResult {
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
pub(super) fn sync_cv_timedwait() -> TestResult {
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
pub(super) fn sync_cv_signal_one_broadcast_all() -> TestResult {
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
pub(super) fn sync_sema_never_over_admits() -> TestResult {
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
pub(super) fn sync_sema_p_v_try_p() -> TestResult {
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
