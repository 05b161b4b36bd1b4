//! `rt`: the runtime of the user programs (S1, S3, S16): the system-call stubs,
//! typed wrappers for every call of the ABI, console output, the checks that end a
//! program with a code naming what failed, and stacks for new LWPs.
//!
//! The ABI is the kernel's own, the crate `lwp-abi` (`kern/abi`), so kernel and
//! programs cannot disagree about numbers and layouts. A call is `ta 0x40` with its
//! number in `%g1` and its arguments in `%o0`..`%o5`; it comes back with its values
//! in `%o0`/`%o1` and the carry bit clear, or the error number in `%o0` and the
//! carry set. Every wrapper returns `Result<_, u64>`, the error being that number
//! (compare with [`errno`]).
//!
//! A program is a `fn main(arg: u64)` named by [`main!`]: the kernel starts the
//! first LWP at `_start` with the argument its test chose in `%o0`, and returning
//! from `main` exits with status 0. A failed [`check!`] prints a line and exits
//! with the check's own code; a panic prints its message and exits with 101.
//! Signals, and the trampoline through which handlers return, are [`signal`].

#![no_std]
#![feature(asm_experimental_arch)]

use core::arch::asm;
use core::cell::UnsafeCell;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicPtr, AtomicU16, AtomicU32, AtomicU64, Ordering};

pub mod signal;

/// The system-call ABI (`lwp-abi`), for the programs.
pub use lwp_abi as abi;
pub use lwp_abi::Errno;

use abi::*;

/// The error numbers the programs look for, as the wrappers return them (`%o0` of
/// a failed call), taken from the kernel's own [`Errno`].
pub mod errno {
    use super::Errno;

    pub const EPERM: u64 = Errno::EPERM as u64;
    pub const EBADF: u64 = Errno::EBADF as u64;
    pub const EMFILE: u64 = Errno::EMFILE as u64;
    pub const EPIPE: u64 = Errno::EPIPE as u64;
    pub const ESRCH: u64 = Errno::ESRCH as u64;
    pub const ECHILD: u64 = Errno::ECHILD as u64;
    pub const ENOENT: u64 = Errno::ENOENT as u64;
    pub const E2BIG: u64 = Errno::E2BIG as u64;
    pub const ENOEXEC: u64 = Errno::ENOEXEC as u64;
    pub const ENAMETOOLONG: u64 = Errno::ENAMETOOLONG as u64;
    pub const EINTR: u64 = Errno::EINTR as u64;
    pub const EAGAIN: u64 = Errno::EAGAIN as u64;
    pub const ENOMEM: u64 = Errno::ENOMEM as u64;
    pub const EFAULT: u64 = Errno::EFAULT as u64;
    pub const EBUSY: u64 = Errno::EBUSY as u64;
    pub const EINVAL: u64 = Errno::EINVAL as u64;
    pub const EDEADLK: u64 = Errno::EDEADLK as u64;
    pub const ENOSYS: u64 = Errno::ENOSYS as u64;
    pub const ENODEV: u64 = Errno::ENODEV as u64;
    pub const ENOTSUP: u64 = Errno::ENOTSUP as u64;
    pub const ETIME: u64 = Errno::ETIME as u64;
}

/// Addresses the programs give the kernel, or touch, to provoke a fault.
pub mod addr {
    /// Below the user limit and mapped by nobody: the programs are linked at
    /// 0x100000 (`user.ld`), and `kern::exec` puts the stack just below 2^43.
    pub const UNMAPPED: u64 = 0x4000_0000;
    /// The kernel's base, its entry code: never reachable from user mode.
    pub const KERNEL: u64 = 0x404000;
    /// The top of the user address space (`USER_LIMIT`, 2^43).
    pub const LIMIT: u64 = 1 << 43;
    /// The top of the first LWP's stack, and its lowest address as `kern::exec` maps
    /// it (256 KiB up to the last page below 2^43, which is unmapped); below that it
    /// grows on demand.
    pub const STACK_TOP: u64 = LIMIT - 8192;
    pub const STACK_BOTTOM: u64 = STACK_TOP - 256 * 1024;
    /// The lowest address the first LWP's stack may grow down to (`kern::exec`'s
    /// `STACK_LIMIT`, 8 MiB below its top, when memory is not short), and the
    /// guard page below it, which nothing maps.
    pub const STACK_FLOOR: u64 = STACK_TOP - 8 * 1024 * 1024;

    extern "C" {
        static __user_text: u8;
        static __user_end: u8;
    }

    /// The program's first instruction: mapped, but not writable.
    pub fn text() -> u64 {
        core::ptr::addr_of!(__user_text) as u64
    }

    /// The first page after the data segment: everything below it down to the
    /// data segment's start is mapped, nothing from it on.
    pub fn data_end() -> u64 {
        core::ptr::addr_of!(__user_end) as u64
    }
}

/// An LWP id (32 bits, as the kernel writes it back).
pub type LwpId = u32;

/// `ta 0x40` with the number in `%g1` and the operands given for `%o0`..`%o5`
/// (`$carry` gets 1 if the call failed, else 0: the kernel sets both carry bits of
/// `%ccr` then, and `addx %g0, 0` reads `icc.c` in one instruction, where `rd
/// %ccr` would need a mask after it). The kernel changes only `%o0`, `%o1` and
/// the condition codes (`%g1`, which LLVM reserves, holds the number); the outs
/// are declared clobbered anyway. The condition codes: the asm must not claim
/// `preserves_flags` (the carry comes back in `%icc` and `%xcc`), so the compiler
/// takes them as clobbered (rustc gives LLVM `~{icc}`, which on SPARC is both
/// `%icc` and `%xcc`) and never reuses a comparison made before the trap.
macro_rules! trap {
    ($num:expr, $carry:ident, $($outs:tt)*) => {
        asm!(
            "mov {num}, %g1",
            "ta 0x40",
            "addx %g0, 0, {carry}",
            num = in(reg) $num,
            carry = lateout(reg) $carry,
            $($outs)*
        )
    };
}

/// A call's registers after the trap: `Ok((%o0, %o1))`, or the error number in
/// `%o0` if the carry is set.
#[inline(always)]
fn result(r0: u64, r1: u64, carry: u64) -> Result<(u64, u64), u64> {
    if carry != 0 {
        Err(r0)
    } else {
        Ok((r0, r1))
    }
}

/// The raw system call `num` with six arguments: `%o0`/`%o1`, or the error number.
///
/// # Safety
///
/// The kernel reads and writes the memory the arguments point at, with the
/// caller's rights: pointers to the program's own memory must be valid for what
/// the call does with them. (Bad pointers are the kernel's business: it must
/// answer `EFAULT`.)
#[inline(always)]
pub unsafe fn syscall6(num: u64, args: [u64; 6]) -> Result<(u64, u64), u64> {
    let (r0, r1, carry): (u64, u64, u64);
    // SAFETY: see `trap`; what the call does to memory is the caller's contract above.
    unsafe {
        trap!(num, carry,
            inout("o0") args[0] => r0,
            inout("o1") args[1] => r1,
            inout("o2") args[2] => _,
            inout("o3") args[3] => _,
            inout("o4") args[4] => _,
            inout("o5") args[5] => _,
        );
    }
    result(r0, r1, carry)
}

/// A call whose arguments are plain values or pointers made from references here.
/// This and the wrappers of the calls without memory arguments are `#[inline]`: a
/// call is its trap in the caller, as a benchmark loop wants it, whatever else the
/// program holds. Only the outs that carry arguments are set.
#[inline]
fn call(num: u64, a0: u64, a1: u64, a2: u64) -> Result<u64, u64> {
    call4(num, a0, a1, a2, 0).map(|(r0, _)| r0)
}

/// `call` with a fourth argument, giving both results (`%o0`, `%o1`).
#[inline]
fn call4(num: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> Result<(u64, u64), u64> {
    let (r0, r1, carry): (u64, u64, u64);
    // SAFETY: see `trap`; every caller in this module passes values, or pointers
    // made from live references to memory of the size the call uses.
    unsafe {
        trap!(num, carry,
            inout("o0") a0 => r0,
            inout("o1") a1 => r1,
            inout("o2") a2 => _,
            inout("o3") a3 => _,
            lateout("o4") _,
            lateout("o5") _,
        );
    }
    result(r0, r1, carry)
}

/// `call` for a call without arguments: no out is set.
#[inline]
fn call0(num: u64) -> Result<u64, u64> {
    let (r0, carry): (u64, u64);
    // SAFETY: see `trap`; the call takes no argument and touches no memory of ours.
    unsafe {
        trap!(num, carry,
            lateout("o0") r0,
            lateout("o1") _,
            lateout("o2") _,
            lateout("o3") _,
            lateout("o4") _,
            lateout("o5") _,
        );
    }
    result(r0, 0, carry).map(|(r0, _)| r0)
}

/// Stops the program with SIGILL: for a call that must not return and did.
fn returned(what: &str) -> ! {
    println!("rt: {what} returned");
    // SAFETY: an illegal instruction: the kernel ends the process (S13).
    unsafe { asm!("illtrap 0", options(noreturn)) }
}

/// `exit(status)`: ends the process (every LWP), wait status `status << 8`.
pub fn exit(status: u8) -> ! {
    let _ = call(SYS_EXIT, u64::from(status), 0, 0);
    returned("exit")
}

/// `write(fd, buf)`: the number of bytes written.
pub fn write(fd: u64, buf: &[u8]) -> Result<usize, u64> {
    call(SYS_WRITE, fd, buf.as_ptr() as u64, buf.len() as u64).map(|n| n as usize)
}

/// `read(fd, buf)`: the number of bytes read; 0 at the end of the file.
pub fn read(fd: u64, buf: &mut [u8]) -> Result<usize, u64> {
    call(SYS_READ, fd, buf.as_mut_ptr() as u64, buf.len() as u64).map(|n| n as usize)
}

/// `close(fd)`.
pub fn close(fd: u64) -> Result<(), u64> {
    call(SYS_CLOSE, fd, 0, 0).map(drop)
}

/// `pipe()`: the read end's descriptor and the write end's.
pub fn pipe() -> Result<(u64, u64), u64> {
    call4(SYS_PIPE, 0, 0, 0, 0)
}

/// `dup(fd)`: a new descriptor for the same open file.
pub fn dup(fd: u64) -> Result<u64, u64> {
    call(SYS_DUP, fd, 0, 0)
}

/// `fcntl(fd, cmd, arg)`.
pub fn fcntl(fd: u64, cmd: u64, arg: u64) -> Result<u64, u64> {
    call(SYS_FCNTL, fd, cmd, arg)
}

/// `getuid()`: the real and the effective uid.
pub fn getuid() -> Result<(u64, u64), u64> {
    call4(SYS_GETUID, 0, 0, 0, 0)
}

/// `getgid()`: the real and the effective gid.
pub fn getgid() -> Result<(u64, u64), u64> {
    call4(SYS_GETGID, 0, 0, 0, 0)
}

/// `setuid(uid)`.
pub fn setuid(uid: u64) -> Result<(), u64> {
    call(SYS_SETUID, uid, 0, 0).map(drop)
}

/// `setgid(gid)`.
pub fn setgid(gid: u64) -> Result<(), u64> {
    call(SYS_SETGID, gid, 0, 0).map(drop)
}

/// `priocntl(PC_GETPARMS, P_LWPID, id)`: LWP `id`'s class and priority (0: the
/// caller's).
pub fn priocntl_get(id: LwpId) -> Result<PcParms, u64> {
    let mut p = PcParms::default();
    let pp = &mut p as *mut PcParms as u64;
    call4(SYS_PRIOCNTL, PC_GETPARMS, P_LWPID, u64::from(id), pp)?;
    Ok(p)
}

/// `priocntl(PC_SETPARMS, P_LWPID, id, parms)`: puts LWP `id` (0: the caller) in a
/// class at a priority.
pub fn priocntl_set(id: LwpId, cid: i32, pri: i32) -> Result<(), u64> {
    let p = PcParms { pc_cid: cid, pc_pri: pri };
    let pp = &p as *const PcParms as u64;
    call4(SYS_PRIOCNTL, PC_SETPARMS, P_LWPID, u64::from(id), pp).map(drop)
}

/// The TS dispatcher parameter table, as a whole.
pub type TsDpTbl = [TsDpEnt; TS_NDPENTS];

/// `priocntl(PC_ADMIN, TS_GETDPTBL)`: the TS table (`dispadmin -c TS -g`).
pub fn ts_getdptbl() -> Result<TsDpTbl, u64> {
    let mut t = [TsDpEnt::default(); TS_NDPENTS];
    let tp = t.as_mut_ptr() as u64;
    call4(SYS_PRIOCNTL, PC_ADMIN, TS_GETDPTBL, TS_NDPENTS as u64, tp)?;
    Ok(t)
}

/// `priocntl(PC_ADMIN, TS_SETDPTBL)`: replaces the TS table (`dispadmin -c TS -s`).
pub fn ts_setdptbl(t: &TsDpTbl) -> Result<(), u64> {
    let tp = t.as_ptr() as u64;
    call4(SYS_PRIOCNTL, PC_ADMIN, TS_SETDPTBL, TS_NDPENTS as u64, tp).map(drop)
}

/// `getpid()`.
#[inline]
pub fn getpid() -> Result<u64, u64> {
    call0(SYS_GETPID)
}

/// `_lwp_create`: a new LWP of this process starting at `start(arg)` on the stack
/// whose (16-byte aligned) top is `stack_top`; its id.
///
/// # Safety
///
/// The stack must be memory of this program that nothing else uses while the
/// LWP lives. [`spawn`] is the safe way.
pub unsafe fn lwp_create(
    start: extern "C" fn(u64) -> !,
    stack_top: u64,
    arg: u64,
    flags: u64,
) -> Result<LwpId, u64> {
    let ctx = LwpContext { pc: start as usize as u64, stack_top, arg };
    let mut id: LwpId = 0;
    call(SYS_LWP_CREATE, &ctx as *const LwpContext as u64, flags, &mut id as *mut LwpId as u64)?;
    Ok(id)
}

/// `_lwp_exit()`: ends the calling LWP (the process, if it is the last).
pub fn lwp_exit() -> ! {
    let _ = call0(SYS_LWP_EXIT);
    returned("lwp_exit")
}

/// `_lwp_suspend(id)`: returns once the LWP is stopped.
pub fn lwp_suspend(id: LwpId) -> Result<(), u64> {
    call(SYS_LWP_SUSPEND, u64::from(id), 0, 0).map(drop)
}

/// `_lwp_continue(id)`.
pub fn lwp_continue(id: LwpId) -> Result<(), u64> {
    call(SYS_LWP_CONTINUE, u64::from(id), 0, 0).map(drop)
}

/// `_lwp_kill(id, sig)`: signal 0 only checks that the LWP exists.
pub fn lwp_kill(id: LwpId, sig: u64) -> Result<(), u64> {
    call(SYS_LWP_KILL, u64::from(id), sig, 0).map(drop)
}

/// `_lwp_self()`.
#[inline]
pub fn lwp_self() -> Result<LwpId, u64> {
    call0(SYS_LWP_SELF).map(|id| id as LwpId)
}

/// `_lwp_wait(id)`, 0 for any: the id of the LWP that departed. Its stack, if
/// [`spawn`] gave it one, is free again.
pub fn lwp_wait(id: LwpId) -> Result<LwpId, u64> {
    let mut gone: LwpId = 0;
    call(SYS_LWP_WAIT, u64::from(id), &mut gone as *mut LwpId as u64, 0)?;
    release_stack(gone);
    Ok(gone)
}

/// `fork1()` (POSIX `fork`): a new process with a copy of this one's memory and
/// only the calling LWP; the child's pid in the parent, 0 in the child.
pub fn fork1() -> Result<u64, u64> {
    // SAFETY: no pointers.
    let (r0, r1) = unsafe { syscall6(SYS_FORKSYS, [FORK1, 0, 0, 0, 0, 0]) }?;
    Ok(if r1 != 0 { 0 } else { r0 })
}

/// `forkall()`: a new process with a copy of every LWP of this one, each with its
/// id and continuing where it was (an LWP in a system call gets EINTR from it in
/// the child); the child's pid in the parent, 0 in the child.
pub fn forkall() -> Result<u64, u64> {
    // SAFETY: no pointers.
    let (r0, r1) = unsafe { syscall6(SYS_FORKSYS, [FORKALL, 0, 0, 0, 0, 0]) }?;
    Ok(if r1 != 0 { 0 } else { r0 })
}

/// `getppid()`: the parent's pid (1 once the parent has gone: `init`'s).
pub fn getppid() -> Result<u64, u64> {
    // SAFETY: no pointers.
    unsafe { syscall6(SYS_GETPID, [0; 6]) }.map(|(_, ppid)| ppid)
}

/// `waitid(idtype, id, options)`: what the child did, as its `siginfo_t` says it
/// (`si_pid` 0 if `WNOHANG` found none).
pub fn waitid(idtype: u64, id: u64, options: u64) -> Result<SigInfoT, u64> {
    let mut info = SigInfoT::default();
    call4(SYS_WAITID, idtype, id, &mut info as *mut SigInfoT as u64, options)?;
    Ok(info)
}

/// `waitpid(pid, options)` (`pid` 0: any child): the child's pid and its
/// `wait(2)` status word (exit code << 8, or the signal; a stop signal << 8 |
/// 0x7f; 0xffff continued), or `(0, 0)` if `WNOHANG` found none.
pub fn waitpid(pid: u64, options: u64) -> Result<(u64, i32), u64> {
    let (idtype, id) = if pid == 0 { (P_ALL, 0) } else { (P_PID, pid) };
    let i = waitid(idtype, id, options | WEXITED)?;
    let status = match i.si_code {
        CLD_EXITED => (i.si_value as i32) << 8,
        CLD_KILLED => i.si_value as i32,
        CLD_DUMPED => i.si_value as i32 | 0x80,
        CLD_STOPPED => (i.si_value as i32) << 8 | 0x7f,
        _ => 0xffff,
    };
    Ok((u64::from(i.si_pid as u32), if i.si_pid == 0 { 0 } else { status }))
}

/// `yield()`.
#[inline]
pub fn yield_now() -> Result<(), u64> {
    call0(SYS_YIELD).map(drop)
}

/// `nanosleep(ts)`.
pub fn nanosleep(ts: &Timespec) -> Result<(), u64> {
    call(SYS_NANOSLEEP, ts as *const Timespec as u64, 0, 0).map(drop)
}

/// `lwp_times()`: the caller's and its process's CPU times (S5.6).
pub fn lwp_times() -> Result<LwpTimes, u64> {
    let mut t = LwpTimes::default();
    call(SYS_LWP_TIMES, &mut t as *mut LwpTimes as u64, 0, 0)?;
    Ok(t)
}

/// `getrusage(who)` (Solaris' `rusagesys` with the subcode of `who`):
/// [`RUSAGE_SELF`], [`RUSAGE_CHILDREN`] or [`RUSAGE_LWP`]; `EINVAL` for another.
pub fn getrusage(who: i32) -> Result<Rusage, u64> {
    let code = match who {
        RUSAGE_SELF => RUSAGESYS_GETRUSAGE,
        RUSAGE_CHILDREN => RUSAGESYS_GETRUSAGE_CHLD,
        RUSAGE_LWP => RUSAGESYS_GETRUSAGE_LWP,
        _ => return Err(errno::EINVAL),
    };
    let mut r = Rusage::default();
    call(SYS_RUSAGESYS, code, &mut r as *mut Rusage as u64, 0)?;
    Ok(r)
}

/// `profil(buf, bufsiz, offset, scale)`: the clock counts the process's ticks in
/// `buf` from now on (see `SYS_PROFIL`); `scale` 0 turns it off. The kernel writes
/// the counters whenever it likes: they are atomics, in memory that lives as long
/// as the program.
pub fn profil(buf: &'static [AtomicU16], offset: u64, scale: u32) -> Result<(), u64> {
    let size = core::mem::size_of_val(buf) as u64;
    call4(SYS_PROFIL, buf.as_ptr() as u64, size, offset, u64::from(scale)).map(drop)
}

/// `clock_ns()`: the monotonic clock (under `-icount`, guest instructions).
#[inline]
pub fn clock_ns() -> Result<u64, u64> {
    call0(SYS_CLOCK_NS)
}

/// `_lwp_park(timeout, unpark)`: unparks `unpark` first (0: none), then sleeps until
/// this LWP is unparked, or `timeout` (relative) runs out (`ETIME`).
#[inline]
pub fn lwp_park(timeout: Option<&Timespec>, unpark: LwpId) -> Result<(), u64> {
    let ts = timeout.map_or(0, |t| t as *const Timespec as u64);
    call(SYS_LWP_PARK, ts, u64::from(unpark), 0).map(drop)
}

/// `_lwp_unpark(id)`: gives LWP `id` its permit, waking it if it is parked.
#[inline]
pub fn lwp_unpark(id: LwpId) -> Result<(), u64> {
    call(SYS_LWP_UNPARK, u64::from(id), 0, 0).map(drop)
}

/// `schedctl(flags)`: the address of this LWP's `ScShared`.
pub fn schedctl(flags: u64) -> Result<u64, u64> {
    call(SYS_SCHEDCTL, flags, 0, 0)
}

/// `mmap` of `len` bytes of anonymous private memory with rights `prot`, where the
/// kernel chooses: its address. (Libc's `mmap`, without `MAP_FIXED`.)
#[inline]
pub fn mmap_anon(len: u64, prot: u64) -> Result<u64, u64> {
    // SAFETY: a new mapping where nothing is: it changes no memory the program uses.
    unsafe { mmap(0, len, prot, MAP_PRIVATE | MAP_ANON, u64::MAX, 0) }
}

/// `mmap(addr, len, prot, flags, fd, off)`, with `_MAP_NEW` as Solaris' libc adds it:
/// the address of the mapping.
///
/// # Safety
///
/// With `MAP_FIXED`, whatever the program had mapped in the range is replaced:
/// nothing may use it any more.
#[inline]
pub unsafe fn mmap(
    addr: u64,
    len: u64,
    prot: u64,
    flags: u64,
    fd: u64,
    off: u64,
) -> Result<u64, u64> {
    // SAFETY: no pointer is read or written by the call; the caller answers for
    // what a fixed mapping replaces.
    unsafe { syscall6(SYS_MMAP, [addr, len, prot, flags | MAP_NEW, fd, off]) }.map(|(a, _)| a)
}

/// `munmap(addr, len)`.
///
/// # Safety
///
/// Nothing may use the memory of the range any more.
#[inline]
pub unsafe fn munmap(addr: u64, len: u64) -> Result<(), u64> {
    call(SYS_MUNMAP, addr, len, 0).map(drop)
}

/// `mprotect(addr, len, prot)`.
///
/// # Safety
///
/// Memory the program reads or writes through references must keep those rights.
#[inline]
pub unsafe fn mprotect(addr: u64, len: u64, prot: u64) -> Result<(), u64> {
    call(SYS_MPROTECT, addr, len, prot).map(drop)
}

/// `sysconfig(which)`: `CONFIG_PAGESIZE`, `CONFIG_PHYS_PAGES`, `CONFIG_AVPHYS_PAGES`.
#[inline]
pub fn sysconfig(which: u64) -> Result<u64, u64> {
    call(SYS_SYSCONFIG, which, 0, 0)
}

/// `lwp_mutex_timedlock(m, timeout)`: takes a busy LWP mutex in the kernel.
pub fn lwp_mutex_timedlock(m: &LwpMutex, timeout: Option<&Timespec>) -> Result<(), u64> {
    let ts = timeout.map_or(0, |t| t as *const Timespec as u64);
    call(SYS_LWP_MUTEX_TIMEDLOCK, m as *const LwpMutex as u64, ts, 0).map(drop)
}

/// `lwp_mutex_unlock(m)`: leaves an LWP mutex that has waiters.
pub fn lwp_mutex_unlock(m: &LwpMutex) -> Result<(), u64> {
    call(SYS_LWP_MUTEX_UNLOCK, m as *const LwpMutex as u64, 0, 0).map(drop)
}

/// `gethrtime()`: nanoseconds since the machine started, from Solaris' fast trap
/// `ta 0x24`, which the kernel serves in its trap table without a system call.
#[inline]
pub fn gethrtime() -> u64 {
    let t: u64;
    // SAFETY: the fast trap writes %o0 and nothing else: no memory, and it returns
    // with the condition codes as they were (`done` restores them).
    unsafe { asm!("ta 0x24", out("o0") t, options(nomem, nostack, preserves_flags)) };
    t
}

/// `gethrvtime()`: the calling LWP's virtual time, the nanoseconds it has spent on
/// a CPU, from the fast trap `ta 0x25`.
#[inline]
pub fn gethrvtime() -> u64 {
    let t: u64;
    // SAFETY: as `gethrtime`.
    unsafe { asm!("ta 0x25", out("o0") t, options(nomem, nostack, preserves_flags)) };
    t
}

/// Solaris' `ta 3` (`ST_FLUSH_WINDOWS`): every register window of the caller's
/// callers goes to its place on the stack.
pub fn flush_windows() {
    // SAFETY: the trap writes the windows to their own frames on this LWP's stack,
    // memory the compiler is told may be read and written (no `nomem`); no
    // register changes.
    unsafe { asm!("ta 3", options(nostack, preserves_flags)) };
}

/// `ms` milliseconds as a `Timespec`.
pub fn millis(ms: u64) -> Timespec {
    Timespec { tv_sec: (ms / 1000) as i64, tv_nsec: ((ms % 1000) * 1_000_000) as i64 }
}

/// Sleeps `ms` milliseconds.
pub fn sleep_ms(ms: u64) {
    nanosleep(&millis(ms)).expect("nanosleep");
}

/// Sleeps a millisecond at a time until `done()` holds; false if it did not within
/// `ms` milliseconds.
pub fn sleep_until(ms: u64, done: impl Fn() -> bool) -> bool {
    for _ in 0..ms {
        if done() {
            return true;
        }
        sleep_ms(1);
    }
    done()
}

// ---- Stacks for new LWPs -------------------------------------------------------

/// Each LWP [`spawn`] makes gets one of these stacks, in the program's bss.
const STACK_SIZE: usize = 16 * 1024;
const NSTACKS: usize = 8;

#[repr(C, align(16))]
struct Stacks(UnsafeCell<[[u8; STACK_SIZE]; NSTACKS]>);

// SAFETY: the memory is never reached through references here: only the address
// of one slot's top is handed to the kernel, for one LWP at a time (see `Slot`).
unsafe impl Sync for Stacks {}

static STACKS: Stacks = Stacks(UnsafeCell::new([[0; STACK_SIZE]; NSTACKS]));

/// A stack's owner and what the LWP on it runs.
struct Slot {
    /// `FREE`, `CLAIMED` while its LWP is being made, then the LWP's id.
    owner: AtomicU32,
    func: AtomicPtr<()>,
    arg: AtomicU64,
}

const FREE: LwpId = 0;
const CLAIMED: LwpId = LwpId::MAX;

static SLOTS: [Slot; NSTACKS] = [const {
    Slot {
        owner: AtomicU32::new(FREE),
        func: AtomicPtr::new(core::ptr::null_mut()),
        arg: AtomicU64::new(0),
    }
}; NSTACKS];

/// Makes an LWP that runs `f(arg)` on a stack of its own, then exits; `flags` are
/// `LWP_SUSPENDED`, `LWP_DETACHED`. `EAGAIN` if every stack is taken. The stack
/// is free again once [`lwp_wait`] has reaped the LWP (a detached LWP's never is).
pub fn spawn(f: fn(u64), arg: u64, flags: u64) -> Result<LwpId, u64> {
    let slot = SLOTS
        .iter()
        .position(|s| {
            s.owner.compare_exchange(FREE, CLAIMED, Ordering::AcqRel, Ordering::Relaxed).is_ok()
        })
        .ok_or(errno::EAGAIN)?;
    let s = &SLOTS[slot];
    s.func.store(f as *mut (), Ordering::Relaxed);
    s.arg.store(arg, Ordering::Relaxed);
    let top = STACKS.0.get() as u64 + ((slot + 1) * STACK_SIZE) as u64;
    // SAFETY: the slot is this LWP's alone until lwp_wait reaps it.
    let made = unsafe { lwp_create(lwp_start, top, slot as u64, flags) };
    s.owner.store(made.unwrap_or(FREE), Ordering::Release);
    made
}

/// Where every LWP of [`spawn`] starts: runs its slot's function, then exits.
extern "C" fn lwp_start(slot: u64) -> ! {
    let s = &SLOTS[slot as usize];
    // SAFETY: `spawn` stored a `fn(u64)` there before the system call that made
    // this LWP, which orders the store before this load.
    let f: fn(u64) =
        unsafe { core::mem::transmute::<*mut (), fn(u64)>(s.func.load(Ordering::Relaxed)) };
    f(s.arg.load(Ordering::Relaxed));
    lwp_exit()
}

fn release_stack(gone: LwpId) {
    if let Some(s) = SLOTS.iter().find(|s| s.owner.load(Ordering::Acquire) == gone) {
        s.owner.store(FREE, Ordering::Release);
    }
}

// ---- Console output and checks ---------------------------------------------------

/// Formats into a line buffer, written with one `write` when full or done, so that
/// the lines of different LWPs and processes do not mix.
struct Line {
    buf: [u8; 256],
    len: usize,
}

impl Line {
    fn flush(&mut self) {
        let _ = write(1, &self.buf[..self.len]);
        self.len = 0;
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

/// Writes `args` to the console (fd 1): `print!`/`println!` call this.
pub fn print(args: fmt::Arguments) {
    let mut line = Line { buf: [0; 256], len: 0 };
    let _ = line.write_fmt(args);
    line.flush();
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::print(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => { $crate::print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// A line of the program's, prefixed with its name.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::println!("{}: {}", env!("CARGO_BIN_NAME"), format_args!($($arg)*)) };
}

/// Exits with `code` unless `cond` holds, saying which check failed and why: the
/// kernel test reads the code from the wait status.
#[macro_export]
macro_rules! check {
    ($code:expr, $cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::fail(env!("CARGO_BIN_NAME"), $code, format_args!($($arg)*))
        }
    };
}

/// The value of `$r`, a `Result`, if `Ok`; otherwise exits with `$code`, naming the
/// call and its error.
#[macro_export]
macro_rules! ok {
    ($code:expr, $r:expr) => {
        match $r {
            Ok(v) => v,
            Err(e) => $crate::fail(
                env!("CARGO_BIN_NAME"),
                $code,
                format_args!("{} failed: {:?}", stringify!($r), e),
            ),
        }
    };
}

/// Prints that check `code` of program `prog` failed, and exits with `code`.
pub fn fail(prog: &str, code: u8, why: fmt::Arguments) -> ! {
    println!("{prog}: check {code} failed: {why}");
    exit(code)
}

/// Makes `$main(arg)` the program: `_start` runs it with the kernel's argument and
/// exits with status 0 when it returns.
#[macro_export]
macro_rules! main {
    ($main:path) => {
        #[no_mangle]
        pub extern "C" fn _start(arg: u64, argv: u64, envp: u64) -> ! {
            $crate::set_args(argv, envp);
            $main(arg);
            $crate::exit(0)
        }
    };
}

/// Where `exec` put the program's argument and environment pointer arrays (0: the
/// kernel started it with a number, not arguments).
static ARGV: AtomicU64 = AtomicU64::new(0);
static ENVP: AtomicU64 = AtomicU64::new(0);

/// Keeps the `argv` and `envp` the program started with (`main!`'s `_start`).
#[doc(hidden)]
pub fn set_args(argv: u64, envp: u64) {
    ARGV.store(argv, Ordering::Relaxed);
    ENVP.store(envp, Ordering::Relaxed);
}

/// The strings of a null-terminated array of pointers at `at` (none for 0).
fn strings(at: u64) -> impl Iterator<Item = &'static [u8]> {
    (0..)
        .map(move |i| {
            if at == 0 {
                0
            } else {
                // SAFETY: `exec` wrote the array, null-terminated, on this stack, which
                // outlives the program's use of it.
                unsafe { *((at + 8 * i) as *const u64) }
            }
        })
        .take_while(|&p| p != 0)
        .map(|p| {
            // SAFETY: each pointer is to a NUL-terminated string `exec` wrote.
            let len = (0..).take_while(|&i| unsafe { *((p + i) as *const u8) } != 0).count();
            // SAFETY: as above: `len` bytes before the NUL.
            unsafe { core::slice::from_raw_parts(p as *const u8, len) }
        })
}

/// The program's arguments, as `exec` gave them (none if the kernel started it).
pub fn args() -> impl Iterator<Item = &'static [u8]> {
    strings(ARGV.load(Ordering::Relaxed))
}

/// The program's environment, as `exec` gave it.
pub fn env() -> impl Iterator<Item = &'static [u8]> {
    strings(ENVP.load(Ordering::Relaxed))
}

/// `execve(name, argv, envp)`: this process runs program `name` from now on, with
/// these arguments and environment (each string NUL-terminated); returns only on
/// failure. Names and strings must end with a NUL byte (`b"fork\0"`).
pub fn execve(name: &[u8], argv: &[&[u8]], envp: &[&[u8]]) -> u64 {
    let ptrs = |v: &[&[u8]], out: &mut [u64; 16]| {
        for (o, s) in out.iter_mut().zip(v) {
            *o = s.as_ptr() as u64;
        }
    };
    let (mut a, mut e) = ([0u64; 16], [0u64; 16]);
    ptrs(&argv[..argv.len().min(15)], &mut a);
    ptrs(&envp[..envp.len().min(15)], &mut e);
    // SAFETY: the pointers are of live slices and arrays of this frame.
    let r = unsafe {
        syscall6(SYS_EXECVE, [name.as_ptr() as u64, a.as_ptr() as u64, e.as_ptr() as u64, 0, 0, 0])
    };
    r.err().unwrap_or(0)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("user panic: {info}");
    exit(101)
}
