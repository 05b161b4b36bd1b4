//! Resource usage and profiling (S5.4): the counts of what each LWP did, their
//! sums in its process and its parent, `getrusage`, and `profil`.
//!
//! # Theory
//!
//! **Counting.** Each LWP's counts are in its `lwp` structure (`lwp_ru`, Solaris'
//! `struct lrusage`; the count of system calls is in its registers' frame, where
//! the machine's trap path counts it), and each is counted where it happens, into
//! the structure while it is in memory:
//!
//! * by the dispatcher, in the LWP's resident thread without a lock (its CPU
//!   alone writes them, interrupts off): the switch away from it (`nvcsw` if it
//!   sleeps, blocks or stops; `nivcsw` if it was preempted or yielded, as
//!   Solaris' `yield` counts; a yield or a preemption that finds nothing better
//!   to run is no switch), added to the structure's counts wherever they are
//!   read (`LwpUsage::with_switches`);
//! * by the LWP itself, running (its structure is always in then), under the
//!   structure's lock (`Lwp::with_data`): the signals it takes (`signal::psig`),
//!   the bytes it reads and writes (`file`: `ioch`);
//! * by the swapper, which holds the structure alone while it moves it (`swap`):
//!   a swap-out is `nswap` and a block written (`oublock`), a swap-in a block read
//!   (`inblock`) and a fault that needed I/O before the LWP could run (`majflt`).
//!
//! A fault resolved without I/O (`minflt`) is one that grows the stack: counted
//! where `syscall::user_trap` has `vm` resolve it; every other fault is a signal.
//!
//! **Sums.** An exiting LWP's counts and CPU times are added to its process's
//! (`p_ru`, under `p_lock`, in `lwp::lwp_exit`), and a reaped child's — its own
//! with its reaped children's — to its parent's children's total (`p_cru`, in
//! `proc`), as Solaris' `freeproc` does. The usage of a process is `p_ru` plus that
//! of each live LWP, wherever its structure is: one that is out has a copy of its
//! times and counts in memory with its place on the device (`SwapRef`).
//!
//! **`getrusage`** (Solaris' `rusagesys`, [`sys_rusagesys`]) copies out a `struct
//! rusage` for the process, its children, or the calling LWP.
//!
//! **Profiling** (`profil(2)`, [`sys_profil`]) is the process's, as Solaris' `p_prof`:
//! a buffer of `u16` counters in user memory and how `pc`s map to them
//! ([`Prof`]), under a sleeping mutex (Solaris' `p_pflock`) held across the update
//! of a counter, so that two LWPs never lose each other's ticks. The clock cannot
//! write user memory: each tick of an LWP of a profiling process is owed by the
//! LWP (`lwp_oweupc`, in its `lwp` structure) and its thread's pending-work word
//! gets `PROF`, so that on its way back to user mode — the one test the return
//! path makes anyway — the LWP adds what it owes at its user `pc` ([`profil_tick`];
//! a tick it spent in the kernel counts at the `pc` the kernel returns to, as in
//! Solaris). A buffer that cannot be read or written there, or a counter that
//! would pass 32,767, ends the profiling.

use core::sync::atomic::Ordering;

use arch::UserFrame;

use crate::clock;
use crate::errno::Errno;
use crate::lwp::data::LwpUsage;
use crate::proc::Proc;
use crate::syscall::uaccess::{copyin, copyout, copyout_words, SysResult};
use crate::thread::{curlwp, curproc, curthread, pending, KThread};
use lwp_abi::{
    RUSAGESYS_GETRUSAGE, RUSAGESYS_GETRUSAGE_CHLD, RUSAGESYS_GETRUSAGE_LWP, RUSAGE_WORDS,
};

pub(crate) mod pstate;
pub use pstate::Prof;

/// Process `p`'s profiling buffer, as `profil` set it and the ticks left it.
pub fn profiling(p: &Proc) -> Prof {
    *p.p_prof.pr.lock()
}

/// A `fork1` child profiles as its parent does (profil(2); Solaris' `getproc`).
pub(crate) fn fork_inherit(parent: &Proc, child: &Proc) {
    child.p_prof.set(profiling(parent));
}

/// `exec` and the end of a process end its profiling: the buffer is gone.
pub(crate) fn prof_off(p: &Proc) {
    p.p_prof.set(Prof::default());
}

/// The calling LWP's fault was resolved without I/O (`minflt`: its stack grew).
pub(crate) fn minflt() {
    if let Some(lwp) = curlwp() {
        lwp.with_data(|d| d.lwp_ru.minflt += 1);
    }
}

/// The calling LWP moved `n` bytes with `read` or `write` (`ioch`).
pub(crate) fn ioch(n: u64) {
    if let Some(lwp) = curlwp() {
        lwp.with_data(|d| d.lwp_ru.ioch += n);
    }
}

/// A clock tick of LWP thread `t` whose process profiles: its LWP owes it (the
/// caller counts it into `lwp_oweupc`), and pays it on its way back to user mode.
pub(crate) fn tick_owed(t: &KThread) {
    t.set_pending(pending::PROF);
}

/// Pays the ticks the current LWP owes its process's profiling buffer at its user
/// `pc`, in `frame` (on its way back to user mode, `pending::PROF`). A counter
/// that cannot be read or written, or would pass 32,767, ends the profiling.
pub(crate) fn profil_tick(frame: &UserFrame) {
    let (Some(lwp), Some(p)) = (curlwp(), curproc()) else { return };
    let ticks = lwp.with_data(|d| core::mem::take(&mut d.lwp_oweupc)).unwrap_or(0);
    if ticks == 0 {
        return;
    }
    let mut pr = p.p_prof.pr.lock();
    let Some(slot) = pr.slot(frame.pc()) else { return };
    let mut old = [0u8; 2];
    let new = copyin(slot, &mut old)
        .ok()
        .map(|()| u64::from(u16::from_be_bytes(old)) + ticks)
        .filter(|&n| n <= i16::MAX as u64);
    let counted = new.is_some_and(|n| copyout(slot, &(n as u16).to_be_bytes()).is_ok());
    if !counted {
        pr.pr_scale = 0;
        p.p_prof.on.store(false, Ordering::Relaxed);
    }
}

/// `profil(buf, bufsiz, offset, scale)` (see `lwp_abi::SYS_PROFIL`): never fails;
/// a bad buffer ends the profiling at the first tick counted.
pub(crate) fn sys_profil(buf: u64, size: u64, off: u64, scale: u64) -> SysResult {
    let p = curproc().ok_or(Errno::EINVAL)?;
    // A `uint_t`, as Solaris takes it; 1 (PC sampling, `pcsample`) is off here.
    let scale = match scale as u32 {
        1 => 0,
        s => s,
    };
    p.p_prof.set(Prof { pr_base: buf, pr_size: size, pr_off: off, pr_scale: scale });
    Ok((0, 0))
}

/// `rusagesys(subcode, &mut Rusage)`: the usage of the calling process, of its
/// reaped children, or of the calling LWP, as a `struct rusage`.
///
/// Errors: `EINVAL` for another subcode; `EFAULT` if the structure cannot be written.
pub(crate) fn sys_rusagesys(code: u64, rup: u64) -> SysResult {
    let p = curproc().ok_or(Errno::EINVAL)?;
    let u = match code {
        RUSAGESYS_GETRUSAGE => p.usage(),
        RUSAGESYS_GETRUSAGE_CHLD => p.child_usage(),
        RUSAGESYS_GETRUSAGE_LWP => {
            let t = curthread();
            let u = t.lwp().and_then(|l| l.with_data(|d| d.usage())).ok_or(Errno::EINVAL)?;
            u.with_switches(t)
        }
        _ => return Err(Errno::EINVAL),
    };
    copyout_words(rup, &rusage_words(&u, u64::from(clock::hz())))?;
    Ok((0, 0))
}

/// `u` as the words of a `struct rusage`, its times (clock ticks at `hz`) as
/// `timeval`s.
pub fn rusage_words(u: &LwpUsage, hz: u64) -> [u64; RUSAGE_WORDS] {
    let tv = |ticks: u64| [ticks / hz, (ticks % hz) * 1_000_000 / hz];
    let [us, uu] = tv(u.utime);
    let [ss, su] = tv(u.stime);
    let r = &u.ru;
    [
        us, uu, ss, su, // ru_utime, ru_stime
        0, 0, 0, 0, // ru_maxrss and the integrals
        r.minflt, r.majflt, r.nswap, r.inblock, r.oublock, r.msgsnd, r.msgrcv, r.nsignals, r.nvcsw,
        r.nivcsw,
    ]
}
