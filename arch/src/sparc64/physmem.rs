//! The physical page pool: all the RAM the machine has beyond the kernel's own
//! window, for user memory (S16), and the kernel's way to reach it.
//!
//! # Theory
//!
//! The kernel keeps two kinds of memory apart. Its own objects (threads, LWPs,
//! processes, kernel stacks, buffers) live in the heap (`heap`), inside the locked
//! kernel window, mapped virtual = physical (`mmu`), and are reached with ordinary
//! loads and stores. Everything a user address space holds comes from this pool:
//! its pages, the pages it shares with the kernel (schedctl), the page tables that
//! map them, a `fork` child's tables and the copies of the pages it shares once
//! one side writes them (`vm`'s copy-on-write). The pool is the rest of
//! RAM, as much as QEMU's `-m` gives: what OpenBIOS lists in the `available`
//! property of its `/memory` node, less the kernel window, and less physical page
//! 0 (0 means "none" in a table entry and ends the free list).
//!
//! The kernel does not map pool pages. It reaches them by physical address through
//! the MMU-bypass ASI (`ASI_PHYS_USE_EC`, 0x14): zeroing and copying pages, loading
//! a program, reading and writing page tables. The MMU-miss vectors walk the tables
//! the same way (`trap`'s `WALK`), at any trap level, with no TLB entry needed. So
//! the size of RAM changes nothing in the kernel's own mappings (three locked 4 MiB
//! entries, whatever `-m` is); user mode reaches the pages through its own TTEs
//! (`vm`).
//!
//! Why the page tables are here and not in the heap: how many there are follows
//! what user code maps (an 8 KiB leaf table per 8 MiB of address space it touches),
//! so in the heap a program mapping sparse pages could take the memory the kernel
//! needs for its threads. In the pool it takes only user memory, and its `mmap`
//! fails with ENOMEM.
//!
//! The allocator is two O(1) parts under one spin lock, taken with interrupts off
//! (one CPU: nothing else can hold it): a cursor that hands out the ranges' pages in
//! order, so that boot touches none of them, and a list of freed pages linked
//! through the pages themselves (a free page's first doubleword holds the next
//! one's address, written through the bypass ASI), taken first. A page comes out
//! with whatever it held; [`alloc_zeroed`] clears it, 128 bytes a round. A test may
//! refuse a page as it refuses a heap block (`kmem::fail_nth`), so that every
//! path that takes pages is walked with each of them missing.
//!
//! Pages a `fork` shares (`vm`'s copy-on-write) are counted: a table of one 32-bit
//! word per page frame of the pool's span, made at boot from the pool's own pages
//! (the last pages of its largest range) and reached by physical address like
//! everything here, holds how many owners a page has *beyond the first*. A page
//! comes out of the pool with 0 there (every page the pool hands out had its count
//! back at 0 when it was freed), so taking and freeing pages costs nothing more;
//! [`share`] adds an owner, [`release`] takes one away and frees the page with its
//! last. Counts change under the pool's lock: two spaces that share a page hold
//! two different locks of their own.
//!
//! Caches: QEMU models none, and the kernel does nothing for them. On a real
//! UltraSPARC-IIi the bypass accesses are cacheable in the E-cache only, and the
//! D-cache is indexed by virtual address: a port to hardware would flush a page's
//! D-cache lines when a user mapping lets it go (as Solaris' `sfmmu` does), so that
//! the bypass stores that clear it for its next owner are not hidden behind stale
//! lines.

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use spin::Mutex;

use super::{curthread_raw, intr_disable, intr_restore, mmu, prom};
use crate::kmem::{self, PageStats};
use crate::PAGE_SIZE;

/// At most this many ranges of RAM (OpenBIOS lists one or two).
const MAX_RANGES: usize = 16;

/// The pool: its ranges, the cursor and the free list.
struct Pool {
    /// `[start, end)` page-aligned physical ranges, in the order they are handed out.
    ranges: [(u64, u64); MAX_RANGES],
    nranges: usize,
    /// The range the cursor is in, and its next page never handed out.
    at: usize,
    next: u64,
    /// The first freed page (0: none).
    head: u64,
}

/// The share counts' table (its physical address, 0 before `init`) and the first
/// page frame it counts (the lowest address of the pool's ranges).
static COUNTS: AtomicU64 = AtomicU64::new(0);
static COUNTS_BASE: AtomicU64 = AtomicU64::new(0);

/// Pages free (on the list or beyond the cursor), and pages in all: changed under
/// the pool's lock, read without it.
static FREE: AtomicUsize = AtomicUsize::new(0);
static TOTAL: AtomicUsize = AtomicUsize::new(0);

/// Adds `delta` to a count, under the pool's lock (its one writer: a load and a
/// store, no atomic add).
fn counted(count: &AtomicUsize, delta: isize) {
    count.store(count.load(Ordering::Relaxed).wrapping_add_signed(delta), Ordering::Relaxed);
}

static POOL: Mutex<Pool> =
    Mutex::new(Pool { ranges: [(0, 0); MAX_RANGES], nranges: 0, at: 0, next: 0, head: 0 });

impl Pool {
    /// Adds the pages of `[start, end)`, less the kernel window and page 0.
    fn add(&mut self, start: u64, end: u64) {
        let start = start.next_multiple_of(PAGE_SIZE).max(PAGE_SIZE);
        let end = end & !(PAGE_SIZE - 1);
        for (s, e) in [(start, end.min(mmu::KERNEL_BASE)), (start.max(mmu::KERNEL_END), end)] {
            if s < e && self.nranges < MAX_RANGES {
                self.ranges[self.nranges] = (s, e);
                self.nranges += 1;
                let pages = ((e - s) / PAGE_SIZE) as usize;
                counted(&FREE, pages as isize);
                counted(&TOTAL, pages as isize);
            }
        }
    }

    fn take(&mut self) -> Option<u64> {
        if self.head != 0 {
            let pa = self.head;
            self.head = load(pa);
            counted(&FREE, -1);
            return Some(pa);
        }
        while self.at < self.nranges {
            if self.next < self.ranges[self.at].1 {
                let pa = self.next;
                self.next += PAGE_SIZE;
                counted(&FREE, -1);
                return Some(pa);
            }
            self.at += 1;
            self.next = self.ranges[self.at.min(MAX_RANGES - 1)].0;
        }
        None
    }

    /// Makes the share counts' table: one word per page frame from the lowest
    /// range's start to the highest range's end, taken off the end of the largest
    /// range and zeroed. Without room for it the pool stays empty.
    fn make_counts(&mut self) {
        let ranges = &mut self.ranges[..self.nranges];
        let (Some(lo), Some(hi)) =
            (ranges.iter().map(|r| r.0).min(), ranges.iter().map(|r| r.1).max())
        else {
            return;
        };
        let bytes = ((hi - lo) / PAGE_SIZE * 4).next_multiple_of(PAGE_SIZE);
        let Some(big) = ranges.iter_mut().max_by_key(|r| r.1 - r.0) else { return };
        if big.1 - big.0 < bytes {
            counted(&FREE, -(FREE.load(Ordering::Relaxed) as isize));
            counted(&TOTAL, -(TOTAL.load(Ordering::Relaxed) as isize));
            self.nranges = 0;
            return;
        }
        big.1 -= bytes;
        let table = big.1;
        for page in (table..table + bytes).step_by(PAGE_SIZE as usize) {
            // SAFETY: a whole page of RAM just taken out of the pool's ranges:
            // nothing else references it, now or later.
            unsafe { sparc64_zero_page(page) };
        }
        let pages = (bytes / PAGE_SIZE) as isize;
        counted(&FREE, -pages);
        counted(&TOTAL, -pages);
        COUNTS_BASE.store(lo, Ordering::Relaxed);
        COUNTS.store(table, Ordering::Relaxed);
    }

    fn give(&mut self, pa: u64) {
        store(pa, self.head);
        self.head = pa;
        counted(&FREE, 1);
    }
}

/// Makes the pool from OpenBIOS's `/memory` `available` property (while its client
/// interface works, before the kernel's trap table is installed). Without the
/// property the pool stays empty: user programs then get ENOMEM.
pub fn init() {
    let cells_of = |prop| prom::root().and_then(|r| r.cell(prop)).unwrap_or(2) as usize;
    let (acells, scells) = (cells_of(c"#address-cells"), cells_of(c"#size-cells"));
    let mut cells = [0u32; 64];
    let n =
        prom::finddevice(c"/memory").and_then(|m| m.cells(c"available", &mut cells)).unwrap_or(0);
    let number = |c: &[u32]| c.iter().fold(0u64, |v, &c| v << 32 | u64::from(c));
    let mut pool = POOL.lock();
    if !(1..=2).contains(&acells) || !(1..=2).contains(&scells) {
        return;
    }
    for entry in cells[..n].chunks_exact(acells + scells) {
        let (base, size) = (number(&entry[..acells]), number(&entry[acells..]));
        pool.add(base, base.saturating_add(size));
    }
    pool.next = pool.ranges[0].0;
    pool.make_counts();
}

/// A page of the pool, holding whatever it held; `None` if the pool is empty (or
/// a test refuses this allocation: `kmem::fail_nth`).
pub fn alloc() -> Option<u64> {
    if kmem::inject(curthread_raw()) {
        return None;
    }
    let was = intr_disable();
    let pa = POOL.lock().take();
    intr_restore(was);
    pa
}

/// A page of the pool, zeroed; `None` if the pool is empty.
pub fn alloc_zeroed() -> Option<u64> {
    let pa = alloc()?;
    // SAFETY: a whole, aligned page of RAM that the pool just handed out: nothing
    // else references it.
    unsafe { sparc64_zero_page(pa) };
    Some(pa)
}

/// Gives page `pa` back to the pool. It must have come from [`alloc`] and be
/// referenced by nothing any more (no table entry, no TLB entry).
pub fn free(pa: u64) {
    let was = intr_disable();
    POOL.lock().give(pa);
    intr_restore(was);
}

/// The physical address of page `pa`'s share count.
fn count_of(pa: u64) -> u64 {
    COUNTS.load(Ordering::Relaxed) + (pa - COUNTS_BASE.load(Ordering::Relaxed)) / PAGE_SIZE * 4
}

/// Adds an owner to page `pa` (a page of the pool its caller owns).
pub fn share(pa: u64) {
    let was = intr_disable();
    let pool = POOL.lock();
    store32(count_of(pa), load32(count_of(pa)) + 1);
    drop(pool);
    intr_restore(was);
}

/// Whether page `pa` has owners besides its caller (a snapshot: only its caller
/// may add one, but another owner may let it go meanwhile).
pub fn is_shared(pa: u64) -> bool {
    load32(count_of(pa)) != 0
}

/// Takes an owner away from page `pa`: the last one gives it back to the pool. It
/// must be referenced by nothing of its caller's any more (no table entry, no TLB
/// entry).
pub fn release(pa: u64) {
    let was = intr_disable();
    let mut pool = POOL.lock();
    match load32(count_of(pa)) {
        0 => pool.give(pa),
        n => store32(count_of(pa), n - 1),
    }
    drop(pool);
    intr_restore(was);
}

/// The pool's figures (`Machine::page_stats`), read without the lock: the free
/// count is a snapshot, as any is once read.
pub fn stats() -> PageStats {
    PageStats { total: TOTAL.load(Ordering::Relaxed), free: FREE.load(Ordering::Relaxed) }
}

/// The doubleword at physical address `pa` (8-aligned, in a pool page).
#[inline(always)]
pub fn load(pa: u64) -> u64 {
    let v: u64;
    // SAFETY: a load through the bypass ASI from RAM the pool owns: it has no side
    // effect and cannot fault.
    unsafe { asm!("ldxa [{pa}] 0x14, {v}", pa = in(reg) pa, v = out(reg) v, options(nostack)) };
    v
}

/// Stores `v` at physical address `pa` (8-aligned, in a pool page).
#[inline(always)]
pub fn store(pa: u64, v: u64) {
    // SAFETY: a store through the bypass ASI to a pool page its caller owns (a table
    // of its space, a page being freed): no Rust object lives there.
    unsafe { asm!("stxa {v}, [{pa}] 0x14", pa = in(reg) pa, v = in(reg) v, options(nostack)) };
}

/// The 32-bit word at physical address `pa` (4-aligned, in a pool page).
#[inline(always)]
pub fn load32(pa: u64) -> u32 {
    let v: u32;
    // SAFETY: as in `load`.
    unsafe { asm!("lduwa [{pa}] 0x14, {v}", pa = in(reg) pa, v = out(reg) v, options(nostack)) };
    v
}

/// Stores the 32-bit word `v` at physical address `pa` (4-aligned, in a pool page).
#[inline(always)]
pub fn store32(pa: u64, v: u32) {
    // SAFETY: as in `store`.
    unsafe { asm!("stwa {v}, [{pa}] 0x14", pa = in(reg) pa, v = in(reg) v, options(nostack)) };
}

/// Copies page `src` to page `dst` (both physical, whole pool pages).
pub fn copy_page(dst: u64, src: u64) {
    // SAFETY: both are whole, aligned pool pages reached by physical address: the
    // caller owns `dst` (fresh) and keeps `src` alive across the copy.
    unsafe { sparc64_copy_page(dst, src) }
}

global_asm!(
    r#"
    .section .text.physmem, "ax"
    .align  32
    ! sparc64_zero_page(pa): a page (8 KiB, aligned) zeroed through the bypass ASI,
    ! 128 bytes a round (the loop's three instructions are a seventh of it).
    ! %asi is the kernel's to change.
    .globl  sparc64_zero_page
    .type   sparc64_zero_page, #function
sparc64_zero_page:
    wr      %g0, 0x14, %asi
    sethi   %hi({page}), %o2
1:  stxa    %g0, [%o0 + 0] %asi
    stxa    %g0, [%o0 + 8] %asi
    stxa    %g0, [%o0 + 16] %asi
    stxa    %g0, [%o0 + 24] %asi
    stxa    %g0, [%o0 + 32] %asi
    stxa    %g0, [%o0 + 40] %asi
    stxa    %g0, [%o0 + 48] %asi
    stxa    %g0, [%o0 + 56] %asi
    stxa    %g0, [%o0 + 64] %asi
    stxa    %g0, [%o0 + 72] %asi
    stxa    %g0, [%o0 + 80] %asi
    stxa    %g0, [%o0 + 88] %asi
    stxa    %g0, [%o0 + 96] %asi
    stxa    %g0, [%o0 + 104] %asi
    stxa    %g0, [%o0 + 112] %asi
    stxa    %g0, [%o0 + 120] %asi
    subcc   %o2, 128, %o2
    bnz,pt  %xcc, 1b
     add    %o0, 128, %o0
    retl
     nop
    .size   sparc64_zero_page, . - sparc64_zero_page

    ! sparc64_copy_page(dst, src): one page to another, both physical, 64 bytes a
    ! round: a quarter of the instructions of a byte-wise copy.
    .globl  sparc64_copy_page
    .type   sparc64_copy_page, #function
sparc64_copy_page:
    wr      %g0, 0x14, %asi
    sethi   %hi({page}), %o2
1:  ldxa    [%o1 + 0] %asi, %o3
    ldxa    [%o1 + 8] %asi, %o4
    stxa    %o3, [%o0 + 0] %asi
    stxa    %o4, [%o0 + 8] %asi
    ldxa    [%o1 + 16] %asi, %o3
    ldxa    [%o1 + 24] %asi, %o4
    stxa    %o3, [%o0 + 16] %asi
    stxa    %o4, [%o0 + 24] %asi
    ldxa    [%o1 + 32] %asi, %o3
    ldxa    [%o1 + 40] %asi, %o4
    stxa    %o3, [%o0 + 32] %asi
    stxa    %o4, [%o0 + 40] %asi
    ldxa    [%o1 + 48] %asi, %o3
    ldxa    [%o1 + 56] %asi, %o4
    stxa    %o3, [%o0 + 48] %asi
    stxa    %o4, [%o0 + 56] %asi
    add     %o1, 64, %o1
    subcc   %o2, 64, %o2
    bnz,pt  %xcc, 1b
     add    %o0, 64, %o0
    retl
     nop
    .size   sparc64_copy_page, . - sparc64_copy_page
"#,
    page = const PAGE_SIZE,
);

extern "C" {
    fn sparc64_zero_page(pa: u64);
    fn sparc64_copy_page(dst: u64, src: u64);
}
