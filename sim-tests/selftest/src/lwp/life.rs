//! An LWP's life (S1, S3, S5, S7, S15): where it runs (`curlwp`, `curproc`), creation,
//! exit and `lwp_wait` (by id and for any, detached LWPs, `EDEADLK`), and LWP ids,
//! which are per process and reused only once waited for.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::vec::Vec;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use arch::Machine;

use crate::{ensure, ensure_eq, wait_for, TestResult};
use kern::class::SchedClass;
use kern::errno::Errno;
use kern::lwp::{
    idtolwp, idtot, lwp_continue, lwp_create, lwp_self, lwp_suspend, lwp_wait, LwpFlags, LwpId,
};
use kern::proc::life::proc_create;
use kern::proc::{prfind, WaitStatus, PROC0};
use kern::sync::Mutex;
use kern::thread::{curlwp, curproc, curthread, ThreadState};
use kern::{sleepq, M};

use super::{
    hold_until, in_process, reap_within, return_at_once, spawn, this_proc, thread_of, waiter, GO,
    WAITED,
};

static WHERE_PID: AtomicU32 = AtomicU32::new(0);
static WHERE_SEEN: Mutex<Vec<(LwpId, bool)>> = Mutex::new(Vec::new());

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
pub(super) fn lwp_curlwp_curproc_in_every_lwp() -> TestResult {
    ensure!(lwp_self().is_none() && curproc().is_none(), "the test thread (S2) has an LWP");
    ensure_eq!(lwp_wait(None), Err(Errno::EINVAL));
    ensure_eq!(lwp_suspend(LwpId(1)), Err(Errno::EINVAL));
    ensure_eq!(lwp_continue(LwpId(1)), Err(Errno::EINVAL));
    ensure_eq!(lwp_create(&PROC0, return_at_once, 0, LwpFlags::empty()), Err(Errno::EINVAL));
    in_process(where_body)
}

const MANY: usize = 24;
static MANY_PID: AtomicU32 = AtomicU32::new(0);
static MANY_SEEN: Mutex<Vec<(LwpId, u64)>> = Mutex::new(Vec::new());

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
pub(super) fn lwp_create_exit_wait_many() -> TestResult {
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
pub(super) fn lwp_wait_by_id_takes_precedence_over_any() -> TestResult {
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
pub(super) fn lwp_detached_never_waited_for() -> TestResult {
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
pub(super) fn lwp_wait_edeadlk() -> TestResult {
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
pub(super) fn lwp_ids_are_per_process() -> TestResult {
    GO.store(0, Ordering::SeqCst);
    A_READY.store(false, Ordering::SeqCst);
    let a = proc_create(proc_a_main, 0).map_err(|e| format!("proc_create: {e}"))?;
    let pa = prfind(a).ok_or("process A vanished")?;
    wait_for("process A's LWPs", 5, || A_READY.load(Ordering::SeqCst))?;
    ensure_eq!(pa.lwp_ids(), [LwpId(1), LwpId(2), LwpId(3), LwpId(4)]);
    let b = in_process(proc_b_body);
    ensure_eq!(pa.lwpcnt(), 4);
    GO.store(1, Ordering::SeqCst);
    ensure_eq!(reap_within(a, 10)?, WaitStatus::Exited(0));
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
pub(super) fn lwp_ids_reused_only_after_wait() -> TestResult {
    in_process(reuse_body)
}

/// A waiter A for LWP 2, suspended in its wait while another LWP reaps LWP 2 and a
/// new LWP is given id 2, finds its LWP gone when continued (`ESRCH`): a wait names
/// one LWP for its whole life, and never takes a newcomer with a reused id (S15).
fn reused_id_body() -> TestResult {
    let p = this_proc()?;
    GO.store(0, Ordering::SeqCst);
    *WAITED.lock() = None;
    let target = spawn(hold_until, 1, LwpFlags::empty())?;
    let a = spawn(waiter, target.0 as usize, LwpFlags::empty())?;
    let ta = thread_of(a)?;
    wait_for("A to wait for the target", 5, || {
        p.lwpwait() == 1 && ta.state() == ThreadState::Sleep
    })?;
    ensure_eq!(lwp_suspend(a), Ok(()));
    GO.store(1, Ordering::SeqCst);
    ensure_eq!(lwp_wait(Some(target)), Ok(target));
    // The id just freed is the next one given out.
    let newcomer = spawn(hold_until, 2, LwpFlags::empty())?;
    ensure_eq!(newcomer, target);
    ensure_eq!(lwp_continue(a), Ok(()));
    ensure_eq!(lwp_wait(Some(a)), Ok(a));
    ensure_eq!(*WAITED.lock(), Some(Err(Errno::ESRCH)));
    ensure!(idtot(p, newcomer).is_some(), "the newcomer was taken by the old wait");
    GO.store(2, Ordering::SeqCst);
    ensure_eq!(lwp_wait(Some(newcomer)), Ok(newcomer));
    Ok(())
}

pub(super) fn lwp_wait_never_takes_a_reused_id() -> TestResult {
    in_process(reused_id_body)
}
