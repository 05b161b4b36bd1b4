//! Signals and processes: job control stops and continues every LWP (S14), a
//! signal from another process names only that process (S15), and orphans go to
//! `init`, which reaps them (S1).

use arch::sim::user;
use core::mem::offset_of;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use kern::proc::{self, AddrSpace, Pid, WaitOpts, WaitStatus};
use kern::sleepq;
use kern_selftest::{ensure, ensure_eq, reap, wait_until, TestResult};
use lwp_abi::*;

use super::{
    block, catch, errno, exit, h_record, kill, lwp_exit, peek, put_set, ran, sleep_ms, sleeper,
    space, start, sys, until, wait_go, wait_lwp, worker, worker_arg, COUNT, DONE, GO, INFO, LAST,
    SET,
};

// ---- S14: job control and SIGKILL ------------------------------------------------

fn spin_count(k: u64) {
    let slot = COUNT + 8 * k;
    loop {
        user::store_u64(slot, user::load_u64(slot) + 1);
    }
}

fn stop_main(_: u64) {
    worker(0, spin_count);
    worker(1, spin_count);
    worker_arg(2, sleeper, 1_000_000);
    spin_count(2)
}

fn counts(s: &AddrSpace) -> Result<[u64; 3], String> {
    Ok([peek(s, COUNT)?, peek(s, COUNT + 8)?, peek(s, COUNT + 16)?])
}

/// S14: SIGSTOP stops every LWP of a process (three spin in user code, one
/// sleeps): their counts stand still, and the parent's wait sees it stopped;
/// SIGCONT sets them going, which the wait sees too; a stopped process dies of
/// SIGKILL.
pub(super) fn stop_continue_kill() -> TestResult {
    let s = space()?;
    let pid = start(&s, stop_main, 0)?;
    let n = u64::from(pid.0);
    wait_until("every LWP to count", 20, || Ok(counts(&s)?.iter().all(|&c| c > 0)))?;
    ensure_eq!(kern::signal::kill(n, SIGSTOP), Ok(()));
    let stopped = WaitStatus::Stopped(SIGSTOP as u8).raw();
    ensure_eq!(proc::life::proc_waitid(Some(pid), WaitOpts::STOPPED), Ok((pid, stopped)));
    let frozen = counts(&s)?;
    sleepq::delay(5);
    ensure_eq!(counts(&s)?, frozen);
    ensure_eq!(kern::signal::kill(n, SIGCONT), Ok(()));
    let cont = WaitOpts::CONTINUED | WaitOpts::STOPPED;
    ensure_eq!(proc::life::proc_waitid(Some(pid), cont), Ok((pid, WaitStatus::Continued.raw())));
    wait_until("the counts to move again", 20, || {
        Ok(counts(&s)?.iter().zip(&frozen).all(|(now, was)| now > was))
    })?;
    ensure_eq!(kern::signal::kill(n, SIGSTOP), Ok(()));
    ensure_eq!(proc::life::proc_waitid(Some(pid), WaitOpts::STOPPED), Ok((pid, stopped)));
    ensure_eq!(kern::signal::kill(n, SIGKILL), Ok(()));
    ensure_eq!(reap(pid)?, WaitStatus::Killed(SIGKILL as u8));
    Ok(())
}

// ---- S15 --------------------------------------------------------------------------

fn target_main(_: u64) {
    catch(SIGUSR1, h_record, SA_SIGINFO);
    let a = worker(0, wait_go);
    let b = worker(1, wait_go);
    assert_eq!((a, b), (2, 3));
    block(&[SIGUSR1]);
    user::store_u64(DONE, 1);
    until("the other process's signal", || ran() == 1);
    sleep_ms(20);
    assert_eq!(ran(), 1, "more than one signal arrived");
    user::store_u64(GO, 1);
    wait_lwp(a);
    wait_lwp(b);
    exit(0)
}

fn sender_lwp(target: u64) {
    kill(target, SIGUSR1).expect("kill");
    lwp_exit()
}

fn sender_main(target: u64) {
    for id in [2, 3] {
        assert_eq!(sys(SYS_LWP_KILL, &[id, SIGUSR1]), Err(errno(Errno::ESRCH)), "_lwp_kill({id})");
    }
    let id = worker_arg(0, sender_lwp, target);
    wait_lwp(id);
    exit(0)
}

/// S15: a signal from another process (sent by its LWP 2) tells the receiver the
/// sender's pid and `SI_USER`, nothing of the LWP; the sender's `_lwp_kill` of ids
/// 2 and 3 — the receiver's LWPs — is ESRCH, and reaches nothing.
pub(super) fn between_processes() -> TestResult {
    let (ts, ss) = (space()?, space()?);
    let target = start(&ts, target_main, 0)?;
    wait_until("the target", 20, || Ok(peek(&ts, DONE)? == 1))?;
    let sender = start(&ss, sender_main, u64::from(target.0))?;
    ensure_eq!(reap(sender)?, WaitStatus::Exited(0));
    ensure_eq!(reap(target)?, WaitStatus::Exited(0));
    ensure_eq!(peek(&ts, LAST + 16)? as i32, SI_USER);
    ensure_eq!(peek(&ts, LAST + 24)?, u64::from(sender.0));
    ensure!(matches!(peek(&ts, LAST + 8)?, 2 | 3), "taken by LWP {}", peek(&ts, LAST + 8)?);
    Ok(())
}

// ---- S1: orphans go to init -------------------------------------------------------

/// The pid of the orphan `orphan_parent` leaves, and whether it may exit.
static ORPHAN: AtomicU32 = AtomicU32::new(0);
static ORPHAN_GO: AtomicBool = AtomicBool::new(false);

/// `init` as the QEMU image's is: reaps every child that has exited, then waits in
/// `sigsuspend` for SIGCHLD, which is blocked everywhere else (so none is missed).
fn init_main(_: u64) {
    catch(SIGCHLD, |_, _, _| {}, 0);
    block(&[SIGCHLD]);
    put_set(SET, SigSet::EMPTY);
    let pid_at = INFO + offset_of!(SigInfoT, si_pid) as u64;
    loop {
        while sys(SYS_WAITID, &[P_ALL, 0, INFO, WEXITED | WNOHANG]).is_ok()
            && user::load_u32(pid_at) != 0
        {}
        let _ = sys(SYS_SIGSUSPEND, &[SET]);
    }
}

/// A process that makes a child and exits before it.
fn orphan_parent(_: usize) {
    if let Ok(c) = proc::life::proc_create(orphan_child, 0) {
        ORPHAN.store(c.0, Ordering::SeqCst);
    }
    proc::life::proc_exit(0)
}

fn orphan_child(_: usize) {
    while !ORPHAN_GO.load(Ordering::SeqCst) {
        sleepq::delay(1);
    }
    proc::life::proc_exit(7)
}

/// S1: with an `init` (`proc::set_init`), a process that exits gives its children
/// to it, and init reaps them as its own; once init is gone, orphans go to the
/// kernel's reaper again.
pub(super) fn init_adopts_and_reaps_orphans() -> TestResult {
    if let Some(other) = proc::initproc() {
        kern_selftest::skip!("init is pid {other} already");
    }
    let s = space()?;
    let init = start(&s, init_main, 0)?;
    ensure_eq!(proc::set_init(init), Ok(()));
    ensure_eq!(proc::set_init(init), Err(Errno::EBUSY));
    ORPHAN.store(0, Ordering::SeqCst);
    ORPHAN_GO.store(false, Ordering::SeqCst);
    let mid = proc::life::proc_create(orphan_parent, 0).map_err(|e| format!("proc_create: {e}"))?;
    ensure_eq!(reap(mid)?, WaitStatus::Exited(0));
    let orphan = Pid(ORPHAN.load(Ordering::SeqCst));
    ensure!(orphan.0 != 0, "the orphan was not made");
    ensure_eq!(proc::prfind(orphan).and_then(|p| p.parent()), Some(init));
    ensure_eq!(proc::life::proc_wait(Some(orphan)), Err(Errno::ECHILD));
    ORPHAN_GO.store(true, Ordering::SeqCst);
    wait_until("init to reap the orphan", 10, || Ok(proc::prfind(orphan).is_none()))?;
    // init ends: no heir any more, and its own exit is its parent's to reap.
    ensure_eq!(kern::signal::kill(u64::from(init.0), SIGKILL), Ok(()));
    ensure_eq!(reap(init)?, WaitStatus::Killed(SIGKILL as u8));
    ensure_eq!(proc::initproc(), None);
    Ok(())
}
