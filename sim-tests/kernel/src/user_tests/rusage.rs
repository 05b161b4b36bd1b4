//! Resource usage and profiling from user mode (S5.4, S5): each LWP's counts, a
//! reaped child's, counts that survive swapping; `profil`'s histogram, and a
//! buffer that cannot be written.

use arch::Machine;
use kern::proc::{self, PStat, WaitStatus};
use kern::{sleepq, swap};
use kern_selftest::{ensure, ensure_eq, reap, skip, wait_for, TestResult};

use super::{passes, start};
use crate::programs::*;

/// S5.4: each LWP's counts where they happen (`rusage`, mode 0): a sleeper's
/// voluntary switches and its exact count of system calls, spinners' and
/// yielders' involuntary switches, signals taken, bytes through a pipe; the
/// process's usage at least its LWPs' sum; `rusagesys`'s bad arguments (`EINVAL`,
/// `EFAULT`). On one CPU, where the spinners must share it.
pub(super) fn user_rusage_lwp_counts() -> TestResult {
    if kern::M::ncpus() > 1 {
        skip!("the spinners' switches are counted on one CPU");
    }
    passes(RUSAGE, 0)
}

/// S5.4: a reaped child's usage, with its reaped grandchild's, is its parent's
/// children's usage (`RUSAGE_CHILDREN`), and not the parent's own.
pub(super) fn user_rusage_children() -> TestResult {
    passes(RUSAGE, 1)
}

/// S5, S5.4: an LWP swapped out at every tick while it sleeps: each swap-out is
/// counted (a block written), each swap-in a fault that needed I/O (a block
/// read), and every other count of its is exact still.
pub(super) fn user_rusage_survives_swapping() -> TestResult {
    if !swap::has_device() {
        skip!("no swap device");
    }
    let old = swap::set_mode(swap::Mode::Off);
    let r = (|| {
        let st0 = swap::stats();
        let pid = start(RUSAGE, 5)?;
        let deadline = kern::M::now_ns() + 60_000_000_000;
        while proc::prfind(pid).is_some_and(|p| p.stat() != PStat::Zombie)
            && kern::M::now_ns() < deadline
        {
            kern_selftest::swapout_procs(&[pid]);
            sleepq::delay(1);
        }
        ensure_eq!(reap(pid)?, WaitStatus::Exited(0));
        let outs = swap::stats().swapouts - st0.swapouts;
        ensure!(outs > 0, "nothing was swapped out");
        Ok(())
    })();
    swap::set_mode(old);
    r
}

/// S5.4: `profil` over the whole text of a program that spends its time in one
/// function: the histogram peaks inside it (the clock's ticks counted at the
/// user `pc` on the LWP's way back to user mode); profiling off, it stands still.
pub(super) fn user_profil_histogram() -> TestResult {
    passes(RUSAGE, 2)
}

/// S5.4, S16: a profiling buffer that cannot be written (unmapped; the program's
/// read-only text) is accepted by `profil`, and the first tick counted into it
/// ends the profiling (the process's buffer says scale 0), nothing worse: the
/// program spins on and exits 0.
pub(super) fn user_profil_bad_buffer_stops() -> TestResult {
    for arg in [3, 4] {
        let pid = start(RUSAGE, arg)?;
        let gone = || proc::prfind(pid).is_none_or(|p| p.stat() == PStat::Zombie);
        let waited = wait_for("the program to exit", 30, gone);
        let prof = proc::prfind(pid).map(kern::rusage::profiling);
        ensure_eq!(reap(pid)?, WaitStatus::Exited(0));
        waited?;
        let prof = prof.ok_or("no zombie")?;
        ensure!(
            prof.pr_size == 4096 && prof.pr_base != 0 && prof.pr_scale == 0,
            "mode {arg}: profiling is {prof:?}"
        );
    }
    Ok(())
}
