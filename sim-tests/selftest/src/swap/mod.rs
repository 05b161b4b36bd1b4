//! The swap self-tests (S5, S6, S2): run in QEMU on sparc64 (its virtio disk) and on
//! the host simulation (its simulated disk); skipped on a machine without a disk.
//!
//! Every test checks what swapping really did: memory freed while an LWP is out,
//! the image read back from the disk through the driver, every field of an `lwp`
//! structure compared by the LWP itself once it runs again, LWPs that come back to
//! stop, to be continued, to finish a wait, or that never come back (killed: their
//! slots freed unread), processes killed for an image that cannot be read back.
//! Each test but the pressure one runs with the swapper's own swapping off, so that
//! what goes out is what the test sends out; [`SWAP_RACES`] runs in the seeded
//! sweep too, on a disk that fails by chance.
//!
//! One file per subject: [`out_in`] (LWPs out and back in), [`failures`] (a full
//! device, I/O errors, a damaged image), [`races`] (swapping under suspends and
//! exits) and [`pressure`] (swap-outs the heap's low water causes); [`fields`] has
//! the `lwp` structure's fields as values. Here the suite, the swapper's own test,
//! and the subjects: LWPs that fill their structure and wait to be swapped out.

/// Skips the test on a machine without a swap device (before the modules: their
/// tests use it too).
macro_rules! need_device {
    () => {
        if !kern::swap::has_device() {
            $crate::skip!("no swap device on this machine");
        }
    };
}

mod failures;
mod fields;
mod out_in;
mod pressure;
mod races;

use alloc::format;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::lwp::GO;
use crate::{ensure, ensure_eq, wait_for, Test, TestResult};
use kern::class::SchedClass;
use kern::lwp::{lwp_self, lwp_suspend};
use kern::swap::{self, Mode};
use kern::sync::Mutex;
use kern::thread::{curlwp, curproc, curthread, KThread, ThreadState};
use kern::{disp, sleepq};

use failures::{
    full_device_keeps_lwps_in, io_errors_keep_or_retry, unreadable_image_kills_its_process,
};
use fields::{fields, fill, holds_filled, Fields};
use out_in::{
    killed_lwps_freed_unread, lwp_structure_out_and_back_intact, out_lwp_woken_suspended_continued,
};
use pressure::memory_pressure;
use races::swap_races_with_suspends_and_kills;

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
