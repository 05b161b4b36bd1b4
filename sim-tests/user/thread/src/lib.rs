//! `lwp-thread`: the thread library of the LWP kernel's user programs (S4, S8, S9,
//! S18), after Solaris' libthread.
//!
//! # What it gives a program
//!
//! * **Threads** ([`create`], [`exit`], [`join`], [`detach`], [`self_id`],
//!   [`yield_now`], per-thread data with [`key_create`], [`set_specific`],
//!   [`get_specific`]): *unbound* threads, multiplexed by the library over a pool
//!   of LWPs (M:N; [`set_concurrency`] says how many LWPs), and *bound* threads
//!   ([`THR_BOUND`]), each on an LWP of its own for its whole life (1:1). The main
//!   thread is unbound, and the LWP that calls [`init`] is the pool's first.
//! * **Synchronization objects** ([`Mutex`], [`Cond`], [`Sema`], [`RwLock`]) for
//!   threads, each made with what a thread does when it is busy — spin, block or
//!   adaptive ([`SyncKind`], S9) — and [`LwpLock`], a mutex owned by an LWP, for
//!   programs that run LWPs of their own.
//!
//! # How (the runtime, sparc64)
//!
//! Creating, switching and ending an unbound thread never enters the kernel (S18):
//! a switch stores the caller's register window and loads the other thread's
//! (a flush for any older window), changes stack pointer and return address, and
//! moves `%g7`, which points at the current thread as in Solaris' libthread
//! (`switch`); the run queue and the free tables are the library's (`sched`). A
//! thread that blocks on a library object either switches to another thread of
//! its LWP, or, bound, parks its LWP (`_lwp_park`); the LWP that leaves the object
//! hands it over and unparks or requeues the waiter. An LWP with nothing to run
//! parks until a thread is made runnable for it. A thread that blocks in the
//! kernel blocks its LWP only; when every LWP of the pool is asleep in the kernel
//! while threads are runnable, the kernel unparks the pool's watchdog, which adds
//! an LWP (`schedctl`'s SIGWAITING stand-in). Adaptive waiters read, in the pages
//! the kernel shares with the process (`schedctl`), whether the owner's LWP is on
//! a CPU, and the library holds its own locks with `sc_nopreempt` set.
//!
//! # The portable half
//!
//! What does not need SPARC is here for every target, unit-tested on the host and
//! model-checked with `loom` (`RUSTFLAGS="--cfg loom" cargo test -p lwp-thread
//! --release loom`): the lock-word protocols ([`lockword`]), the intrusive queues
//! ([`queue`]), the wait/wake protocol ([`wait`]), and the user side of LWP
//! mutexes ([`lwpmutex`]), which the host simulation's user programs run against
//! the real kernel on several CPUs.

#![cfg_attr(not(test), no_std)]
#![cfg_attr(target_arch = "sparc64", feature(asm_experimental_arch))]

pub mod lockword;
pub mod lwpmutex;
pub mod queue;
pub mod wait;

pub use lwpmutex::SyncKind;

#[cfg(target_arch = "sparc64")]
mod rt;
#[cfg(target_arch = "sparc64")]
pub use rt::*;

#[cfg(all(test, loom))]
mod loom_tests;
