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
//! (virtual address bits 42..33, 32..23, 22..13): the levels hold the physical
//! addresses of the next tables, the last level holds each page's TTE. Tables and
//! pages come from the page pool (`physmem`) and are reached by physical address,
//! through the MMU-bypass ASI, by this module and by the MMU-miss vectors alike
//! (see `trap`): a miss on a mapped page is always refilled, even inside a window
//! spill at TL>1, and a miss the table cannot answer is a real fault. The per-CPU
//! block names the running thread's table (`sparc64_cpu.pgd`): a miss in a thread
//! without one is a fault too.
//!
//! A middle-level entry also counts, in its low 11 bits (a table is page-aligned),
//! the valid entries of the leaf table it points at: a leaf whose last page is
//! unmapped goes back to the pool at once, so that `munmap` gives back everything
//! `mmap` took. The miss vectors mask the count off (one instruction).
//!
//! A page's rights are in its TTE: no privileged bit (user pages), the writable bit
//! if it may be written, and a software bit for execute, which the instruction-miss
//! vector checks: this CPU has no no-execute bit, so a page may be executed only if
//! it is let into the instruction TLB. A page with no rights at all (`PROT_NONE`)
//! is a privileged one: user loads and stores there trap as user access to the
//! kernel does (`data_access_exception`: a protection fault).
//!
//! Unmapping a page or changing its rights demaps that page's TLB entries in its
//! context, in both MMUs (Solaris' `sfmmu_tlb_demap`): in the primary context if
//! the space is the one running, else through the secondary context register. A
//! space that goes demaps its whole context once.
//!
//! `copyin`/`copyout` reach user memory with the as-if-user ASI: the MMU checks the
//! user's own rights in the user's context, and a fault is recovered by `catch`.
//!
//! **Copy-on-write** (S1: a `fork` child gets a copy of the space). `fork` copies
//! no page: it gives the child the parent's pages, and each page one more owner
//! (`physmem`'s share counts); the child has tables of its own, nothing else. A
//! page that may be written loses the hardware writable bit in both spaces, and
//! keeps a software bit that says the page may be written (`TTE_SOFT_WRITE`): a
//! page with that bit and without `TTE_W` is copy-on-write. The parent's context is
//! demapped once, so that no writable TLB entry of its pages outlives the fork.
//! Pages without the right to write (text) are shared the same way, and stay so.
//! The walk over the parent's pages (and the walk of a space that goes) reads the
//! space's list of its leaf tables, each with a bitmap of the entries in use
//! (`Tables`), not every entry of every table: a fork costs a few instructions a
//! page.
//!
//! A store to a copy-on-write page traps (`fast_data_access_protection`), and the
//! machine resolves it before anything else sees a fault ([`AddrSpace::cow_fault`]):
//! a page whose other owners have all let it go is made writable again; a page
//! still shared is copied into a page of the pool, which the TTE then maps
//! writable, and the old page loses an owner. The one page's TLB entries are
//! demapped, and the store is made again. Stores come three ways, and each is
//! resolved: user code's own (the trap from user mode, `user`); the kernel's
//! `copyout` and `cas` into user memory, whose fault `catch` returns
//! ([`copy_user`] and [`cas_user`] resolve the pages of their range and make the
//! copy again); and a window spill to a copy-on-write stack page at TL>1, which
//! goes to the window buffer as any spill that faults does, and is written out on
//! the way back to user mode by `copy_user`. Resolving takes the space's lock,
//! which a preempted thread may hold: it runs with interrupts on. With no page
//! left in the pool the fault is a real one: user code gets the signal of a
//! protection fault (SIGSEGV), a copy `EFAULT`; nothing panics.
//!
//! Every way a page leaves a space honours the counts: unmapping, a space's drop
//! (`exec`, exit) give a shared page back only with its last owner; `mprotect`
//! gives a page that is still shared the right to write through the software bit
//! only; the kernel's own writes ([`AddrSpace::write`]) copy a shared page first.

use alloc::vec::Vec;
use core::arch::{asm, global_asm};
use core::mem::offset_of;
use core::sync::atomic::Ordering;

use spin::Mutex;

use super::cpu::sparc64_cpu;
use super::frame::{tt, TrapInfo};
use super::ontrap::catch;
use super::physmem;
use crate::kmem::Shared;
use crate::{Fault, FaultKind, MapError, Prot, PAGE_SIZE, USER_LIMIT};

const TTE_V: u64 = 1 << 63;
const TTE_CP: u64 = 1 << 5;
const TTE_CV: u64 = 1 << 4;
const TTE_P: u64 = 1 << 2;
const TTE_W: u64 = 1 << 1;
/// A software bit of the TTE: the page may be executed (the ITLB miss vector in
/// `trap` tests this bit, 7).
const TTE_SOFT_EXEC: u64 = 1 << 7;
/// A software bit of the TTE: the page is a [`SharedPage`], which its handles (the
/// kernel's, and the space's list) own: the space does not free it with itself.
const TTE_SOFT_SHARED: u64 = 1 << 8;
/// A software bit of the TTE: the page may be written. Set with `TTE_W`, except on
/// a page a `fork` shares, where its absence of `TTE_W` makes it copy-on-write.
const TTE_SOFT_WRITE: u64 = 1 << 9;
const TTE_PA_MASK: u64 = ((1 << 41) - 1) & !(PAGE_SIZE - 1);
/// The bits of a TTE that give a page's rights.
const TTE_RIGHTS: u64 = TTE_P | TTE_W | TTE_SOFT_EXEC | TTE_SOFT_WRITE;

/// The low bits of a middle-level entry that count its leaf's valid entries (the
/// miss vectors mask them off: `and` with `-(COUNT_MASK + 1)`).
pub(super) const COUNT_MASK: u64 = 2047;

const ENTRIES: u64 = 1024;

/// A zeroed page of the pool, or `NoMemory`.
fn page_alloc() -> Result<u64, MapError> {
    physmem::alloc_zeroed().ok_or(MapError::NoMemory)
}

/// The physical address of entry `i` of the table at `table`.
fn entry(table: u64, i: u64) -> u64 {
    table + 8 * i
}

/// The set bits of `w`, lowest first.
fn bits(mut w: u64) -> impl Iterator<Item = u64> {
    core::iter::from_fn(move || {
        (w != 0).then(|| {
            let b = w.trailing_zeros();
            w &= w - 1;
            u64::from(b)
        })
    })
}

/// The index of `va` at level `level` (0: bits 42..33, 1: 32..23, 2: 22..13).
fn index(va: u64, level: u32) -> u64 {
    (va >> (33 - 10 * level)) & (ENTRIES - 1)
}

/// The TTE rights of `prot` on a valid, cacheable user page.
fn rights(prot: Prot) -> u64 {
    let mut r = TTE_V | TTE_CP | TTE_CV;
    if prot.is_empty() {
        r |= TTE_P;
    }
    if prot.contains(Prot::WRITE) {
        r |= TTE_W | TTE_SOFT_WRITE;
    }
    if prot.contains(Prot::EXEC) {
        r |= TTE_SOFT_EXEC;
    }
    r
}

/// The free MMU context numbers.
static CONTEXTS: Mutex<Vec<u16>> = Mutex::new(Vec::new());
static NEXT_CONTEXT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);

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
    /// The top-level table (its physical address).
    root: u64,
    /// Serializes changes to the table; the miss vectors only read it, and every
    /// entry is filled in before the entry above it points at it (and cleared
    /// before what it pointed at is freed). It also holds the space's list of its
    /// tables and its handles to the shared pages it maps.
    lock: Mutex<Tables>,
}

/// What a space keeps of its tables besides the tables themselves, under its lock:
/// `fork` and the space's drop walk its pages from here, a few instructions a
/// page, instead of reading every entry of every table (a leaf of 1024 entries
/// for the few pages of a stack).
#[derive(Default)]
struct Tables {
    /// The space's handles to the shared pages it maps.
    shared: Vec<Shared<SharedPage>>,
    /// Its middle-level tables (physical addresses).
    mids: Vec<u64>,
    /// Its leaf tables.
    leaves: Vec<Leaf>,
}

/// A leaf table of a space, and which of its entries hold a TTE.
struct Leaf {
    /// Its physical address.
    pa: u64,
    /// The user address its entry 0 maps.
    va: u64,
    /// Bit `i % 64` of word `i / 64`: entry `i` holds a TTE.
    used: [u64; ENTRIES as usize / 64],
}

impl Leaf {
    /// Its pages: each one's address and its entry's physical address.
    fn pages(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.used.iter().enumerate().flat_map(move |(w, &word)| {
            bits(word).map(move |b| {
                let i = w as u64 * 64 + b;
                (self.va + (i << 13), entry(self.pa, i))
            })
        })
    }
}

impl Tables {
    /// The leaf table at `pa`, one of the space's (the newest first: the one an
    /// `mmap` of a page made for it).
    fn leaf(&mut self, pa: u64) -> &mut Leaf {
        self.leaves.iter_mut().rev().find(|l| l.pa == pa).expect("vm: a leaf table the space lists")
    }

    /// Frees leaf table `pa`, which maps no page any more.
    fn free_leaf(&mut self, pa: u64) {
        if let Some(at) = self.leaves.iter().rposition(|l| l.pa == pa) {
            self.leaves.swap_remove(at);
        }
        physmem::free(pa);
    }
}

/// A page shared by the kernel and one user address space (`Machine::SharedPage`):
/// a page of the pool, which the kernel reaches by physical address and a user TTE
/// maps.
pub struct SharedPage {
    pa: u64,
}

impl SharedPage {
    /// The word at byte `offset`.
    pub fn load(&self, offset: usize) -> u32 {
        physmem::load32(self.pa + (offset as u64 & (PAGE_SIZE - 4)))
    }

    /// Stores `v` at byte `offset`.
    pub fn store(&self, offset: usize, v: u32) {
        physmem::store32(self.pa + (offset as u64 & (PAGE_SIZE - 4)), v)
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        physmem::free(self.pa);
    }
}

/// Where a page's TTE is: the physical addresses of its middle-level entry (which
/// counts the leaf's valid entries) and of its leaf entry.
#[derive(Clone, Copy)]
struct Slot {
    mid: u64,
    leaf: u64,
}

impl Slot {
    fn tte(self) -> u64 {
        physmem::load(self.leaf)
    }

    /// Its leaf table's bit for it in `t`: the word, and the bit.
    fn bit(self, t: &mut Tables) -> (&mut u64, u64) {
        let i = (self.leaf & (PAGE_SIZE - 1)) / 8;
        (&mut t.leaf(self.leaf & !(PAGE_SIZE - 1)).used[i as usize / 64], 1 << (i % 64))
    }

    /// Sets the TTE of a page that had none, counting it.
    fn fill(self, t: &mut Tables, tte: u64) {
        physmem::store(self.leaf, tte);
        physmem::store(self.mid, physmem::load(self.mid) + 1);
        let (word, bit) = self.bit(t);
        *word |= bit;
    }

    /// Clears the TTE of a page that had one; frees the leaf table if it was its
    /// last page (the caller holds the space's lock and has the page demapped).
    fn clear(self, t: &mut Tables) {
        physmem::store(self.leaf, 0);
        let (word, bit) = self.bit(t);
        *word &= !bit;
        let mid = physmem::load(self.mid) - 1;
        if mid & COUNT_MASK == 0 {
            physmem::store(self.mid, 0);
            t.free_leaf(mid);
        } else {
            physmem::store(self.mid, mid);
        }
    }

    /// Frees the leaf table if it counts no page (a table made for a page that
    /// could then not be had).
    fn release_if_empty(self, t: &mut Tables) {
        let mid = physmem::load(self.mid);
        if mid != 0 && mid & COUNT_MASK == 0 {
            physmem::store(self.mid, 0);
            t.free_leaf(mid);
        }
    }
}

/// Where `va`'s TTE is in the table at `root` (its space's, `t` its list), making
/// the tables on the way: `NoMemory` if one cannot be had.
fn make_slot(root: u64, t: &mut Tables, va: u64) -> Result<Slot, MapError> {
    let top = entry(root, index(va, 0));
    let mut mid_table = physmem::load(top);
    if mid_table == 0 {
        t.mids.try_reserve(1).map_err(|_| MapError::NoMemory)?;
        mid_table = page_alloc()?;
        t.mids.push(mid_table);
        physmem::store(top, mid_table);
    }
    let mid = entry(mid_table, index(va, 1));
    let mut leaf_table = physmem::load(mid) & !COUNT_MASK;
    if leaf_table == 0 {
        t.leaves.try_reserve(1).map_err(|_| MapError::NoMemory)?;
        leaf_table = page_alloc()?;
        let va = va & !((ENTRIES << 13) - 1);
        t.leaves.push(Leaf { pa: leaf_table, va, used: [0; ENTRIES as usize / 64] });
        physmem::store(mid, leaf_table);
    }
    Ok(Slot { mid, leaf: entry(leaf_table, index(va, 2)) })
}

impl AddrSpace {
    /// A new, empty address space with a context of its own.
    pub fn new() -> Result<AddrSpace, MapError> {
        let ctx = context_alloc()?;
        match page_alloc() {
            Ok(root) => Ok(AddrSpace { ctx, root, lock: Mutex::new(Tables::default()) }),
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

    /// Where `va`'s TTE is, if its tables are there.
    fn slot(&self, va: u64) -> Option<Slot> {
        let mid_table = physmem::load(entry(self.root, index(va, 0)));
        if mid_table == 0 {
            return None;
        }
        let mid = entry(mid_table, index(va, 1));
        let leaf_table = physmem::load(mid) & !COUNT_MASK;
        (leaf_table != 0).then_some(Slot { mid, leaf: entry(leaf_table, index(va, 2)) })
    }

    /// The TTE of `va` (0: none).
    fn tte(&self, va: u64) -> u64 {
        self.slot(va).map_or(0, Slot::tte)
    }

    /// Maps zero-filled pages at `va..va + len` with `prot` (`Machine::as_map`).
    pub fn map(&self, va: u64, len: u64, prot: Prot) -> Result<(), MapError> {
        let end = check_range(va, len)?;
        // More pages than the pool has free: refused before a page-by-page walk.
        if len / PAGE_SIZE > physmem::stats().free as u64 {
            return Err(MapError::NoMemory);
        }
        let mut t = self.lock.lock();
        if (va..end).step_by(PAGE_SIZE as usize).any(|page| self.tte(page) != 0) {
            return Err(MapError::Overlap);
        }
        let rights = rights(prot);
        for page in (va..end).step_by(PAGE_SIZE as usize) {
            let made = make_slot(self.root, &mut t, page).and_then(|slot| {
                let pa = page_alloc().inspect_err(|_| slot.release_if_empty(&mut t))?;
                slot.fill(&mut t, pa | rights);
                Ok(())
            });
            if let Err(e) = made {
                // Nothing of this call stays: the pages it mapped (never used, so
                // in no TLB) and the tables they emptied go back.
                self.unmap_locked(&mut t, va, page);
                return Err(e);
            }
        }
        Ok(())
    }

    /// `Machine::as_unmap`.
    pub fn unmap(&self, va: u64, len: u64) -> Result<(), MapError> {
        let end = check_range(va, len)?;
        let mut t = self.lock.lock();
        self.unmap_locked(&mut t, va, end);
        Ok(())
    }

    /// Unmaps the pages of `va..end` the space owns (the pages it shares with the
    /// kernel stay; a page a fork shares goes back with its last owner), the lock
    /// held.
    fn unmap_locked(&self, t: &mut Tables, va: u64, end: u64) {
        for page in (va..end).step_by(PAGE_SIZE as usize) {
            let Some(slot) = self.slot(page) else { continue };
            let tte = slot.tte();
            if tte & TTE_V == 0 || tte & TTE_SOFT_SHARED != 0 {
                continue;
            }
            slot.clear(t);
            demap_page(self.ctx, page);
            physmem::release(tte & TTE_PA_MASK);
        }
    }

    /// `Machine::as_protect`.
    pub fn protect(&self, va: u64, len: u64, prot: Prot) -> Result<(), MapError> {
        let end = check_range(va, len)?;
        let _g = self.lock.lock();
        let owned = |page| {
            let tte = self.tte(page);
            tte & TTE_V != 0 && tte & TTE_SOFT_SHARED == 0
        };
        if !(va..end).step_by(PAGE_SIZE as usize).all(owned) {
            return Err(MapError::Unmapped);
        }
        let rights = rights(prot);
        for page in (va..end).step_by(PAGE_SIZE as usize) {
            if let Some(slot) = self.slot(page) {
                let tte = slot.tte();
                // A page a fork still shares may be written only once copied.
                let keep = if physmem::is_shared(tte & TTE_PA_MASK) { !TTE_W } else { !0 };
                physmem::store(slot.leaf, (tte & !TTE_RIGHTS) | (rights & keep));
                demap_page(self.ctx, page);
            }
        }
        Ok(())
    }

    /// `Machine::as_fork`: a new space that shares each of this one's own pages,
    /// copy-on-write (see the module comment), under this space's lock. If the
    /// child's tables cannot all be had, the child goes (its pages lose the owner
    /// it was), and this space's pages stay copy-on-write: the next store makes
    /// each writable again.
    pub fn fork(&self) -> Result<AddrSpace, MapError> {
        let mut child = AddrSpace::new()?;
        let root = child.root;
        let ct = child.lock.get_mut();
        let t = self.lock.lock();
        let mut protected = false;
        for (va, at) in t.leaves.iter().flat_map(Leaf::pages) {
            let tte = physmem::load(at);
            if tte & TTE_SOFT_SHARED != 0 {
                continue;
            }
            let slot = make_slot(root, ct, va)?;
            let cow = tte & !TTE_W;
            if cow != tte {
                physmem::store(at, cow);
                protected = true;
            }
            physmem::share(tte & TTE_PA_MASK);
            slot.fill(ct, cow);
        }
        drop(t);
        if protected {
            demap_context(self.ctx);
        }
        Ok(child)
    }

    /// Resolves a store to user page `va` that trapped for want of `TTE_W`: true
    /// if the page is copy-on-write and may now be written (the store is to be
    /// made again); false if the fault is a real one (no such page, no right to
    /// write, or no page left in the pool for the copy). Interrupts are on.
    fn cow_fault(&self, va: u64) -> bool {
        let _g = self.lock.lock();
        match self.slot(va & !(PAGE_SIZE - 1)) {
            Some(slot)
                if slot.tte() & (TTE_V | TTE_W | TTE_SOFT_WRITE | TTE_SOFT_SHARED)
                    == TTE_V | TTE_SOFT_WRITE =>
            {
                self.unshare(va, slot).is_ok()
            }
            _ => false,
        }
    }

    /// Resolves the copy-on-write pages of user range `va..va + len` (a copy into
    /// it that trapped): true if there was one to resolve.
    fn cow_range(&self, va: u64, len: u64) -> bool {
        let end = va.saturating_add(len).min(USER_LIMIT);
        let mut any = false;
        let mut page = va & !(PAGE_SIZE - 1);
        while page < end {
            any |= self.cow_fault(page);
            page += PAGE_SIZE;
        }
        any
    }

    /// Makes the page at `slot` (user page `va`) the space's alone: a copy if a
    /// fork still shares it, the old page losing an owner; and writable if it may
    /// be written. The lock is held.
    fn unshare(&self, va: u64, slot: Slot) -> Result<(), MapError> {
        let tte = slot.tte();
        let pa = tte & TTE_PA_MASK;
        let shared = physmem::is_shared(pa);
        let mut new = tte;
        if shared {
            let copy = physmem::alloc().ok_or(MapError::NoMemory)?;
            physmem::copy_page(copy, pa);
            new = copy | (tte & !TTE_PA_MASK);
        }
        if new & TTE_SOFT_WRITE != 0 {
            new |= TTE_W;
        }
        if new != tte {
            physmem::store(slot.leaf, new);
            demap_page(self.ctx, va & !(PAGE_SIZE - 1));
        }
        if shared {
            physmem::release(pa);
        }
        Ok(())
    }

    /// Maps a new shared page at `va`, read-write for user mode. Not virtually
    /// cacheable (`CV` clear): the kernel reaches the page by its physical address,
    /// past the D-cache, which is indexed by virtual address.
    pub fn map_shared(&self, va: u64) -> Result<Shared<SharedPage>, MapError> {
        check_range(va, PAGE_SIZE)?;
        let pa = page_alloc()?;
        // SAFETY: `init` writes the only field.
        let page = match unsafe {
            Shared::try_new_with(|p: *mut SharedPage| p.write(SharedPage { pa }))
        } {
            Ok(page) => page,
            Err(_) => {
                physmem::free(pa);
                return Err(MapError::NoMemory);
            }
        };
        let mut t = self.lock.lock();
        if self.tte(va) != 0 {
            return Err(MapError::Overlap);
        }
        t.shared.try_reserve(1).map_err(|_| MapError::NoMemory)?;
        let slot = make_slot(self.root, &mut t, va)?;
        t.shared.push(page.share());
        slot.fill(&mut t, pa | TTE_V | TTE_CP | TTE_W | TTE_SOFT_SHARED);
        Ok(page)
    }

    /// The physical address of user address `va`, if mapped.
    fn paddr(&self, va: u64) -> Result<u64, MapError> {
        if va >= USER_LIMIT {
            return Err(MapError::BadRange);
        }
        let tte = self.tte(va);
        if tte & TTE_V == 0 {
            return Err(MapError::Unmapped);
        }
        Ok((tte & TTE_PA_MASK) | (va & (PAGE_SIZE - 1)))
    }

    /// Copies between the space and a kernel buffer, whatever the rights, page by
    /// page, all or nothing; `out`: into the space. Under the space's lock, so that
    /// no page goes meanwhile.
    fn copy(&self, va: u64, kbuf: *mut u8, len: usize, out: bool) -> Result<(), MapError> {
        va.checked_add(len as u64).filter(|&e| e <= USER_LIMIT).ok_or(MapError::BadRange)?;
        let _g = self.lock.lock();
        // Every page first: a copy never stops half-way; one into the space makes
        // each page its own first.
        let mut at = va & !(PAGE_SIZE - 1);
        while at < va + len as u64 {
            self.paddr(at)?;
            if out {
                let slot = self.slot(at).ok_or(MapError::Unmapped)?;
                if slot.tte() & TTE_SOFT_SHARED == 0 {
                    self.unshare(at, slot)?;
                }
            }
            at += PAGE_SIZE;
        }
        let mut done = 0;
        while done < len {
            let a = va + done as u64;
            let n = (PAGE_SIZE - (a % PAGE_SIZE)).min((len - done) as u64) as usize;
            let args = CopyArgs {
                user: self.paddr(a)?,
                kernel: kbuf.wrapping_add(done) as u64,
                len: n as u64,
                out: u64::from(out),
            };
            // SAFETY: `kbuf + done .. + n` is inside the caller's buffer, and the
            // physical range lies in one page the space owns, kept by its lock;
            // physical memory of the pool never faults: no `catch` is needed.
            unsafe { sparc64_copy_phys(&args) };
            done += n;
        }
        Ok(())
    }

    /// Writes `bytes` at `va` (the kernel loading a program).
    pub fn write(&self, va: u64, bytes: &[u8]) -> Result<(), MapError> {
        // The copy only reads the buffer: the pointer is mutable for the shared routine.
        self.copy(va, bytes.as_ptr().cast_mut(), bytes.len(), true)
    }

    /// Reads `buf.len()` bytes at `va`.
    pub fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), MapError> {
        self.copy(va, buf.as_mut_ptr(), buf.len(), false)
    }
}

/// The end of `va..va + len` if a user page may be mapped there: page-aligned, not
/// empty, below `USER_LIMIT`, clear of the kernel's window (its global entries
/// translate there in every context: a user page could never be reached, and two
/// matching entries are an MMU error).
fn check_range(va: u64, len: u64) -> Result<u64, MapError> {
    let end = va.checked_add(len).ok_or(MapError::BadRange)?;
    if !va.is_multiple_of(PAGE_SIZE)
        || !len.is_multiple_of(PAGE_SIZE)
        || len == 0
        || end > USER_LIMIT
        || (va < super::mmu::KERNEL_END && end > super::mmu::KERNEL_BASE)
    {
        return Err(MapError::BadRange);
    }
    Ok(end)
}

impl Drop for AddrSpace {
    fn drop(&mut self) {
        let was = super::intr_disable();
        // No TLB entry may outlive the pages or name the context's next owner.
        demap_context(self.ctx);
        if sparc64_cpu.ctx.load(Ordering::Relaxed) == u64::from(self.ctx) {
            set_primary_context(0);
            sparc64_cpu.ctx.store(0, Ordering::Relaxed);
        }
        super::intr_restore(was);
        let t = self.lock.get_mut();
        for leaf in &t.leaves {
            for (_, at) in leaf.pages() {
                let tte = physmem::load(at);
                if tte & TTE_SOFT_SHARED == 0 {
                    physmem::release(tte & TTE_PA_MASK);
                }
            }
            physmem::free(leaf.pa);
        }
        for &mid in &t.mids {
            physmem::free(mid);
        }
        physmem::free(self.root);
        CONTEXTS.lock().push(self.ctx);
        // The space's handles to its shared pages go with it (the `Vec` drops them).
    }
}

/// Sets the primary context register: which non-global TLB entries translate.
pub(super) fn set_primary_context(ctx: u16) {
    // SAFETY: the primary context only selects which non-global TLB entries match;
    // everything the kernel uses is global, so nothing the kernel needs changes.
    unsafe { set_context_register(0x8, ctx) }
}

/// Removes every TLB entry of context `ctx`, in both MMUs (`demap context`).
fn demap_context(ctx: u16) {
    demap(ctx, 0x40)
}

/// Removes the TLB entries of user page `va` of context `ctx`, in both MMUs.
fn demap_page(ctx: u16, va: u64) {
    demap(ctx, va)
}

/// A demap of context `ctx`: `what` is a page's address (demap page) or 0x40
/// (demap context). Made through the primary context if `ctx` is in it, else
/// through the secondary context register (which nothing else uses: it is put
/// back to 0).
fn demap(ctx: u16, what: u64) {
    let was = super::intr_disable();
    let primary = sparc64_cpu.ctx.load(Ordering::Relaxed) == u64::from(ctx);
    if !primary {
        set_secondary_context(ctx);
    }
    // Context primary (bits 5:4 = 0) or secondary (1).
    let op = what | if primary { 0 } else { 0x10 };
    // SAFETY: a demap only removes translations of one user context (one page of
    // it, or all); the kernel's entries are global and locked, and stay.
    unsafe {
        asm!(
            "stxa %g0, [{op}] 0x5f",
            "membar #Sync",
            "stxa %g0, [{op}] 0x57",
            "flush {k}",
            op = in(reg) op,
            k = in(reg) super::mmu::KERNEL_BASE,
            options(nostack)
        )
    };
    if !primary {
        set_secondary_context(0);
    }
    super::intr_restore(was);
}

/// Sets the secondary context register (for a demap in another space's context).
fn set_secondary_context(ctx: u16) {
    // SAFETY: the kernel never translates through the secondary context (no access
    // uses a secondary ASI): the register only names what a demap removes.
    unsafe { set_context_register(0x10, ctx) }
}

/// Writes MMU context register `va` of ASI 0x58 (0x8 primary, 0x10 secondary).
///
/// # Safety
///
/// A context register selects what user-context TLB entries translate: the
/// caller says why nothing the kernel relies on changes.
unsafe fn set_context_register(va: u64, ctx: u16) {
    // SAFETY: a store to an MMU register, then the `membar #Sync` the UltraSPARC
    // manual asks for after one; the caller answers for the value.
    unsafe {
        asm!(
            "stxa {ctx}, [{va}] 0x58",
            "membar #Sync",
            ctx = in(reg) u64::from(ctx),
            va = in(reg) va,
            options(nostack),
        )
    };
}

global_asm!(
    r#"
    .section .text.copy, "ax"
    .align  32
    ! sparc64_copy_user(args: &CopyArgs): copies `len` bytes between the user address
    ! and the kernel buffer through ASI_AS_IF_USER_PRIMARY, in (out = 0) or out
    ! (out = 1): while both addresses are 8-aligned, 128 bytes a round, then the
    ! doublewords left (up to 15) by a jump into an unrolled run of them (no count
    ! kept: a signal's `ucontext_t`, 29 doublewords, is one round and 13 of them);
    ! then (or if they are not aligned) byte by byte. %asi is the kernel's to change
    ! (the user's is in its frame). Runs inside `catch`: a fault ends it.
    ! sparc64_copy_phys(args: &CopyArgs) is the same with a physical address for
    ! the user one (a page of the pool), through the MMU-bypass ASI: it never faults.
    ! COPY bytes, dir: `bytes` (a multiple of 16) between %o1, the user's address
    ! (through %asi), and %o2, the kernel's, in (user → kernel) or out, two
    ! doublewords a step; the addresses and the count stay as they are.
    .macro  COPY bytes, dir
    .set    copy_off, 0
    .rept   \bytes / 16
    .ifc    \dir, in
    ldxa    [%o1 + copy_off] %asi, %o0
    ldxa    [%o1 + copy_off + 8] %asi, %o5
    stx     %o0, [%o2 + copy_off]
    stx     %o5, [%o2 + copy_off + 8]
    .else
    ldx     [%o2 + copy_off], %o0
    ldx     [%o2 + copy_off + 8], %o5
    stxa    %o0, [%o1 + copy_off] %asi
    stxa    %o5, [%o1 + copy_off + 8] %asi
    .endif
    .set    copy_off, copy_off + 16
    .endr
    .endm

    ! ROUNDS dir: the %o4 rounds of 128 bytes in or out, the addresses moved past
    ! them.
    .macro  ROUNDS dir
    brz,pn  %o4, 11f
     nop
10: COPY    128, \dir
    add     %o1, 128, %o1
    subcc   %o4, 1, %o4
    bnz,pt  %xcc, 10b
     add    %o2, 128, %o2
11:
    .endm

    ! WORDS dir, end, bytes: the doublewords of %o3 mod 128 (%o3 & 0x78 bytes) in or
    ! out, then on to `bytes` with the addresses past them and %o3 the bytes left
    ! (%o3 & 7). The run holds 15 steps of two instructions, each 8 bytes of code
    ! for 8 of data, that end at `end`: the jump lands as many bytes before `end`
    ! as there are to copy, and each step reaches back from the addresses' end.
    .macro  WORDS dir, end, bytes
    and     %o3, 0x78, %o5
    add     %o1, %o5, %o1
    add     %o2, %o5, %o2
    sethi   %hi(\end), %o0
    or      %o0, %lo(\end), %o0
    sub     %o0, %o5, %o0
    jmp     %o0
     and    %o3, 7, %o3
    .set    copy_off, 120
    .rept   15
    .ifc    \dir, in
    ldxa    [%o1 - copy_off] %asi, %o5
    stx     %o5, [%o2 - copy_off]
    .else
    ldx     [%o2 - copy_off], %o5
    stxa    %o5, [%o1 - copy_off] %asi
    .endif
    .set    copy_off, copy_off - 8
    .endr
\end:
    ba,pt   %xcc, \bytes
     nop
    .endm

    .globl  sparc64_copy_phys
    .type   sparc64_copy_phys, #function
sparc64_copy_phys:
    ba,pt   %xcc, 9f
     wr     %g0, 0x14, %asi
    .size   sparc64_copy_phys, . - sparc64_copy_phys
    .globl  sparc64_copy_user
    .type   sparc64_copy_user, #function
sparc64_copy_user:
    wr      %g0, 0x10, %asi
9:  ldx     [%o0 + {user}], %o1
    ldx     [%o0 + {kernel}], %o2
    ldx     [%o0 + {len}], %o3
    ldx     [%o0 + {out}], %o4
    or      %o1, %o2, %o5
    andcc   %o5, 7, %g0
    bnz,pn  %xcc, 5f                    ! not both aligned: bytes
     nop
    brnz,pn %o4, 3f
     srlx   %o3, 7, %o4                 ! %o4: the 128-byte rounds (the direction is known)
    ROUNDS  in                          ! in: user → kernel
    WORDS   in, .Lcopy_in_words, 6f
3:  ROUNDS  out                         ! out: kernel → user
    WORDS   out, .Lcopy_out_words, 7f
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
    fn sparc64_copy_user(args: *const CopyArgs);
    fn sparc64_copy_phys(args: *const CopyArgs);
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

/// What `sparc64_copy_user` copies: passed by address, through `catch`'s one
/// argument (and what `sparc64_copy_phys` copies, `user` a physical address).
#[repr(C)]
struct CopyArgs {
    user: u64,
    kernel: u64,
    len: u64,
    /// 1: towards the user; 0: from it.
    out: u64,
}

/// What a copy that trapped ran into.
fn fault_of(info: TrapInfo, uaddr: u64) -> Fault {
    let kind = match info.tt {
        tt::FAST_DATA_ACCESS_PROTECTION | tt::DATA_ACCESS_EXCEPTION => FaultKind::Protection,
        _ => FaultKind::Unmapped,
    };
    Fault { kind, addr: uaddr }
}

/// Copies between user address `uaddr` of the running thread's address space and
/// `kbuf`, with the user's rights; `out` = towards the user. `running` finds that
/// space (`user::current_space`: the running thread's user side is user mode's),
/// for a copy out that meets copy-on-write pages. Inlined into
/// `copyin`/`copyout`: a register window less on every copy.
#[inline(always)]
pub(super) fn copy_user(
    uaddr: u64,
    kbuf: *mut u8,
    len: usize,
    out: bool,
    running: impl Fn() -> Option<&'static AddrSpace> + Copy,
) -> Result<(), Fault> {
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
    loop {
        match catch(copy_user_entry, &args as *const CopyArgs as usize) {
            Ok(()) => return Ok(()),
            // A copy out that found a copy-on-write page is made again once the
            // range's are resolved (the pages it wrote already hold the same).
            Err(info) if out && cow_resolved(info, uaddr, len as u64, running) => {}
            Err(info) => return Err(fault_of(info, uaddr)),
        }
    }
}

/// Whether the trap `info` of a store into `uaddr..uaddr + len` of the running
/// thread's space (which `running` finds) found copy-on-write pages there, now
/// resolved.
#[cold]
fn cow_resolved(
    info: TrapInfo,
    uaddr: u64,
    len: u64,
    running: impl Fn() -> Option<&'static AddrSpace>,
) -> bool {
    info.tt == tt::FAST_DATA_ACCESS_PROTECTION
        && running().is_some_and(|s| resolve_cow(s, uaddr, len))
}

/// Resolves the copy-on-write pages of `va..va + len` in `space` (see the module
/// comment), with interrupts on, whatever the caller had: true if there was one.
pub(super) fn resolve_cow(space: &AddrSpace, va: u64, len: u64) -> bool {
    let was = super::intr_disable();
    super::intr_restore(true);
    let any = space.cow_range(va, len);
    super::intr_restore(was);
    any
}

extern "C" fn copy_user_entry(args: usize) {
    // SAFETY: `args` is the address of the `CopyArgs` `copy_user` made, whose kernel
    // buffer is valid for `len` bytes; user addresses are reached only through the
    // as-if-user ASI, checked by the MMU, and a fault lands back in `catch`.
    unsafe { sparc64_copy_user(args as *const CopyArgs) }
}

/// Compare-and-swap of the user word at `uaddr` of the running thread's address
/// space, with the user's rights (`Machine::user_cas32`); `running` finds that
/// space, as for [`copy_user`].
pub(super) fn cas_user(
    uaddr: u64,
    old: u32,
    new: u32,
    running: impl Fn() -> Option<&'static AddrSpace> + Copy,
) -> Result<u32, Fault> {
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
    loop {
        match catch(cas_user_entry, &mut args as *mut CasArgs as usize) {
            Ok(()) => return Ok(args.result),
            Err(info) if cow_resolved(info, uaddr, 4, running) => {}
            Err(info) => return Err(fault_of(info, uaddr)),
        }
    }
}

extern "C" fn cas_user_entry(args: usize) {
    // SAFETY: `args` is the address of the `CasArgs` `cas_user` made, live for the
    // call; the user word is reached only through the as-if-user ASI, checked by the
    // MMU, and a fault lands back in `catch`.
    unsafe { sparc64_cas_user(args as *mut CasArgs) }
}
