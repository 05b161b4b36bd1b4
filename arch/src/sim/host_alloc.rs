//! [`SimAlloc`]: the host allocator, made safe to call from simulated interrupts.
//!
//! Kernel code running in the clock signal handler may allocate. Were the signal to
//! land while the interrupted code was inside the allocator, the handler would
//! re-enter it on the same host thread (deadlock or heap corruption); were the
//! interrupted thread to migrate meanwhile, it would finish the call with the old
//! host thread's allocator caches. Disabling the CPU's simulated interrupts around
//! each call rules both out, and keeps a halt from abandoning a CPU that holds the
//! allocator's lock.

use core::alloc::{GlobalAlloc, Layout};
use std::alloc::System;

use super::percpu::host_critical;

/// `std::alloc::System`, with the calling CPU's simulated interrupts disabled around
/// each call (on host threads that are not simulated CPUs, just `System`).
///
/// Any binary that boots the simulation installs it:
/// `#[global_allocator] static A: arch::sim::SimAlloc = arch::sim::SimAlloc;`
pub struct SimAlloc;

// SAFETY: every method forwards to `System` with the same arguments, so `System`'s
// guarantees carry over; the wrapper neither allocates nor unwinds.
unsafe impl GlobalAlloc for SimAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        host_critical(|| unsafe { System.alloc(layout) })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above, for `dealloc`.
        host_critical(|| unsafe { System.dealloc(ptr, layout) })
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above, for `alloc_zeroed`.
        host_critical(|| unsafe { System.alloc_zeroed(layout) })
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above, for `realloc`.
        host_critical(|| unsafe { System.realloc(ptr, layout, new_size) })
    }
}
