//! User LWPs swapped out (S5, S5.1): LWPs of three processes, sleeping and
//! spinning, while everything swappable goes out again and again; their
//! registers on the swap device, and every register back when they run.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use arch::{reg, Machine};
use kern::proc::{self, PStat, Pid, WaitStatus};
use kern::{lwp, sleepq, swap};
use kern_selftest::{ensure, ensure_eq, reap, skip, TestResult};

use super::start;
use crate::programs::*;

/// Checks, once, that the swap device holds what an LWP of one of `pids` had: one
/// asleep is swapped out, and its image, read back through the driver, holds the
/// registers it had (its pc, npc, stack pointer, and what it keeps in `%g2`..`%g4`
/// across its sleeps). `Ok(false)`: none was in memory and asleep long enough to
/// tell (it ran in between); try again.
fn image_holds_registers(pids: &[Pid]) -> Result<bool, String> {
    for &pid in pids {
        let Some(p) = proc::prfind(pid) else { continue };
        for id in p.lwp_ids() {
            let (Some(t), Some(l)) = (lwp::idtot(p, id), lwp::idtolwp(p, id)) else { continue };
            let switched = t.nswitch();
            let Some(regs) = l.with_data(|d| d.lwp_regs.load()) else { continue };
            if swap::swapout(p, id).is_err() {
                continue;
            }
            let image = swap::read_image(p, id).map_err(|e| format!("read_image: {e}"))?;
            if t.nswitch() != switched {
                // It ran between the look and the swap-out.
                continue;
            }
            ensure!(image.starts_with(b"LWPSWAP1"), "no image on the disk");
            let words = [reg::PC, reg::NPC, reg::O6, reg::G1 + 1, reg::G1 + 2, reg::G1 + 3];
            for i in words.into_iter().filter(|&i| regs.r[i] != 0) {
                let w = regs.r[i].to_be_bytes();
                ensure!(
                    image.windows(8).any(|x| x == w),
                    "the image of {id} of {pid} lacks register {i} ({:#x})",
                    regs.r[i]
                );
            }
            return Ok(true);
        }
    }
    Ok(false)
}

/// LWPs of three processes, sleeping and spinning (`swapee`), while everything
/// swappable is swapped out again and again (S5): the programs find every register
/// a system call keeps, their count of system calls and their CPU times as they
/// left them, and finish with correct results; memory in use drops as LWPs go out;
/// the swap device holds their registers (an image read back through the driver);
/// every structure that went out came back in.
pub(super) fn user_swap_everything_repeatedly() -> TestResult {
    if !swap::has_device() {
        skip!("no swap device");
    }
    let old = swap::set_mode(swap::Mode::Off);
    let r = swap_everything();
    swap::set_mode(old);
    r
}

fn swap_everything() -> TestResult {
    let st0 = swap::stats();
    let pids = (0..3).map(|k| start(SWAPEE, k)).collect::<Result<Vec<_>, _>>()?;
    let alive =
        || pids.iter().any(|&pid| proc::prfind(pid).is_some_and(|p| p.stat() != PStat::Zombie));
    let (mut drops, mut image_checked, mut passes) = (0, false, 0);
    let deadline = kern::M::now_ns() + 60_000_000_000;
    while alive() && kern::M::now_ns() < deadline {
        // First, while LWPs woken since the last pass are in: one out, and its image.
        if !image_checked {
            image_checked = image_holds_registers(&pids)?;
        }
        let used = kern::M::heap_stats().used;
        let n = kern_selftest::swapout_procs(&pids);
        let freed = used.saturating_sub(kern::M::heap_stats().used);
        if n > 0 && freed >= n * core::mem::size_of::<lwp::LwpData>() {
            drops += 1;
        }
        passes += 1;
        sleepq::delay(1);
    }
    for &pid in &pids {
        ensure_eq!(reap(pid)?, WaitStatus::Exited(0));
    }
    let st1 = swap::stats();
    let (outs, ins) = (st1.swapouts - st0.swapouts, st1.swapins - st0.swapins);
    kern::kprintln!(
        "  measured: {passes} passes of swapping everything, {outs} swap-outs, {ins} swap-ins, \
         {drops} with memory in use dropping by at least the structures that went out"
    );
    ensure!(outs >= 3 * 5, "only {outs} swap-outs of 21 LWPs");
    ensure!(drops > 0, "memory in use never dropped as LWPs went out");
    ensure!(image_checked, "no LWP stayed out long enough to read its image back");
    ensure_eq!(ins, outs);
    ensure_eq!((st1.lwps_out, st1.slots_used), (st0.lwps_out, st0.slots_used));
    Ok(())
}
