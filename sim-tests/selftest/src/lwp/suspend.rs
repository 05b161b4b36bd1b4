//! Stopping LWPs (S3, S5, S6): created suspended, suspended busy, by themselves, or
//! asleep in a wait, and continued; a stopped LWP's `lwp` structure swapped out and
//! back in.

use alloc::vec::Vec;
use core::ptr;
use core::sync::atomic::{AtomicU32, Ordering};

use arch::{reg, Machine, UserRegs};

use crate::{ensure, ensure_eq, wait_for, TestResult};
use kern::class::SchedClass;
use kern::errno::Errno;
use kern::lwp::{
    idtolwp, idtot, lwp_continue, lwp_self, lwp_suspend, lwp_swapin, lwp_swapout, lwp_wait,
    nswapped, Eosys, ITimerVal, LwpData, LwpFlags, LwpId, LwpProf, LwpRusage, SigAltStack, TpFlags,
    NITIMER,
};
use kern::signal::{Sig, SigInfo, SigSet};
use kern::thread::{curlwp, ThreadState};
use kern::{disp, sleepq, M};

use super::{
    busy, busy_reset, count_once, counts, hold_until, in_process, on_a_cpu, self_suspender, spawn,
    this_proc, thread_of, waiter, BUSY_COUNT, BUSY_STOP, GO, MAX_BUSY, SELF_STAGE, SUSP_RAN,
    WAITED,
};

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
pub(super) fn lwp_created_suspended_runs_after_continue() -> TestResult {
    in_process(suspended_body)
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
pub(super) fn lwp_suspend_stops_busy_lwps() -> TestResult {
    in_process(busy_body)
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
pub(super) fn lwp_suspend_self() -> TestResult {
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
pub(super) fn lwp_suspend_stops_lwp_asleep_in_wait() -> TestResult {
    in_process(asleep_body)
}

/// Every S5 field of an `lwp` structure, as values: what the swap test compares.
/// (Read under the structure's lock, where nothing may be allocated: no clone.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fields {
    regs: UserRegs,
    sysnum: u32,
    arg: [u64; 8],
    rval: [u64; 2],
    errno: Option<Errno>,
    eosys: Eosys,
    sigaltstack: SigAltStack,
    cursig: u8,
    curinfo: Option<SigInfo>,
    sigoldmask: Option<SigSet>,
    ru: LwpRusage,
    prof: LwpProf,
    itimer: [ITimerVal; NITIMER],
    utime: u64,
    stime: u64,
    thread: usize,
    procp: usize,
}

fn fields(d: &LwpData) -> Fields {
    Fields {
        regs: d.lwp_regs.load(),
        sysnum: d.lwp_sysnum,
        arg: d.lwp_arg,
        rval: d.lwp_rval,
        errno: d.lwp_errno,
        eosys: d.lwp_eosys,
        sigaltstack: d.lwp_sigaltstack,
        cursig: d.lwp_cursig,
        curinfo: d.lwp_curinfo,
        sigoldmask: d.lwp_sigoldmask,
        ru: d.lwp_ru,
        prof: d.lwp_prof,
        itimer: d.lwp_itimer,
        utime: d.lwp_utime,
        stime: d.lwp_stime,
        thread: d.lwp_thread.0 as *const _ as usize,
        procp: d.lwp_procp.0 as *const _ as usize,
    }
}

/// A value of its own for every S5 field an LWP owns (the CPU times but `lwp_stime`,
/// which is the clock's, and the back pointers, which are the kernel's).
fn filled(f: Fields) -> Fields {
    Fields {
        // What a frame keeps whole: 8 bits of %ccr and %asi, no %fprs.
        regs: UserRegs {
            r: core::array::from_fn(|i| match i {
                reg::CCR => 0x44,
                reg::ASI => 0x82,
                reg::FPRS => 0,
                _ => 0x5500 + i as u64,
            }),
        },
        sysnum: 159,
        arg: [1, 2, 3, 4, 5, 6, 7, 8],
        rval: [11, 12],
        errno: Some(Errno::EINTR),
        eosys: Eosys::JustReturn,
        sigaltstack: SigAltStack { ss_sp: 0x7fff_0000, ss_size: 8192, ss_flags: 1 },
        cursig: 14,
        curinfo: Some(SigInfo {
            si_signo: 11,
            si_code: 1,
            si_errno: 0,
            si_pid: 7,
            si_addr: 0xdead_0000,
            si_value: 0x5151,
        }),
        sigoldmask: Some(SigSet::of(Sig::CHLD)),
        ru: LwpRusage {
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
        },
        prof: LwpProf { pr_base: 0x1_0000, pr_size: 4096, pr_off: 0x100, pr_scale: 0x8000 },
        itimer: [
            ITimerVal { it_interval: 10, it_value: 20 },
            ITimerVal { it_interval: 30, it_value: 40 },
        ],
        utime: 77,
        ..f
    }
}

/// Writes the values of [`filled`] into the LWP's own structure.
fn fill(d: &mut LwpData) {
    let f = filled(fields(d));
    d.lwp_regs.store(&f.regs);
    d.lwp_sysnum = f.sysnum;
    d.lwp_arg = f.arg;
    d.lwp_rval = f.rval;
    d.lwp_errno = f.errno;
    d.lwp_eosys = f.eosys;
    d.lwp_sigaltstack = f.sigaltstack;
    d.lwp_cursig = f.cursig;
    d.lwp_curinfo = f.curinfo;
    d.lwp_sigoldmask = f.sigoldmask;
    d.lwp_ru = f.ru;
    d.lwp_prof = f.prof;
    d.lwp_itimer = f.itimer;
    d.lwp_utime = f.utime;
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
    let before = l.with_data(|d| fields(d)).ok_or("the stopped LWP's structure is not resident")?;
    ensure!(filled(before) == before, "the subject's writes are not in its structure");
    ensure!(
        before.thread == t as *const _ as usize && before.procp == p as *const _ as usize,
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
    ensure_eq!(l.with_data(|d| fields(d)), Some(before));

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
pub(super) fn lwp_swap_out_and_in() -> TestResult {
    in_process(swap_body)
}
