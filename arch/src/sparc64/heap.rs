//! The kernel heap behind `alloc`: a `linked_list_allocator` over the memory between
//! the end of the kernel image and the end of the locked kernel window.
//!
//! Allocation runs with interrupts disabled, so an interrupt handler (or a thread
//! switched in by one) can never find the heap lock held by the thread it interrupted.
//! Each allocation also passes the checks of [`crate::kmem`]: none while a spin lock
//! that forbids it is held (debug builds), and failures injected by a test; and a
//! heap that is short asks the kernel's caches to give memory back before it fails.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicU32, Ordering};

use linked_list_allocator::Heap;
use spin::Mutex;

use super::{curthread_raw, intr_disable, intr_restore, mmu};
use crate::kmem::{self, HeapStats};

/// The global allocator: a first-fit linked-list heap behind a spin lock, used with
/// interrupts off (see the module comment).
pub struct KernelHeap(Mutex<Heap>);

#[global_allocator]
static HEAP: KernelHeap = KernelHeap(Mutex::new(Heap::empty()));

/// Spin locks held on this (the one) CPU that forbid allocation (`kmem`). Changed
/// only with interrupts off, by the CPU itself.
static NOALLOC: AtomicU32 = AtomicU32::new(0);

extern "C" {
    /// The first byte after the kernel image (linker script).
    static _end: u8;
}

/// Hands the memory after the image to the allocator.
pub fn init() {
    // SAFETY: only the address of the linker symbol is taken.
    let start = (unsafe { &_end as *const u8 as u64 } + 15) & !15;
    let size = mmu::KERNEL_END - start;
    // SAFETY: [start, KERNEL_END) is RAM mapped by the locked kernel entries that no
    // part of the image, no stack and no device uses; it is given to the heap once.
    unsafe { HEAP.0.lock().init(start as *mut u8, size as usize) };
}

/// The heap's size and use.
pub fn stats() -> HeapStats {
    let was = intr_disable();
    let h = HEAP.0.lock();
    let r = HeapStats { total: h.size(), used: h.used() };
    drop(h);
    intr_restore(was);
    r
}

/// A spin lock that forbids allocation is taken (`forbid`) or dropped.
#[inline(always)]
pub fn alloc_forbid(forbid: bool) {
    if cfg!(debug_assertions) {
        let n = NOALLOC.load(Ordering::Relaxed);
        NOALLOC.store(if forbid { n + 1 } else { n.saturating_sub(1) }, Ordering::Relaxed);
    }
}

impl KernelHeap {
    /// A block for `layout` from the heap, or null (noted for the panic report).
    fn first_fit(&self, layout: Layout) -> *mut u8 {
        let was = intr_disable();
        let mut heap = self.0.lock();
        let p = heap.allocate_first_fit(layout).map_or(core::ptr::null_mut(), |p| p.as_ptr());
        if p.is_null() {
            kmem::note_failure(layout, heap.used());
        }
        drop(heap);
        intr_restore(was);
        p
    }
}

// SAFETY: `Heap` hands out disjoint, suitably aligned blocks and takes them back; the
// mutex with interrupts off serializes every use of it.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        kmem::check_allowed(NOALLOC.load(Ordering::Relaxed), layout, || {
            NOALLOC.store(0, Ordering::Relaxed)
        });
        if kmem::inject(curthread_raw()) {
            return core::ptr::null_mut();
        }
        let p = self.first_fit(layout);
        // Short of memory: the kernel's caches give theirs back, and once more.
        if p.is_null() && NOALLOC.load(Ordering::Relaxed) == 0 && kmem::reclaim() {
            return self.first_fit(layout);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let was = intr_disable();
        // SAFETY: the caller passes a block this allocator returned, with its layout.
        unsafe { self.0.lock().deallocate(core::ptr::NonNull::new_unchecked(ptr), layout) };
        intr_restore(was);
    }
}
