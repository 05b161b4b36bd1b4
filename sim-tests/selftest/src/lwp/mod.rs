//! The LWP and process self-tests (S1, S3, S5, S6, S7, S10, S11, S14, S15): run in QEMU on
//! sparc64 and on the host simulation.
//!
//! Most tests run as the first LWP of a process of their own (`in_process`), since
//! LWP operations act on the caller's process; the test thread (a kernel thread of
//! proc 0) reaps the process and reads the verdict. Each checks real effects: LWPs
//! that ran (or did not), counters that stopped advancing, ids and counts read back
//! from the process.
//!
//! Busy LWPs make a machine call each round (`M::now_ns`): the host simulation's
//! seeded mode switches CPUs only at machine calls.
//!
//! One file per subject: [`life`] (creation, exit, `lwp_wait`, ids), [`suspend`]
//! (stopping and continuing), [`process`] (`proc_exit`, `proc_wait`), [`signal`]
//! (dispositions, masks, SIGKILL, job control, SIGCHLD) and [`limits`] (the limits
//! on creation, and creation that runs out of memory); here the suite, running a
//! test in a process, and the LWP bodies several tests use.

mod life;
mod limits;
mod process;
mod signal;
mod suspend;

pub(crate) use limits::with_limits;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::hint::black_box;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use arch::Machine;

use crate::{ensure_eq, reap, wait_for, Test, TestResult};
use kern::cpu::{cpus, MAX_CPUS};
use kern::errno::Errno;
use kern::lwp::{idtot, lwp_create, lwp_self, lwp_suspend, lwp_wait, stop_point, LwpFlags, LwpId};
use kern::proc::life::{proc_create, proc_exit};
use kern::proc::{prfind, PStat, Pid, Proc, WaitStatus};
use kern::sync::Mutex;
use kern::thread::{curproc, KThread};
use kern::{sleepq, M};

/// The LWP suite, in the order it runs.
pub static LWP: &[Test] = &[
    Test::new("lwp_curlwp_curproc_in_every_lwp", life::lwp_curlwp_curproc_in_every_lwp),
    Test::new("lwp_create_exit_wait_many", life::lwp_create_exit_wait_many),
    Test::new(
        "lwp_wait_by_id_takes_precedence_over_any",
        life::lwp_wait_by_id_takes_precedence_over_any,
    ),
    Test::new("lwp_detached_never_waited_for", life::lwp_detached_never_waited_for),
    Test::new("lwp_wait_edeadlk", life::lwp_wait_edeadlk),
    Test::new("lwp_ids_are_per_process", life::lwp_ids_are_per_process),
    Test::new("lwp_ids_reused_only_after_wait", life::lwp_ids_reused_only_after_wait),
    Test::new("lwp_wait_never_takes_a_reused_id", life::lwp_wait_never_takes_a_reused_id),
    Test::new(
        "lwp_created_suspended_runs_after_continue",
        suspend::lwp_created_suspended_runs_after_continue,
    ),
    Test::new("lwp_suspend_stops_busy_lwps", suspend::lwp_suspend_stops_busy_lwps),
    Test::new("lwp_suspend_self", suspend::lwp_suspend_self),
    Test::new(
        "lwp_suspend_stops_lwp_asleep_in_wait",
        suspend::lwp_suspend_stops_lwp_asleep_in_wait,
    ),
    Test::new("lwp_proc_exit_ends_every_lwp", process::lwp_proc_exit_ends_every_lwp),
    Test::new(
        "lwp_proc_wait_sleeps_until_child_exits",
        process::lwp_proc_wait_sleeps_until_child_exits,
    ),
    Test::new("lwp_sig_disposition_shared", signal::lwp_sig_disposition_shared),
    Test::new("lwp_sig_masks_choose_the_lwp", signal::lwp_sig_masks_choose_the_lwp),
    Test::new("lwp_sig_kill_ends_every_lwp", signal::lwp_sig_kill_ends_every_lwp),
    Test::new("lwp_sig_stop_and_continue", signal::lwp_sig_stop_and_continue),
    Test::new("lwp_sig_sigchld", signal::lwp_sig_sigchld),
    Test::new("lwp_limit_per_process", limits::lwp_limit_per_process),
    Test::new("lwp_and_thread_limits_system_wide", limits::lwp_and_thread_limits_system_wide),
    Test::new("lwp_proc_limit", limits::proc_limit),
    Test::new(
        "lwp_creation_survives_each_allocation_failure",
        limits::creation_survives_each_allocation_failure,
    ),
    Test::new("heap_short_takes_back_cached_stacks", limits::heap_short_takes_back_cached_stacks),
];

// ---- Running a test inside a process ----------------------------------------------

static BODY: Mutex<Option<fn() -> TestResult>> = Mutex::new(None);
static RESULT: Mutex<Option<TestResult>> = Mutex::new(None);

/// The first LWP of a test's process: runs the body, leaves the verdict, and exits
/// the process as returning from `main` would, taking any LWP left with it.
fn proc_main(_: usize) {
    let body = BODY.lock().take();
    let r = body.map_or_else(|| Err(String::from("no test body")), |b| b());
    let status = u8::from(r.is_err());
    *RESULT.lock() = Some(r);
    proc_exit(status)
}

/// Runs `body` as LWP 1 of a new process, reaps the process, and returns the verdict.
pub(crate) fn in_process(body: fn() -> TestResult) -> TestResult {
    *RESULT.lock() = None;
    *BODY.lock() = Some(body);
    let pid = proc_create(proc_main, 0).map_err(|e| format!("proc_create: {e}"))?;
    // A body that failed may leave LWPs that never exit: its verdict says why.
    let status = reap_within(pid, 20).map_err(|e| match RESULT.lock().take() {
        Some(Err(why)) => format!("{why} (then: {e})"),
        _ => e,
    })?;
    RESULT
        .lock()
        .take()
        .unwrap_or_else(|| Err(format!("{pid} exited ({status:?}) without a verdict")))?;
    ensure_eq!(status, WaitStatus::Exited(0));
    Ok(())
}

/// Waits (at most `secs` seconds) for `pid` to be a zombie, then reaps it.
pub(crate) fn reap_within(pid: Pid, secs: u64) -> Result<WaitStatus, String> {
    wait_for(&format!("{pid} to exit"), secs, || {
        prfind(pid).is_some_and(|p| p.stat() == PStat::Zombie)
    })?;
    reap(pid)
}

pub(crate) fn this_proc() -> Result<&'static Proc, String> {
    curproc().ok_or_else(|| String::from("the test body runs in no process"))
}

/// Creates an LWP in the current process.
pub(crate) fn spawn(func: fn(usize), arg: usize, flags: LwpFlags) -> Result<LwpId, String> {
    lwp_create(this_proc()?, func, arg, flags).map_err(|e| format!("lwp_create: {e}"))
}

/// The thread of LWP `id` of the current process.
pub(crate) fn thread_of(id: LwpId) -> Result<&'static KThread, String> {
    idtot(this_proc()?, id).ok_or_else(|| format!("{id} has no thread"))
}

/// Whether some CPU runs `t`.
fn on_a_cpu(t: &KThread) -> bool {
    cpus().iter().any(|c| c.cpu_thread.get().is_some_and(|r| ptr::eq(r, t)))
}

// ---- LWP bodies shared by several tests -------------------------------------------

/// Stages a test's LWPs wait for; reset at the start of each test.
pub(crate) static GO: AtomicU32 = AtomicU32::new(0);

/// Returns at once.
pub(crate) fn return_at_once(_: usize) {}

/// Waits, a tick at a time and passing a stop point each time, until `GO` reaches
/// `stage`.
fn hold_until(stage: usize) {
    while (GO.load(Ordering::SeqCst) as usize) < stage {
        sleepq::delay(1);
        stop_point();
    }
}

const MAX_BUSY: usize = MAX_CPUS;
pub(crate) static BUSY_STOP: AtomicBool = AtomicBool::new(false);
pub(crate) static BUSY_COUNT: [AtomicU64; MAX_BUSY] = [const { AtomicU64::new(0) }; MAX_BUSY];

pub(crate) fn busy_reset() {
    BUSY_STOP.store(false, Ordering::SeqCst);
    for c in &BUSY_COUNT {
        c.store(0, Ordering::SeqCst);
    }
}

/// Counts in `BUSY_COUNT[k]` until `BUSY_STOP`, passing a stop point every round.
pub(crate) fn busy(k: usize) {
    while !BUSY_STOP.load(Ordering::Relaxed) {
        BUSY_COUNT[k].fetch_add(1, Ordering::Relaxed);
        black_box(M::now_ns());
        stop_point();
    }
}

fn counts(n: usize) -> Vec<u64> {
    BUSY_COUNT[..n].iter().map(|c| c.load(Ordering::SeqCst)).collect()
}

/// Counts its runs in `SUSP_RAN`.
static SUSP_RAN: AtomicUsize = AtomicUsize::new(0);

fn count_once(_: usize) {
    SUSP_RAN.fetch_add(1, Ordering::SeqCst);
}

/// 1: about to suspend itself; 2: came back from it with `Ok`; 3: with an error.
static SELF_STAGE: AtomicU32 = AtomicU32::new(0);

fn self_suspender(_: usize) {
    SELF_STAGE.store(1, Ordering::SeqCst);
    let r = lwp_self().map(lwp_suspend);
    SELF_STAGE.store(if r == Some(Ok(())) { 2 } else { 3 }, Ordering::SeqCst);
}

/// What an LWP's `lwp_wait` returned.
pub(crate) static WAITED: Mutex<Option<Result<LwpId, Errno>>> = Mutex::new(None);

/// Waits for LWP `id` (0: any) and leaves the result in `WAITED`.
pub(crate) fn waiter(id: usize) {
    let which = (id != 0).then_some(LwpId(id as u32));
    let r = lwp_wait(which);
    *WAITED.lock() = Some(r);
}
