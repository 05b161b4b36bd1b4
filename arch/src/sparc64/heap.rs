//! The kernel heap behind `alloc`: a `linked_list_allocator` over the memory between
//! the end of the kernel image and the end of the locked kernel window.
//!
//! Allocation runs with interrupts disabled, so an interrupt handler (or a thread
//! switched in by one) can never find the heap lock held by the thread it interrupted.

use core::alloc::{GlobalAlloc, Layout};

use linked_list_allocator::Heap;
use spin::Mutex;

use super::{intr_disable, intr_restore, mmu};

pub struct KernelHeap(Mutex<Heap>);

#[global_allocator]
static HEAP: KernelHeap = KernelHeap(Mutex::new(Heap::empty()));

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

/// (bytes in use, bytes free).
pub fn usage() -> (usize, usize) {
    let was = intr_disable();
    let h = HEAP.0.lock();
    let r = (h.used(), h.free());
    drop(h);
    intr_restore(was);
    r
}

// SAFETY: `Heap` hands out disjoint, suitably aligned blocks and takes them back; the
// mutex with interrupts off serializes every use of it.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let was = intr_disable();
        let p =
            self.0.lock().allocate_first_fit(layout).map_or(core::ptr::null_mut(), |p| p.as_ptr());
        intr_restore(was);
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let was = intr_disable();
        // SAFETY: the caller passes a block this allocator returned, with its layout.
        unsafe { self.0.lock().deallocate(core::ptr::NonNull::new_unchecked(ptr), layout) };
        intr_restore(was);
    }
}
