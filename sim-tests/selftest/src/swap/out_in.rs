//! LWPs out and back in (S5, S6, S3): a stopped LWP and one asleep in the kernel
//! go out and come back with every field of their `lwp` structure, the thread
//! keeping what must stay resident; an LWP asleep in `lwp_wait` goes out, stops,
//! and finishes its wait once continued; a process whose LWPs are all out exits,
//! their slots freed unread.

use alloc::format;
use core::mem::size_of;
use core::sync::atomic::Ordering;

use arch::{reg, Machine};

use super::fields::{fields, holds_filled, same_after_round_trip};
use super::{
    chan, reset_subjects, sleeping_subject, stage, stopping_subject, wait_subject, wake, with_mode,
    AFTER, STAGE,
};
use crate::lwp::{
    busy, busy_reset, in_process, reap_within, return_at_once, spawn, this_proc, thread_of, waiter,
    BUSY_COUNT, BUSY_STOP, GO, WAITED,
};
use crate::{ensure, ensure_eq, wait_for, TestResult};
use kern::class::SchedClass;
use kern::errno::Errno;
use kern::lwp::{
    idtolwp, idtot, lwp_continue, lwp_create, lwp_suspend, lwp_wait, LwpData, LwpFlags, LwpId,
    TpFlags, NITIMER,
};
use kern::proc::life::{proc_create, proc_exit};
use kern::proc::{prfind, WaitStatus};
use kern::swap::{self, Mode};
use kern::thread::{curproc, ThreadState};
use kern::{disp, sleepq, M};

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
pub(super) fn lwp_structure_out_and_back_intact() -> TestResult {
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
pub(super) fn out_lwp_woken_suspended_continued() -> TestResult {
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
pub(super) fn killed_lwps_freed_unread() -> TestResult {
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
