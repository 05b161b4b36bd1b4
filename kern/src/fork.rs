//! `fork1` and `forkall`: a new process from the calling process (S1, S3, S10,
//! S11, S12).
//!
//! # Theory
//!
//! Solaris has two forks, and they differ in what they do to the other LWPs of the
//! process — the point where the LWP model shows most. `fork1` (POSIX `fork`)
//! duplicates only the calling LWP: the child is a process with one LWP (id 1),
//! whatever number of LWPs the parent has, and the parent's other LWPs go on
//! undisturbed. `forkall` duplicates every LWP: the child has the parent's LWPs,
//! with their ids, each continuing where its parent's was.
//!
//! For `forkall` the other LWPs must keep still while they are copied: the caller
//! holds them stopped (`lwp::holdlwps`) — running ones stop at their next stop
//! point, sleeping ones in their wait — copies them, and lets them go
//! (`lwp::continuelwps`); in the parent each goes on as if nothing had happened.
//! An LWP held in the middle of a system call (asleep in it, typically) has no
//! result to give its copy: in the child that call fails with `EINTR`, as
//! Solaris says. An LWP that is suspended in the parent (`_lwp_suspend`) is
//! suspended in the child too, until an `_lwp_continue` there, as Solaris' copy
//! keeps its hold.
//!
//! The child gets:
//! * a copy of the address space (`Machine::as_fork`: every page, shared
//!   copy-on-write) and of its layout (`vm`: the program, the stack as far as it has grown,
//!   the anonymous memory with its rights), taken after the caller's register
//!   windows are flushed to its stack (a held LWP's were flushed when it switched
//!   out), so that the child's stacks hold every frame. The pages are shared
//!   copy-on-write, so a stack page of a process forked before may not take a
//!   window then: the window waits in the LWP's window buffer, and the child's
//!   copy of the LWP gets a copy of that buffer (`UserFrame::inherit_windows`),
//!   written to the child's stack on its first return to user mode. Pages the process shares
//!   with the kernel (the `schedctl` pages) are not copied: the child has none, as
//!   in Solaris, where the library makes its own again in the child;
//! * the process's dispositions (S10), credentials and descriptors (the same open
//!   files: a pipe is shared with the child) and its profiling (`profil`, S5.4:
//!   the same buffer in the copied space), copied before anyone can see the
//!   child; no pending signal, no interval timer (POSIX) and no usage yet;
//! * each copied LWP's registers, mask (S11), alternate stack (S12) and FP
//!   registers, and whether it is detached. The caller's registers are those of the
//!   trap, with the results of the call in them: Solaris' `%o0` = the other
//!   process's pid and `%o1` = 0 in the parent, 1 in the child (the library
//!   returns 0 there).

use alloc::vec::Vec;
use core::ptr;

use arch::kmem::Shared;
use arch::uregs::CCR_CARRY;
use arch::{reg, FpRegs, Machine, UserFrame, UserRegs};

use crate::errno::Errno;
use crate::lwp::{self, Lwp, LwpFlags, LwpId, NewLwp, SigAltStack, TpFlags};
use crate::proc::life::ChildLwp;
use crate::proc::{self, Pid, Proc};
use crate::thread::{curlwp, curproc, curthread, KThread};
use crate::M;
use crate::{cred, file, rusage, signal};

/// What a child's LWP takes from the parent's LWP it copies.
struct LwpCopy {
    id: LwpId,
    flags: LwpFlags,
    from: &'static KThread,
    regs: UserRegs,
    alt: SigAltStack,
    fp: Option<FpRegs>,
    /// The parent LWP's frame, for the windows it has buffered (see
    /// `UserFrame::inherit_windows`).
    frame: UserFrame,
}

/// `fork1()` from the LWP whose registers are `frame`: the child's pid. The child
/// starts with the same registers but the results, `(parent's pid, 1)`.
///
/// Errors: `EINVAL` in a process without an address space (the kernel's own);
/// `EAGAIN` at the process limit, or if the process is exiting; `ENOMEM` without
/// memory for the copy.
pub fn fork1(frame: &UserFrame) -> Result<Pid, Errno> {
    let (t, p, lwp) = caller()?;
    let me = copy_caller(frame, t, p, lwp, LwpId(1))?;
    fork(p, |p| Ok([child_lwp(p, &me)?]))
}

/// `forkall()` from the LWP whose registers are `frame`: the child's pid. The
/// child has a copy of every LWP of the process (see the module comment); the
/// caller's starts with the results `(parent's pid, 1)`.
///
/// Errors: as [`fork1`]; `EAGAIN` also at the LWP limit; `EINTR` if a signal the
/// caller catches arrives while it holds the others, or the process is exiting.
pub fn forkall(frame: &UserFrame) -> Result<Pid, Errno> {
    let (t, p, lwp) = caller()?;
    lwp::holdlwps(p)?;
    let made = copy_all(frame, t, p, lwp).and_then(|copies| {
        fork(p, |child| {
            let mut lwps = Vec::new();
            lwps.try_reserve_exact(copies.len()).map_err(|_| Errno::ENOMEM)?;
            for c in &copies {
                match child_lwp(child, c) {
                    Ok(l) => lwps.push(l),
                    Err(e) => {
                        lwps.iter_mut().for_each(ChildLwp::discard);
                        return Err(e);
                    }
                }
            }
            Ok(lwps)
        })
    });
    lwp::continuelwps(p);
    made
}

/// The calling LWP, its thread and process; `EINVAL` in a kernel thread.
fn caller() -> Result<(&'static KThread, &'static Proc, &'static Lwp), Errno> {
    match (curthread(), curproc(), curlwp()) {
        (t, Some(p), Some(lwp)) => Ok((t, p, lwp)),
        _ => Err(Errno::EINVAL),
    }
}

/// A child of `p` with a copy of its address space and what it holds, and the
/// LWPs `make` makes in it: its pid.
fn fork<L: AsMut<[ChildLwp]>>(
    p: &'static Proc,
    make: impl FnOnce(&'static Proc) -> Result<L, Errno>,
) -> Result<Pid, Errno> {
    let space = p.addr_space().ok_or(Errno::EINVAL)?;
    M::user_flush_windows();
    // The layout and the pages are copied under its lock: they agree.
    let (copy, vm) = {
        let vm = p.p_vm.lock();
        (M::as_fork(&space).map_err(|_| Errno::ENOMEM)?, vm.try_clone()?)
    };
    let copy = Shared::try_new(copy).map_err(|_| Errno::ENOMEM)?;
    proc::life::proc_create_child(
        copy,
        vm,
        |child| {
            signal::fork_inherit(p, child);
            cred::fork_inherit(p, child);
            file::fork_fds(p, child);
            rusage::fork_inherit(p, child);
        },
        make,
    )
}

/// The child's LWP that copies `c`: made, its mask, alternate stack and FP
/// registers set, not yet entered.
fn child_lwp(child: &'static Proc, c: &LwpCopy) -> Result<ChildLwp, Errno> {
    let mut new = NewLwp::alloc_user(child, &c.regs)?;
    new.prepare(|t, d| {
        lwp::inherit_mask(t, c.from);
        d.lwp_sigaltstack = c.alt;
        if let Some(fp) = &c.fp {
            d.lwp_regs.set_fpregs(fp);
        }
        d.lwp_regs.inherit_windows(&c.frame);
    });
    Ok(ChildLwp::New(c.id, c.flags, new))
}

/// The calling LWP as its copy, LWP `id` of the child, starts: with the call's
/// results in the registers of its trap `frame`.
fn copy_caller(
    frame: &UserFrame,
    t: &'static KThread,
    p: &Proc,
    lwp: &Lwp,
    id: LwpId,
) -> Result<LwpCopy, Errno> {
    let mut regs = frame.load();
    regs.r[reg::O0] = u64::from(p.pid().0);
    regs.r[reg::O0 + 1] = 1;
    regs.r[reg::CCR] &= !CCR_CARRY;
    let alt = lwp.with_data(|d| d.lwp_sigaltstack).ok_or(Errno::EINVAL)?;
    let (fp, frame) = (frame.fpregs(), frame.share());
    Ok(LwpCopy { id, flags: LwpFlags::empty(), from: t, regs, alt, fp, frame })
}

/// Every live LWP of `p` as its copy starts (the caller's as [`copy_caller`]
/// says; the others held stopped by `holdlwps`, their structures in memory).
fn copy_all(
    frame: &UserFrame,
    me: &'static KThread,
    p: &Proc,
    my_lwp: &Lwp,
) -> Result<Vec<LwpCopy>, Errno> {
    let mut held = Vec::new();
    held.try_reserve_exact(p.lwpcnt() as usize).map_err(|_| Errno::ENOMEM)?;
    {
        // Nothing is allocated under the lock; the held LWPs cannot come or go.
        let ps = p.p_lock.lock();
        for (id, e) in ps.p_lwpdir.used() {
            if let (Some((t, lwp)), true) = (e.le_live, held.len() < held.capacity()) {
                let mut flags = if e.le_detached { LwpFlags::DETACHED } else { LwpFlags::empty() };
                if !ptr::eq(t, me) && t.proc_flag().contains(TpFlags::HOLDLWP) {
                    flags |= LwpFlags::SUSPENDED;
                }
                held.push((id, flags, t, lwp));
            }
        }
    }
    let mut copies = Vec::new();
    copies.try_reserve_exact(held.len()).map_err(|_| Errno::ENOMEM)?;
    for (id, flags, t, lwp) in held {
        let copy = if ptr::eq(t, me) {
            copy_caller(frame, me, p, my_lwp, id)?
        } else {
            let (mut regs, in_call, alt, fp, frame) = lwp
                .with_data(|d| {
                    let r = &d.lwp_regs;
                    (r.load(), d.lwp_sysnum != 0, d.lwp_sigaltstack, r.fpregs(), r.share())
                })
                .ok_or(Errno::EAGAIN)?;
            if in_call {
                // Its copy's call ends: EINTR (`pc` is past the trap already).
                regs.r[reg::O0] = Errno::EINTR.code() as u64;
                regs.r[reg::CCR] |= CCR_CARRY;
            }
            LwpCopy { id, flags, from: t, regs, alt, fp, frame }
        };
        copies.push(copy);
    }
    Ok(copies)
}
