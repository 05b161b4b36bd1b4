//! Signal numbers: Solaris' (`signal.h(3HEAD)`), so that a wait status or a
//! `siginfo` means to user code what it means on Solaris.
//!
//! Signals are numbered 1 to [`SIGRTMAX`], 72: the 41 named ones, then the
//! real-time signals [`SIGRTMIN`] (42) to [`SIGRTMAX`]. (illumos numbers its last
//! real-time signal 73; this kernel keeps 72 of them in all, [`NSIG`] − 1.) The
//! kernel's signal code (`kern::signal`) says what each one does by default.

/// Hangup.
pub const SIGHUP: u64 = 1;
/// Interrupt (rubout).
pub const SIGINT: u64 = 2;
/// Quit (ASCII FS).
pub const SIGQUIT: u64 = 3;
/// Illegal instruction.
pub const SIGILL: u64 = 4;
/// Trace trap.
pub const SIGTRAP: u64 = 5;
/// Abort (`abort(3C)`).
pub const SIGABRT: u64 = 6;
/// The old name of [`SIGABRT`].
pub const SIGIOT: u64 = SIGABRT;
/// Emulation trap.
pub const SIGEMT: u64 = 7;
/// Arithmetic exception (floating point, integer division by zero).
pub const SIGFPE: u64 = 8;
/// Kill: cannot be caught or ignored.
pub const SIGKILL: u64 = 9;
/// Bus error (a misaligned access).
pub const SIGBUS: u64 = 10;
/// Segmentation violation (an access the address space does not allow).
pub const SIGSEGV: u64 = 11;
/// Bad system call.
pub const SIGSYS: u64 = 12;
/// Write on a pipe nobody reads.
pub const SIGPIPE: u64 = 13;
/// Alarm clock.
pub const SIGALRM: u64 = 14;
/// Software termination.
pub const SIGTERM: u64 = 15;
/// User signal 1.
pub const SIGUSR1: u64 = 16;
/// User signal 2.
pub const SIGUSR2: u64 = 17;
/// A child's status changed.
pub const SIGCHLD: u64 = 18;
/// The old name of [`SIGCHLD`].
pub const SIGCLD: u64 = SIGCHLD;
/// Power failure, or restart after it.
pub const SIGPWR: u64 = 19;
/// The window size changed.
pub const SIGWINCH: u64 = 20;
/// Urgent condition on a socket.
pub const SIGURG: u64 = 21;
/// Pollable event.
pub const SIGPOLL: u64 = 22;
/// Another name of [`SIGPOLL`]: input or output possible.
pub const SIGIO: u64 = SIGPOLL;
/// Stop: cannot be caught or ignored.
pub const SIGSTOP: u64 = 23;
/// Stop from the terminal.
pub const SIGTSTP: u64 = 24;
/// Continue a stopped process.
pub const SIGCONT: u64 = 25;
/// Background read from the terminal.
pub const SIGTTIN: u64 = 26;
/// Background write to the terminal.
pub const SIGTTOU: u64 = 27;
/// Virtual timer expired.
pub const SIGVTALRM: u64 = 28;
/// Profiling timer expired.
pub const SIGPROF: u64 = 29;
/// CPU time limit exceeded.
pub const SIGXCPU: u64 = 30;
/// File size limit exceeded.
pub const SIGXFSZ: u64 = 31;
/// Reserved (the thread library no longer uses it).
pub const SIGWAITING: u64 = 32;
/// Reserved (the thread library no longer uses it).
pub const SIGLWP: u64 = 33;
/// Checkpoint freeze.
pub const SIGFREEZE: u64 = 34;
/// Checkpoint thaw.
pub const SIGTHAW: u64 = 35;
/// Reserved for thread cancellation.
pub const SIGCANCEL: u64 = 36;
/// A resource was lost (a record lock, say).
pub const SIGLOST: u64 = 37;
/// A resource control was exceeded.
pub const SIGXRES: u64 = 38;
/// Reserved for the Java virtual machine.
pub const SIGJVM1: u64 = 39;
/// Reserved for the Java virtual machine.
pub const SIGJVM2: u64 = 40;
/// Information request.
pub const SIGINFO: u64 = 41;
/// The first (highest-priority) real-time signal.
pub const SIGRTMIN: u64 = 42;
/// The last (lowest-priority) real-time signal.
pub const SIGRTMAX: u64 = 72;
/// One more than the highest signal number: signals are `1..NSIG`.
pub const NSIG: u64 = SIGRTMAX + 1;

// ---- Dispositions, masks and what a handler is given (Solaris' values) ----------

/// `sa_handler` of the default action.
pub const SIG_DFL: u64 = 0;
/// `sa_handler` that ignores the signal.
pub const SIG_IGN: u64 = 1;

/// `sa_flags`: run the handler on the LWP's alternate stack, if it has one (S12).
pub const SA_ONSTACK: u32 = 0x1;
/// `sa_flags`: the disposition goes back to `SIG_DFL` as the handler is entered.
pub const SA_RESETHAND: u32 = 0x2;
/// `sa_flags`: a system call the signal interrupts is restarted, not failed with EINTR.
pub const SA_RESTART: u32 = 0x4;
/// `sa_flags`: the handler is given the signal's `siginfo_t` (else a null pointer).
pub const SA_SIGINFO: u32 = 0x8;
/// `sa_flags`: the signal is not added to the mask while its handler runs.
pub const SA_NODEFER: u32 = 0x10;
/// `sa_flags` of SIGCHLD: children leave no zombie when they exit.
pub const SA_NOCLDWAIT: u32 = 0x1_0000;
/// `sa_flags` of SIGCHLD: no SIGCHLD when a child stops or continues.
pub const SA_NOCLDSTOP: u32 = 0x2_0000;

/// `sigprocmask`'s `how`: add the set to the mask, take it out, or make it the mask.
pub const SIG_BLOCK: u64 = 1;
pub const SIG_UNBLOCK: u64 = 2;
pub const SIG_SETMASK: u64 = 3;

/// `ss_flags`: the LWP runs on its alternate stack now (reported, never set).
pub const SS_ONSTACK: u32 = 1;
/// `ss_flags`: the LWP has no alternate stack.
pub const SS_DISABLE: u32 = 2;
/// The smallest alternate stack `sigaltstack` accepts, and a comfortable size.
pub const MINSIGSTKSZ: u64 = 2048;
pub const SIGSTKSZ: u64 = 8192;

/// `si_code` of a signal sent by user code (`siginfo.h`): `kill`, `_lwp_kill`,
/// `sigqueue`, and timers, whose siginfo says nothing more.
pub const SI_USER: i32 = 0;
pub const SI_LWP: i32 = -1;
pub const SI_QUEUE: i32 = -2;
pub const SI_NOINFO: i32 = 32767;
/// `si_code` of the trap signals (`<sys/machsig.h>`).
pub const ILL_ILLOPC: i32 = 1;
pub const ILL_ILLTRP: i32 = 4;
pub const ILL_PRVOPC: i32 = 5;
pub const FPE_INTDIV: i32 = 1;
pub const FPE_FLTDIV: i32 = 3;
pub const FPE_FLTOVF: i32 = 4;
pub const FPE_FLTUND: i32 = 5;
pub const FPE_FLTRES: i32 = 6;
pub const FPE_FLTINV: i32 = 7;
pub const TRAP_BRKPT: i32 = 1;
pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;
pub const BUS_ADRALN: i32 = 1;
/// `si_code` of SIGCHLD: what happened to the child.
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;
pub const CLD_DUMPED: i32 = 3;
pub const CLD_STOPPED: i32 = 5;
pub const CLD_CONTINUED: i32 = 6;

/// `sigpending`'s subcodes (Solaris' `SYS_sigpending`).
pub const SIGPENDING: u64 = 1;
pub const SIGFILLSET: u64 = 2;
/// `SYS_context`'s subcodes.
pub const GETCONTEXT: u64 = 0;
pub const SETCONTEXT: u64 = 1;

/// Interval timers (`setitimer`): real time (SIGALRM, the process's), the LWP's
/// user time (SIGVTALRM) and its user and system time (SIGPROF).
pub const ITIMER_REAL: u64 = 0;
pub const ITIMER_VIRTUAL: u64 = 1;
pub const ITIMER_PROF: u64 = 2;

/// A set of signals (`sigset_t`): signal `n` is bit `(n - 1) % 32` of word
/// `(n - 1) / 32`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SigSet {
    pub sigbits: [u32; 4],
}

impl SigSet {
    pub const EMPTY: SigSet = SigSet { sigbits: [0; 4] };

    /// The set of the signals listed.
    pub const fn of(sigs: &[u64]) -> SigSet {
        let mut s = SigSet::EMPTY;
        let mut i = 0;
        while i < sigs.len() {
            s = s.with(sigs[i]);
            i += 1;
        }
        s
    }

    /// This set and signal `sig` (`1..NSIG`; others are left out).
    pub const fn with(mut self, sig: u64) -> SigSet {
        if sig >= 1 && sig < NSIG {
            self.sigbits[((sig - 1) / 32) as usize] |= 1 << ((sig - 1) % 32);
        }
        self
    }

    pub const fn contains(&self, sig: u64) -> bool {
        sig >= 1
            && sig < NSIG
            && self.sigbits[((sig - 1) / 32) as usize] & 1 << ((sig - 1) % 32) != 0
    }
}

/// What a process does with a signal (`struct sigaction`, 64-bit layout): the
/// flags, the handler (or `SIG_DFL`, `SIG_IGN`), and the signals added to the
/// mask while the handler runs.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SigAction {
    pub sa_flags: u32,
    pub sa_pad: u32,
    pub sa_handler: u64,
    pub sa_mask: SigSet,
}

/// An alternate signal stack (`stack_t`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StackT {
    pub ss_sp: u64,
    pub ss_size: u64,
    pub ss_flags: u32,
    pub ss_pad: u32,
}

/// What a signal is about (this kernel's `siginfo_t`: Solaris' fields, without
/// its unions): who sent it (`si_pid`, a process, never an LWP: S15), the
/// faulting address of a trap, the value of `sigqueue`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SigInfoT {
    pub si_signo: i32,
    pub si_code: i32,
    pub si_errno: i32,
    pub si_pad: i32,
    pub si_pid: i32,
    pub si_uid: i32,
    pub si_addr: u64,
    pub si_value: u64,
}

/// Registers of a `ucontext_t` (Solaris' SPARC V9 `gregset_t`, indices as
/// `arch::reg`): `%ccr`, `%pc`, `%npc`, `%y`, `%g1`..`%g7`, `%o0`..`%o7`, `%asi`,
/// `%fprs`.
pub const NGREG: usize = 21;

/// The floating-point registers of a context (Solaris' SPARC V9 `fpregset_t`, less
/// its queue, which V9 has none of): the 32 double registers (`%f0`, `%f2`, ...
/// `%f62`, each the pair of two single ones), `%fsr`, and whether the LWP uses the
/// FPU at all (`fpu_en`: 0, and the rest means nothing).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FpRegSet {
    pub fpu_dregs: [u64; 32],
    pub fpu_fsr: u64,
    pub fpu_en: u64,
}

/// The machine context: the registers (the register windows are on the stack,
/// flushed there before the context was saved), and the FP registers if
/// `uc_flags` has `UC_FPU`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MContext {
    pub gregs: [u64; NGREG],
    /// Windows that could not be written to the stack when the context was
    /// saved (a [`GWindows`] in the signal frame), or 0 for none: on SPARC a
    /// handler for a stack overflow finds here the windows its stack refused, and
    /// `setcontext` puts them back to be written out when the context resumes.
    pub gwins: u64,
    pub fpregs: FpRegSet,
}

/// What a SPARC V9 stack pointer is below the save area it points at (Solaris'
/// `STACK_BIAS`, `<sys/stack.h>`): `%sp + STACK_BIAS` is the address.
pub const STACK_BIAS: u64 = 2047;

/// The most windows a [`GWindows`] holds (Solaris' `SPARC_MAXREGWINDOW`).
pub const SPARC_MAXREGWINDOW: usize = 31;

/// A register window as it lies in its save area (`struct rwindow64`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RWindow {
    pub rw_local: [u64; 8],
    pub rw_in: [u64; 8],
}

/// Windows that could not be written to their stack (`gwindows64_t`): the first
/// `wbcnt` of `wbuf`, each to go to the save area at `spbuf[i]` (a biased stack
/// pointer). Only those are written in a signal frame; the rest means nothing.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GWindows {
    pub wbcnt: i32,
    pub _pad: i32,
    pub spbuf: [u64; SPARC_MAXREGWINDOW],
    pub wbuf: [RWindow; SPARC_MAXREGWINDOW],
}

/// `uc_flags`: which parts of a `ucontext_t` hold something (Solaris' values):
/// the signal mask, the stack, the registers, the FP registers.
pub const UC_SIGMASK: u64 = 0x1;
pub const UC_STACK: u64 = 0x2;
pub const UC_CPU: u64 = 0x4;
pub const UC_FPU: u64 = 0x8;

/// A user context (`ucontext_t`): what a signal handler is given and what
/// `setcontext` resumes — the registers, the signal mask to restore, the stack.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UContext {
    pub uc_flags: u64,
    pub uc_link: u64,
    pub uc_sigmask: SigSet,
    pub uc_stack: StackT,
    pub uc_mcontext: MContext,
}

/// A time in seconds and microseconds (`struct timeval`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeval {
    pub tv_sec: i64,
    pub tv_usec: i64,
}

/// An interval timer (`struct itimerval`): the reload value, then the time left.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ITimerVal {
    pub it_interval: Timeval,
    pub it_value: Timeval,
}
