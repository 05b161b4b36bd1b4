//! The LWP and process self-tests (S1, S3, S5, S6, S7, S10, S15): run in QEMU on
//! sparc64 and on the host simulation.
//!
//! Most tests run as the first LWP of a process of their own (`in_process`), since
//! LWP operations act on the caller's process; the test thread (a kernel thread of
//! proc 0) reaps the process and reads the verdict. Each checks real effects: LWPs
//! that ran (or did not), counters that stopped advancing, ids and counts read back
//! from the process, data that came back from the swap store.
//!
//! Busy LWPs make a machine call each round (`M::now_ns`): the host simulation's
//! seeded mode switches CPUs only at machine calls.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::hint::black_box;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use arch::{Machine, UserRegs};

use super::wait_for;
use super::{Test, TestResult};
use crate::class::SchedClass;
use crate::cpu::{cpus, MAX_CPUS};
use crate::displock::DispLock;
use crate::errno::Errno;
use crate::lwp::{
    idtolwp, idtot, lwp_continue, lwp_create, lwp_self, lwp_suspend, lwp_swapin, lwp_swapout,
    lwp_wait, nswapped, stop_point, ITimerVal, LwpData, LwpFlags, LwpId, LwpProf, LwpRusage,
    SigAltStack, SigInfo, TpFlags,
};
use crate::proc::{
    prfind, proc_create, proc_exit, proc_wait, PStat, Pid, Proc, SigDisp, WaitStatus, PROC0,
};
use crate::thread::{curlwp, curproc, curthread, KThread, ThreadState};
use crate::{clock, disp, ensure, ensure_eq, sleepq, M};

/// The LWP suite, in the order it runs.
pub static LWP: &[Test] = &[
    Test::new("lwp_curlwp_curproc_in_every_lwp", lwp_curlwp_curproc_in_every_lwp),
    Test::new("lwp_create_exit_wait_many", lwp_create_exit_wait_many),
    Test::new("lwp_wait_by_id_takes_precedence_over_any", lwp_wait_by_id_takes_precedence_over_any),
    Test::new("lwp_detached_never_waited_for", lwp_detached_never_waited_for),
    Test::new("lwp_wait_edeadlk", lwp_wait_edeadlk),
    Test::new("lwp_ids_are_per_process", lwp_ids_are_per_process),
    Test::new("lwp_ids_reused_only_after_wait", lwp_ids_reused_only_after_wait),
    Test::new(
        "lwp_created_suspended_runs_after_continue",
        lwp_created_suspended_runs_after_continue,
    ),
    Test::new("lwp_suspend_stops_busy_lwps", lwp_suspend_stops_busy_lwps),
    Test::new("lwp_suspend_self", lwp_suspend_self),
    Test::new("lwp_suspend_stops_lwp_asleep_in_wait", lwp_suspend_stops_lwp_asleep_in_wait),
    Test::new("lwp_swap_out_and_in", lwp_swap_out_and_in),
    Test::new("lwp_proc_exit_ends_every_lwp", lwp_proc_exit_ends_every_lwp),
    Test::new("lwp_proc_wait_sleeps_until_child_exits", lwp_proc_wait_sleeps_until_child_exits),
    Test::new("lwp_proc_sigdisp_shared", lwp_proc_sigdisp_shared),
];

// ---- Running a test inside a process ----------------------------------------------

static BODY: DispLock<Option<fn() -> TestResult>> = DispLock::new(None);
static RESULT: DispLock<Option<TestResult>> = DispLock::new(None);

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
fn in_process(body: fn() -> TestResult) -> TestResult {
    *RESULT.lock() = None;
    *BODY.lock() = Some(body);
    let pid = proc_create(proc_main, 0).map_err(|e| format!("proc_create: {e}"))?;
    let status = reap(pid, 20)?;
    RESULT
        .lock()
        .take()
        .unwrap_or_else(|| Err(format!("{pid} exited (status {status}) without a verdict")))?;
    ensure_eq!(status, 0);
    Ok(())
}

/// Waits (at most `secs` seconds) for `pid` to be a zombie, reaps it with
/// `proc_wait`, and returns its exit status.
fn reap(pid: Pid, secs: u64) -> Result<i32, String> {
    wait_for(&format!("{pid} to exit"), secs, || {
        prfind(pid).is_some_and(|p| p.stat() == PStat::Zombie)
    })?;
    match proc_wait(Some(pid)) {
        Ok((got, status)) if got == pid => Ok(status),
        other => Err(format!("proc_wait({pid}) = {other:?}")),
    }
}

fn this_proc() -> Result<&'static Proc, String> {
    curproc().ok_or_else(|| String::from("the test body runs in no process"))
}

/// Creates an LWP in the current process.
fn spawn(func: fn(usize), arg: usize, flags: LwpFlags) -> Result<LwpId, String> {
    lwp_create(this_proc()?, func, arg, flags).map_err(|e| format!("lwp_create: {e}"))
}

/// The thread of LWP `id` of the current process.
fn thread_of(id: LwpId) -> Result<&'static KThread, String> {
    idtot(this_proc()?, id).ok_or_else(|| format!("{id} has no thread"))
}

/// Whether some CPU runs `t`.
fn on_a_cpu(t: &KThread) -> bool {
    cpus().iter().any(|c| c.cpu_thread.get().is_some_and(|r| ptr::eq(r, t)))
}

// ---- LWP bodies shared by several tests -------------------------------------------

/// Stages a test's LWPs wait for; reset at the start of each test.
static GO: AtomicU32 = AtomicU32::new(0);

/// Returns at once.
fn return_at_once(_: usize) {}

/// Waits, a tick at a time and passing a stop point each time, until `GO` reaches
/// `stage`.
fn hold_until(stage: usize) {
    while (GO.load(Ordering::SeqCst) as usize) < stage {
        sleepq::delay(1);
        stop_point();
    }
}

const MAX_BUSY: usize = MAX_CPUS;
static BUSY_STOP: AtomicBool = AtomicBool::new(false);
static BUSY_COUNT: [AtomicU64; MAX_BUSY] = [const { AtomicU64::new(0) }; MAX_BUSY];

fn busy_reset() {
    BUSY_STOP.store(false, Ordering::SeqCst);
    for c in &BUSY_COUNT {
        c.store(0, Ordering::SeqCst);
    }
}

/// Counts in `BUSY_COUNT[k]` until `BUSY_STOP`, passing a stop point every round.
fn busy(k: usize) {
    while !BUSY_STOP.load(Ordering::Relaxed) {
        BUSY_COUNT[k].fetch_add(1, Ordering::Relaxed);
        black_box(M::now_ns());
        stop_point();
    }
}

/// What an LWP's `lwp_wait` returned.
static WAITED: DispLock<Option<Result<LwpId, Errno>>> = DispLock::new(None);

/// Waits for LWP `id` (0: any) and leaves the result in `WAITED`.
fn waiter(id: usize) {
    let which = (id != 0).then_some(LwpId(id as u32));
    let r = lwp_wait(which);
    *WAITED.lock() = Some(r);
}

// ---- The tests ---------------------------------------------------------------------

static WHERE_PID: AtomicU32 = AtomicU32::new(0);
static WHERE_SEEN: DispLock<Vec<(LwpId, bool)>> = DispLock::new(Vec::new());

/// Checks, inside an LWP, that `curlwp`, `curproc`, `lwp_self`, the directory and the
/// `lwp` structure's back pointers all agree.
fn where_am_i() -> (Option<LwpId>, bool) {
    let t = curthread();
    let (Some(l), Some(p), Some(id)) = (curlwp(), curproc(), lwp_self()) else {
        return (None, false);
    };
    let back = l.with_data(|d| ptr::eq(d.lwp_thread.0, t) && ptr::eq(d.lwp_procp.0, p));
    let ok = l.id() == id
        && p.pid().0 == WHERE_PID.load(Ordering::SeqCst)
        && idtolwp(p, id).is_some_and(|found| ptr::eq(found, l))
        && idtot(p, id).is_some_and(|found| ptr::eq(found, t))
        && back == Some(true)
        && t.class() == SchedClass::Ts;
    (Some(id), ok)
}

fn where_child(_: usize) {
    if let (Some(id), ok) = where_am_i() {
        WHERE_SEEN.lock().push((id, ok));
    }
}

fn where_body() -> TestResult {
    WHERE_PID.store(this_proc()?.pid().0, Ordering::SeqCst);
    WHERE_SEEN.lock().clear();
    ensure_eq!(where_am_i(), (Some(LwpId(1)), true));
    let n = 2 * M::ncpus();
    let ids =
        (0..n).map(|_| spawn(where_child, 0, LwpFlags::empty())).collect::<Result<Vec<_>, _>>()?;
    for &id in &ids {
        ensure_eq!(lwp_wait(Some(id)), Ok(id));
    }
    let mut seen = WHERE_SEEN.lock().clone();
    seen.sort_unstable();
    let want: Vec<(LwpId, bool)> = ids.iter().map(|&id| (id, true)).collect();
    ensure_eq!(seen, want);
    Ok(())
}

/// Inside every LWP, `curlwp`/`curproc` (S7) name that LWP and its process, the
/// `lwp` structure points back at its thread and process (S5.7, S5.8), and the
/// thread is a TS thread of its own (S3); a kernel thread has no LWP (S2) and no
/// LWP operation applies to it.
fn lwp_curlwp_curproc_in_every_lwp() -> TestResult {
    ensure!(lwp_self().is_none() && curproc().is_none(), "the test thread (S2) has an LWP");
    ensure_eq!(lwp_wait(None), Err(Errno::EINVAL));
    ensure_eq!(lwp_suspend(LwpId(1)), Err(Errno::EINVAL));
    ensure_eq!(lwp_continue(LwpId(1)), Err(Errno::EINVAL));
    ensure_eq!(lwp_create(&PROC0, return_at_once, 0, LwpFlags::empty()), Err(Errno::EINVAL));
    in_process(where_body)
}

const MANY: usize = 24;
static MANY_PID: AtomicU32 = AtomicU32::new(0);
static MANY_SEEN: DispLock<Vec<(LwpId, u64)>> = DispLock::new(Vec::new());

fn many_child(k: usize) {
    let mine = curproc().is_some_and(|p| p.pid().0 == MANY_PID.load(Ordering::SeqCst));
    if let (true, Some(id)) = (mine, lwp_self()) {
        MANY_SEEN.lock().push((id, curthread().id()));
    }
    // Some are still running when waited for, some have long exited.
    sleepq::delay((k % 3) as u64);
}

fn many_body() -> TestResult {
    let p = this_proc()?;
    MANY_PID.store(p.pid().0, Ordering::SeqCst);
    MANY_SEEN.lock().clear();
    let ids = (0..MANY)
        .map(|k| spawn(many_child, k, LwpFlags::empty()))
        .collect::<Result<Vec<_>, _>>()?;
    let want: Vec<LwpId> = (2..=MANY as u32 + 1).map(LwpId).collect();
    ensure_eq!(ids, want);
    ensure_eq!(p.lwp_ids().len(), MANY + 1);
    // Half by id, in reverse order of creation; the rest by "any".
    for &id in ids[..MANY / 2].iter().rev() {
        ensure_eq!(lwp_wait(Some(id)), Ok(id));
    }
    let mut left: BTreeSet<LwpId> = ids[MANY / 2..].iter().copied().collect();
    while !left.is_empty() {
        let got =
            lwp_wait(None).map_err(|e| format!("lwp_wait(any) with {} left: {e}", left.len()))?;
        ensure!(left.remove(&got), "lwp_wait(any) returned {got}, which was not left to wait for");
    }
    ensure_eq!(lwp_wait(Some(ids[0])), Err(Errno::ESRCH));
    // Only this LWP is left, and it would wait for itself.
    ensure_eq!(lwp_wait(None), Err(Errno::EDEADLK));
    ensure_eq!((p.lwpcnt(), p.zombcnt(), p.lwpwait()), (1, 0, 0));
    ensure_eq!(p.lwp_ids(), [LwpId(1)]);
    let seen = MANY_SEEN.lock().clone();
    let ran: BTreeSet<LwpId> = seen.iter().map(|&(id, _)| id).collect();
    ensure_eq!(ran, ids.iter().copied().collect::<BTreeSet<_>>());
    let threads: BTreeSet<u64> = seen.iter().map(|&(_, tid)| tid).collect();
    ensure!(threads.len() == MANY, "{MANY} LWPs ran on only {} distinct threads", threads.len());
    Ok(())
}

/// 24 LWPs are created (ids 2..=25), each runs once in its process on a thread of
/// its own, exits, and is reaped: half waited for by id, half by "any", each id
/// returned exactly once; afterwards the directory holds only the main LWP and the
/// counts are 1 live, 0 zombie, 0 waiting (S1, S3, S15).
fn lwp_create_exit_wait_many() -> TestResult {
    in_process(many_body)
}

/// Exits once its process has two LWPs in `lwp_wait`.
fn exit_when_two_wait(_: usize) {
    while curproc().is_some_and(|p| p.lwpwait() < 2) {
        sleepq::delay(1);
    }
}

fn precedence_body() -> TestResult {
    let p = this_proc()?;
    GO.store(0, Ordering::SeqCst);
    *WAITED.lock() = None;
    let w = spawn(waiter, 0, LwpFlags::empty())?;
    let x = spawn(exit_when_two_wait, 0, LwpFlags::empty())?;
    let y = spawn(hold_until, 1, LwpFlags::empty())?;
    wait_for("the waiter for any to wait", 5, || p.lwpwait() == 1)?;
    // X exits while W waits for any and this LWP waits for X by id: X is this one's.
    ensure_eq!(lwp_wait(Some(x)), Ok(x));
    ensure!(WAITED.lock().is_none(), "the waiter for any returned: {:?}", *WAITED.lock());
    GO.store(1, Ordering::SeqCst);
    wait_for("the waiter for any to return", 5, || WAITED.lock().is_some())?;
    ensure_eq!(*WAITED.lock(), Some(Ok(y)));
    ensure_eq!(lwp_wait(Some(w)), Ok(w));
    ensure_eq!((p.lwpcnt(), p.zombcnt()), (1, 0));
    Ok(())
}

/// A zombie that an LWP waits for by id goes to that LWP, not to one waiting for
/// any, which takes the next one instead (Solaris' `lwp_wait`, S3).
fn lwp_wait_by_id_takes_precedence_over_any() -> TestResult {
    in_process(precedence_body)
}

static DETACHED_RAN: AtomicUsize = AtomicUsize::new(0);

fn detached_child(_: usize) {
    hold_until(1);
    sleepq::delay(2);
    DETACHED_RAN.fetch_add(1, Ordering::SeqCst);
}

fn detached_body() -> TestResult {
    let p = this_proc()?;
    GO.store(0, Ordering::SeqCst);
    DETACHED_RAN.store(0, Ordering::SeqCst);
    let d = spawn(detached_child, 0, LwpFlags::DETACHED)?;
    let t = thread_of(d)?;
    let tid = t.id();
    ensure_eq!(lwp_wait(Some(d)), Err(Errno::EINVAL));
    GO.store(1, Ordering::SeqCst);
    // The only other LWP is detached: this wait sleeps until it has gone, then finds
    // that nobody is left who could exit.
    ensure_eq!(lwp_wait(None), Err(Errno::EDEADLK));
    ensure_eq!(DETACHED_RAN.load(Ordering::SeqCst), 1);
    ensure_eq!(lwp_wait(Some(d)), Err(Errno::ESRCH));
    ensure_eq!((p.lwpcnt(), p.zombcnt()), (1, 0));
    ensure_eq!(p.lwp_ids(), [LwpId(1)]);
    wait_for("the detached LWP's thread to be reaped", 5, || {
        t.state() == ThreadState::Free || t.id() != tid
    })?;
    Ok(())
}

/// A detached LWP cannot be waited for (`EINVAL` while it lives, Solaris' choice),
/// leaves no zombie and is reaped as it exits (`ESRCH` afterwards); a wait for any
/// with only detached LWPs besides sleeps until they are gone, then reports
/// `EDEADLK` (S3).
fn lwp_detached_never_waited_for() -> TestResult {
    in_process(detached_body)
}

fn edeadlk_body() -> TestResult {
    let p = this_proc()?;
    let me = lwp_self().ok_or("no lwp_self")?;
    *WAITED.lock() = None;
    ensure_eq!(lwp_wait(Some(me)), Err(Errno::EDEADLK));
    let w = spawn(waiter, 0, LwpFlags::empty())?;
    wait_for("the waiter for any to wait", 5, || p.lwpwait() == 1)?;
    // Both LWPs would wait for any: nobody could ever exit.
    ensure_eq!(lwp_wait(None), Err(Errno::EDEADLK));
    ensure!(WAITED.lock().is_none(), "the waiter returned early: {:?}", *WAITED.lock());
    // Waiting for W, which waits for any: W is woken to see the deadlock, returns
    // EDEADLK and exits, which ends this wait.
    ensure_eq!(lwp_wait(Some(w)), Ok(w));
    ensure_eq!(*WAITED.lock(), Some(Err(Errno::EDEADLK)));
    // A cycle: V waits for this LWP; waiting for V would close it. V stays asleep in
    // its wait until the process exits, which must end it too.
    let v = spawn(waiter, me.0 as usize, LwpFlags::empty())?;
    wait_for("V to wait", 5, || p.lwpwait() == 1)?;
    ensure_eq!(lwp_wait(Some(v)), Err(Errno::EDEADLK));
    ensure_eq!(lwp_wait(Some(LwpId(1000))), Err(Errno::ESRCH));
    Ok(())
}

/// `lwp_wait` refuses what would never end with `EDEADLK`: waiting for oneself, for
/// any when every LWP waits for any, and for an LWP that waits for oneself; a waiter
/// for any at the end of a chain is woken to see it (S3).
fn lwp_wait_edeadlk() -> TestResult {
    in_process(edeadlk_body)
}

static A_READY: AtomicBool = AtomicBool::new(false);

fn proc_a_main(_: usize) {
    let Some(p) = curproc() else { return };
    let made = (0..3).all(|_| lwp_create(p, hold_until, 1, LwpFlags::empty()).is_ok());
    A_READY.store(made, Ordering::SeqCst);
    while lwp_wait(None).is_ok() {}
}

fn proc_b_body() -> TestResult {
    let p = this_proc()?;
    for id in [LwpId(2), LwpId(3), LwpId(4)] {
        ensure_eq!(lwp_wait(Some(id)), Err(Errno::ESRCH));
        ensure_eq!(lwp_suspend(id), Err(Errno::ESRCH));
        ensure_eq!(lwp_continue(id), Err(Errno::ESRCH));
        ensure!(idtot(p, id).is_none(), "{id} of another process is visible here");
    }
    // This process's own LWP 2 is another LWP altogether.
    let id = spawn(return_at_once, 0, LwpFlags::empty())?;
    ensure_eq!(id, LwpId(2));
    ensure_eq!(lwp_wait(Some(id)), Ok(id));
    Ok(())
}

/// LWP ids mean something only inside their process (S15): process A has LWPs
/// 1–4; in process B, ids 2–4 are unknown (`ESRCH` for wait, suspend, continue)
/// until B makes its own LWP 2, which is another LWP; A's are untouched.
fn lwp_ids_are_per_process() -> TestResult {
    GO.store(0, Ordering::SeqCst);
    A_READY.store(false, Ordering::SeqCst);
    let a = proc_create(proc_a_main, 0).map_err(|e| format!("proc_create: {e}"))?;
    let pa = prfind(a).ok_or("process A vanished")?;
    wait_for("process A's LWPs", 5, || A_READY.load(Ordering::SeqCst))?;
    ensure_eq!(pa.lwp_ids(), [LwpId(1), LwpId(2), LwpId(3), LwpId(4)]);
    let b = in_process(proc_b_body);
    ensure_eq!(pa.lwpcnt(), 4);
    GO.store(1, Ordering::SeqCst);
    ensure_eq!(reap(a, 10)?, 0);
    b
}

fn reuse_body() -> TestResult {
    let p = this_proc()?;
    GO.store(0, Ordering::SeqCst);
    let x = spawn(return_at_once, 0, LwpFlags::empty())?;
    ensure_eq!(x, LwpId(2));
    wait_for("LWP 2 to exit", 5, || p.zombcnt() == 1)?;
    let y = spawn(hold_until, 1, LwpFlags::empty())?;
    ensure_eq!(y, LwpId(3));
    ensure_eq!(lwp_wait(Some(x)), Ok(x));
    let z = spawn(return_at_once, 0, LwpFlags::empty())?;
    ensure_eq!(z, LwpId(2));
    ensure_eq!(lwp_wait(Some(z)), Ok(z));
    GO.store(1, Ordering::SeqCst);
    ensure_eq!(lwp_wait(Some(y)), Ok(y));
    Ok(())
}

/// An exited LWP keeps its id while it is a zombie: a new LWP gets another one;
/// once waited for, the id is given out again (S15).
fn lwp_ids_reused_only_after_wait() -> TestResult {
    in_process(reuse_body)
}

static SUSP_RAN: AtomicUsize = AtomicUsize::new(0);

fn count_once(_: usize) {
    SUSP_RAN.fetch_add(1, Ordering::SeqCst);
}

fn suspended_body() -> TestResult {
    SUSP_RAN.store(0, Ordering::SeqCst);
    let id = spawn(count_once, 0, LwpFlags::SUSPENDED)?;
    let t = thread_of(id)?;
    sleepq::delay(3);
    ensure_eq!(SUSP_RAN.load(Ordering::SeqCst), 0);
    ensure_eq!(t.state(), ThreadState::Stopped);
    ensure!(t.nswitch() == 0 && !disp::is_running(t), "the suspended LWP's thread was switched in");
    ensure_eq!(lwp_suspend(id), Ok(()));
    ensure_eq!(lwp_continue(id), Ok(()));
    ensure_eq!(lwp_wait(Some(id)), Ok(id));
    ensure_eq!(SUSP_RAN.load(Ordering::SeqCst), 1);
    ensure_eq!(lwp_continue(id), Err(Errno::ESRCH));
    ensure_eq!(lwp_suspend(id), Err(Errno::ESRCH));
    Ok(())
}

/// An LWP created SUSPENDED is `Stopped` and never switched in across several ticks;
/// suspending it again succeeds at once; continued, it runs once and exits; an
/// exited LWP can be neither suspended nor continued (`ESRCH`) (S3).
fn lwp_created_suspended_runs_after_continue() -> TestResult {
    in_process(suspended_body)
}

fn counts(n: usize) -> Vec<u64> {
    BUSY_COUNT[..n].iter().map(|c| c.load(Ordering::SeqCst)).collect()
}

fn busy_body() -> TestResult {
    // One per CPU: with more, a suspension waits for a queued target to get a CPU,
    // a whole TS quantum of another busy LWP (up to 20 ticks).
    let n = M::ncpus().min(MAX_BUSY);
    busy_reset();
    let ids = (0..n).map(|k| spawn(busy, k, LwpFlags::empty())).collect::<Result<Vec<_>, _>>()?;
    wait_for("every busy LWP to count", 5, || counts(n).iter().all(|&c| c > 0))?;
    for &id in &ids {
        ensure_eq!(lwp_suspend(id), Ok(()));
    }
    for &id in &ids {
        let t = thread_of(id)?;
        ensure_eq!(t.state(), ThreadState::Stopped);
        ensure!(t.proc_flag().contains(TpFlags::STOPPED), "{id} is not marked stopped");
        ensure!(!disp::is_running(t) && !on_a_cpu(t), "stopped {id} is on a CPU");
    }
    disp::check_invariants()?;
    let frozen = counts(n);
    sleepq::delay(3);
    ensure_eq!(counts(n), frozen);
    // Suspending a stopped LWP succeeds at once and changes nothing.
    ensure_eq!(lwp_suspend(ids[0]), Ok(()));
    ensure_eq!(counts(n), frozen);
    for &id in &ids {
        ensure_eq!(lwp_continue(id), Ok(()));
    }
    wait_for("every busy LWP to count again", 5, || {
        counts(n).iter().zip(&frozen).all(|(c, f)| c > f)
    })?;
    // Continuing a running LWP is a no-op: it goes on counting.
    ensure_eq!(lwp_continue(ids[0]), Ok(()));
    let now = counts(1)[0];
    wait_for("LWP 2 to go on counting", 5, || counts(1)[0] > now)?;
    BUSY_STOP.store(true, Ordering::SeqCst);
    for &id in &ids {
        ensure_eq!(lwp_wait(Some(id)), Ok(id));
    }
    Ok(())
}

/// `lwp_suspend` stops busy LWPs (one per CPU, running in parallel) at their stop
/// points: each is `Stopped`, on no CPU, and its counter does not move across
/// several ticks; `lwp_continue` makes them count again (S3).
fn lwp_suspend_stops_busy_lwps() -> TestResult {
    in_process(busy_body)
}

/// 1: about to suspend itself; 2: came back from it with `Ok`; 3: with an error.
static SELF_STAGE: AtomicU32 = AtomicU32::new(0);

fn self_suspender(_: usize) {
    SELF_STAGE.store(1, Ordering::SeqCst);
    let r = lwp_self().map(lwp_suspend);
    SELF_STAGE.store(if r == Some(Ok(())) { 2 } else { 3 }, Ordering::SeqCst);
}

fn self_body() -> TestResult {
    SELF_STAGE.store(0, Ordering::SeqCst);
    let id = spawn(self_suspender, 0, LwpFlags::empty())?;
    let t = thread_of(id)?;
    wait_for("the LWP to stop itself", 5, || {
        SELF_STAGE.load(Ordering::SeqCst) == 1 && t.state() == ThreadState::Stopped
    })?;
    sleepq::delay(2);
    ensure_eq!(SELF_STAGE.load(Ordering::SeqCst), 1);
    ensure_eq!(lwp_continue(id), Ok(()));
    ensure_eq!(lwp_wait(Some(id)), Ok(id));
    ensure_eq!(SELF_STAGE.load(Ordering::SeqCst), 2);
    Ok(())
}

/// An LWP that suspends itself stops at once, stays stopped until continued, and
/// its `lwp_suspend` then returns `Ok` (S3).
fn lwp_suspend_self() -> TestResult {
    in_process(self_body)
}

fn asleep_body() -> TestResult {
    let p = this_proc()?;
    GO.store(0, Ordering::SeqCst);
    *WAITED.lock() = None;
    let x = spawn(hold_until, 1, LwpFlags::empty())?;
    let w = spawn(waiter, x.0 as usize, LwpFlags::empty())?;
    let tw = thread_of(w)?;
    wait_for("W to wait for X", 5, || p.lwpwait() == 1 && tw.state() == ThreadState::Sleep)?;
    ensure_eq!(lwp_suspend(w), Ok(()));
    ensure_eq!(tw.state(), ThreadState::Stopped);
    ensure_eq!(p.lwpwait(), 0);
    // X exits while W is stopped: W cannot take it.
    GO.store(1, Ordering::SeqCst);
    wait_for("X to exit", 5, || p.zombcnt() == 1)?;
    sleepq::delay(2);
    ensure!(WAITED.lock().is_none(), "stopped W returned from its wait: {:?}", *WAITED.lock());
    ensure_eq!(tw.state(), ThreadState::Stopped);
    ensure_eq!(lwp_continue(w), Ok(()));
    wait_for("W to take X", 5, || WAITED.lock().is_some())?;
    ensure_eq!(*WAITED.lock(), Some(Ok(x)));
    ensure_eq!(lwp_wait(Some(w)), Ok(w));
    Ok(())
}

/// An LWP asleep in `lwp_wait` stops there when suspended (its wait is a stop
/// point), misses nothing while stopped, and picks its wait up when continued (S3).
fn lwp_suspend_stops_lwp_asleep_in_wait() -> TestResult {
    in_process(asleep_body)
}

/// Writes a value of its own into every S5 field an LWP owns (the CPU times but
/// `lwp_stime`, which is the clock's).
fn fill(d: &mut LwpData) {
    d.lwp_regs.store(&UserRegs { r: core::array::from_fn(|i| 0x5500 + i as u64) });
    d.lwp_sysnum = 159;
    d.lwp_arg = [1, 2, 3, 4, 5, 6, 7, 8];
    d.lwp_rval = [11, 12];
    d.lwp_errno = Some(Errno::EINTR);
    d.lwp_sigaltstack = SigAltStack { ss_sp: 0x7fff_0000, ss_size: 8192, ss_flags: 1 };
    d.lwp_cursig = 14;
    d.lwp_curinfo = Some(SigInfo { si_signo: 11, si_code: 1, si_errno: 0, si_addr: 0xdead_0000 });
    d.lwp_ru = LwpRusage {
        minflt: 1,
        majflt: 2,
        nswap: 3,
        inblock: 4,
        oublock: 5,
        msgsnd: 6,
        msgrcv: 7,
        nsignals: 8,
        nvcsw: 9,
        nivcsw: 10,
        ioch: 12,
    };
    d.lwp_prof = LwpProf { pr_base: 0x1_0000, pr_size: 4096, pr_off: 0x100, pr_scale: 0x8000 };
    d.lwp_itimer = [
        ITimerVal { it_interval: 10, it_value: 20 },
        ITimerVal { it_interval: 30, it_value: 40 },
        ITimerVal { it_interval: 50, it_value: 60 },
    ];
    d.lwp_utime = 77;
}

/// 1: filled its `lwp` structure and stops; 2: ran again with it resident; 3: not.
static SWAP_STAGE: AtomicU32 = AtomicU32::new(0);

fn swap_subject(_: usize) {
    let filled = curlwp().and_then(|l| l.with_data(fill));
    SWAP_STAGE.store(if filled.is_some() { 1 } else { 3 }, Ordering::SeqCst);
    if let Some(id) = lwp_self() {
        let _ = lwp_suspend(id);
    }
    let back = curlwp().and_then(|l| l.with_data(|d| d.lwp_regs.pc()));
    SWAP_STAGE.store(if back == Some(0x5501) { 2 } else { 3 }, Ordering::SeqCst);
}

fn swap_body() -> TestResult {
    let p = this_proc()?;
    SWAP_STAGE.store(0, Ordering::SeqCst);
    busy_reset();
    let s = spawn(swap_subject, 0, LwpFlags::empty())?;
    let (t, l) = (thread_of(s)?, idtolwp(p, s).ok_or("no lwp")?);
    wait_for("the subject to fill and stop", 5, || {
        SWAP_STAGE.load(Ordering::SeqCst) == 1 && t.state() == ThreadState::Stopped
    })?;
    ensure_eq!(lwp_suspend(s), Ok(()));
    let before = l.with_data(|d| d.clone()).ok_or("the stopped LWP's structure is not resident")?;
    let mut want = before.clone();
    fill(&mut want);
    ensure!(want == before, "the subject's writes are not in its structure");
    ensure!(
        ptr::eq(before.lwp_thread.0, t) && ptr::eq(before.lwp_procp.0, p),
        "wrong back pointers"
    );

    let n0 = nswapped();
    ensure_eq!(lwp_swapout(p, s), Ok(()));
    ensure!(
        !l.is_resident() && l.with_data(|_| ()).is_none(),
        "swapped out, yet the data is reachable"
    );
    ensure_eq!(nswapped(), n0 + 1);
    // What must stay resident is in the thread (S6).
    ensure_eq!(t.state(), ThreadState::Stopped);
    ensure!(
        t.proc_flag().contains(TpFlags::STOPPED) && t.class() == SchedClass::Ts,
        "thread state lost"
    );
    ensure!(idtot(p, s).is_some_and(|x| ptr::eq(x, t)), "the directory lost the LWP");
    ensure_eq!(lwp_swapout(p, s), Ok(()));
    ensure_eq!(nswapped(), n0 + 1);
    ensure_eq!(lwp_swapin(p, s), Ok(()));
    ensure_eq!(nswapped(), n0);
    ensure_eq!(l.with_data(|d| d.clone()), Some(before));

    // Out again: continuing brings it back before it runs.
    ensure_eq!(lwp_swapout(p, s), Ok(()));
    ensure_eq!(lwp_continue(s), Ok(()));
    ensure_eq!(lwp_wait(Some(s)), Ok(s));
    ensure_eq!(SWAP_STAGE.load(Ordering::SeqCst), 2);
    ensure_eq!(nswapped(), n0);

    // Refused for what is not stopped: a busy LWP, a sleeping one (W, waiting for
    // the busy one), oneself.
    *WAITED.lock() = None;
    // The busy one starts once W sleeps: on one CPU it would hold W off for a quantum.
    let b = spawn(busy, 0, LwpFlags::SUSPENDED)?;
    let w = spawn(waiter, b.0 as usize, LwpFlags::empty())?;
    let (lb, tw) = (idtolwp(p, b).ok_or("no lwp")?, thread_of(w)?);
    wait_for("W to sleep", 5, || p.lwpwait() == 1 && tw.state() == ThreadState::Sleep)?;
    ensure_eq!(lwp_swapout(p, w), Err(Errno::EBUSY));
    ensure_eq!(lwp_continue(b), Ok(()));
    wait_for("the busy LWP to count", 5, || BUSY_COUNT[0].load(Ordering::SeqCst) > 0)?;
    ensure_eq!(lwp_swapout(p, b), Err(Errno::EBUSY));
    ensure_eq!(lwp_swapout(p, LwpId(1)), Err(Errno::EBUSY));
    ensure_eq!(lwp_swapout(p, LwpId(1000)), Err(Errno::ESRCH));
    ensure!(lb.is_resident(), "a refused swap-out moved the data");
    // The clock charges a running LWP's system time (S5.6).
    wait_for("the busy LWP to be charged a tick", 5, || {
        lb.with_data(|d| d.lwp_stime).unwrap_or(0) > 0
    })?;
    BUSY_STOP.store(true, Ordering::SeqCst);
    ensure_eq!(lwp_wait(Some(w)), Ok(w));
    ensure_eq!(*WAITED.lock(), Some(Ok(b)));
    Ok(())
}

/// The `lwp` structure of a stopped LWP moves out to the swap store and back with
/// every field intact, is unreachable while out, comes back in when the LWP is
/// continued, and cannot be swapped out while its LWP runs or sleeps; the thread
/// keeps the resident state meanwhile (S5, S6).
fn lwp_swap_out_and_in() -> TestResult {
    in_process(swap_body)
}

static EXIT_THREADS: DispLock<Vec<(&'static KThread, u64)>> = DispLock::new(Vec::new());
static EXIT_CHILD: AtomicU32 = AtomicU32::new(0);
/// Why the exiting process's main LWP could not set up; empty if it did.
static EXIT_SETUP: DispLock<String> = DispLock::new(String::new());

/// Creates a child process that holds until `GO` is 1, then waits for it.
fn proc_waiter(_: usize) {
    if let Ok(c) = proc_create(hold_until, 1) {
        EXIT_CHILD.store(c.0, Ordering::SeqCst);
        let _ = proc_wait(None);
    }
}

fn exiting_setup() -> TestResult {
    let p = this_proc()?;
    // The busy LWPs (the last one detached) are held until the others are in place:
    // on one CPU, each would keep them from getting there for a whole quantum.
    let held = LwpFlags::SUSPENDED;
    let busies = [
        spawn(busy, 0, held)?,
        spawn(busy, 1, held)?,
        spawn(busy, 2, held)?,
        spawn(busy, 3, held | LwpFlags::DETACHED)?,
    ];
    let others = [
        spawn(waiter, busies[0].0 as usize, LwpFlags::empty())?,
        spawn(waiter, 0, LwpFlags::empty())?,
        spawn(count_once, 0, LwpFlags::SUSPENDED)?,
        spawn(self_suspender, 0, LwpFlags::empty())?,
        spawn(hold_until, 1, LwpFlags::empty())?,
        spawn(proc_waiter, 0, LwpFlags::empty())?,
    ];
    let pw = thread_of(others[5])?;
    wait_for("every LWP to be in place", 5, || {
        p.lwpwait() == 2
            && SELF_STAGE.load(Ordering::SeqCst) == 1
            && EXIT_CHILD.load(Ordering::SeqCst) != 0
            && pw.state() == ThreadState::Sleep
    })?;
    for &id in &busies {
        ensure_eq!(lwp_continue(id), Ok(()));
    }
    // Some count (all of them, given CPUs enough), the others wait on a run queue:
    // exit must end both.
    wait_for("a busy LWP to count", 5, || counts(4).iter().any(|&c| c > 0))?;
    let mut threads = EXIT_THREADS.lock();
    for id in busies.iter().chain(&others) {
        let t = thread_of(*id)?;
        threads.push((t, t.id()));
    }
    ensure_eq!(p.lwpcnt(), 11);
    Ok(())
}

fn exiting_main(_: usize) {
    if let Err(e) = exiting_setup() {
        *EXIT_SETUP.lock() = e;
    }
    proc_exit(42)
}

/// A process whose LWP calls `proc_exit(42)` loses every other LWP — busy ones
/// (running or queued) at their stop points, ones asleep in `lwp_wait` and
/// `proc_wait`, created suspended, detached, self-suspended — and is left a zombie
/// with status 42, no LWP, an empty directory; `proc_wait` reaps it, after which it
/// is gone (`ECHILD`). Its child goes to proc 0 and is reaped from there (S1).
fn lwp_proc_exit_ends_every_lwp() -> TestResult {
    GO.store(0, Ordering::SeqCst);
    busy_reset();
    SELF_STAGE.store(0, Ordering::SeqCst);
    EXIT_CHILD.store(0, Ordering::SeqCst);
    EXIT_THREADS.lock().clear();
    EXIT_SETUP.lock().clear();
    let pid = proc_create(exiting_main, 0).map_err(|e| format!("proc_create: {e}"))?;
    let p = prfind(pid).ok_or("the process vanished")?;
    wait_for("the process to exit", 10, || p.stat() == PStat::Zombie)?;
    let setup = core::mem::take(&mut *EXIT_SETUP.lock());
    ensure!(setup.is_empty(), "setting up: {setup}");
    ensure_eq!(p.exit_status().map(WaitStatus::from_raw), Some(WaitStatus::Exited(42)));
    ensure_eq!((p.lwpcnt(), p.zombcnt(), p.lwp_ids().len()), (0, 0, 0));
    ensure_eq!(proc_wait(Some(pid)), Ok((pid, WaitStatus::Exited(42).raw())));
    ensure!(prfind(pid).is_none(), "{pid} is still there after it was reaped");
    ensure_eq!(proc_wait(Some(pid)), Err(Errno::ECHILD));
    let threads = EXIT_THREADS.lock().clone();
    ensure_eq!(threads.len(), 10);
    let reaped = |&(t, tid): &(&KThread, u64)| t.state() == ThreadState::Free || t.id() != tid;
    wait_for("every LWP's thread to be reaped", 5, || threads.iter().all(reaped)).map_err(|e| {
        let left: Vec<_> = threads
            .iter()
            .filter(|x| !reaped(x))
            .map(|(t, _)| (t.state(), t.wchan(), t.pri()))
            .collect();
        format!("{e}: (state, wchan, pri) = {left:?}")
    })?;
    let child = Pid(EXIT_CHILD.load(Ordering::SeqCst));
    ensure_eq!(prfind(child).and_then(Proc::parent), Some(PROC0.pid()));
    GO.store(1, Ordering::SeqCst);
    ensure_eq!(reap(child, 10)?, 0);
    Ok(())
}

fn exit_seven_later(_: usize) {
    sleepq::delay(5);
    proc_exit(7)
}

fn child_wait_body() -> TestResult {
    let p = this_proc()?;
    ensure_eq!(proc_wait(None), Err(Errno::ECHILD));
    let c = proc_create(exit_seven_later, 0).map_err(|e| format!("proc_create: {e}"))?;
    ensure_eq!(prfind(c).and_then(Proc::parent), Some(p.pid()));
    ensure_eq!(proc_wait(Some(PROC0.pid())), Err(Errno::ECHILD));
    let t0 = clock::lbolt();
    ensure_eq!(proc_wait(None), Ok((c, WaitStatus::Exited(7).raw())));
    ensure!(
        clock::lbolt() - t0 >= 3,
        "proc_wait returned after {} ticks, before the child could exit",
        clock::lbolt() - t0
    );
    ensure!(prfind(c).is_none(), "the reaped child is still there");
    ensure_eq!(proc_wait(None), Err(Errno::ECHILD));
    Ok(())
}

/// A process's LWP sleeps in `proc_wait` until its child exits, then gets the
/// child's pid and status; with no child (or a pid that is not a child) it gets
/// `ECHILD` (S1).
fn lwp_proc_wait_sleeps_until_child_exits() -> TestResult {
    in_process(child_wait_body)
}

const SIGINT: usize = 2;
const SIGTERM: usize = 15;
static SIGDISP_SEEN: DispLock<Option<(SigDisp, SigDisp)>> = DispLock::new(None);

fn read_sigdisp(_: usize) {
    if let Some(p) = curproc() {
        let d = p.p_sigdisp.lock();
        *SIGDISP_SEEN.lock() = Some((d[SIGINT], d[SIGTERM]));
    }
}

fn sigdisp_body() -> TestResult {
    let p = this_proc()?;
    ensure!(
        p.p_sigdisp.lock().iter().all(|&d| d == SigDisp::Default),
        "a new process has a disposition set"
    );
    *SIGDISP_SEEN.lock() = None;
    {
        let mut d = p.p_sigdisp.lock();
        d[SIGINT] = SigDisp::Ignore;
        d[SIGTERM] = SigDisp::Catch(0x1_2340);
    }
    let id = spawn(read_sigdisp, 0, LwpFlags::empty())?;
    ensure_eq!(lwp_wait(Some(id)), Ok(id));
    ensure_eq!(*SIGDISP_SEEN.lock(), Some((SigDisp::Ignore, SigDisp::Catch(0x1_2340))));
    Ok(())
}

/// The signal dispositions are the process's, seen alike by all its LWPs (S10), and
/// a new process (likely a reused structure) starts with every one `SIG_DFL`.
fn lwp_proc_sigdisp_shared() -> TestResult {
    in_process(sigdisp_body)?;
    in_process(sigdisp_body)
}
