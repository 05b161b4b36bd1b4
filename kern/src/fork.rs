//! `fork1`: a new process from the calling LWP (S1, S3, S10, S11, S12).
//!
//! # Theory
//!
//! Solaris has two forks, and they differ in what they do to the other LWPs of the
//! process — the point where the LWP model shows most. `fork1` (POSIX `fork`)
//! duplicates only the calling LWP: the child is a process with one LWP (id 1),
//! whatever number of LWPs the parent has, and the parent's other LWPs go on
//! undisturbed. (`forkall`, which duplicates every LWP, is not built yet.)
//!
//! The child gets:
//! * a copy of the address space (`Machine::as_fork`), taken after the caller's
//!   register windows are flushed to its stack, so that the child's stack holds
//!   every frame the caller has. Pages the process shares with the kernel (the
//!   `schedctl` pages) are not copied: the child has none, as in Solaris, where
//!   the library makes its own again in the child;
//! * the process's dispositions (S10), credentials and descriptors (the same open
//!   files: a pipe is shared with the child), copied before anyone can see the
//!   child; no pending signal and no interval timer (POSIX);
//! * the calling LWP's registers, mask (S11), alternate stack (S12) and FP
//!   registers. The registers are those of the trap, with the results of the call
//!   in them: Solaris' `%o0` = the other process's pid and `%o1` = 0 in the
//!   parent, 1 in the child (the library returns 0 there).

use arch::kmem::Shared;
use arch::{reg, Machine, UserFrame};

use crate::errno::Errno;
use crate::proc::{self, Pid};
use crate::thread::{curlwp, curproc, curthread};
use crate::M;
use crate::{cred, file, signal};

/// `fork1()` from the LWP whose registers are `frame`: the child's pid. The child
/// starts with the same registers but the results, `(parent's pid, 1)`.
///
/// Errors: `EINVAL` in a process without an address space (the kernel's own);
/// `EAGAIN` at the process limit, or if the process is exiting; `ENOMEM` without
/// memory for the copy.
pub fn fork1(frame: &UserFrame) -> Result<Pid, Errno> {
    let (t, p, lwp) = match (curthread(), curproc(), curlwp()) {
        (t, Some(p), Some(lwp)) => (t, p, lwp),
        _ => return Err(Errno::EINVAL),
    };
    let space = p.addr_space().ok_or(Errno::EINVAL)?;
    M::user_flush_windows();
    let copy = M::as_fork(&space).map_err(|_| Errno::ENOMEM)?;
    let copy = Shared::try_new(copy).map_err(|_| Errno::ENOMEM)?;
    let mut regs = frame.load();
    regs.r[reg::O0] = u64::from(p.pid().0);
    regs.r[reg::O0 + 1] = 1;
    regs.r[reg::CCR] &= !arch::uregs::CCR_CARRY;
    let alt = lwp.with_data(|d| d.lwp_sigaltstack).ok_or(Errno::EINVAL)?;
    let fp = frame.fpregs();
    proc::proc_create_child(
        copy,
        regs,
        |child| {
            signal::fork_inherit(p, child);
            cred::fork_inherit(p, child);
            file::fork_fds(p, child);
        },
        |ct| {
            signal::inherit_mask(ct, t);
            if let Some(l) = ct.lwp() {
                l.with_data(|d| {
                    d.lwp_sigaltstack = alt;
                    if let Some(fp) = &fp {
                        d.lwp_regs.set_fpregs(fp);
                    }
                });
            }
        },
    )
}
