//! Priority inheritance (S8): a blocked thread lends its priority along the chain
//! of lock owners, and the loan is recomputed when an owner releases a lock.

use alloc::vec::Vec;
use core::sync::atomic::Ordering::SeqCst;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8};

use arch::cell::StaticRef;
use arch::Machine;

use crate::{ensure, ensure_eq, spawn_ts, wait_for, TestResult};
use kern::class::{self, SchedClass};
use kern::sync::turnstile::blocked_on;
use kern::sync::{KMutex, KRwLock, MutexKind, RwMode, STATS};
use kern::thread::life::thread_create_bound;
use kern::thread::{curthread, KThread};
use kern::{clock, disp, M};

use super::{measured, next_seq, reset, sleep_until, spin_ticks, start_together, work, DONE};

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

/// Starts a TS thread at the default priority, bound to `cpu`.
fn start_ts(name: &'static str, f: fn(usize), arg: usize, cpu: usize) -> &'static KThread {
    let t = thread_create_bound(name, f, arg, SchedClass::Ts, class::TS_DEFAULT_PRI, Some(cpu));
    disp::setrun(t);
    t
}

/// Checks what the owner measured: it ran at the waiter's priority from the moment
/// the waiter blocked until it released the lock, finished before the CPU hog of
/// medium priority (which would have kept it off the CPU without inheritance), and
/// went back to its own priority after the release.
fn check_owner(chain: bool) -> TestResult {
    let (pri, epri, min) =
        (PI_OWNER_PRI.load(SeqCst), PI_OWNER_EPRI.load(SeqCst), PI_OWNER_MINPRI.load(SeqCst));
    measured!(
        "owner at {pri} (inherited {epri}, lowest {min}) while the waiter ({PI_HIGH_PRI}) \
         was blocked; finish order: owner #{}, waiter #{}, hog ({PI_MED_PRI}) #{}",
        PI_OWNER_DONE.load(SeqCst),
        PI_HIGH_GOT.load(SeqCst),
        PI_MED_DONE.load(SeqCst)
    );
    ensure!(
        pri == PI_HIGH_PRI && epri == PI_HIGH_PRI,
        "while the waiter was blocked the owner ran at {pri}, inheriting {epri} \
         (expected {PI_HIGH_PRI}){}",
        if chain { " through the chain" } else { "" }
    );
    ensure!(min >= PI_HIGH_PRI, "the owner dropped to priority {min} while it held the lock");
    let (owner, med, high) =
        (PI_OWNER_DONE.load(SeqCst), PI_MED_DONE.load(SeqCst), PI_HIGH_GOT.load(SeqCst));
    ensure!(
        owner < med,
        "the medium-priority hog finished (#{med}) before the boosted owner (#{owner}): \
         no inheritance"
    );
    ensure!(high > owner && high < med, "order: owner #{owner}, waiter #{high}, hog #{med}");
    Ok(())
}

/// Priority inversion, measured on one CPU: a TS owner, an RT waiter blocked on its
/// mutex and a SYS CPU hog in between. The owner inherits the waiter's priority
/// while the waiter is blocked (it reads `pri()` and `inherited_pri()` of itself),
/// so it finishes before the hog; after the release it is back to its own
/// priority, with nothing inherited.
pub(super) fn sync_pi_mutex_inversion() -> TestResult {
    pi_reset();
    let cpu = M::ncpus() - 1;
    let s0 = STATS.snapshot();
    start_ts("pi_owner", pi_owner, 0, cpu);
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
pub(super) fn sync_pi_chain_of_two_locks() -> TestResult {
    pi_reset();
    let cpu = M::ncpus() - 1;
    let s0 = STATS.snapshot();
    start_ts("pi_owner", pi_owner, 1, cpu);
    wait_for("the owner to hold M1", 5, || PI_HOLDS.load(SeqCst))?;
    let mid = start_ts("pi_middle", pi_middle, 0, cpu);
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
pub(super) fn sync_pi_recomputed_on_release() -> TestResult {
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
pub(super) fn sync_pi_rwlock_writer() -> TestResult {
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
