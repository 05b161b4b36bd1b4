//! User address spaces: MMU contexts, page tables, the miss handlers' view of
//! them, and `copyin`/`copyout` (S1, S16).
//!
//! # Theory
//!
//! A user address space is an MMU context number (1..8191; 0 is the kernel's) and a
//! page table. The kernel's own translations are locked, global TLB entries
//! (`mmu`), so they translate in every context and the kernel never changes context
//! to run; the primary context register names the address space of the thread
//! that runs, and changes only when a switch brings in a thread of another space.
//!
//! The page table is a three-level radix tree of 8 KiB tables of 1024 entries
//! (virtual address bits 42..33, 32..23, 22..13): the levels hold the addresses of
//! the next tables (kernel memory is mapped virtual = physical), the last level
//! holds each page's TTE. It is simple enough for the MMU-miss vectors to walk in a
//! few instructions at any trap level (see `trap`): a miss on a mapped page is
//! always refilled, even inside a window spill at TL>1, and a miss the table cannot
//! answer is a real fault. The per-CPU block names the running thread's table
//! (`sparc64_cpu.pgd`): a miss in a thread without one is a fault too.
//!
//! A page's rights are in its TTE: no privileged bit (user pages), the writable bit
//! if it may be written, and a software bit for execute, which the instruction-miss
//! vector checks: this CPU has no no-execute bit, so a page may be executed only if
//! it is let into the instruction TLB.
//!
//! `copyin`/`copyout` reach user memory with the as-if-user ASI: the MMU checks the
//! user's own rights in the user's context, and a fault is recovered by `catch`.

use alloc::alloc::{alloc, dealloc};
use alloc::vec::Vec;
use core::alloc::Layout;
use core::arch::{asm, global_asm};
use core::mem::offset_of;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use spin::Mutex;

use super::trap::{self, tt};
use super::user::sparc64_cpu;
use crate::kmem::Shared;
use crate::{Fault, FaultKind, MapError, Prot, PAGE_SIZE, USER_LIMIT};

const TTE_V: u64 = 1 << 63;
const TTE_CP: u64 = 1 << 5;
const TTE_CV: u64 = 1 << 4;
const TTE_W: u64 = 1 << 1;
/// A software bit of the TTE: the page may be executed (the ITLB miss vector in
/// `trap` tests this bit, 7).
const TTE_SOFT_EXEC: u64 = 1 << 7;
/// A software bit of the TTE: the page is a [`SharedPage`], which its handles (the
/// kernel's, and the space's list) own: the space does not free it with itself.
const TTE_SOFT_SHARED: u64 = 1 << 8;
const TTE_PA_MASK: u64 = ((1 << 41) - 1) & !(PAGE_SIZE - 1);

const ENTRIES: usize = 1024;
const PAGE_LAYOUT: Layout = match Layout::from_size_align(PAGE_SIZE as usize, PAGE_SIZE as usize) {
    Ok(l) => l,
    Err(_) => panic!("page layout"),
};

/// One page-table page: 1024 entries.
type Table = [AtomicU64; ENTRIES];

/// A zeroed page of kernel memory, or `NoMemory`.
fn page_alloc() -> Result<u64, MapError> {
    let pa = page_alloc_dirty()?;
    // SAFETY: a whole, aligned page that nothing else references yet.
    unsafe { sparc64_zero_page(pa) };
    Ok(pa)
}

/// A page of kernel memory whose bytes are whatever they were (for a copy), or
/// `NoMemory`.
fn page_alloc_dirty() -> Result<u64, MapError> {
    // SAFETY: the layout has a nonzero size.
    let p = unsafe { alloc(PAGE_LAYOUT) };
    if p.is_null() {
        Err(MapError::NoMemory)
    } else {
        Ok(p as u64)
    }
}

/// The page-table page at `pa`.
fn table(pa: u64) -> &'static Table {
    // SAFETY: `pa` is a page that `page_alloc` returned for a table and that lives
    // until its address space is dropped, which takes every reference with it; a
    // zeroed page is a valid table (AtomicU64 has the layout of u64).
    unsafe { &*(pa as *const Table) }
}

/// The entries of the table at `pa` that are not zero, with their indices.
fn used(pa: u64) -> impl Iterator<Item = (u64, u64)> {
    let t = table(pa);
    let mut i = 0;
    core::iter::from_fn(move || {
        while i < ENTRIES {
            let e = t[i].load(Ordering::Acquire);
            i += 1;
            if e != 0 {
                return Some(((i - 1) as u64, e));
            }
        }
        None
    })
}

/// The index of `va` at level `level` (0: bits 42..33, 1: 32..23, 2: 22..13).
fn index(va: u64, level: u32) -> usize {
    ((va >> (33 - 10 * level)) & (ENTRIES as u64 - 1)) as usize
}

/// The free MMU context numbers.
static CONTEXTS: Mutex<Vec<u16>> = Mutex::new(Vec::new());
static NEXT_CONTEXT: AtomicU64 = AtomicU64::new(1);

fn context_alloc() -> Result<u16, MapError> {
    if let Some(c) = CONTEXTS.lock().pop() {
        return Ok(c);
    }
    let c = NEXT_CONTEXT.fetch_add(1, Ordering::Relaxed);
    u16::try_from(c).ok().filter(|&c| c < 8192).ok_or(MapError::NoMemory)
}

/// A user address space: an MMU context and its page table.
pub struct AddrSpace {
    ctx: u16,
    /// The top-level table (its physical = virtual address).
    root: u64,
    /// Serializes changes to the table; the miss vectors only read it, and every
    /// entry is filled in before the entry above it points at it. It also holds the
    /// space's handles to the shared pages it maps.
    lock: Mutex<Vec<Shared<SharedPage>>>,
}

/// A page shared by the kernel and one user address space (`Machine::SharedPage`):
/// a page of kernel memory (mapped virtual = physical) that a user TTE also maps.
pub struct SharedPage {
    pa: u64,
}

impl SharedPage {
    fn words(&self) -> &[AtomicU32; PAGE_SIZE as usize / 4] {
        // SAFETY: `pa` is a page that `page_alloc` returned for this handle alone and
        // that lives until it drops; a page of u32 is a valid array of AtomicU32.
        unsafe { &*(self.pa as *const [AtomicU32; PAGE_SIZE as usize / 4]) }
    }

    /// The word at byte `offset`.
    pub fn word(&self, offset: usize) -> &AtomicU32 {
        &self.words()[offset / 4]
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        page_free(self.pa);
    }
}

impl AddrSpace {
    /// A new, empty address space with a context of its own.
    pub fn new() -> Result<AddrSpace, MapError> {
        let ctx = context_alloc()?;
        match page_alloc() {
            Ok(root) => Ok(AddrSpace { ctx, root, lock: Mutex::new(Vec::new()) }),
            Err(e) => {
                CONTEXTS.lock().push(ctx);
                Err(e)
            }
        }
    }

    /// Its MMU context number.
    pub fn ctx(&self) -> u16 {
        self.ctx
    }

    /// Its top-level table, for the per-CPU block the miss vectors read.
    pub(super) fn root(&self) -> u64 {
        self.root
    }

    /// The last-level entry for `va`; with `create`, making the tables on the way.
    fn leaf(&self, va: u64, create: bool) -> Result<Option<&'static AtomicU64>, MapError> {
        let mut t = table(self.root);
        for level in 0..2 {
            let e = &t[index(va, level)];
            let mut next = e.load(Ordering::Acquire);
            if next == 0 {
                if !create {
                    return Ok(None);
                }
                next = page_alloc()?;
                e.store(next, Ordering::Release);
            }
            t = table(next);
        }
        Ok(Some(&t[index(va, 2)]))
    }

    /// Maps zero-filled pages at `va..va + len` with `prot`.
    pub fn map(&self, va: u64, len: u64, prot: Prot) -> Result<(), MapError> {
        let end = va.checked_add(len).ok_or(MapError::BadRange)?;
        if !va.is_multiple_of(PAGE_SIZE)
            || !len.is_multiple_of(PAGE_SIZE)
            || len == 0
            || end > USER_LIMIT
        {
            return Err(MapError::BadRange);
        }
        // The kernel's global entries translate there in every context: a user page
        // could never be reached (and two matching entries are an MMU error).
        if va < super::mmu::KERNEL_END && end > super::mmu::KERNEL_BASE {
            return Err(MapError::BadRange);
        }
        let _g = self.lock.lock();
        for page in (va..end).step_by(PAGE_SIZE as usize) {
            if self.leaf(page, false)?.is_some_and(|e| e.load(Ordering::Acquire) != 0) {
                return Err(MapError::Overlap);
            }
        }
        let mut rights = TTE_V | TTE_CP | TTE_CV;
        if prot.contains(Prot::WRITE) {
            rights |= TTE_W;
        }
        if prot.contains(Prot::EXEC) {
            rights |= TTE_SOFT_EXEC;
        }
        for page in (va..end).step_by(PAGE_SIZE as usize) {
            let e = self.leaf(page, true)?.ok_or(MapError::NoMemory)?;
            e.store(page_alloc()? | rights, Ordering::Release);
        }
        Ok(())
    }

    /// `Machine::as_fork`: a new space with a copy of each of this one's own pages
    /// (an eager copy, page by page, under this space's lock), same TTE rights.
    pub fn fork(&self) -> Result<AddrSpace, MapError> {
        let child = AddrSpace::new()?;
        let _g = self.lock.lock();
        for (va, tte) in self.ttes().filter(|(_, tte)| tte & TTE_SOFT_SHARED == 0) {
            let pa = page_alloc_dirty()?;
            // SAFETY: both pages are whole, 8 KiB-aligned pages of kernel memory
            // (mapped virtual = physical): `tte`'s, which this space owns and its
            // lock keeps, and the new one, which nothing else references yet.
            unsafe { sparc64_copy_page(pa, tte & TTE_PA_MASK) };
            match child.leaf(va, true) {
                Ok(Some(e)) => e.store(pa | (tte & !TTE_PA_MASK), Ordering::Release),
                _ => {
                    page_free(pa);
                    return Err(MapError::NoMemory);
                }
            }
        }
        Ok(child)
    }

    /// Every valid page of the space: its address and TTE, in address order.
    fn ttes(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        used(self.root).flat_map(move |(i, l1)| {
            used(l1).flat_map(move |(j, l2)| {
                used(l2)
                    .filter(|&(_, tte)| tte & TTE_V != 0)
                    .map(move |(k, tte)| ((i << 33) | (j << 23) | (k << 13), tte))
            })
        })
    }

    /// Maps a new shared page at `va`, read-write for user mode. Not virtually
    /// cacheable (`CV` clear): the kernel reaches the same page at another virtual
    /// address, and UltraSPARC's data cache is indexed by virtual address, so two
    /// cacheable aliases of different colour could each hold a stale copy.
    pub fn map_shared(&self, va: u64) -> Result<Shared<SharedPage>, MapError> {
        if !va.is_multiple_of(PAGE_SIZE) || va >= USER_LIMIT {
            return Err(MapError::BadRange);
        }
        if va < super::mmu::KERNEL_END && va + PAGE_SIZE > super::mmu::KERNEL_BASE {
            return Err(MapError::BadRange);
        }
        let pa = page_alloc()?;
        // SAFETY: `init` writes the only field.
        let page = match unsafe {
            Shared::try_new_with(|p: *mut SharedPage| p.write(SharedPage { pa }))
        } {
            Ok(page) => page,
            Err(_) => {
                page_free(pa);
                return Err(MapError::NoMemory);
            }
        };
        let mut shared = self.lock.lock();
        if self.leaf(va, false)?.is_some_and(|e| e.load(Ordering::Acquire) != 0) {
            return Err(MapError::Overlap);
        }
        shared.try_reserve(1).map_err(|_| MapError::NoMemory)?;
        let e = self.leaf(va, true)?.ok_or(MapError::NoMemory)?;
        shared.push(page.share());
        e.store(pa | TTE_V | TTE_CP | TTE_W | TTE_SOFT_SHARED, Ordering::Release);
        Ok(page)
    }

    /// The kernel's address of user address `va`, if mapped.
    fn kaddr(&self, va: u64) -> Result<u64, MapError> {
        if va >= USER_LIMIT {
            return Err(MapError::BadRange);
        }
        let tte = self.leaf(va, false)?.map_or(0, |e| e.load(Ordering::Acquire));
        if tte & TTE_V == 0 {
            return Err(MapError::Unmapped);
        }
        Ok((tte & TTE_PA_MASK) | (va & (PAGE_SIZE - 1)))
    }

    /// Copies between the space and the kernel, whatever the rights, page by page:
    /// `f(kernel address, offset into the kernel buffer, length)`.
    fn each_piece(
        &self,
        va: u64,
        len: usize,
        mut f: impl FnMut(u64, usize, usize),
    ) -> Result<(), MapError> {
        va.checked_add(len as u64).filter(|&e| e <= USER_LIMIT).ok_or(MapError::BadRange)?;
        // Every page first: a copy never stops half-way.
        let mut at = va & !(PAGE_SIZE - 1);
        while at < va + len as u64 {
            self.kaddr(at)?;
            at += PAGE_SIZE;
        }
        let mut done = 0;
        while done < len {
            let a = va + done as u64;
            let n = (PAGE_SIZE - (a % PAGE_SIZE)).min((len - done) as u64) as usize;
            f(self.kaddr(a)?, done, n);
            done += n;
        }
        Ok(())
    }

    /// Writes `bytes` at `va` (the kernel loading a program).
    pub fn write(&self, va: u64, bytes: &[u8]) -> Result<(), MapError> {
        self.each_piece(va, bytes.len(), |k, off, n| {
            // SAFETY: `k..k + n` lies in one page this space owns (`kaddr`), which
            // lives as long as the space; `bytes[off..off + n]` is in bounds.
            unsafe { core::ptr::copy_nonoverlapping(bytes[off..].as_ptr(), k as *mut u8, n) }
        })
    }

    /// Reads `buf.len()` bytes at `va`.
    pub fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), MapError> {
        self.each_piece(va, buf.len(), |k, off, n| {
            // SAFETY: as in `write`, the other way.
            unsafe { core::ptr::copy_nonoverlapping(k as *const u8, buf[off..].as_mut_ptr(), n) }
        })
    }
}

impl Drop for AddrSpace {
    fn drop(&mut self) {
        let was = super::intr_disable();
        // No TLB entry may outlive the pages or name the context's next owner.
        set_primary_context(self.ctx);
        demap_primary_context();
        let current = sparc64_cpu.ctx.load(Ordering::Relaxed) as u16;
        set_primary_context(if current == self.ctx { 0 } else { current });
        if current == self.ctx {
            sparc64_cpu.ctx.store(0, Ordering::Relaxed);
        }
        super::intr_restore(was);
        for (_, l1) in used(self.root) {
            for (_, l2) in used(l1) {
                for (_, tte) in
                    used(l2).filter(|&(_, e)| e & TTE_V != 0 && e & TTE_SOFT_SHARED == 0)
                {
                    page_free(tte & TTE_PA_MASK);
                }
                page_free(l2);
            }
            page_free(l1);
        }
        page_free(self.root);
        CONTEXTS.lock().push(self.ctx);
        // The space's handles to its shared pages go with it (the `Vec` drops them).
    }
}

fn page_free(pa: u64) {
    // SAFETY: every page freed here came from `page_alloc` with this layout and is
    // referenced by nothing any more: its space is being dropped and demapped.
    unsafe { dealloc(pa as *mut u8, PAGE_LAYOUT) }
}

/// Sets the primary context register: which non-global TLB entries translate.
pub(super) fn set_primary_context(ctx: u16) {
    // SAFETY: the primary context only selects which non-global TLB entries match;
    // everything the kernel uses is global, so nothing the kernel needs changes.
    unsafe {
        asm!(
            "stxa {ctx}, [{va}] 0x58",
            "membar #Sync",
            ctx = in(reg) u64::from(ctx),
            va = in(reg) 0x8u64,
            options(nostack),
        )
    };
}

/// Removes every TLB entry of the primary context (`demap context`).
fn demap_primary_context() {
    // SAFETY: a demap only removes translations of the current primary context,
    // which belong to user address spaces; the kernel's are global and stay.
    unsafe {
        asm!(
            "stxa %g0, [{op}] 0x5f",
            "membar #Sync",
            "stxa %g0, [{op}] 0x57",
            "flush {k}",
            op = in(reg) 0x40u64, // demap context, primary
            k = in(reg) super::mmu::KERNEL_BASE,
            options(nostack)
        )
    };
}

global_asm!(
    r#"
    .section .text.copy, "ax"
    .align  32
    ! sparc64_copy_user(args: &CopyArgs): copies `len` bytes between the user address
    ! and the kernel buffer through ASI_AS_IF_USER_PRIMARY, in (out = 0) or out
    ! (out = 1): while both addresses are 8-aligned, 32 bytes a round, then a
    ! doubleword at a time; then (or if they are not aligned) byte by byte. %asi is
    ! the kernel's to change (the user's is in its frame). Runs inside `catch`: a
    ! fault ends it.
    .globl  sparc64_copy_user
    .type   sparc64_copy_user, #function
sparc64_copy_user:
    ldx     [%o0 + {user}], %o1
    ldx     [%o0 + {kernel}], %o2
    ldx     [%o0 + {len}], %o3
    ldx     [%o0 + {out}], %o4
    wr      %g0, 0x10, %asi
    or      %o1, %o2, %o5
    andcc   %o5, 7, %g0
    bnz,pn  %xcc, 5f                    ! not both aligned: bytes
     nop
    brnz,pn %o4, 3f
     cmp    %o3, 32
1:  blu,pn  %xcc, 2f                    ! in: user → kernel, 32 bytes a round
     cmp    %o3, 8
    ldxa    [%o1 + 0] %asi, %o0
    ldxa    [%o1 + 8] %asi, %o5
    stx     %o0, [%o2 + 0]
    stx     %o5, [%o2 + 8]
    ldxa    [%o1 + 16] %asi, %o0
    ldxa    [%o1 + 24] %asi, %o5
    stx     %o0, [%o2 + 16]
    stx     %o5, [%o2 + 24]
    add     %o1, 32, %o1
    add     %o2, 32, %o2
    sub     %o3, 32, %o3
    ba,pt   %xcc, 1b
     cmp    %o3, 32
2:  blu,pn  %xcc, 6f                    ! in, doublewords (the flags of `cmp 8`)
     nop
    ldxa    [%o1] %asi, %o0
    stx     %o0, [%o2]
    add     %o1, 8, %o1
    add     %o2, 8, %o2
    sub     %o3, 8, %o3
    ba,pt   %xcc, 2b
     cmp    %o3, 8
3:  blu,pn  %xcc, 4f                    ! out: kernel → user, 32 bytes a round
     cmp    %o3, 8
    ldx     [%o2 + 0], %o0
    ldx     [%o2 + 8], %o5
    stxa    %o0, [%o1 + 0] %asi
    stxa    %o5, [%o1 + 8] %asi
    ldx     [%o2 + 16], %o0
    ldx     [%o2 + 24], %o5
    stxa    %o0, [%o1 + 16] %asi
    stxa    %o5, [%o1 + 24] %asi
    add     %o1, 32, %o1
    add     %o2, 32, %o2
    sub     %o3, 32, %o3
    ba,pt   %xcc, 3b
     cmp    %o3, 32
4:  blu,pn  %xcc, 7f                    ! out, doublewords
     nop
    ldx     [%o2], %o0
    stxa    %o0, [%o1] %asi
    add     %o1, 8, %o1
    add     %o2, 8, %o2
    sub     %o3, 8, %o3
    ba,pt   %xcc, 4b
     cmp    %o3, 8
5:  brnz,pn %o4, 7f                     ! bytes, by direction
     nop
6:  brz,pn  %o3, 8f                     ! in, bytes
     nop
    lduba   [%o1] %asi, %o5
    stb     %o5, [%o2]
    add     %o1, 1, %o1
    sub     %o3, 1, %o3
    ba,pt   %xcc, 6b
     add    %o2, 1, %o2
7:  brz,pn  %o3, 8f                     ! out, bytes
     nop
    ldub    [%o2], %o5
    stba    %o5, [%o1] %asi
    add     %o1, 1, %o1
    sub     %o3, 1, %o3
    ba,pt   %xcc, 7b
     add    %o2, 1, %o2
8:  retl
     nop
    .size   sparc64_copy_user, . - sparc64_copy_user

    ! sparc64_zero_page(dst): an 8 KiB page (aligned) zeroed, 64 bytes a round.
    .globl  sparc64_zero_page
    .type   sparc64_zero_page, #function
sparc64_zero_page:
    sethi   %hi({page}), %o2
1:  stx     %g0, [%o0 + 0]
    stx     %g0, [%o0 + 8]
    stx     %g0, [%o0 + 16]
    stx     %g0, [%o0 + 24]
    stx     %g0, [%o0 + 32]
    stx     %g0, [%o0 + 40]
    stx     %g0, [%o0 + 48]
    stx     %g0, [%o0 + 56]
    subcc   %o2, 64, %o2
    bnz,pt  %xcc, 1b
     add    %o0, 64, %o0
    retl
     nop
    .size   sparc64_zero_page, . - sparc64_zero_page

    ! sparc64_copy_page(dst, src): one 8 KiB page to another (both aligned), 64
    ! bytes a round: a quarter of the instructions of a byte-wise memcpy.
    .globl  sparc64_copy_page
    .type   sparc64_copy_page, #function
sparc64_copy_page:
    sethi   %hi({page}), %o2
1:  ldx     [%o1 + 0], %o3
    ldx     [%o1 + 8], %o4
    stx     %o3, [%o0 + 0]
    stx     %o4, [%o0 + 8]
    ldx     [%o1 + 16], %o3
    ldx     [%o1 + 24], %o4
    stx     %o3, [%o0 + 16]
    stx     %o4, [%o0 + 24]
    ldx     [%o1 + 32], %o3
    ldx     [%o1 + 40], %o4
    stx     %o3, [%o0 + 32]
    stx     %o4, [%o0 + 40]
    ldx     [%o1 + 48], %o3
    ldx     [%o1 + 56], %o4
    stx     %o3, [%o0 + 48]
    stx     %o4, [%o0 + 56]
    add     %o1, 64, %o1
    subcc   %o2, 64, %o2
    bnz,pt  %xcc, 1b
     add    %o0, 64, %o0
    retl
     nop
    .size   sparc64_copy_page, . - sparc64_copy_page

    ! sparc64_cas_user(args: &mut CasArgs): `cas` of the user word at `addr`
    ! through ASI_AS_IF_USER_PRIMARY; what the word held goes to `result`. Runs
    ! inside `catch`: a fault ends it.
    .globl  sparc64_cas_user
    .type   sparc64_cas_user, #function
sparc64_cas_user:
    ldx     [%o0 + {cas_addr}], %o1
    lduw    [%o0 + {cas_old}], %o2
    lduw    [%o0 + {cas_new}], %o3
    casa    [%o1] 0x10, %o2, %o3
    retl
     stw    %o3, [%o0 + {cas_result}]
    .size   sparc64_cas_user, . - sparc64_cas_user
"#,
    page = const PAGE_SIZE,
    user = const offset_of!(CopyArgs, user),
    kernel = const offset_of!(CopyArgs, kernel),
    len = const offset_of!(CopyArgs, len),
    out = const offset_of!(CopyArgs, out),
    cas_addr = const offset_of!(CasArgs, addr),
    cas_old = const offset_of!(CasArgs, old),
    cas_new = const offset_of!(CasArgs, new),
    cas_result = const offset_of!(CasArgs, result),
);

extern "C" {
    fn sparc64_zero_page(dst: u64);
    fn sparc64_copy_page(dst: u64, src: u64);
    fn sparc64_copy_user(args: *const CopyArgs);
    fn sparc64_cas_user(args: *mut CasArgs);
}

/// What `sparc64_cas_user` works on, passed by address through `catch`.
#[repr(C)]
struct CasArgs {
    addr: u64,
    old: u32,
    new: u32,
    result: u32,
}

/// What `sparc64_copy_user` copies: passed by address, through `catch`'s one argument.
#[repr(C)]
struct CopyArgs {
    user: u64,
    kernel: u64,
    len: u64,
    /// 1: towards the user; 0: from it.
    out: u64,
}

/// What a copy that trapped ran into.
fn fault_of(info: trap::TrapInfo, uaddr: u64) -> Fault {
    let kind = match info.tt {
        tt::FAST_DATA_ACCESS_PROTECTION | tt::DATA_ACCESS_EXCEPTION => FaultKind::Protection,
        _ => FaultKind::Unmapped,
    };
    Fault { kind, addr: uaddr }
}

/// Copies between user address `uaddr` of the running thread's address space and
/// `kbuf`, with the user's rights; `out` = towards the user. Inlined into
/// `copyin`/`copyout`: a register window less on every copy.
#[inline(always)]
pub(super) fn copy_user(uaddr: u64, kbuf: *mut u8, len: usize, out: bool) -> Result<(), Fault> {
    let unmapped = Fault { kind: FaultKind::Unmapped, addr: uaddr };
    if uaddr.checked_add(len as u64).is_none_or(|end| end > USER_LIMIT) {
        return Err(unmapped);
    }
    // Without a space of its own the thread must not reach whatever the primary
    // context still names (it is switched lazily).
    if sparc64_cpu.pgd.load(Ordering::Relaxed) == 0 {
        return Err(unmapped);
    }
    let args = CopyArgs { user: uaddr, kernel: kbuf as u64, len: len as u64, out: u64::from(out) };
    trap::catch(copy_user_entry, &args as *const CopyArgs as usize)
        .map_err(|info| fault_of(info, uaddr))
}

extern "C" fn copy_user_entry(args: usize) {
    // SAFETY: `args` is the address of the `CopyArgs` `copy_user` made, whose kernel
    // buffer is valid for `len` bytes; user addresses are reached only through the
    // as-if-user ASI, checked by the MMU, and a fault lands back in `catch`.
    unsafe { sparc64_copy_user(args as *const CopyArgs) }
}

/// Compare-and-swap of the user word at `uaddr` of the running thread's address
/// space, with the user's rights (`Machine::user_cas32`).
pub(super) fn cas_user(uaddr: u64, old: u32, new: u32) -> Result<u32, Fault> {
    if !uaddr.is_multiple_of(4) {
        return Err(Fault { kind: FaultKind::Misaligned, addr: uaddr });
    }
    let unmapped = Fault { kind: FaultKind::Unmapped, addr: uaddr };
    if uaddr.checked_add(4).is_none_or(|end| end > USER_LIMIT) {
        return Err(unmapped);
    }
    // As for a copy: a thread without a space of its own reaches nothing.
    if sparc64_cpu.pgd.load(Ordering::Relaxed) == 0 {
        return Err(unmapped);
    }
    let mut args = CasArgs { addr: uaddr, old, new, result: 0 };
    trap::catch(cas_user_entry, &mut args as *mut CasArgs as usize)
        .map_err(|info| fault_of(info, uaddr))?;
    Ok(args.result)
}

extern "C" fn cas_user_entry(args: usize) {
    // SAFETY: `args` is the address of the `CasArgs` `cas_user` made, live for the
    // call; the user word is reached only through the as-if-user ASI, checked by the
    // MMU, and a fault lands back in `catch`.
    unsafe { sparc64_cas_user(args as *mut CasArgs) }
}
