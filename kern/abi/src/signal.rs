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
