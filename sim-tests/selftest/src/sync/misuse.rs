//! Misuse the kernel reports by panicking (explicit tests, which end the kernel on
//! purpose): a deadlock cycle, a recursive enter, an exit by a thread that does not
//! own the mutex.

use core::sync::atomic::AtomicBool;
use core::sync::atomic::Ordering::SeqCst;

use arch::cell::StaticRef;

use crate::{wait_for, TestResult};
use kern::class::{self, SchedClass};
use kern::disp;
use kern::sync::turnstile::blocked_on;
use kern::sync::{KMutex, MutexKind};
use kern::thread::life::thread_create_bound;
use kern::thread::KThread;

use super::{reset, sleep_until, spawn_sys, DONE};

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
pub(super) fn sync_deadlock_detected() -> TestResult {
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
pub(super) fn sync_mutex_recursive_enter_reported() -> TestResult {
    REC.enter();
    REC.enter();
    Err("a recursive mutex_enter was not reported".into())
}

static NONOWNER: KMutex = KMutex::new(MutexKind::Block);
static NONOWNER_HELD: AtomicBool = AtomicBool::new(false);

fn nonowner_holder(_: usize) {
    NONOWNER.enter();
    NONOWNER_HELD.store(true, SeqCst);
    sleep_until(|| false);
}

/// Runs only when named: exits a mutex that another thread holds. The kernel must
/// panic, naming both threads.
pub(super) fn sync_mutex_exit_by_non_owner_reported() -> TestResult {
    NONOWNER_HELD.store(false, SeqCst);
    spawn_sys("nonowner_holder", nonowner_holder, 0);
    wait_for("the holder", 5, || NONOWNER_HELD.load(SeqCst))?;
    NONOWNER.exit();
    Err("an exit by a non-owner was not reported".into())
}
