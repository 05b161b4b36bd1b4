//! The portable kernel of the Solaris/SVR4 light-weight-process model.
//!
//! Everything here is safe Rust without a single SPARC instruction: it reaches the
//! machine only through [`arch::Machine`] (the current-thread register, context
//! switch, interrupts, clock, console), so the same source runs in QEMU on sparc64
//! and on the host simulation machine (S19).
//!
//! One concept per module:
//! [`thread`] kernel threads (S2, S6, S7), [`lwp`] and [`proc`] the LWP and the
//! process a thread may carry and their life cycles (S1, S3, S5, S15), [`cred`] a
//! process's credentials, [`file`](mod@file) its descriptors and open files and
//! [`pipe`] pipes (S1), [`priocntl`] LWPs' classes and the TS table from user mode
//! (S3), [`errno`] error numbers (S16), [`exec`] the ELF loader that starts user
//! processes (S1, S16), [`cpu`] per-CPU data, [`disp`] the dispatcher and [`class`]
//! its scheduling classes, [`displock`] the lowest-level lock, [`sleepq`] sleep and
//! wakeup, [`sync`] the synchronization objects (mutexes, condition variables,
//! semaphores, reader-writer locks, turnstiles: S8, S9), [`clock`] the clock tick
//! and [`callout`] timed calls, [`console`] kernel output, [`syscall`] system calls
//! and every entry from user mode (S13, S16), [`signal`] signals: dispositions,
//! masks, sending, taking, handlers, interval timers (S10–S15), [`rusage`] resource
//! usage, `getrusage` and `profil` (S5.4), [`schedctl`] the pages shared with a
//! thread library and its all-LWPs-blocked notification (S4, S9), [`vm`] a
//! process's address-space layout: anonymous memory and the growing stack (S1,
//! S16), [`swap`] the swap device and the swapper that moves `lwp` structures out
//! and back in (S5, S6, S2), [`boot`] the kernel's `main`, [`kmdb`] the kernel's
//! debugger (its console, and the dump a panic prints).
//!
//! # Layers
//!
//! The modules stack as the illumos headers and sources do, from the bottom:
//!
//! 1. what needs nothing of the kernel: the tick counters ([`clock`]), the lowest
//!    lock ([`displock`]), error numbers, [`console`], the callout table
//!    ([`callout`]: a sleep timeout ends a `callout::Sleeper`), the limits in
//!    force ([`rctl`]), and the part of each subsystem that a thread carries —
//!    `disp::tstate`, `sleepq::tstate`, `sync::tstate`, `schedctl::tstate`,
//!    `swap::tstate`, `lwp::tstate`, `class::table`, `signal::data` — each kept by
//!    its module, below the structure that holds it;
//! 2. the thread structure ([`thread`]), the per-CPU data and dispatch queues
//!    ([`cpu`], [`dispq`]) and the classes' policy ([`class`]);
//! 3. the dispatcher ([`disp`]), then what blocks through it: [`sleepq`] and
//!    [`sync`]; a kernel thread's life (`thread::life`) above them. The two
//!    calls the dispatcher and the sleep queues make upwards (to the swapper, to
//!    schedctl's pool counts) are set at boot (`disp::set_swapin`,
//!    `sleepq::set_pool_watch`);
//! 4. the process structure and table ([`proc`]) with what a process holds, each
//!    in a file of its owner's: its LWPs' handles, `lwp` structures and directory
//!    (`lwp::handle`, `lwp::data`, `lwp::dir`, `lwp::event`), `cred::pstate`,
//!    `file::pstate`, `pipe::ring`, `vm::pstate`, `schedctl::pstate`,
//!    `rusage::pstate`; and how a call reaches user memory (`syscall::uaccess`);
//! 5. what is done with them, from the bottom up: the caches and the census of
//!    the kernel's memory (`lwp::cache`, [`kmem`]), [`vm`], [`cred`],
//!    [`schedctl`], [`rusage`]; the swapper ([`swap`]), which moves `lwp`
//!    structures out and back; an LWP's life ([`lwp`]: made, asking the swapper
//!    for room; stopped at its stop points, `lwp::stop`, which every
//!    interruptible wait goes through; ended); the process's resources whose
//!    calls wait so, [`pipe`] and [`file`](mod@file); and above them all a
//!    process's life (`proc::life`). Two calls run upwards here, set at boot as
//!    those of floor 3 are: the last LWP of a process to exit makes the process
//!    a zombie (`lwp::set_proc_zombie`: a stop point may end an LWP, so every wait
//!    below a process's life may end the process), and the swapper ends a
//!    process whose LWP's structure it cannot read back (`swap::set_proc_kill`);
//! 6. what user mode asks of them: [`signal`], [`exec`], [`fork`], [`priocntl`],
//!    [`syscall`]; and [`boot`], [`kmdb`] on top.
//!
//! One knot remains, where the model itself ties things both ways: the thread,
//! LWP and process structures name one another (a thread its LWP and process, a
//! process its LWPs' threads), as `thread.h`, `klwp.h` and `proc.h` do, which ties
//! floors 2–4 into one loop of imports.
//!
//! The self-tests and benchmarks are not part of it: they are the crate
//! `kern-selftest` (`sim-tests/selftest`); the kernel image and the host tests tell
//! [`boot::main`] to run them. Nor are its unit tests and the `loom` model checks of
//! its lock words: they are the crate `kern-unit` (`sim-tests/kern-unit`), which
//! tests it from outside, through what is public here.

#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]
// The documentation is read with the private items (`cargo doc --document-private-items`):
// a module's theory links the private functions it explains.
#![allow(rustdoc::private_intra_doc_links)]

extern crate alloc;

/// `debug_assert!` whose check is compiled only into debug builds: a release build
/// has none of it, not even dead code for the optimizer to weigh.
macro_rules! debug_check {
    ($($arg:tt)*) => {
        #[cfg(debug_assertions)]
        {
            assert!($($arg)*);
        }
    };
}

pub mod boot;
pub mod callout;
pub mod class;
pub mod clock;
pub mod console;
pub mod cpu;
pub mod cred;
pub mod disp;
pub mod displock;
pub mod dispq;
pub mod exec;
pub mod file;
pub mod fork;
pub mod kmdb;
pub mod kmem;
pub mod lwp;
pub mod pipe;
pub mod priocntl;
pub mod proc;
pub mod rctl;
pub mod rusage;
pub mod schedctl;
pub mod signal;
pub mod sleepq;
pub mod swap;
pub mod sync;
pub mod syscall;
pub mod thread;
pub mod tick;
pub mod vm;

/// Error numbers (S16): the system-call ABI's ([`lwp_abi::errno`]), which user
/// code sees unchanged.
pub use lwp_abi::errno;

/// The machine this build runs on.
pub use arch::M;
