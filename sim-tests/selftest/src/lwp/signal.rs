//! Signals between processes of kernel LWPs (S10, S11, S14): the disposition one
//! LWP sets takes effect for all; a process signal goes to an LWP that does not
//! mask it, and stays pending on the process while every LWP masks it; SIGKILL
//! ends LWPs in every state; SIGSTOP stops every LWP and SIGCONT continues them,
//! both seen by the parent's wait; SIGCHLD and its `SA_NOCLDSTOP`/`SA_NOCLDWAIT`.
//!
//! Kernel LWPs never return to user mode, so no handler runs here (the user
//! programs' tests run handlers): a caught signal shows as the signal an LWP's
//! interrupted wait took — its `lwp_cursig`, the signal being delivered — and the
//! EINTR of that wait. These tests run in QEMU and on the host simulation over
//! many seeds.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::{ensure, ensure_eq, wait_for, TestResult};
use kern::errno::Errno;
use kern::lwp::{lwp_wait, LwpFlags, LwpId};
use kern::proc::life::{proc_create, proc_exit, proc_wait, proc_waitid};
use kern::proc::{prfind, PStat, WaitOpts, WaitStatus};
use kern::signal::{self, Sig, SigAct, SigDisp, SigSet};
use kern::sync::Mutex;
use kern::thread::{curlwp, KThread, ThreadState};
use kern::{proc, sleepq};

use super::{
    busy, busy_reset, count_once, counts, hold_until, in_process, reap_within, self_suspender,
    spawn, this_proc, thread_of, waiter, BUSY_STOP, GO, SELF_STAGE, WAITED,
};
use lwp_abi::{
    SA_NOCLDSTOP, SA_NOCLDWAIT, SIGCHLD, SIGCONT, SIGKILL, SIGSTOP, SIGTERM, SIGUSR1, SIGUSR2,
    SIG_BLOCK, SIG_UNBLOCK,
};

fn sig(n: u64) -> Sig {
    Sig::new(n).expect("a signal number")
}

/// A disposition that catches (the address is never jumped to: kernel LWPs).
fn caught(flags: u32) -> SigAct {
    SigAct { disp: SigDisp::Catch(0x4000), flags, mask: SigSet::EMPTY }
}

fn ignored() -> SigAct {
    SigAct { disp: SigDisp::Ignore, ..SigAct::DEFAULT }
}

/// How far a test's process got, and what went wrong there (empty if nothing).
static STAGE: AtomicU32 = AtomicU32::new(0);
static PROBLEM: Mutex<String> = Mutex::new(String::new());

fn problem(what: String) {
    let mut p = PROBLEM.lock();
    if p.is_empty() {
        *p = what;
    }
}

fn reset() {
    STAGE.store(0, Ordering::SeqCst);
    GO.store(0, Ordering::SeqCst);
    PROBLEM.lock().clear();
}

fn no_problem() -> TestResult {
    let p = core::mem::take(&mut *PROBLEM.lock());
    ensure!(p.is_empty(), "inside the process: {p}");
    Ok(())
}

/// What LWP `k`'s interruptible wait returned, and the signal it took (0: none):
/// 0 while it still waits.
static TOOK: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

/// LWP `k` waits in `sigsuspend` with its own mask (an interruptible wait that
/// only a caught signal ends), and records in `TOOK[k]` how it ended: the errno in
/// the high half, the signal it took in the low.
fn sig_sleeper(k: usize) {
    let mask = signal::sigprocmask(SIG_BLOCK, None).unwrap_or(SigSet::ALL);
    let e = signal::sigsuspend(mask);
    let took = curlwp().and_then(|l| l.with_data(|d| d.lwp_cursig)).unwrap_or(0);
    TOOK[k].store((e.code() as u64) << 32 | u64::from(took) | 1 << 63, Ordering::SeqCst);
}

/// Like [`sig_sleeper`], after unmasking SIGUSR1 first.
fn unmasked_sleeper(k: usize) {
    if signal::sigprocmask(SIG_UNBLOCK, Some(SigSet::of(sig(SIGUSR1)))).is_err() {
        problem(format!("LWP {k} could not unmask SIGUSR1"));
    }
    sig_sleeper(k)
}

/// The id of the LWP asleep in a test's process.
static SLEEPER: AtomicU32 = AtomicU32::new(0);

/// What `TOOK[k]` holds once LWP `k` took `s` in an interrupted wait.
fn took(s: u64) -> u64 {
    1 << 63 | (Errno::EINTR.code() as u64) << 32 | s
}

fn asleep(t: &KThread) -> bool {
    t.state() == ThreadState::Sleep
}

// ---- S10: one table of dispositions --------------------------------------------

/// Sets SIGTERM's disposition as `GO` asks (1: ignore, 2: default), from an LWP of
/// its own, then exits.
fn term_setter(how: usize) {
    let act = if how == 1 { ignored() } else { SigAct::DEFAULT };
    if signal::sigaction(SIGTERM, Some(act)).is_err() {
        problem(format!("sigaction(SIGTERM, {act:?}) failed"));
    }
}

fn disp_main(_: usize) {
    let fresh = (1..lwp_abi::NSIG).all(|s| signal::sigaction(s, None) == Ok(SigAct::DEFAULT));
    if !fresh {
        problem(String::from("a new process has a disposition that is not SIG_DFL"));
    }
    let step = |how: usize| {
        let r = spawn(term_setter, how, LwpFlags::empty()).map(|id| lwp_wait(Some(id)));
        if !matches!(r, Ok(Ok(_))) {
            problem(format!("the LWP setting SIGTERM to {how} failed: {r:?}"));
        }
    };
    step(1);
    // The disposition another LWP set is this one's too.
    if signal::sigaction(SIGTERM, None) != Ok(ignored()) {
        problem(String::from("LWP 1 does not see the SIG_IGN that LWP 2 set"));
    }
    match spawn(sig_sleeper, 0, LwpFlags::empty()) {
        Ok(id) => SLEEPER.store(id.0, Ordering::SeqCst),
        Err(e) => problem(e),
    }
    STAGE.store(1, Ordering::SeqCst);
    hold_until(1);
    step(2);
    STAGE.store(2, Ordering::SeqCst);
    hold_until(usize::MAX);
}

/// S10: a disposition set by one LWP is the process's: SIG_IGN set by an LWP
/// makes SIGTERM nothing to another asleep in an interruptible wait (it sleeps on,
/// the process lives); SIG_DFL set again by a third makes the next SIGTERM end the
/// process, taken by the sleeper (its wait interrupted), with SIGTERM as its
/// status. A new process starts with every disposition SIG_DFL.
pub(super) fn lwp_sig_disposition_shared() -> TestResult {
    reset();
    TOOK[0].store(0, Ordering::SeqCst);
    let pid = proc_create(disp_main, 0).map_err(|e| format!("proc_create: {e}"))?;
    let p = prfind(pid).ok_or("the process vanished")?;
    wait_for("the sleeper asleep, SIGTERM ignored", 10, || {
        STAGE.load(Ordering::SeqCst) == 1
            && thread_of_in(p, LwpId(SLEEPER.load(Ordering::SeqCst))).is_some_and(asleep)
    })?;
    ensure_eq!(signal::kill(u64::from(pid.0), SIGTERM), Ok(()));
    sleepq::delay(3);
    ensure_eq!(p.stat(), PStat::Active);
    ensure_eq!(TOOK[0].load(Ordering::SeqCst), 0);
    GO.store(1, Ordering::SeqCst);
    wait_for("SIGTERM back to SIG_DFL", 10, || STAGE.load(Ordering::SeqCst) == 2)?;
    ensure_eq!(signal::kill(u64::from(pid.0), SIGTERM), Ok(()));
    let status = reap_within(pid, 10)?;
    no_problem()?;
    ensure_eq!(status, WaitStatus::Killed(SIGTERM as u8));
    ensure_eq!(signal::kill(u64::from(pid.0), SIGTERM), Err(Errno::ESRCH));
    Ok(())
}

/// The thread of LWP `id` of `p`, if it is alive.
fn thread_of_in(p: &proc::Proc, id: LwpId) -> Option<&'static KThread> {
    kern::lwp::idtot(p, id)
}

// ---- S11, S14: masks decide who takes a process signal ---------------------------

const ROUNDS: usize = 12;

fn masks_body() -> TestResult {
    let p = this_proc()?;
    let usr1 = SigSet::of(sig(SIGUSR1));
    ensure_eq!(signal::sigaction(SIGUSR1, Some(caught(0))), Ok(SigAct::DEFAULT));
    ensure_eq!(signal::sigprocmask(SIG_BLOCK, Some(usr1)), Ok(SigSet::EMPTY));
    // A masks SIGUSR1 (its creator's mask) and sleeps interruptibly for good.
    let a = spawn(sig_sleeper, 0, LwpFlags::empty())?;
    let ta = thread_of(a)?;
    wait_for("A asleep", 5, || asleep(ta))?;
    let pid = u64::from(p.pid().0);
    for round in 1..=ROUNDS {
        // B does not mask it: it takes every one, never A (nor LWP 1, which sends
        // it and masks it).
        TOOK[round % 7 + 1].store(0, Ordering::SeqCst);
        let b = spawn(unmasked_sleeper, round % 7 + 1, LwpFlags::empty())?;
        let tb = thread_of(b)?;
        wait_for("B asleep", 5, || asleep(tb))?;
        ensure_eq!(signal::kill(pid, SIGUSR1), Ok(()));
        ensure_eq!(lwp_wait(Some(b)), Ok(b));
        ensure_eq!(TOOK[round % 7 + 1].load(Ordering::SeqCst), took(SIGUSR1));
        ensure!(asleep(ta) && TOOK[0].load(Ordering::SeqCst) == 0, "round {round}: A was woken");
        ensure_eq!(signal::sigpending(), Ok(SigSet::EMPTY));
    }
    // Masked by every LWP, it stays pending on the process...
    ensure_eq!(signal::kill(pid, SIGUSR1), Ok(()));
    sleepq::delay(2);
    ensure_eq!(signal::sigpending(), Ok(usr1));
    ensure!(asleep(ta) && TOOK[0].load(Ordering::SeqCst) == 0, "A was woken by a masked signal");
    // ... until an LWP unmasks it: that one takes it.
    TOOK[1].store(0, Ordering::SeqCst);
    let c = spawn(unmasked_sleeper, 1, LwpFlags::empty())?;
    ensure_eq!(lwp_wait(Some(c)), Ok(c));
    ensure_eq!(TOOK[1].load(Ordering::SeqCst), took(SIGUSR1));
    ensure_eq!(signal::sigpending(), Ok(SigSet::EMPTY));
    ensure!(asleep(ta), "A was woken");
    no_problem()
}

/// S11, S14: a process signal goes to the LWP that does not mask it — every
/// round, whoever sends it — never to one that masks it; masked by every LWP it
/// stays pending on the process (`sigpending`), and the first LWP to unmask it
/// takes it (its interruptible wait ends with EINTR, the signal taken).
pub(super) fn lwp_sig_masks_choose_the_lwp() -> TestResult {
    PROBLEM.lock().clear();
    in_process(masks_body)
}

// ---- S14: SIGKILL, SIGSTOP, SIGCONT ------------------------------------------------

static KILL_THREADS: Mutex<Vec<(&'static KThread, u64)>> = Mutex::new(Vec::new());

/// Sleeps in `sigsuspend` with every signal masked: only SIGKILL (which cannot be
/// masked) ends it.
fn suspender(_: usize) {
    let _ = signal::sigsuspend(SigSet::ALL);
}

/// Waits in `sigtimedwait` for SIGUSR2, which nobody sends.
fn timed_waiter(_: usize) {
    let _ = signal::sigtimedwait(SigSet::of(sig(SIGUSR2)), None);
}

fn kill_main(_: usize) {
    let setup = || -> TestResult {
        let p = this_proc()?;
        let ids = [
            spawn(busy, 0, LwpFlags::empty())?,
            spawn(busy, 1, LwpFlags::DETACHED)?,
            spawn(waiter, 1, LwpFlags::empty())?,
            spawn(count_once, 0, LwpFlags::SUSPENDED)?,
            spawn(self_suspender, 0, LwpFlags::empty())?,
            spawn(suspender, 0, LwpFlags::empty())?,
            spawn(timed_waiter, 0, LwpFlags::empty())?,
        ];
        let mut threads = KILL_THREADS.lock();
        for id in ids {
            let t = thread_of(id)?;
            threads.push((t, t.id()));
        }
        ensure_eq!(p.lwpcnt(), 8);
        Ok(())
    };
    if let Err(e) = setup() {
        problem(e);
    }
    STAGE.store(1, Ordering::SeqCst);
    hold_until(usize::MAX);
    proc_exit(0)
}

/// S14: SIGKILL from another process ends every LWP of a process — busy (running
/// or queued), asleep in `lwp_wait` (for LWP 1), `sigsuspend` (every signal masked) and
/// `sigtimedwait`, created suspended, suspended by itself, detached — and its
/// wait status is SIGKILL.
pub(super) fn lwp_sig_kill_ends_every_lwp() -> TestResult {
    reset();
    busy_reset();
    SELF_STAGE.store(0, Ordering::SeqCst);
    KILL_THREADS.lock().clear();
    let pid = proc_create(kill_main, 0).map_err(|e| format!("proc_create: {e}"))?;
    wait_for("every LWP in place", 10, || {
        STAGE.load(Ordering::SeqCst) == 1
            && SELF_STAGE.load(Ordering::SeqCst) == 1
            && counts(2).iter().all(|&c| c > 0)
            && KILL_THREADS
                .lock()
                .iter()
                .skip(2)
                .all(|(t, _)| matches!(t.state(), ThreadState::Sleep | ThreadState::Stopped))
    })?;
    no_problem()?;
    ensure_eq!(signal::kill(u64::from(pid.0), SIGKILL), Ok(()));
    ensure_eq!(reap_within(pid, 10)?, WaitStatus::Killed(SIGKILL as u8));
    let threads = KILL_THREADS.lock().clone();
    let reaped = |&(t, tid): &(&KThread, u64)| t.state() == ThreadState::Free || t.id() != tid;
    wait_for("every LWP's thread to be reaped", 5, || threads.iter().all(reaped))
}

fn stop_main(_: usize) {
    let setup = || -> TestResult {
        let busy0 = spawn(busy, 0, LwpFlags::empty())?;
        spawn(busy, 1, LwpFlags::empty())?;
        SLEEPER.store(spawn(sig_sleeper, 0, LwpFlags::empty())?.0, Ordering::SeqCst);
        spawn(waiter, busy0.0 as usize, LwpFlags::empty())?;
        Ok(())
    };
    if let Err(e) = setup() {
        problem(e);
    }
    STAGE.store(1, Ordering::SeqCst);
    hold_until(1);
    BUSY_STOP.store(true, Ordering::SeqCst);
    proc_exit(0)
}

/// The process's LWPs are all stopped (and on no CPU).
fn all_stopped(p: &proc::Proc) -> bool {
    p.lwp_ids().iter().all(|&id| {
        thread_of_in(p, id).is_none_or(|t| t.state() == ThreadState::Stopped && !super::on_a_cpu(t))
    })
}

/// S14, job control: SIGSTOP stops every LWP of a process — two busy ones, whose
/// counts then stand still, one asleep in `sigsuspend`, one in `lwp_wait` — and
/// its parent's wait reports it stopped; SIGCONT sets them all going again (the
/// counts move, the sleepers sleep on, their waits not ended), and the parent's
/// wait reports it continued (not stopped again: a stop is reported once).
pub(super) fn lwp_sig_stop_and_continue() -> TestResult {
    reset();
    busy_reset();
    TOOK[0].store(0, Ordering::SeqCst);
    *WAITED.lock() = None;
    let pid = proc_create(stop_main, 0).map_err(|e| format!("proc_create: {e}"))?;
    let p = prfind(pid).ok_or("the process vanished")?;
    let sleepers_asleep = || {
        [LwpId(SLEEPER.load(Ordering::SeqCst)), LwpId(5)]
            .iter()
            .all(|&id| thread_of_in(p, id).is_some_and(asleep))
    };
    wait_for("the LWPs to run", 10, || {
        STAGE.load(Ordering::SeqCst) == 1 && counts(2).iter().all(|&c| c > 0) && sleepers_asleep()
    })?;
    no_problem()?;
    let stopped = WaitOpts::STOPPED;
    ensure_eq!(signal::kill(u64::from(pid.0), SIGSTOP), Ok(()));
    ensure_eq!(
        proc_waitid(Some(pid), stopped),
        Ok((pid, WaitStatus::Stopped(SIGSTOP as u8).raw()))
    );
    // Each LWP marks itself stopped, the last one tells the parent, then each
    // switches away: they are all `Stopped` now, and soon on no CPU.
    let marked = p
        .lwp_ids()
        .iter()
        .all(|&id| thread_of_in(p, id).is_none_or(|t| t.state() == ThreadState::Stopped));
    ensure!(marked, "the parent heard of the stop before every LWP stopped");
    wait_for("every LWP off its CPU", 5, || all_stopped(p))?;
    let frozen = counts(2);
    sleepq::delay(5);
    ensure_eq!(counts(2), frozen);
    ensure_eq!(TOOK[0].load(Ordering::SeqCst), 0);
    ensure!(WAITED.lock().is_none(), "the stop ended a wait");
    ensure_eq!(signal::kill(u64::from(pid.0), SIGCONT), Ok(()));
    let cont = WaitOpts::CONTINUED | WaitOpts::STOPPED;
    ensure_eq!(proc_waitid(Some(pid), cont), Ok((pid, WaitStatus::Continued.raw())));
    wait_for("the busy LWPs to count again", 5, || {
        counts(2).iter().zip(&frozen).all(|(now, was)| now > was)
    })?;
    wait_for("the sleepers asleep again", 5, sleepers_asleep)?;
    ensure_eq!(TOOK[0].load(Ordering::SeqCst), 0);
    ensure!(WAITED.lock().is_none(), "the continue ended a wait");
    GO.store(1, Ordering::SeqCst);
    ensure_eq!(reap_within(pid, 10)?, WaitStatus::Exited(0));
    Ok(())
}

// ---- SIGCHLD --------------------------------------------------------------------

fn exit_seven(_: usize) {
    sleepq::delay(2);
    proc_exit(7)
}

fn child_spins(_: usize) {
    hold_until(usize::MAX);
}

fn chld_pending() -> Result<bool, String> {
    let s = signal::sigpending().map_err(|e| format!("sigpending: {e}"))?;
    Ok(s.has(sig(SIGCHLD)))
}

/// Drops a pending SIGCHLD (setting SIG_IGN drops it) and catches it again with `flags`.
fn rearm_chld(flags: u32) -> TestResult {
    ensure!(signal::sigaction(SIGCHLD, Some(ignored())).is_ok(), "sigaction");
    ensure!(signal::sigaction(SIGCHLD, Some(caught(flags))).is_ok(), "sigaction");
    ensure_eq!(chld_pending(), Ok(false));
    Ok(())
}

fn sigchld_body() -> TestResult {
    let stopped = WaitOpts::STOPPED;
    ensure_eq!(signal::sigprocmask(SIG_BLOCK, Some(SigSet::of(sig(SIGCHLD)))), Ok(SigSet::EMPTY));
    rearm_chld(0)?;
    // A child's exit is SIGCHLD for its parent.
    let c = proc_create(exit_seven, 0).map_err(|e| format!("proc_create: {e}"))?;
    ensure_eq!(proc_wait(Some(c)), Ok((c, WaitStatus::Exited(7).raw())));
    ensure!(chld_pending()?, "no SIGCHLD for the child's exit");
    // A stop: SIGCHLD, unless SA_NOCLDSTOP.
    rearm_chld(SA_NOCLDSTOP)?;
    let c = proc_create(child_spins, 0).map_err(|e| format!("proc_create: {e}"))?;
    let cpid = u64::from(c.0);
    ensure_eq!(signal::kill(cpid, SIGSTOP), Ok(()));
    ensure_eq!(proc_waitid(Some(c), stopped), Ok((c, WaitStatus::Stopped(SIGSTOP as u8).raw())));
    ensure_eq!(signal::kill(cpid, SIGCONT), Ok(()));
    ensure_eq!(proc_waitid(Some(c), WaitOpts::CONTINUED), Ok((c, WaitStatus::Continued.raw())));
    ensure!(!chld_pending()?, "SIGCHLD for a stop or continue, with SA_NOCLDSTOP");
    rearm_chld(0)?;
    ensure_eq!(signal::kill(cpid, SIGSTOP), Ok(()));
    ensure_eq!(proc_waitid(Some(c), stopped), Ok((c, WaitStatus::Stopped(SIGSTOP as u8).raw())));
    ensure!(chld_pending()?, "no SIGCHLD for the child's stop");
    // A stopped child is killed all the same.
    ensure_eq!(signal::kill(cpid, SIGKILL), Ok(()));
    ensure_eq!(proc_wait(Some(c)), Ok((c, WaitStatus::Killed(SIGKILL as u8).raw())));
    // SA_NOCLDWAIT: children leave no zombie; the wait finds no child left.
    rearm_chld(SA_NOCLDWAIT)?;
    let c = proc_create(exit_seven, 0).map_err(|e| format!("proc_create: {e}"))?;
    ensure_eq!(proc_wait(None), Err(Errno::ECHILD));
    wait_for("the child to be reaped by the reaper", 5, || prfind(c).is_none())?;
    ensure_eq!(signal::sigaction(SIGCHLD, Some(SigAct::DEFAULT)).map(|_| ()), Ok(()));
    Ok(())
}

/// SIGCHLD tells a parent of its child's exit, stop and continue (`SA_NOCLDSTOP`
/// leaves out the last two); with `SA_NOCLDWAIT` an exiting child leaves no
/// zombie, and the parent's wait ends with ECHILD. A stopped child dies of SIGKILL.
pub(super) fn lwp_sig_sigchld() -> TestResult {
    in_process(sigchld_body)
}
