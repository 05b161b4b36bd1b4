//! Sizing the resource controls from the machine (see `rctl`'s theory): what a
//! thread, an LWP and a process cost, and the limits a heap and a page pool allow,
//! put in force at boot.

use core::sync::atomic::Ordering;

use arch::{Machine, PAGE_SIZE};

use super::{set, Limits, STACK_LIMIT, STACK_MAX};
use crate::exec::USER_STACK_SIZE;
use crate::lwp::{Lwp, LwpData};
use crate::proc::Proc;
use crate::thread::{KThread, DEFAULT_STACKSIZE};
use crate::M;

/// What one thread costs at least: its stack and structures.
pub const THREAD_COST: usize = DEFAULT_STACKSIZE + core::mem::size_of::<KThread>();
/// What an LWP costs besides its thread.
pub const LWP_COST: usize = core::mem::size_of::<Lwp>() + core::mem::size_of::<LwpData>() + 64;
/// Threads kept for the kernel's own use out of `max_threads`.
pub const KERNEL_RESERVE: u32 = 16;
/// The pool pages a process needs at least: its initial stack and a few page
/// tables (its program's pages besides).
pub const PROC_PAGES: usize = (USER_STACK_SIZE / PAGE_SIZE) as usize + 8;

/// The limits a heap of `heap` bytes and a pool of `pages` pages allow (see the
/// module comment).
pub fn sized_for(heap: usize, pages: usize) -> Limits {
    let budget = heap / 2;
    let max_threads = u32::try_from(budget / (THREAD_COST + LWP_COST)).unwrap_or(u32::MAX);
    let max_threads = max_threads.max(2 * KERNEL_RESERVE);
    let max_lwps = max_threads - KERNEL_RESERVE.min(max_threads / 4);
    // A process holds at least its structure and one LWP in the heap, and its
    // tables and stack in the pool; what more it maps fails with ENOMEM when the
    // pool cannot give it.
    let proc_cost = core::mem::size_of::<Proc>() + THREAD_COST + LWP_COST;
    let max_procs = (budget / 2 / proc_cost).min(pages / PROC_PAGES);
    let max_procs = u32::try_from(max_procs).unwrap_or(u32::MAX).max(4);
    Limits { max_threads, max_lwps, lwps_per_proc: max_lwps, max_procs }
}

/// How far the main stack may grow in a pool of `pages` pages (see the module
/// comment).
pub fn stack_sized_for(pages: usize) -> u64 {
    let eighth = (pages as u64 / 8) * PAGE_SIZE;
    eighth.clamp(USER_STACK_SIZE, STACK_LIMIT)
}

/// Sets the limits at boot: sized from the machine's heap and page pool, then as
/// the boot arguments say (`arg("max_lwps")` is the value of `max_lwps=N`, if
/// given).
pub fn init(arg: impl Fn(&str) -> Option<u32>) {
    let pages = M::page_stats().total;
    STACK_MAX.store(stack_sized_for(pages), Ordering::Relaxed);
    let mut l = sized_for(M::heap_stats().total, pages);
    l.max_threads = arg("max_threads").unwrap_or(l.max_threads);
    l.max_lwps = arg("max_lwps").unwrap_or(l.max_lwps.min(l.max_threads));
    l.lwps_per_proc = arg("lwps_per_proc").unwrap_or(l.lwps_per_proc.min(l.max_lwps));
    l.max_procs = arg("max_procs").unwrap_or(l.max_procs);
    set(l);
}
