//! [`SimAlloc`]: the host allocator, made safe to call from simulated interrupts, and
//! the simulated machine's kernel heap.
//!
//! Kernel code running in the clock signal handler may allocate. Were the signal to
//! land while the interrupted code was inside the allocator, the handler would
//! re-enter it on the same host thread (deadlock or heap corruption); were the
//! interrupted thread to migrate meanwhile, it would finish the call with the old
//! host thread's allocator caches. Disabling the CPU's simulated interrupts around
//! each call rules both out, and keeps a halt from abandoning a CPU that holds the
//! allocator's lock.
//!
//! What the simulated CPUs allocate is also the simulated machine's *kernel heap*:
//! it is counted against the size the boot gives it ([`super::SimConfig::heap_bytes`]),
//! and an allocation beyond it fails as one on the real machine would, so that the
//! kernel's handling of an empty heap is tested here too. Kernel stacks, which are
//! host mappings, count their nominal size (`charge`). The checks of `crate::kmem`
//! (no allocation under a spin lock, injected failures) apply as on sparc64. What
//! is not the kernel's is not counted: the machine's own allocations (its console,
//! and user memory, which the page pool counts instead: `user::Pool`), and whatever
//! a panicking thread allocates for its report.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};
use std::alloc::System;

use super::percpu::{host_critical, Cpu};
use crate::kmem::{self, HeapStats};

/// `std::alloc::System`, with the calling CPU's simulated interrupts disabled around
/// each call (on host threads that are not simulated CPUs, just `System`).
///
/// Any binary that boots the simulation installs it:
/// `#[global_allocator] static A: arch::sim::SimAlloc = arch::sim::SimAlloc;`
pub struct SimAlloc;

/// The running boot's heap size (0: no boot, nothing counted) and bytes in use by
/// the simulated CPUs. One simulation runs at a time in a process.
static HEAP_TOTAL: AtomicUsize = AtomicUsize::new(0);
static HEAP_USED: AtomicUsize = AtomicUsize::new(0);

/// Starts counting a boot's heap of `total` bytes.
pub(super) fn heap_reset(total: usize) {
    HEAP_USED.store(0, Ordering::SeqCst);
    HEAP_TOTAL.store(total, Ordering::SeqCst);
}

/// The running boot's heap.
pub(super) fn heap_stats() -> HeapStats {
    HeapStats { total: HEAP_TOTAL.load(Ordering::SeqCst), used: HEAP_USED.load(Ordering::SeqCst) }
}

/// Takes `bytes` of the heap for something that is not a heap block (a kernel
/// stack): false, taking nothing, if they are not there.
pub(super) fn charge(bytes: usize) -> bool {
    let total = HEAP_TOTAL.load(Ordering::Relaxed);
    HEAP_USED
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
            used.checked_add(bytes).filter(|&u| total == 0 || u <= total)
        })
        .is_ok()
}

/// Gives back what [`charge`] took (or a freed block).
pub(super) fn uncharge(bytes: usize) {
    let _ = HEAP_USED
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| Some(used.saturating_sub(bytes)));
}

/// Whether a failure injected for the running thread (`kmem::fail_nth`) refuses
/// this allocation, for what the machine allocates outside the heap (a stack).
pub(super) fn refuse_injected() -> bool {
    Cpu::here().is_some_and(|cpu| kmem::inject(cpu.curthread()))
}

/// The checks of an allocation by a simulated CPU: none under a spin lock, an
/// injected failure, the heap's size. `Ok(true)`: admitted and charged to the
/// kernel heap; `Ok(false)`: the machine's own (its console, user memory) or a
/// panic's (the report of a failed assertion, with its backtrace, must get out:
/// refused, it would end in the allocation-error hook, which waits for the
/// backtrace lock the panic holds), not charged; `Err`: refused.
fn admit(cpu: Cpu, layout: Layout) -> Result<bool, ()> {
    if cpu.machine_own() || std::thread::panicking() {
        return Ok(false);
    }
    kmem::check_allowed(cpu.noalloc(), layout, || cpu.set_noalloc(0));
    if kmem::inject(cpu.curthread()) {
        return Err(());
    }
    // Short of memory: the kernel's caches give theirs back, and once more (never
    // under a spin lock that forbids allocation).
    let charged =
        charge(layout.size()) || cpu.noalloc() == 0 && kmem::reclaim() && charge(layout.size());
    if !charged {
        kmem::note_failure(layout, HEAP_USED.load(Ordering::Relaxed));
        return Err(());
    }
    Ok(true)
}

/// Every block carries a header below it that says how many bytes it charged to the
/// kernel heap (0 for a host thread's or the machine's own block), so that freeing
/// it gives back exactly that, on whatever thread it is freed.
const HEADER: usize = 16;

/// The host layout of a block for `layout`, with room for the header, and where the
/// block starts in it.
fn with_header(layout: Layout) -> Option<(Layout, usize)> {
    let offset = layout.align().max(HEADER);
    let host = Layout::from_size_align(layout.size().checked_add(offset)?, offset).ok()?;
    Some((host, offset))
}

/// Allocates a block for `layout` (zeroed or not), charging it if a simulated CPU's
/// kernel code asks.
fn allocate(layout: Layout, zeroed: bool) -> *mut u8 {
    let Some((host, offset)) = with_header(layout) else { return core::ptr::null_mut() };
    let charged = match Cpu::here().map(|cpu| admit(cpu, layout)) {
        Some(Err(())) => return core::ptr::null_mut(),
        Some(Ok(true)) => layout.size(),
        Some(Ok(false)) | None => 0,
    };
    // SAFETY: `host` has a nonzero size (the header); the caller's contract for
    // `alloc` covers the rest.
    let base = host_critical(|| unsafe {
        if zeroed {
            System.alloc_zeroed(host)
        } else {
            System.alloc(host)
        }
    });
    if base.is_null() {
        uncharge(charged);
        return base;
    }
    // SAFETY: the header lies in the block just allocated, `offset` >= 16 bytes below
    // the part handed out, aligned to at least 16.
    unsafe {
        let block = base.add(offset);
        block.sub(HEADER).cast::<usize>().write(charged);
        block
    }
}

// SAFETY: every block comes from `System` with a layout that only adds the header
// below the caller's block and keeps its alignment, and goes back to `System` with
// that same layout; refusing an allocation (null) is allowed by `GlobalAlloc`. The
// one panic, an allocation under a spin lock, is a kernel bug that ends the boot.
unsafe impl GlobalAlloc for SimAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        allocate(layout, false)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        allocate(layout, true)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some((host, offset)) = with_header(layout) else { return };
        // SAFETY: `ptr` came from `allocate` with this layout: its header is just
        // below it and the host block starts `offset` below it.
        unsafe {
            uncharge(ptr.sub(HEADER).cast::<usize>().read());
            let base = ptr.sub(offset);
            host_critical(|| System.dealloc(base, host));
        }
    }
}
