//! Tests of the host simulation machine: real stack switches, preemption by the clock
//! signal on one and several CPUs, preempted threads migrating between CPUs, halt,
//! the interrupt flag, the console, and user mode (address spaces, user programs'
//! traps, `copyin`/`copyout`, interrupts in user code).
//!
//! Kernel entry points are plain `fn`s, so each test keeps its state in statics of its
//! own; the simulations themselves are serialised by `run`.
//!
//! One file per subject: [`switch`] (context switches), [`preemption`] (the clock
//! preempts, threads migrate), [`machine`] (interrupt flag, halt, boots, failures),
//! [`seeded`] (the seeded mode) and [`user_mode`]; here the test kernel's threads
//! and what the tests share.

mod machine;
mod preemption;
mod seeded;
mod switch;
mod user_mode;

use core::hint::black_box;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::vec::Vec;

use super::*;
use crate::cell::StaticRef;
use crate::PendingWork;

#[global_allocator]
static ALLOC: SimAlloc = SimAlloc;

/// Deliberately below the simulation's minimum, which rounds it up.
const STACK: usize = 8 * 1024;

/// Generous: only a broken machine comes near it.
const TIMEOUT: Duration = Duration::from_secs(30);

/// These tests never poke a CPU: a cross-call arriving is a bug of the machine.
fn unexpected_poke() {
    panic!("sim: a cross-call arrived that no test sent");
}

/// Tests with no disk: its interrupt is a bug of the machine.
fn unexpected_blk_intr() {
    panic!("sim: a disk interrupt in a test with no disk");
}

/// Tests that run no user code: a trap from user mode is a bug of the machine.
fn unexpected_user_trap(_frame: &UserFrame, why: &crate::UserTrap) {
    panic!("sim: a user trap ({why:?}) in a test that runs no user code");
}

/// The simulation takes no traps of its own: a fatal trap is a bug of the machine.
fn unexpected_fatal_trap(pc: usize, sp: usize) {
    panic!("sim: a fatal trap at pc {pc:#x}, sp {sp:#x}");
}

/// The test kernel's thread: its pending-work word first (`ThreadRegister`).
#[repr(C)]
struct T {
    pending: PendingWork,
    id: usize,
    ctx: Context,
    /// The next thread in a test scheduler's ring.
    next: StaticRef<T>,
    /// How often the thread went round its loop.
    count: AtomicU64,
    /// Events the thread observed (interleavings, migrations).
    seen: AtomicU64,
}

// SAFETY: T is the only ThreadRegister type in this crate's tests, `#[repr(C)]`
// with its pending-work word first.
unsafe impl ThreadRegister for T {}

fn thread(id: usize, entry: ThreadEntry, arg: usize) -> &'static T {
    Box::leak(Box::new(T {
        pending: PendingWork::new(),
        id,
        ctx: Sim::context_new(STACK, entry, arg).expect("a test thread's stack"),
        next: StaticRef::none(),
        count: AtomicU64::new(0),
        seen: AtomicU64::new(0),
    }))
}

/// The calling CPU's boot thread, installed as its current thread.
fn boot_thread(id: usize) -> &'static T {
    let t = Box::leak(Box::new(T {
        pending: PendingWork::new(),
        id,
        ctx: Sim::BOOT_CONTEXT,
        next: StaticRef::none(),
        count: AtomicU64::new(0),
        seen: AtomicU64::new(0),
    }));
    Sim::set_curthread(t);
    t
}

fn me() -> &'static T {
    Sim::curthread::<T>()
}

fn switch_to(to: &'static T) {
    let was = Sim::intr_disable();
    Sim::switch(&me().ctx, &to.ctx, to);
    Sim::intr_restore(was);
}

fn config(ncpus: usize) -> SimConfig {
    SimConfig { timeout: Some(TIMEOUT), ..SimConfig::new(ncpus) }
}

fn seeded(ncpus: usize, seed: u64) -> SimConfig {
    SimConfig { schedule: Schedule::Seeded(seed), ..config(ncpus) }
}

/// Spins until `cond` holds; halts the machine with failure if it takes over `TIMEOUT`
/// (of machine time: virtual in the seeded mode).
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Sim::now_ns();
    while !cond() {
        if Sim::now_ns() - start > TIMEOUT.as_nanos() as u64 {
            Sim::console_write(std::format!("gave up waiting for {what}\n").as_bytes());
            Sim::halt(false);
        }
        Sim::relax();
    }
}
