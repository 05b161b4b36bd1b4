//! The swap self-tests (S5, S6, S2): run in QEMU on sparc64 (its virtio disk) and on
//! the host simulation (its simulated disk); skipped on a machine without a disk.
//!
//! Every test checks what swapping really did: memory freed while an LWP is out,
//! the image read back from the disk through the driver, every field of an `lwp`
//! structure compared by the LWP itself once it runs again, LWPs that come back to
//! stop, to be continued, to finish a wait, or that never come back (killed: their
//! slots freed unread), processes killed for an image that cannot be read back.
//! Each test but the pressure one runs with the swapper's own swapping off, so that
//! what goes out is what the test sends out; [`swap_races_with_suspends_and_kills`]
//! runs in the seeded sweep too, on a disk that fails by chance.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::mem::size_of;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use arch::{reg, Machine, UserRegs};

use crate::lwp::{
    busy, busy_reset, in_process, reap_within, return_at_once, spawn, this_proc, thread_of, waiter,
    with_limits, BUSY_COUNT, BUSY_STOP, GO, WAITED,
};
use crate::portable::{rec, rec_by_loop};
use crate::{ensure, ensure_eq, skip, wait_for, Test, TestResult};
use kern::class::SchedClass;
use kern::errno::Errno;
use kern::lwp::{
    idtolwp, idtot, lwp_continue, lwp_create, lwp_self, lwp_suspend, lwp_wait, stop_point, Eosys,
    ITimerVal, LwpData, LwpFlags, LwpId, LwpRusage, SigAltStack, TpFlags, NITIMER,
};
use kern::proc::life::{proc_create, proc_exit};
use kern::proc::{prfind, WaitStatus};
use kern::signal::{Sig, SigInfo, SigSet};
use kern::swap::{self, Mode};
use kern::sync::Mutex;
use kern::thread::{curlwp, curproc, curthread, KThread, ThreadState};
use kern::{disp, kmem, sleepq, M};

/// The swap suite, in the order it runs.
pub static SWAP: &[Test] = &[
    Test::new("swap_swapper_is_a_kernel_thread", swapper_is_a_kernel_thread),
    Test::new("swap_lwp_structure_out_and_back_intact", lwp_structure_out_and_back_intact),
    Test::new("swap_out_lwp_woken_suspended_continued", out_lwp_woken_suspended_continued),
    Test::new("swap_killed_lwps_freed_unread", killed_lwps_freed_unread),
    Test::new("swap_full_device_keeps_lwps_in", full_device_keeps_lwps_in),
    Test::new("swap_io_errors_keep_or_retry", io_errors_keep_or_retry),
    Test::new("swap_unreadable_image_kills_its_process", unreadable_image_kills_its_process),
    Test::new("swap_races_with_suspends_and_kills", swap_races_with_suspends_and_kills),
    Test::new("swap_memory_pressure_makes_swap_outs", memory_pressure),
];

/// The races alone: what the seeded sweep runs, on a disk that fails by chance.
pub static SWAP_RACES: &[Test] =
    &[Test::new("swap_races_with_suspends_and_kills", swap_races_with_suspends_and_kills)];

/// Skips the test on a machine without a swap device.
macro_rules! need_device {
    () => {
        if !swap::has_device() {
            skip!("no swap device on this machine");
        }
    };
}

/// Runs `f` with the swapper in mode `m`, putting the mode back afterwards.
fn with_mode(m: Mode, f: impl FnOnce() -> TestResult) -> TestResult {
    let old = swap::set_mode(m);
    let r = f();
    swap::set_mode(old);
    r
}

/// The swapper (S2): a kernel thread with no LWP and no process, in the SYS class.
fn swapper_is_a_kernel_thread() -> TestResult {
    need_device!();
    let t = swap::swapper_thread().ok_or("no swapper thread")?;
    ensure!(t.lwp().is_none() && t.procp().is_none(), "the swapper has an LWP");
    ensure_eq!(t.class(), SchedClass::Sys);
    ensure!(t.loaded(), "a thread without an LWP is always loaded");
    Ok(())
}

// ---- An lwp structure's fields ----------------------------------------------------

/// Every S5 field of an `lwp` structure, as values. (Read under the structure's
/// lock, where nothing may be allocated: no clone.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fields {
    regs: UserRegs,
    sysc: u64,
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
    oweupc: u64,
    itimer: [ITimerVal; NITIMER],
    utime: u64,
    stime: u64,
    thread: usize,
    procp: usize,
}

fn fields(d: &LwpData) -> Fields {
    Fields {
        regs: d.lwp_regs.load(),
        sysc: d.lwp_regs.syscalls(),
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
        oweupc: d.lwp_oweupc,
        itimer: d.lwp_itimer,
        utime: d.lwp_utime,
        stime: d.lwp_stime,
        thread: d.lwp_thread.0 as *const _ as usize,
        procp: d.lwp_procp.0 as *const _ as usize,
    }
}

/// Values of LWP `k`'s own for every S5 field it owns (the system time is the
/// clock's, the count of system calls the machine's, the links the kernel's).
fn filled(f: Fields, k: u64) -> Fields {
    let v = |x: u64| x + (k << 20);
    Fields {
        // What a frame keeps whole: 8 bits of %ccr and %asi, 32 of %y, no %fprs.
        regs: UserRegs {
            r: core::array::from_fn(|i| match i {
                reg::CCR => (0x44 + k) & 0xff,
                reg::ASI => 0x82,
                reg::FPRS => 0,
                reg::Y => v(0x5500) & 0xffff_ffff,
                _ => v(0x5500_0000_0000 + i as u64),
            }),
        },
        sysnum: 159,
        arg: core::array::from_fn(|i| v(i as u64 + 1)),
        rval: [v(11), v(12)],
        errno: Some(Errno::EINTR),
        eosys: Eosys::JustReturn,
        sigaltstack: SigAltStack { ss_sp: v(0x7fff_0000), ss_size: 8192, ss_flags: 1 },
        cursig: 14,
        curinfo: Some(SigInfo {
            si_signo: 11,
            si_code: 1,
            si_errno: 0,
            si_pid: 7 + k as u32,
            si_addr: v(0xdead_0000),
            si_value: v(0x5151),
        }),
        sigoldmask: Some(SigSet::of(Sig::CHLD).union(SigSet::from_words([k as u32, 0, 0, 0]))),
        ru: LwpRusage {
            minflt: v(1),
            majflt: v(2),
            nswap: v(3),
            inblock: v(4),
            oublock: v(5),
            msgsnd: v(6),
            msgrcv: v(7),
            nsignals: v(8),
            nvcsw: v(9),
            nivcsw: v(10),
            ioch: v(12),
        },
        oweupc: v(13),
        // Disarmed (no value left), so that the clock leaves them as they are.
        itimer: core::array::from_fn(|i| ITimerVal {
            it_interval: v(10 + 20 * i as u64),
            it_value: 0,
        }),
        utime: v(77),
        ..f
    }
}

/// Writes the values of [`filled`] into LWP `k`'s own structure.
fn fill(d: &mut LwpData, k: u64) {
    let f = filled(fields(d), k);
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
    d.lwp_oweupc = f.oweupc;
    d.lwp_itimer = f.itimer;
    d.lwp_utime = f.utime;
}

/// Whether LWP `k`'s structure `f` holds what [`fill`] wrote, its usage counts
/// moved on since (never back): it has been switched, and perhaps swapped, since.
fn holds_filled(f: Fields, k: u64) -> bool {
    let want = filled(f, k);
    Fields { ru: f.ru, ..want } == f && counts_grew(&want.ru, &f.ru)
}

/// Whether every usage count of `b` is at least `a`'s.
fn counts_grew(a: &LwpRusage, b: &LwpRusage) -> bool {
    a.counts().into_iter().zip(b.counts()).all(|(x, y)| y >= x)
}

/// Whether `b` is `a` after one swap-out and swap-in of the LWP, which slept or
/// stopped (S5.4): the same structure but for the system time, which the clock
/// may have moved on (never back), a swap-out and a block written, a fault that
/// needed I/O and a block read, and perhaps involuntary switches once it ran.
fn same_after_round_trip(a: &Fields, b: &Fields) -> bool {
    let ru = LwpRusage {
        nswap: a.ru.nswap + 1,
        oublock: a.ru.oublock + 1,
        majflt: a.ru.majflt + 1,
        inblock: a.ru.inblock + 1,
        nivcsw: b.ru.nivcsw,
        ..a.ru
    };
    Fields { stime: 0, ru, ..*a } == Fields { stime: 0, ..*b }
        && b.stime >= a.stime
        && b.ru.nivcsw >= a.ru.nivcsw
}

const SUBJECTS: usize = 4;

/// Where each subject is: 0 not yet, 1 filled and waiting, 2 came back with its
/// structure intact, 3 came back with it changed (or had none).
static STAGE: [AtomicU32; SUBJECTS] = [const { AtomicU32::new(0) }; SUBJECTS];
/// What each subject found in its structure when it came back.
static AFTER: [Mutex<Option<Fields>>; SUBJECTS] = [const { Mutex::new(None) }; SUBJECTS];
/// What subjects sleeping on their channel wait for: `GO` at least this.
static WAKE_AT: [AtomicU32; SUBJECTS] = [const { AtomicU32::new(0) }; SUBJECTS];

fn reset_subjects() {
    GO.store(0, Ordering::SeqCst);
    for k in 0..SUBJECTS {
        STAGE[k].store(0, Ordering::SeqCst);
        *AFTER[k].lock() = None;
        WAKE_AT[k].store(1, Ordering::SeqCst);
    }
}

fn chan(k: usize) -> usize {
    &STAGE[k] as *const AtomicU32 as usize
}

/// Wakes subject `k` asleep on its channel.
fn wake(k: usize) {
    GO.fetch_max(WAKE_AT[k].load(Ordering::SeqCst), Ordering::SeqCst);
    sleepq::wakeup(chan(k));
}

/// How a subject waits once it has filled its structure.
fn subject(k: usize, stop: bool) {
    let me = k as u64;
    let filled_in = curlwp().and_then(|l| l.with_data(|d| fill(d, me))).is_some();
    STAGE[k].store(if filled_in { 1 } else { 3 }, Ordering::SeqCst);
    if stop {
        let _ = lwp_self().map(lwp_suspend);
    } else {
        let at = WAKE_AT[k].load(Ordering::SeqCst);
        sleepq::sleep(chan(k), || GO.load(Ordering::SeqCst) >= at);
    }
    // Running again: its structure must be here, and its own.
    let now = curlwp().and_then(|l| l.with_data(|d| fields(d)));
    let me_t = curthread() as *const KThread as usize;
    let me_p = curproc().map_or(0, |p| p as *const _ as usize);
    let ok = now.is_some_and(|f| holds_filled(f, me) && f.thread == me_t && f.procp == me_p);
    *AFTER[k].lock() = now;
    STAGE[k].store(if ok { 2 } else { 3 }, Ordering::SeqCst);
}

/// Fills its structure, stops itself, and checks its structure once continued.
fn stopping_subject(k: usize) {
    subject(k, true)
}

/// Fills its structure, sleeps on its channel, and checks it once woken.
fn sleeping_subject(k: usize) {
    subject(k, false)
}

fn stage(k: usize) -> u32 {
    STAGE[k].load(Ordering::SeqCst)
}

/// Waits until subject `k` (thread `t`) has filled its structure and waits as it
/// should: stopped or asleep, off every CPU.
fn wait_subject(k: usize, t: &KThread, how: ThreadState) -> TestResult {
    wait_for(&format!("subject {k} to fill its structure and wait"), 10, || {
        stage(k) == 1 && t.state() == how && !disp::is_running(t)
    })
}

/// Whether `image` holds the big-endian word `w`.
fn holds_word(image: &[u8], w: u64) -> bool {
    image.windows(8).any(|c| c == w.to_be_bytes())
}

fn out_and_back_body() -> TestResult {
    let p = this_proc()?;
    reset_subjects();
    let s0 = spawn(stopping_subject, 0, LwpFlags::empty())?;
    let s1 = spawn(sleeping_subject, 1, LwpFlags::empty())?;
    let (t0, t1) = (thread_of(s0)?, thread_of(s1)?);
    let (l0, l1) = (idtolwp(p, s0).ok_or("no lwp")?, idtolwp(p, s1).ok_or("no lwp")?);
    wait_subject(0, t0, ThreadState::Stopped)?;
    wait_subject(1, t1, ThreadState::Sleep)?;
    let before0 = l0.with_data(|d| fields(d)).ok_or("subject 0's structure is not here")?;
    let before1 = l1.with_data(|d| fields(d)).ok_or("subject 1's structure is not here")?;
    ensure!(holds_filled(before0, 0), "subject 0's writes are not in its structure");

    let (st0, heap0) = (swap::stats(), M::heap_stats().used);
    ensure_eq!(swap::swapout(p, s0), Ok(()));
    ensure_eq!(swap::swapout(p, s1), Ok(()));
    let (st1, heap1) = (swap::stats(), M::heap_stats().used);
    // Memory in use drops: at least the two structures (their frames go too).
    let freed = heap0.saturating_sub(heap1);
    ensure!(
        freed >= 2 * size_of::<LwpData>(),
        "{freed} bytes freed by two swap-outs (a structure is {} bytes)",
        size_of::<LwpData>()
    );
    ensure_eq!(
        (st1.lwps_out - st0.lwps_out, st1.slots_used - st0.slots_used, st1.writes - st0.writes),
        (2, 2, 2)
    );
    for (t, l) in [(t0, l0), (t1, l1)] {
        ensure!(!l.is_resident() && l.with_data(|_| ()).is_none(), "an LWP out has its structure");
        ensure!(!t.loaded(), "{t:?} is out, yet loaded");
        ensure_eq!(t.class(), SchedClass::Ts);
    }
    // What must stay resident is in the thread (S6), and the directory has the LWP.
    ensure_eq!(t0.state(), ThreadState::Stopped);
    ensure!(t0.proc_flag().contains(TpFlags::STOPPED), "the stopped flag went out");
    ensure_eq!(t1.state(), ThreadState::Sleep);
    ensure_eq!(t1.wchan(), Some(chan(1)));
    ensure!(idtot(p, s1).is_some_and(|t| core::ptr::eq(t, t1)), "the directory lost the LWP");

    // The disk holds the image: read back through the driver.
    let image = swap::read_image(p, s1).map_err(|e| format!("read_image: {e}"))?;
    ensure!(image.starts_with(b"LWPSWAP1"), "no image on the disk: {:02x?}", &image[..8]);
    for w in [
        before1.regs.r[reg::O0 + 3],
        before1.arg[7],
        before1.ru.ioch,
        before1.itimer[NITIMER - 1].it_interval,
    ] {
        ensure!(holds_word(&image, w), "the image on the disk lacks {w:#x}");
    }

    // Out once: not again. Running, unknown: refused.
    ensure_eq!(swap::swapout(p, s0), Err(Errno::EBUSY));
    ensure_eq!(swap::swapout(p, LwpId(1)), Err(Errno::EBUSY));
    ensure_eq!(swap::swapout(p, LwpId(1000)), Err(Errno::ESRCH));

    // Continued and woken, each comes back in before it runs, and finds its own.
    let st1 = swap::stats();
    ensure_eq!(lwp_continue(s0), Ok(()));
    wake(1);
    wait_for("both subjects to run again", 10, || stage(0) >= 2 && stage(1) >= 2)?;
    let after0 = (*AFTER[0].lock()).ok_or("no fields")?;
    let after1 = (*AFTER[1].lock()).ok_or("no fields")?;
    ensure!(same_after_round_trip(&before0, &after0), "subject 0: {before0:?} became {after0:?}");
    ensure!(same_after_round_trip(&before1, &after1), "subject 1: {before1:?} became {after1:?}");
    ensure_eq!((stage(0), stage(1)), (2, 2));
    ensure_eq!(lwp_wait(Some(s0)), Ok(s0));
    ensure_eq!(lwp_wait(Some(s1)), Ok(s1));
    let st2 = swap::stats();
    ensure_eq!((st2.swapins - st1.swapins, st2.reads - st1.reads), (2, 2));
    ensure_eq!((st2.lwps_out, st2.slots_used), (st0.lwps_out, st0.slots_used));

    // A busy LWP is refused.
    busy_reset();
    let b = spawn(busy, 0, LwpFlags::empty())?;
    wait_for("the busy LWP to count", 5, || BUSY_COUNT[0].load(Ordering::SeqCst) > 0)?;
    ensure_eq!(swap::swapout(p, b), Err(Errno::EBUSY));
    BUSY_STOP.store(true, Ordering::SeqCst);
    ensure_eq!(lwp_wait(Some(b)), Ok(b));
    Ok(())
}

/// A stopped LWP and one asleep in the kernel go out: memory drops, the image is on
/// the disk (read back through the driver), the thread keeps what must stay
/// resident (S6); continued and woken, each comes back in before it runs, every
/// field of its `lwp` structure as it left (S5). Running, out already, unknown:
/// refused.
fn lwp_structure_out_and_back_intact() -> TestResult {
    need_device!();
    with_mode(Mode::Off, || in_process(out_and_back_body))
}

fn woken_body() -> TestResult {
    let p = this_proc()?;
    reset_subjects();
    *WAITED.lock() = None;
    let x = spawn(sleeping_subject, 0, LwpFlags::empty())?;
    let w = spawn(waiter, x.0 as usize, LwpFlags::empty())?;
    let (tx, tw) = (thread_of(x)?, thread_of(w)?);
    wait_subject(0, tx, ThreadState::Sleep)?;
    wait_for("W to wait for X", 5, || p.lwpwait() == 1 && tw.state() == ThreadState::Sleep)?;
    let st0 = swap::stats();
    // W goes out asleep in its wait; suspended, it comes back to stop there.
    ensure_eq!(swap::swapout(p, w), Ok(()));
    ensure_eq!(lwp_suspend(w), Ok(()));
    ensure_eq!(tw.state(), ThreadState::Stopped);
    ensure!(tw.loaded(), "W stopped without its structure");
    // Out again, stopped; X exits meanwhile: W cannot take it.
    ensure_eq!(swap::swapout(p, w), Ok(()));
    wake(0);
    wait_for("X to exit", 5, || p.zombcnt() == 1)?;
    ensure_eq!(stage(0), 2);
    sleepq::delay(2);
    ensure!(WAITED.lock().is_none(), "W, stopped, returned from its wait");
    ensure!(!tw.loaded(), "W came back in while stopped");
    // Continued, it comes back in and takes X.
    ensure_eq!(lwp_continue(w), Ok(()));
    wait_for("W to take X", 5, || WAITED.lock().is_some())?;
    ensure_eq!(*WAITED.lock(), Some(Ok(x)));
    ensure_eq!(lwp_wait(Some(w)), Ok(w));
    let st1 = swap::stats();
    ensure_eq!((st1.swapouts - st0.swapouts, st1.swapins - st0.swapins), (2, 2));
    Ok(())
}

/// An LWP asleep in `lwp_wait` goes out; suspended, it comes in to stop at its
/// wait; out again while stopped, it misses nothing; continued, it comes back in
/// and finishes its wait (S3, S5, S6).
fn out_lwp_woken_suspended_continued() -> TestResult {
    need_device!();
    with_mode(Mode::Off, || in_process(woken_body))
}

/// The victim's LWPs: 1 sleeps until `GO`, then exits the process with 7.
fn victim_main(_: usize) {
    let Some(p) = curproc() else { return };
    for _ in 0..3 {
        let _ = lwp_create(p, waiter, 1, LwpFlags::empty());
    }
    for _ in 0..2 {
        let _ = lwp_create(p, return_at_once, 0, LwpFlags::SUSPENDED);
    }
    STAGE[0].store(1, Ordering::SeqCst);
    sleepq::sleep(chan(0), || GO.load(Ordering::SeqCst) >= 1);
    proc_exit(7)
}

/// A process whose LWPs are all out exits: the one that calls `exit` comes back
/// in; the others, asked to exit while out, get their slots freed unread.
fn killed_lwps_freed_unread() -> TestResult {
    need_device!();
    with_mode(Mode::Off, || {
        reset_subjects();
        let pid = proc_create(victim_main, 0).map_err(|e| format!("proc_create: {e}"))?;
        let p = prfind(pid).ok_or("no victim")?;
        wait_for("the victim's LWPs to wait", 10, || {
            stage(0) == 1 && p.lwpwait() == 3 && {
                let ids = p.lwp_ids();
                ids.len() == 6
                    && ids.iter().all(|&id| {
                        idtot(p, id).is_some_and(|t| {
                            matches!(t.state(), ThreadState::Sleep | ThreadState::Stopped)
                                && !disp::is_running(t)
                        })
                    })
            }
        })?;
        let st0 = swap::stats();
        ensure_eq!(swap::swapout_proc(p), 6);
        let st1 = swap::stats();
        ensure_eq!(st1.lwps_out - st0.lwps_out, 6);
        wake(0);
        ensure_eq!(reap_within(pid, 20)?, WaitStatus::Exited(7));
        let st2 = swap::stats();
        ensure_eq!(st2.discarded - st1.discarded, 5);
        ensure_eq!(st2.reads - st1.reads, 1);
        ensure_eq!((st2.lwps_out, st2.slots_used), (st0.lwps_out, st0.slots_used));
        Ok(())
    })
}

fn full_body() -> TestResult {
    let p = this_proc()?;
    reset_subjects();
    let (s0, s1) = (
        spawn(sleeping_subject, 0, LwpFlags::empty())?,
        spawn(sleeping_subject, 1, LwpFlags::empty())?,
    );
    wait_subject(0, thread_of(s0)?, ThreadState::Sleep)?;
    wait_subject(1, thread_of(s1)?, ThreadState::Sleep)?;
    let st0 = swap::stats();
    swap::limit_slots(Some(st0.slots_used + 1));
    let r = (swap::swapout(p, s0), swap::swapout(p, s1));
    swap::limit_slots(None);
    ensure_eq!(r, (Ok(()), Err(Errno::ENOSPC)));
    let l1 = idtolwp(p, s1).ok_or("no lwp")?;
    ensure!(l1.is_resident() && thread_of(s1)?.loaded(), "refused, yet not in memory");
    ensure_eq!(swap::stats().full - st0.full, 1);
    wake(0);
    wake(1);
    wait_for("both subjects to run again", 10, || stage(0) >= 2 && stage(1) >= 2)?;
    ensure_eq!((stage(0), stage(1)), (2, 2));
    ensure_eq!(lwp_wait(Some(s0)), Ok(s0));
    ensure_eq!(lwp_wait(Some(s1)), Ok(s1));
    Ok(())
}

/// A full device refuses a swap-out (`ENOSPC`): the LWP stays in memory, nothing
/// lost; it runs on with its structure intact.
fn full_device_keeps_lwps_in() -> TestResult {
    need_device!();
    with_mode(Mode::Off, || in_process(full_body))
}

fn io_errors_body() -> TestResult {
    let p = this_proc()?;
    reset_subjects();
    WAKE_AT[0].store(1, Ordering::SeqCst);
    let s = spawn(sleeping_subject, 0, LwpFlags::empty())?;
    let t = thread_of(s)?;
    wait_subject(0, t, ThreadState::Sleep)?;
    let st0 = swap::stats();
    // A failed write: the LWP stays in memory, counted.
    swap::inject_io_errors(1, 0);
    ensure_eq!(swap::swapout(p, s), Err(Errno::EIO));
    let l = idtolwp(p, s).ok_or("no lwp")?;
    ensure!(l.is_resident() && t.loaded(), "a failed write left the LWP out");
    let st1 = swap::stats();
    ensure_eq!((st1.write_errors - st0.write_errors, st1.lwps_out), (1, st0.lwps_out));
    // A failed read is tried again: the LWP comes back whole.
    ensure_eq!(swap::swapout(p, s), Ok(()));
    swap::inject_io_errors(0, 1);
    wake(0);
    wait_for("the subject to run again", 10, || stage(0) >= 2)?;
    swap::inject_io_errors(0, 0);
    ensure_eq!(stage(0), 2);
    ensure_eq!(lwp_wait(Some(s)), Ok(s));
    let st2 = swap::stats();
    ensure_eq!((st2.read_errors - st1.read_errors, st2.lost - st1.lost), (1, 0));
    Ok(())
}

/// A write the disk fails keeps the LWP in memory (`EIO`, counted); a read it fails
/// is tried again, and the LWP comes back whole.
fn io_errors_keep_or_retry() -> TestResult {
    need_device!();
    with_mode(Mode::Off, || in_process(io_errors_body))
}

/// The victim whose image is damaged: fills its structure and waits (a stop point)
/// for a helper LWP to exit; notes it if it ever returns from the wait.
fn damaged_main(_: usize) {
    let filled_in = curlwp().and_then(|l| l.with_data(|d| fill(d, 0))).is_some();
    let helper = curproc().and_then(|p| lwp_create(p, sleeping_subject, 1, LwpFlags::empty()).ok());
    STAGE[0].store(if filled_in { 1 } else { 3 }, Ordering::SeqCst);
    if let Some(h) = helper {
        let _ = lwp_wait(Some(h));
    }
    STAGE[0].store(2, Ordering::SeqCst);
}

/// A damaged image on the disk (one byte changed, through the driver) is refused on
/// the way in by its checksum, tried again, and never loaded: the process is killed
/// with SIGKILL, its LWP never runs its own code again (it leaves its wait only to
/// exit), the kernel goes on.
fn unreadable_image_kills_its_process() -> TestResult {
    need_device!();
    with_mode(Mode::Off, || {
        reset_subjects();
        let pid = proc_create(damaged_main, 0).map_err(|e| format!("proc_create: {e}"))?;
        let p = prfind(pid).ok_or("no victim")?;
        let t = idtot(p, LwpId(1)).ok_or("no LWP 1")?;
        wait_subject(0, t, ThreadState::Sleep)?;
        wait_subject(1, idtot(p, LwpId(2)).ok_or("no helper")?, ThreadState::Sleep)?;
        ensure_eq!(swap::swapout(p, LwpId(1)), Ok(()));
        let st0 = swap::stats();
        // A byte of its registers' image, past the header and the fields.
        let image = swap::read_image(p, LwpId(1)).map_err(|e| format!("read_image: {e}"))?;
        ensure_eq!(swap::damage_image(p, LwpId(1), image.len() - 200), Ok(()));
        // The helper exits: the victim's wait ends, and it must come back in.
        wake(1);
        let status = reap_within(pid, 20)?;
        ensure_eq!(status, WaitStatus::Killed(lwp_abi::SIGKILL as u8));
        ensure_eq!((stage(0), stage(1)), (1, 2));
        let st1 = swap::stats();
        ensure_eq!((st1.lost - st0.lost, st1.read_errors - st0.read_errors), (1, 3));
        ensure_eq!((st1.lwps_out, st1.slots_used), (st0.lwps_out - 1, st0.slots_used - 1));
        Ok(())
    })
}

// ---- Races -------------------------------------------------------------------------

const RACE_PROCS: usize = 3;
const RACE_WORKERS: usize = 3;
const RACE_ROUNDS: u64 = 20;

/// Wrong things the workers saw.
static RACE_BAD: AtomicU64 = AtomicU64::new(0);
static RACE_WHY: Mutex<Option<String>> = Mutex::new(None);
/// Rounds each worker finished (a worker runs its rounds once: never twice).
static RACE_ROUND: [AtomicU64; RACE_PROCS * RACE_WORKERS] =
    [const { AtomicU64::new(0) }; RACE_PROCS * RACE_WORKERS];
static RACE_FINISHED: [AtomicBool; RACE_PROCS * RACE_WORKERS] =
    [const { AtomicBool::new(false) }; RACE_PROCS * RACE_WORKERS];

fn race_bad(why: String) {
    RACE_BAD.fetch_add(1, Ordering::SeqCst);
    RACE_WHY.lock().get_or_insert(why);
}

/// A worker: rounds of deep recursion (register windows) checked against a loop,
/// short sleeps (where it may go out), stop points; its `lwp` structure carries its
/// round from one to the next, and must still carry it after every sleep.
fn race_worker(n: usize) {
    for round in 0..RACE_ROUNDS {
        let carried = curlwp().and_then(|l| {
            l.with_data(|d| {
                let was = (d.lwp_arg[0], d.lwp_ru.msgsnd, d.lwp_utime);
                d.lwp_arg[0] = n as u64 + 1;
                d.lwp_ru.msgsnd = round;
                d.lwp_utime = 1000 * n as u64 + round;
                was
            })
        });
        let want = match round {
            0 => Some((0, 0, 0)),
            r => Some((n as u64 + 1, r - 1, 1000 * n as u64 + r - 1)),
        };
        if carried != want {
            race_bad(format!(
                "worker {n} round {round}: its structure holds {carried:?}, not {want:?}"
            ));
        }
        let seed = (n as u64) << 32 | round;
        let depth = 20 + 10 * (n as u64 % 3);
        if rec(depth, seed) != rec_by_loop(depth, seed) {
            race_bad(format!("worker {n} round {round}: a register window changed"));
        }
        if RACE_ROUND[n].swap(round + 1, Ordering::SeqCst) != round {
            race_bad(format!("worker {n} ran round {round} twice or out of order"));
        }
        sleepq::delay(1 + (round % 2));
        stop_point();
    }
    if RACE_FINISHED[n].swap(true, Ordering::SeqCst) {
        race_bad(format!("worker {n} finished twice"));
    }
}

/// LWP 1 of race process `k`: makes the workers, suspends and continues them in
/// turn while they work; process 0 exits (with 3) half-way, ending its workers
/// wherever they are — out, perhaps.
fn race_main(k: usize) {
    let Some(p) = curproc() else { return };
    let mut ids = [None; RACE_WORKERS];
    for (j, id) in ids.iter_mut().enumerate() {
        *id = lwp_create(p, race_worker, k * RACE_WORKERS + j, LwpFlags::empty()).ok();
    }
    let mut x = k as u64 + 1;
    for step in 0.. {
        if k == 0 && RACE_ROUND[0].load(Ordering::SeqCst) >= RACE_ROUNDS / 2 {
            proc_exit(3);
        }
        let done =
            (0..RACE_WORKERS).all(|j| RACE_FINISHED[k * RACE_WORKERS + j].load(Ordering::SeqCst));
        if done || step > 2000 {
            break;
        }
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        if let Some(id) = ids[(x >> 33) as usize % RACE_WORKERS] {
            if lwp_suspend(id).is_ok() {
                sleepq::delay(x >> 62);
                let _ = lwp_continue(id);
            }
        }
        sleepq::delay(1);
        // The process may be ending (killed for a structure that could not come back).
        stop_point();
    }
    if k == 0 {
        proc_exit(3);
    }
    for id in ids.into_iter().flatten() {
        let _ = lwp_wait(Some(id));
    }
}

/// Busy and sleeping LWPs of several processes, suspended and continued all along,
/// one process exiting under them, while everything swappable is swapped out again
/// and again (S5): every LWP runs only with its own structure (the dispatcher
/// checks it at every switch, the workers their structure's contents and their
/// register windows), none runs a round twice, every process ends as it should —
/// and, on a disk that fails by chance (the seeded sweep), a process ends killed
/// only for an LWP whose structure could not be read back.
fn swap_races_with_suspends_and_kills() -> TestResult {
    need_device!();
    with_mode(Mode::Off, || {
        RACE_BAD.store(0, Ordering::SeqCst);
        *RACE_WHY.lock() = None;
        for n in 0..RACE_PROCS * RACE_WORKERS {
            RACE_ROUND[n].store(0, Ordering::SeqCst);
            RACE_FINISHED[n].store(false, Ordering::SeqCst);
        }
        let st0 = swap::stats();
        let mut pids = Vec::new();
        for k in 0..RACE_PROCS {
            pids.push(proc_create(race_main, k).map_err(|e| format!("proc_create: {e}"))?);
        }
        let deadline = M::now_ns() + 60_000_000_000;
        while pids
            .iter()
            .any(|&pid| prfind(pid).is_some_and(|p| p.stat() != kern::proc::PStat::Zombie))
            && M::now_ns() < deadline
        {
            crate::swapout_procs(&pids);
            sleepq::delay(1);
        }
        let mut killed = 0;
        for (k, &pid) in pids.iter().enumerate() {
            let status = reap_within(pid, 30)?;
            let want = if k == 0 { WaitStatus::Exited(3) } else { WaitStatus::Exited(0) };
            if status == WaitStatus::Killed(lwp_abi::SIGKILL as u8) {
                killed += 1;
            } else {
                ensure_eq!(status, want);
            }
        }
        let st1 = swap::stats();
        kern::kprintln!(
            "  measured: {} swap-outs, {} swap-ins, {} given up, {} discarded, {} write errors, \
             {} read errors, {} lost, {killed} processes killed",
            st1.swapouts - st0.swapouts,
            st1.swapins - st0.swapins,
            st1.cancelled - st0.cancelled,
            st1.discarded - st0.discarded,
            st1.write_errors - st0.write_errors,
            st1.read_errors - st0.read_errors,
            st1.lost - st0.lost
        );
        ensure!(
            RACE_BAD.load(Ordering::SeqCst) == 0,
            "{} wrong things seen, first: {}",
            RACE_BAD.load(Ordering::SeqCst),
            RACE_WHY.lock().clone().unwrap_or_default()
        );
        ensure!(
            killed as u64 <= st1.lost - st0.lost,
            "{killed} processes killed, {} LWPs lost",
            st1.lost - st0.lost
        );
        // (Processes killed early, for writes the disk lost, leave little to swap.)
        ensure!(
            killed > 0 || st1.swapouts - st0.swapouts >= RACE_ROUNDS,
            "only {} swap-outs",
            st1.swapouts - st0.swapouts
        );
        // Every structure that went out came back (or was discarded with its LWP).
        ensure_eq!(st1.swapins - st0.swapins, st1.swapouts - st0.swapouts);
        ensure_eq!((st1.lwps_out, st1.slots_used), (st0.lwps_out, st0.slots_used));
        if killed == 0 {
            // Process 0 exited half-way; the others' workers all finished.
            for (n, finished) in RACE_FINISHED.iter().enumerate().skip(RACE_WORKERS) {
                ensure!(finished.load(Ordering::SeqCst), "worker {n} did not finish");
            }
        }
        Ok(())
    })
}

// ---- Memory pressure ----------------------------------------------------------------

/// What the pressure test's process saw: LWPs made, swap-outs while they slept
/// (none asked for), the heap's free memory at its lowest and once the swapper had
/// done its work, and LWPs that came back with a wrong structure.
#[derive(Debug, Clone, Copy, Default)]
struct Pressure {
    made: usize,
    swapouts: u64,
    low: usize,
    after: usize,
    bad: u64,
}

static PRESSURE: Mutex<Option<Pressure>> = Mutex::new(None);
static PRESSURE_BAD: AtomicU64 = AtomicU64::new(0);
/// Each sleeper's own value, from its number.
static PRESSURE_NEXT: AtomicU64 = AtomicU64::new(0);

/// Fills its structure with values of its own, sleeps until `GO`, and checks them.
fn pressure_sleeper(_: usize) {
    let k = PRESSURE_NEXT.fetch_add(1, Ordering::SeqCst) + SUBJECTS as u64;
    curlwp().and_then(|l| l.with_data(|d| fill(d, k)));
    sleepq::sleep(chan(2), || GO.load(Ordering::SeqCst) >= 1);
    let ok = curlwp().and_then(|l| l.with_data(|d| fields(d))).is_some_and(|f| holds_filled(f, k));
    if !ok {
        PRESSURE_BAD.fetch_add(1, Ordering::SeqCst);
    }
}

/// Whether the heap is below the swapper's low-water mark (an eighth free).
fn heap_low() -> bool {
    let h = M::heap_stats();
    h.free() < h.total / 8
}

fn pressure_body() -> TestResult {
    let p = this_proc()?;
    GO.store(0, Ordering::SeqCst);
    PRESSURE_BAD.store(0, Ordering::SeqCst);
    let st0 = swap::stats();
    let mut made = Vec::new();
    while !heap_low() {
        made.try_reserve(1).map_err(|_| "no memory for the list of LWPs")?;
        match lwp_create(p, pressure_sleeper, 0, LwpFlags::empty()) {
            Ok(id) => made.push(id),
            Err(e) => return Err(format!("LWP {} refused before memory ran low: {e}", made.len())),
        }
        // It goes to sleep now (on one CPU too): only a sleeping LWP may go out.
        disp::yield_now();
    }
    let low = M::heap_stats().free();
    // The swapper looks at memory every few ticks.
    sleepq::delay(30);
    let st1 = swap::stats();
    let after = M::heap_stats().free();
    GO.store(1, Ordering::SeqCst);
    sleepq::wakeup(chan(2));
    for &id in &made {
        ensure_eq!(lwp_wait(Some(id)), Ok(id));
    }
    *PRESSURE.lock() = Some(Pressure {
        made: made.len(),
        swapouts: st1.swapouts - st0.swapouts,
        low,
        after,
        bad: PRESSURE_BAD.load(Ordering::SeqCst),
    });
    Ok(())
}

/// Sleeping LWPs made until the heap runs low, with the swapper in mode `m`: what
/// the process saw.
fn run_low_on_memory(m: Mode) -> Result<Pressure, String> {
    kmem::reap();
    with_mode(m, || {
        with_limits(
            |l| {
                l.max_threads = u32::MAX / 2;
                l.max_lwps = u32::MAX / 2;
                l.lwps_per_proc = u32::MAX / 2;
            },
            || in_process(pressure_body),
        )
    })?;
    PRESSURE.lock().take().ok_or_else(|| String::from("no report"))
}

/// A process that makes the kernel short of memory — sleeping LWPs until the heap
/// is below the swapper's low-water mark — causes swap-outs nobody asked for: the
/// sleepers' structures go out, memory comes back, and each sleeper finds its own
/// structure when it wakes. With the swapper's own swapping off, the same process
/// causes none (S5).
fn memory_pressure() -> TestResult {
    need_device!();
    let off = run_low_on_memory(Mode::Off)?;
    ensure_eq!((off.swapouts, off.bad), (0, 0));
    let on = run_low_on_memory(Mode::Pressure)?;
    kern::kprintln!("  measured: {on:?} (swapping off: {off:?})");
    ensure!(on.made > 0 && on.swapouts > 0, "memory ran low and nothing was swapped out: {on:?}");
    ensure_eq!(on.bad, 0);
    let freed = on.after.saturating_sub(on.low);
    ensure!(
        freed >= on.swapouts as usize * size_of::<LwpData>(),
        "{} swap-outs freed {freed} bytes",
        on.swapouts
    );
    Ok(())
}
