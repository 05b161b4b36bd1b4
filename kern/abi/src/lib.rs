//! The system-call ABI: what the kernel (`kern`) and user programs (the runtime of
//! `sim-tests/user`, and the host simulation's user programs) must agree on — call
//! numbers, flags, the layouts of what is passed through memory, error numbers
//! ([`errno`]) and signal numbers ([`signal`]). Constants and plain `#[repr(C)]`
//! data, nothing else; it needs only `core`, so that the user programs, built with
//! `core` alone, use it as the kernel does.
//!
//! Calling convention (SPARC V9, as Solaris): `ta 0x40` with the number in `%g1` and
//! the arguments in `%o0`..`%o5`; results come back in `%o0`/`%o1` with the carry bit
//! clear, or the error number (`errno`) in `%o0` with the carry bit set. Numbers are
//! Solaris' where Solaris has the call (`exit`, `write`, `getpid`, the `_lwp_*`
//! calls, the signal calls); the rest are this kernel's own, above 200.
//!
//! Memory is big-endian, as on SPARC (the host simulation stores user memory the
//! same way): a structure passed by pointer is its fields' bytes in order, each
//! field big-endian, laid out as `#[repr(C)]` lays it out on SPARC V9 (the
//! signal structures mix 4- and 8-byte fields and pad them as C does; an LWP id
//! written back is 4 bytes).

#![cfg_attr(not(test), no_std)]

pub mod errno;
pub mod mman;
pub mod priocntl;
pub mod resource;
pub mod schedctl;
pub mod signal;

pub use errno::Errno;
pub use mman::*;
pub use priocntl::*;
pub use resource::*;
pub use schedctl::*;
pub use signal::*;

/// `exit(status)`: ends the process; its wait status is `(status & 0xff) << 8`.
pub const SYS_EXIT: u64 = 1;
/// `read(fd, buf, len) -> len`: 0 at end of file (a pipe whose writers are all
/// closed; the console, which has no input for processes).
pub const SYS_READ: u64 = 3;
/// `write(fd, buf, len) -> len`: fds 0, 1 and 2 start as the console.
pub const SYS_WRITE: u64 = 4;
/// `close(fd) -> 0`.
pub const SYS_CLOSE: u64 = 6;
/// `getpid() -> (pid, parent's pid)`: as Solaris', the parent's pid in `%o1`
/// (what `getppid` returns).
pub const SYS_GETPID: u64 = 20;
/// `setuid(uid) -> 0`: root sets the real, effective and saved uid; anyone else
/// only the effective one, to its real or saved uid (`EPERM` otherwise).
pub const SYS_SETUID: u64 = 23;
/// `getuid() -> (real uid, effective uid)`.
pub const SYS_GETUID: u64 = 24;
/// `alarm(seconds) -> seconds left of the previous alarm`: SIGALRM to the process
/// once the time is up (0: cancel). The process's `ITIMER_REAL`.
pub const SYS_ALARM: u64 = 27;
/// `kill(pid, sig) -> 0`: `sig` (0: only check) to process `pid` (0: the caller's
/// own; there are no process groups), taken by one of its LWPs (S14).
pub const SYS_KILL: u64 = 37;
/// `dup(fd) -> fd`: the lowest free descriptor, for the same open file.
pub const SYS_DUP: u64 = 41;
/// `pipe() -> (read fd, write fd)`.
pub const SYS_PIPE: u64 = 42;
/// `profil(buf, bufsiz, offset, scale) -> 0`: profiling (S5.4). From now on each
/// clock tick the process's LWPs use adds one to the `u16` counter of `buf`
/// (`bufsiz` bytes) at byte offset `((pc - offset) * scale) >> 16` (rounded down to
/// a counter), `pc` being the interrupted user `pc` (a tick in the kernel counts at
/// the `pc` it goes back to); a `pc` below `offset` or beyond the buffer counts
/// nowhere. `scale` is 16.16 fixed point: `0x10000` gives each 2 bytes of text
/// its own counter, 2 puts every tick in the first. `scale` 0 or 1 turns
/// profiling off. Always 0: a buffer that cannot be read and written (or a
/// counter that would pass 32,767) turns profiling off when a tick is counted.
/// A `fork1` child inherits the profiling; `exec` ends it.
pub const SYS_PROFIL: u64 = 44;
/// `setgid(gid) -> 0`: as `setuid`, for the group ids.
pub const SYS_SETGID: u64 = 46;
/// `getgid() -> (real gid, effective gid)`.
pub const SYS_GETGID: u64 = 47;
/// `execve(path, argv, envp)`: the process runs program `path` from now on (a name
/// in the kernel's table of programs), with the null-terminated arrays of string
/// pointers `argv` and `envp` (null: none); only the calling LWP is left. The new
/// program starts with `%o0` = argc, `%o1` = argv, `%o2` = envp. Returns only on
/// failure: `ENOENT`, `ENAMETOOLONG`, `E2BIG`, `ENOEXEC`, `EFAULT`, `ENOMEM`.
pub const SYS_EXECVE: u64 = 59;
/// `fcntl(fd, cmd, arg)`: [`F_GETFD`] (the descriptor's flags) and [`F_SETFD`].
pub const SYS_FCNTL: u64 = 62;
/// `sigprocmask(how, &set or null, &mut oset or null) -> 0`: the calling LWP's mask (S11).
pub const SYS_SIGPROCMASK: u64 = 95;
/// `sigsuspend(&set)`: waits with `set` as the mask until a signal is caught; EINTR.
pub const SYS_SIGSUSPEND: u64 = 96;
/// `sigaltstack(&ss or null, &mut oss or null) -> 0`: the calling LWP's alternate
/// signal stack (S12).
pub const SYS_SIGALTSTACK: u64 = 97;
/// `sigaction(sig, &act or null, &mut oact or null) -> 0`: the process's disposition (S10).
pub const SYS_SIGACTION: u64 = 98;
/// `sigpending(SIGPENDING, &mut set) -> 0`: the signals pending on the calling LWP
/// or its process that it masks; `sigpending(SIGFILLSET, &mut set)`: every signal.
pub const SYS_SIGPENDING: u64 = 99;
/// `context(GETCONTEXT, &mut ucontext)`, `context(SETCONTEXT, &ucontext)`: save the
/// calling LWP's context, or resume one (how a signal handler returns).
pub const SYS_CONTEXT: u64 = 100;
/// `waitid(idtype, id, &mut siginfo, options) -> 0`: waits for a child of the
/// caller ([`P_PID`] `id`, or [`P_ALL`]) to do what `options` names ([`WEXITED`],
/// [`WSTOPPED`], [`WCONTINUED`]; [`WNOHANG`]: do not wait, the siginfo's `si_pid`
/// is 0 if none had) and describes it in the `siginfo_t` (`SIGCHLD`, a `CLD_*`
/// code, its pid, and in `si_value` its exit code or signal). `ECHILD` if there is
/// no such child; `EINTR` if a caught signal interrupts the wait.
pub const SYS_WAITID: u64 = 107;
/// `priocntl(cmd, idtype, id, arg) -> 0`: scheduling classes and priorities of
/// LWPs, and the TS dispatcher parameter table ([`priocntl`]).
pub const SYS_PRIOCNTL: u64 = 112;
/// `mmap(addr, len, prot, flags, fd, off) -> address`, `mprotect(addr, len, prot)
/// -> 0`, `munmap(addr, len) -> 0`: anonymous memory (see [`mman`]).
pub const SYS_MMAP: u64 = 115;
pub const SYS_MPROTECT: u64 = 116;
pub const SYS_MUNMAP: u64 = 117;
/// `sysconfig(which) -> value`: the page size and the machine's memory in pages
/// ([`CONFIG_PAGESIZE`], [`CONFIG_PHYS_PAGES`], [`CONFIG_AVPHYS_PAGES`]; anything
/// else `EINVAL`).
pub const SYS_SYSCONFIG: u64 = 137;
/// `forksys(subcode, flags) -> pid`: a new process (Solaris' `forkx` family):
/// subcode [`FORK1`] duplicates only the calling LWP (POSIX `fork`), [`FORKALL`]
/// every LWP of the process (each with its id; one held in a system call gets
/// `EINTR` from it in the child). In the parent
/// `%o0` is the child's pid and `%o1` 0; in the child `%o0` is the parent's pid and
/// `%o1` 1 (the library returns 0 there). `flags` must be 0.
pub const SYS_FORKSYS: u64 = 142;
/// `sigtimedwait(&set, &mut info or null, &timeout or null) -> sig`: takes a
/// pending signal of `set` (which the caller masks), waiting for one at most
/// `timeout` (null: for ever; EAGAIN when it runs out).
pub const SYS_SIGTIMEDWAIT: u64 = 144;
/// `getitimer(which, &mut ITimerVal) -> 0`, `setitimer(which, &ITimerVal, &mut old
/// or null) -> 0`: `ITIMER_REAL` is the process's, the others the calling LWP's (S5.5).
pub const SYS_GETITIMER: u64 = 157;
pub const SYS_SETITIMER: u64 = 158;
/// `_lwp_create(&LwpContext, flags, &mut lwpid) -> 0`.
pub const SYS_LWP_CREATE: u64 = 159;
/// `_lwp_exit()`: ends the calling LWP.
pub const SYS_LWP_EXIT: u64 = 160;
/// `_lwp_suspend(lwpid) -> 0`: returns once the LWP is stopped.
pub const SYS_LWP_SUSPEND: u64 = 161;
/// `_lwp_continue(lwpid) -> 0`.
pub const SYS_LWP_CONTINUE: u64 = 162;
/// `_lwp_kill(lwpid, sig) -> 0`: `sig` to that LWP of the caller's own process
/// (S15), or (signal 0) only checks that it exists.
pub const SYS_LWP_KILL: u64 = 163;
/// `_lwp_self() -> lwpid`.
pub const SYS_LWP_SELF: u64 = 164;
/// `_lwp_sigmask(how, bits0, bits1, bits2, bits3) -> (old bits0 | bits1 << 32, old
/// bits2 | bits3 << 32)`: `sigprocmask` with the set's words in registers (S11).
pub const SYS_LWP_SIGMASK: u64 = 165;
/// `_lwp_wait(lwpid or 0 for any, &mut departed or null) -> 0`.
pub const SYS_LWP_WAIT: u64 = 167;
/// `rusagesys(subcode, &mut Rusage) -> 0`: resource usage ([`resource`]): the
/// process's, its waited-for children's, or the calling LWP's (`EINVAL` for another
/// subcode, `EFAULT` for a bad pointer).
pub const SYS_RUSAGESYS: u64 = 181;
/// `sigqueue(pid, sig, value) -> 0`: as `kill`, with a value for the receiver's
/// `si_value`.
pub const SYS_SIGQUEUE: u64 = 190;
/// `yield()`: lets another runnable LWP or thread run.
pub const SYS_YIELD: u64 = 201;
/// `nanosleep(&Timespec) -> 0`.
pub const SYS_NANOSLEEP: u64 = 202;
/// `lwp_times(&mut LwpTimes) -> 0`: the caller's and its process's CPU times, and
/// the caller's counts of system calls and of bytes read and written.
pub const SYS_LWP_TIMES: u64 = 203;
/// `clock_ns() -> ns`: the monotonic clock (under `-icount`, guest instructions).
pub const SYS_CLOCK_NS: u64 = 204;
/// `schedctl(flags) -> address`: the calling LWP's [`ScShared`] in the process's
/// schedctl pages (at [`sc_shared_addr`]`(lwpid)`), mapped on first use; `flags`
/// ([`SC_POOL`], [`SC_WAITING`]) say what the LWP is to the thread library.
pub const SYS_SCHEDCTL: u64 = 206;
/// `lwp_mutex_timedlock(&LwpMutex, &Timespec or null) -> 0`: takes an LWP mutex
/// for the caller, sleeping until its owner hands it over (or the relative timeout
/// runs out: `ETIME`). `EINVAL` if it is not an initialized [`LwpMutex`] (or is
/// misaligned), `EFAULT` if it is not writable memory, `EDEADLK` if the caller
/// holds it.
pub const SYS_LWP_MUTEX_TIMEDLOCK: u64 = 210;
/// `_lwp_park(&Timespec or null, lwpid or 0) -> 0`: unparks `lwpid` first (if not
/// 0), then sleeps until unparked, unless an unpark came since the last park (the
/// LWP's one permit, which this takes); `ETIME` when the relative timeout runs out.
pub const SYS_LWP_PARK: u64 = 220;
/// `_lwp_unpark(lwpid) -> 0`: gives LWP `lwpid` of this process its permit, waking
/// it if it is parked; `ESRCH` if the process has no such live LWP (S15).
pub const SYS_LWP_UNPARK: u64 = 221;
/// `lwp_mutex_unlock(&LwpMutex) -> 0`: releases an LWP mutex the caller holds,
/// handing it to the first LWP asleep in `lwp_mutex_timedlock` on it. `EPERM` if
/// the caller does not hold it, `EINVAL` and `EFAULT` as for `lwp_mutex_timedlock`.
pub const SYS_LWP_MUTEX_UNLOCK: u64 = 250;

/// The highest call number.
pub const SYS_MAX: u64 = SYS_LWP_MUTEX_UNLOCK;

/// `forksys` subcodes.
pub const FORK1: u64 = 0;
pub const FORKALL: u64 = 1;

/// `waitid` id types (`idtype_t`) and options (Solaris' values).
pub const P_PID: u64 = 0;
pub const P_ALL: u64 = 7;
pub const WEXITED: u64 = 0o1;
pub const WSTOPPED: u64 = 0o4;
pub const WCONTINUED: u64 = 0o10;
pub const WNOHANG: u64 = 0o100;

/// `_lwp_create` flags (Solaris' values).
pub const LWP_DETACHED: u64 = 0x40;
pub const LWP_SUSPENDED: u64 = 0x80;

/// `fcntl` commands and descriptor flags (Solaris' values).
pub const F_GETFD: u64 = 1;
pub const F_SETFD: u64 = 2;
/// Close the descriptor when the process execs (a descriptor flag).
pub const FD_CLOEXEC: u64 = 1;

/// Writes of at most this many bytes to a pipe are atomic: never interleaved
/// with other writers' (Solaris' `PIPE_BUF`).
pub const PIPE_BUF: usize = 5120;

/// Where a new LWP starts (this kernel's small stand-in for `ucontext_t`): at `pc`,
/// on the stack whose 16-byte aligned top is `stack_top`, with `arg` as its first
/// argument.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LwpContext {
    pub pc: u64,
    pub stack_top: u64,
    pub arg: u64,
}

/// A duration (`timespec_t`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

/// What `lwp_times` returns: CPU times in clock ticks (S5.6) and some usage counts.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LwpTimes {
    /// The calling LWP's user and system time.
    pub lwp_utime: u64,
    pub lwp_stime: u64,
    /// The process's: every LWP it has had, live or exited.
    pub proc_utime: u64,
    pub proc_stime: u64,
    /// The calling LWP's system calls so far, this one included.
    pub lwp_sysc: u64,
    /// The clock rate the ticks count at.
    pub hz: u64,
    /// The bytes the calling LWP has moved with `read` and `write` (Solaris'
    /// `ioch`, which `struct rusage` does not carry).
    pub lwp_ioch: u64,
}
