//! System calls, and every other way user mode enters the kernel (S5.1, S5.2, S13,
//! S15, S16).
//!
//! # Theory
//!
//! An LWP's user registers live in its `lwp` structure (S5.1, `lwp_regs`: an
//! [`arch::UserFrame`]), where the machine saves them at every trap from user mode
//! and loads them from at every return: the kernel reads and writes them there,
//! through the machine's handle it is given with every trap, without a copy and
//! without taking the structure's lock. An LWP that sleeps in a system call may
//! have its structure swapped out meanwhile (`swap`): the handle is changed in
//! place, and reaches the registers wherever they are once the LWP runs again.
//!
//! A system call is found in [`SYSENT`], the table the machine calls through
//! (Solaris' `sysent`). A call that neither blocks nor faults is `fast`: the
//! machine calls its handler straight from the trap, with the arguments from the
//! trapped window, and writes its results back itself (Solaris' `syscall_trap`);
//! a fast handler reads its arguments, never the `lwp` structure's registers,
//! which the machine may make whole only on the way back (before any pending work
//! is acted on). Sending a signal and changing the mask are such calls:
//! they take the process's lock, wake or poke an LWP, and a signal for the caller
//! is delivered on its way back. Every other call comes to [`user_trap`] as
//! [`UserTrap::Syscall`], the general path: the number, arguments, results and error
//! are also kept in the `lwp` structure (S5.2), where they survive a call that
//! sleeps while its registers change, and then the results go into the registers.
//!
//! The machine calls [`user_trap`] for everything else too: a fault raises its
//! signal at this very LWP (S13, `signal`); and before any return to user mode it
//! tests the thread's pending-work word (`t_pending`) once, calling here with
//! [`UserTrap::Return`] only when a bit of the kernel's is set: a stop request or a
//! process exit (a stop point), or a signal to take — delivered to its handler by
//! pointing the registers there (`signal::psig`) — so that an LWP spinning in user
//! mode is reached at its next clock tick too, or at once when poked.
//!
//! A call that a signal interrupts fails with EINTR; one that may be restarted
//! returns `ERESTART` instead, and is restarted — its registers put back as they
//! were at the trap, the trap made again when the handler returns — if the
//! signal's disposition says `SA_RESTART`. A call that sets the registers itself
//! (`setcontext`) says so in the `lwp` structure (`lwp_eosys`), and its results are
//! not written over them.
//!
//! Every argument is untrusted (S16): numbers are checked against what they may
//! be, and memory is reached only through `uaccess::copyin`/`copyout`, which go through
//! the machine with the user's own rights and turn any fault into `EFAULT`. An LWP
//! id names an LWP of the caller's own process only (S15): ids of other processes
//! are simply not found (`ESRCH`). A number that is no system call raises SIGSYS at
//! the caller (S13).

use arch::{reg, Machine, SysEnt, SysPath, SysRet, UserFrame, UserRegs, UserTrap, USER_LIMIT};

use crate::errno::Errno;
use crate::lwp::{self, Eosys, LwpFlags};
use crate::proc::{Pid, WaitOpts};
use crate::signal::{self, Sig, SigInfo};
use crate::thread::{curlwp, curproc, curthread, pending};
use crate::{clock, cred, disp, file, fork, priocntl, proc, rusage, schedctl, vm, M};
use lwp_abi::*;

pub(crate) mod uaccess;
pub use uaccess::lwp_id;
use uaccess::{copyin_words, copyout, copyout_words, timespec_ticks, SysResult};

/// The machine's `user_trap` upcall: see the module comment.
pub fn user_trap(frame: &UserFrame, why: &UserTrap) {
    match *why {
        UserTrap::Syscall => syscall(frame),
        UserTrap::Fault(f) => {
            // The stack's growth is no fault: a page is mapped and the instruction
            // is made again, a fault resolved without I/O (`minflt`, S5.4).
            if vm::user_fault(f) {
                rusage::minflt();
                return;
            }
            let (sig, info) = signal::fault_signal(f);
            signal::trapsig(sig, info);
        }
        UserTrap::Return => {
            let t = curthread();
            // One look at the word before taking a bit (an atomic loop each): work
            // made due after it is seen when the machine tests the word again,
            // before it returns to user mode.
            let due = t.pending();
            if due & pending::PROF != 0 && t.take_pending(pending::PROF) != 0 {
                rusage::profil_tick(frame);
            }
            if due & pending::STOP != 0 && t.take_pending(pending::STOP) != 0 {
                lwp::stop_point();
            }
            if t.pending() & pending::SIG != 0 {
                if let Some(chosen) = signal::issig() {
                    signal::psig(frame, chosen);
                }
            }
        }
    }
}

/// A system call on the general path: its number, arguments, results and error
/// pass through the `lwp` structure (S5.2), its results into the registers.
/// Inlined, with `call`: one register window less between the trap and the call.
#[inline(always)]
fn syscall(frame: &UserFrame) {
    let (num, args) = (frame.sysnum(), frame.sysargs());
    let lwp = curlwp();
    if let Some(lwp) = lwp {
        lwp.with_data(|d| {
            d.lwp_sysnum = num as u32;
            d.lwp_arg[..6].copy_from_slice(&args);
            d.lwp_eosys = Eosys::Normal;
        });
    }
    let mut result = call(num, args, frame);
    if result == Err(Errno::ERESTART) {
        if signal::restartable() {
            if let Some(lwp) = lwp {
                lwp.with_data(|d| d.lwp_sysnum = 0);
            }
            // The trap again, with the same number and arguments, once the handler
            // has run (`pc` is past the trap instruction).
            let pc = frame.pc();
            frame.set(reg::NPC, pc);
            frame.set(reg::PC, pc.wrapping_sub(4));
            frame.set(reg::G1, num);
            for (i, &a) in args.iter().enumerate() {
                frame.set(reg::O0 + i, a);
            }
            return;
        }
        result = Err(Errno::EINTR);
    }
    let just_return = lwp.and_then(|lwp| {
        lwp.with_data(|d| {
            // Out of the call: a `forkall` copy of this LWP takes these registers.
            d.lwp_sysnum = 0;
            match result {
                Ok((r0, r1)) => {
                    d.lwp_rval = [r0, r1];
                    d.lwp_errno = None;
                }
                Err(e) => d.lwp_errno = Some(e),
            }
            d.lwp_eosys == Eosys::JustReturn
        })
    });
    match result {
        _ if just_return == Some(true) => {}
        Ok((r0, r1)) => frame.set_rval(r0, r1),
        Err(e) => frame.set_error(e.code() as u64),
    }
}

/// A handler for the machine (`arch::SysHandler`) around `$f`, a call in Rust
/// terms (`fn([u64; 6]) -> SysResult`).
macro_rules! handler {
    ($f:expr) => {{
        extern "C" fn handler(a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> SysRet {
            sysret(($f)([a0, a1, a2, a3, a4, a5]))
        }
        handler
    }};
}

/// The table and the general path's dispatch, from one list: each call's number,
/// whether the machine may make it itself (`fast`: it neither blocks nor faults;
/// `fast_intr_off`: the same, called with interrupts off, for a call that would
/// turn them off first thing) or must hand it to the kernel (`general`; `framed`:
/// the same, and it is also given the registers, the handle the trap hands the
/// kernel), and what it does.
macro_rules! syscalls {
    ($($num:ident => $path:ident $f:expr,)*) => {
        /// The system-call table (Solaris' `sysent`), indexed by call number: what
        /// the kernel registers with the machine (`Upcalls::sysent`).
        pub static SYSENT: [SysEnt; NSYSENT] = {
            let mut t = [SysEnt { call: handler!(nosys), path: SysPath::General }; NSYSENT];
            $(t[$num as usize] = SysEnt {
                call: syscalls!(@handler $path $f),
                path: syscalls!(@path $path),
            };)*
            t
        };

        /// The system call `num` with arguments `a`, in Rust terms; `frame` holds
        /// the caller's registers.
        #[inline(always)]
        fn call(num: u64, a: [u64; 6], frame: &UserFrame) -> SysResult {
            match num {
                $($num => syscalls!(@call $path $f, a, frame),)*
                _ => nosys(a),
            }
        }

        // Two calls of one number would leave the table with the later one only.
        const _: () = {
            let nums = [$($num),*];
            let mut i = 0;
            while i < nums.len() {
                let mut j = i + 1;
                while j < nums.len() {
                    assert!(nums[i] != nums[j], "two system calls of one number");
                    j += 1;
                }
                i += 1;
            }
        };
    };
    (@path fast) => { SysPath::Fast };
    (@path fast_intr_off) => { SysPath::FastIntrOff };
    (@path general) => { SysPath::General };
    (@path framed) => { SysPath::General };
    (@call fast $f:expr, $a:ident, $frame:ident) => { ($f)($a) };
    // (The general path has interrupts on.)
    (@call fast_intr_off $f:expr, $a:ident, $frame:ident) => {{
        let was = M::intr_disable();
        let r = ($f)($a);
        M::intr_restore(was);
        r
    }};
    (@call general $f:expr, $a:ident, $frame:ident) => { ($f)($a) };
    (@call framed $f:expr, $a:ident, $frame:ident) => { ($f)($a, $frame) };
    (@handler fast $f:expr) => { handler!($f) };
    (@handler fast_intr_off $f:expr) => { handler!($f) };
    (@handler general $f:expr) => { handler!($f) };
    // The machine calls `fast` entries' handlers only; were a `framed` one's
    // called, it would find the registers as a call without the trap's does.
    (@handler framed $f:expr) => { handler!(|a| ($f)(a, &my_frame()?)) };
}

/// Entries in [`SYSENT`]: one past the highest call number.
const NSYSENT: usize = SYS_MAX as usize + 1;

syscalls! {
    SYS_EXIT => general |a: [u64; 6]| proc::life::proc_exit(a[0] as u8),
    SYS_READ => general |a: [u64; 6]| restartable(file::read(a[0], a[1], a[2])),
    SYS_WRITE => general |a: [u64; 6]| restartable(file::write(a[0], a[1], a[2])),
    SYS_CLOSE => general |a: [u64; 6]| file::close(a[0]),
    SYS_GETPID => fast |_| Ok(curproc().map_or((0, 0), |p| (p.pid().0.into(), p.ppid().0.into()))),
    SYS_SETUID => general |a: [u64; 6]| cred::setuid(a[0]).map(none),
    SYS_GETUID => fast |_| {
        let c = cred::curcred();
        Ok((u64::from(c.cr_ruid), u64::from(c.cr_uid)))
    },
    SYS_ALARM => general |a: [u64; 6]| signal::sys_alarm(a[0]),
    SYS_KILL => fast |a: [u64; 6]| signal::sys_kill(a[0], a[1]),
    SYS_DUP => general |a: [u64; 6]| file::dup(a[0]),
    SYS_PIPE => general |_| file::pipe(),
    SYS_PROFIL => general |a: [u64; 6]| rusage::sys_profil(a[0], a[1], a[2], a[3]),
    SYS_SETGID => general |a: [u64; 6]| cred::setgid(a[0]).map(none),
    SYS_GETGID => fast |_| {
        let c = cred::curcred();
        Ok((u64::from(c.cr_rgid), u64::from(c.cr_gid)))
    },
    SYS_FCNTL => general |a: [u64; 6]| file::fcntl(a[0], a[1], a[2]),
    SYS_PRIOCNTL => general |a: [u64; 6]| priocntl::priocntl(a[0], a[1], a[2], a[3]),
    SYS_MMAP => general |a: [u64; 6]| vm::calls::sys_mmap(a[0], a[1], a[2], a[3], a[4], a[5]),
    SYS_MPROTECT => general |a: [u64; 6]| vm::calls::sys_mprotect(a[0], a[1], a[2]),
    SYS_MUNMAP => general |a: [u64; 6]| vm::calls::sys_munmap(a[0], a[1]),
    SYS_SYSCONFIG => fast |a: [u64; 6]| vm::calls::sysconfig(a[0]),
    SYS_SIGPROCMASK => general |a: [u64; 6]| signal::sys_sigprocmask(a[0], a[1], a[2]),
    SYS_SIGSUSPEND => general |a: [u64; 6]| signal::sys_sigsuspend(a[0]),
    SYS_SIGALTSTACK => framed |a: [u64; 6], f: &UserFrame| signal::sys_sigaltstack(f, a[0], a[1]),
    SYS_SIGACTION => general |a: [u64; 6]| signal::sys_sigaction(a[0], a[1], a[2]),
    SYS_SIGPENDING => general |a: [u64; 6]| signal::sys_sigpending(a[0], a[1]),
    SYS_CONTEXT => framed |a: [u64; 6], f: &UserFrame| signal::sys_context(f, a[0], a[1]),
    SYS_SIGTIMEDWAIT => general |a: [u64; 6]| signal::sys_sigtimedwait(a[0], a[1], a[2]),
    SYS_GETITIMER => general |a: [u64; 6]| signal::sys_getitimer(a[0], a[1]),
    SYS_SETITIMER => general |a: [u64; 6]| signal::sys_setitimer(a[0], a[1], a[2]),
    SYS_LWP_CREATE => general |a: [u64; 6]| lwp_create(a[0], a[1], a[2]),
    SYS_LWP_EXIT => general |_| -> SysResult { lwp::lwp_exit() },
    SYS_LWP_SUSPEND => general |a: [u64; 6]| lwp::lwp_suspend(lwp_id(a[0])?).map(none),
    SYS_LWP_CONTINUE => general |a: [u64; 6]| lwp::lwp_continue(lwp_id(a[0])?).map(none),
    SYS_LWP_KILL => fast |a: [u64; 6]| signal::sys_lwp_kill(a[0], a[1]),
    SYS_LWP_SELF => fast |_| Ok((u64::from(lwp::handle::lwp_self().map_or(0, |id| id.0)), 0)),
    SYS_LWP_SIGMASK => fast |a: [u64; 6]| signal::sys_lwp_sigmask(a),
    SYS_LWP_WAIT => general |a: [u64; 6]| restartable(lwp_wait(a[0], a[1])),
    SYS_WAITID => general |a: [u64; 6]| restartable(waitid(a[0], a[1], a[2], a[3])),
    SYS_FORKSYS => framed |a: [u64; 6], f: &UserFrame| forksys(f, a[0], a[1]),
    SYS_EXECVE => framed |a: [u64; 6], f: &UserFrame| execve(f, a[0], a[1], a[2]),
    SYS_RUSAGESYS => general |a: [u64; 6]| rusage::sys_rusagesys(a[0], a[1]),
    SYS_SIGQUEUE => fast |a: [u64; 6]| signal::sys_sigqueue(a[0], a[1], a[2]),
    SYS_YIELD => fast_intr_off |_| {
        disp::yield_intr_off();
        Ok((0, 0))
    },
    SYS_NANOSLEEP => general |a: [u64; 6]| nanosleep(a[0]),
    SYS_LWP_TIMES => general |a: [u64; 6]| lwp_times(a[0]),
    SYS_CLOCK_NS => fast |_| Ok((M::now_ns(), 0)),
    SYS_SCHEDCTL => general |a: [u64; 6]| schedctl::schedctl(a[0]).map(|addr| (addr, 0)),
    SYS_LWP_PARK => general |a: [u64; 6]| lwp_park(a[0], a[1]),
    SYS_LWP_UNPARK => fast |a: [u64; 6]| lwp::lwp_unpark(lwp_id(a[0])?).map(none),
    SYS_LWP_MUTEX_TIMEDLOCK => general |a: [u64; 6]| {
        lwp::lwp_mutex_timedlock(a[0], timeout_ticks(a[1])?).map(none)
    },
    SYS_LWP_MUTEX_UNLOCK => general |a: [u64; 6]| lwp::lwp_mutex_unlock(a[0]).map(none),
}

/// A result as the machine returns it.
fn sysret(r: SysResult) -> SysRet {
    match r {
        Ok((r0, r1)) => SysRet { r0, r1, err: 0 },
        Err(e) => SysRet { r0: 0, r1: 0, err: e.code() as u64 },
    }
}

/// A number that is no system call: SIGSYS at the caller (S13), which a handler
/// may catch; the call fails with ENOSYS.
fn nosys(_: [u64; 6]) -> SysResult {
    signal::trapsig(Sig::SYS, SigInfo { si_signo: Sig::SYS.num(), ..SigInfo::default() });
    Err(Errno::ENOSYS)
}

fn none(_: ()) -> (u64, u64) {
    (0, 0)
}

/// A call that a signal may interrupt and that may be restarted (`SA_RESTART`).
fn restartable(r: SysResult) -> SysResult {
    r.map_err(|e| if e == Errno::EINTR { Errno::ERESTART } else { e })
}

/// `_lwp_create(&LwpContext, flags, &mut lwpid)` (S16): the parameters are copied
/// in and checked before anything is created; the new id is written back before
/// the new LWP can run (`lwp_create_user` holds it until then).
fn lwp_create(ctxp: u64, flags: u64, idp: u64) -> SysResult {
    let [pc, stack_top, arg] = copyin_words::<3>(ctxp)?;
    let flags = u32::try_from(flags).ok().and_then(LwpFlags::from_bits).ok_or(Errno::EINVAL)?;
    if pc % 4 != 0
        || pc >= USER_LIMIT
        || stack_top % 16 != 0
        || stack_top > USER_LIMIT
        || stack_top == 0
    {
        return Err(Errno::EINVAL);
    }
    // The id's place must take the id before there is an LWP to lose; should
    // another LWP unmap it meanwhile, the id is lost, not the LWP.
    copyout(idp, &0u32.to_be_bytes())?;
    lwp::lwp_create_user(UserRegs::for_entry(pc, stack_top, arg), flags, |id| {
        let _ = copyout(idp, &id.0.to_be_bytes());
    })?;
    Ok((0, 0))
}

/// `waitid(idtype, id, &mut siginfo, options)` (see `lwp_abi::SYS_WAITID`).
fn waitid(idtype: u64, id: u64, infop: u64, options: u64) -> SysResult {
    let opts = u32::try_from(options).ok().and_then(WaitOpts::from_bits).ok_or(Errno::EINVAL)?;
    let which = match (idtype, u32::try_from(id)) {
        (P_ALL, _) => None,
        (P_PID, Ok(pid)) if pid != 0 => Some(Pid(pid)),
        (P_PID, _) => return Err(Errno::ECHILD),
        _ => return Err(Errno::EINVAL),
    };
    // Checked first: a child is reaped only if it can be reported.
    copyout_words(infop, &[0; signal::wire::SIGINFO_WORDS])?;
    let (pid, status) = proc::life::proc_waitid(which, opts)?;
    if pid.0 != 0 {
        let _ = copyout_words(infop, &signal::wire::siginfo(&signal::cld_info(pid, status)));
    }
    Ok((0, 0))
}

/// The calling LWP's registers, for a `framed` handler called without the trap's.
fn my_frame() -> Result<UserFrame, Errno> {
    curlwp().and_then(|l| l.with_data(|d| d.lwp_regs.share())).ok_or(Errno::EINVAL)
}

/// `execve(path, argv, envp)` (see `exec`) of the LWP whose registers `frame`
/// holds: returns only on failure.
fn execve(frame: &UserFrame, path: u64, argv: u64, envp: u64) -> SysResult {
    crate::exec::execve(frame, path, argv, envp).map(none)
}

/// `forksys(subcode, flags)`: `fork1` (see `fork`) of the LWP whose registers
/// `frame` holds; the child's pid.
fn forksys(frame: &UserFrame, sub: u64, flags: u64) -> SysResult {
    match (sub, flags) {
        (FORK1, 0) => fork::fork1(frame).map(|pid| (u64::from(pid.0), 0)),
        (FORKALL, 0) => fork::forkall(frame).map(|pid| (u64::from(pid.0), 0)),
        _ => Err(Errno::EINVAL),
    }
}

/// `_lwp_wait(lwpid or 0, &mut departed or null)`.
fn lwp_wait(id: u64, departedp: u64) -> SysResult {
    let which = if id == 0 { None } else { Some(lwp_id(id)?) };
    if departedp != 0 {
        // Checked first: a departed LWP is reaped only if its id can be reported.
        copyout(departedp, &0u32.to_be_bytes())?;
    }
    let gone = lwp::lwp_wait(which)?;
    if departedp != 0 {
        copyout(departedp, &gone.0.to_be_bytes())?;
    }
    Ok((0, 0))
}

/// An optional timeout argument: none for a null pointer.
fn timeout_ticks(tsp: u64) -> Result<Option<u64>, Errno> {
    if tsp == 0 {
        Ok(None)
    } else {
        timespec_ticks(tsp).map(Some)
    }
}

/// `nanosleep(&Timespec)`: sleeps at least that long, rounded up to clock ticks;
/// a stop or an exit of the LWP is acted on meanwhile, and a signal it catches
/// ends the sleep with EINTR (never restarted, as POSIX says).
fn nanosleep(tsp: u64) -> SysResult {
    let ticks = timespec_ticks(tsp)?;
    let p = curproc().ok_or(Errno::EINVAL)?;
    // The tick in progress is partly over: it does not count towards the time.
    let deadline = clock::lbolt().saturating_add(ticks).saturating_add(u64::from(ticks > 0));
    loop {
        let now = clock::lbolt();
        if now >= deadline {
            return Ok((0, 0));
        }
        let seen = p.p_holdlwps.snapshot();
        if !p.p_holdlwps.wait_timed(seen, deadline - now) {
            lwp::stop::wait_interrupted()?;
        }
    }
}

/// `_lwp_park(&Timespec or null, lwpid or 0)`: the timeout is read (and refused)
/// before the unpark, so a call that fails does nothing.
fn lwp_park(tsp: u64, unpark: u64) -> SysResult {
    let ticks = timeout_ticks(tsp)?;
    let unpark = if unpark == 0 { None } else { Some(lwp_id(unpark)?) };
    lwp::lwp_park(ticks, unpark).map(none)
}

/// `lwp_times(&mut LwpTimes)` (S5.4, S5.6).
fn lwp_times(tp: u64) -> SysResult {
    let lwp = curlwp().ok_or(Errno::EINVAL)?;
    let p = curproc().ok_or(Errno::EINVAL)?;
    let u = lwp.with_data(|d| d.usage()).ok_or(Errno::EINVAL)?;
    let (putime, pstime) = p.times();
    let hz = u64::from(clock::hz());
    copyout_words(tp, &[u.utime, u.stime, putime, pstime, u.sysc, hz, u.ru.ioch])?;
    Ok((0, 0))
}
