//! Swapping when the device fails (S5): a full device keeps an LWP in memory; a
//! failed write keeps it in, a failed read is tried again; an image damaged on the
//! disk is never loaded, and its process is killed.

use alloc::format;
use core::sync::atomic::Ordering;

use super::fields::fill;
use super::{
    reset_subjects, sleeping_subject, stage, wait_subject, wake, with_mode, STAGE, WAKE_AT,
};
use crate::lwp::{in_process, reap_within, spawn, this_proc, thread_of};
use crate::{ensure, ensure_eq, wait_for, TestResult};
use kern::errno::Errno;
use kern::lwp::{idtolwp, idtot, lwp_create, lwp_wait, LwpFlags, LwpId};
use kern::proc::life::proc_create;
use kern::proc::{prfind, WaitStatus};
use kern::swap::{self, Mode};
use kern::thread::{curlwp, curproc, ThreadState};

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
pub(super) fn full_device_keeps_lwps_in() -> TestResult {
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
pub(super) fn io_errors_keep_or_retry() -> TestResult {
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
pub(super) fn unreadable_image_kills_its_process() -> TestResult {
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
