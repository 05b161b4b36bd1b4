//! A process's address-space layout (S1, S16): its segments, anonymous memory
//! (`mmap`, `munmap`, `mprotect`), the main stack that grows on demand, and the
//! machine's memory figures (`sysconfig`).
//!
//! # Theory
//!
//! The machine keeps the pages and their translations (`Machine::AddrSpace`); this
//! module keeps what they are for, as Solaris' `struct as` keeps its segments above
//! the HAT: a process's [`Vm`], in its `p_vm`, lists its segments in address
//! order — the program's, which `exec` maps, and the anonymous ones `mmap` makes —
//! and where its main stack is. Every check of an argument and every choice is made
//! here, before the machine is asked to do anything, so that a call that fails
//! changes nothing (the one exception is POSIX's: a fixed `mmap` that finds no
//! memory may have unmapped what was there):
//!
//! * **Ranges.** `mmap`, `munmap` and `mprotect` take page-aligned addresses, a
//!   length that is not 0, and ranges inside the user address space; they never
//!   touch the *fixed* parts of the layout: the program's segments, the main stack
//!   with the room it may grow into and a guard page on each side, the schedctl
//!   pages' area (`lwp_abi::SC_BASE`), and what the machine keeps for itself
//!   (`Machine::USER_RESERVED`: sparc64's kernel window). Such a range is EINVAL.
//! * **Choosing an address.** Without `MAP_FIXED` the kernel places a mapping at
//!   the highest hole that fits below [`MMAP_TOP`], the guard page under the
//!   stack's room, first fit going down (as Solaris places them below the stack);
//!   the address the caller gives is no hint.
//! * **Segments.** Anonymous segments that touch and have the same rights are one;
//!   `munmap` and `mprotect` cut them where their range ends. A process may have at
//!   most [`MAX_SEGS`] (ENOMEM beyond), so the list it makes the kernel keep is
//!   bounded; room for the cuts is reserved before anything changes.
//! * **Memory.** A mapping's pages come from the machine's page pool, zero-filled,
//!   at once (there is no demand paging): `mmap` fails with ENOMEM when the pool
//!   cannot give them all, and `munmap` gives them back, with the page tables they
//!   needed. The pool is apart from the kernel heap, so user memory running out
//!   never starves the kernel's own objects.
//! * **The main stack** is mapped at its initial size by `exec`, and grows on
//!   demand (as Solaris' `grow`): a fault at an unmapped address below it, within
//!   the process's stack limit ([`crate::rctl`]: Solaris' 8 MiB, less when memory
//!   is short), maps every page from there up to the stack, and the faulting
//!   instruction is made again; the same goes for the kernel's own writes to user
//!   memory (a signal frame below a deep stack, a result written there: see
//!   `syscall::copyout`). Beyond the limit, the guard page below it, or when the
//!   pool is empty, the fault is a fault (SIGSEGV, `SEGV_MAPERR`).
//!
//! A process's calls are serialized by its `p_vm` mutex, which is held across the
//! machine's work (so `fork`'s copy and the list it copies agree). `fork` gives the
//! child a copy of the list; `exec` a new one; a process that becomes a zombie, an
//! empty one. Processes the kernel starts without `exec` (the simulation's tests)
//! may have no stack and no program segments.

use alloc::vec::Vec;
use core::ops::Range;

use arch::{Fault, FaultKind, Machine, MapError, Prot, PAGE_SIZE, USER_LIMIT};
use lwp_abi::{
    sc_shared_addr, CONFIG_AVPHYS_PAGES, CONFIG_PAGESIZE, CONFIG_PHYS_PAGES, MAP_ANON, MAP_FIXED,
    MAP_NEW, MAP_NORESERVE, MAP_PRIVATE, MAP_SHARED, MAP_TYPE, PROT_EXEC, PROT_READ, PROT_WRITE,
    SC_BASE, SC_SIZE,
};

use crate::errno::Errno;
use crate::proc::AddrSpace;
use crate::syscall::SysResult;
use crate::thread::curproc;
use crate::{exec, file, rctl, M};

/// Anonymous mappings go at or below this: the guard page under the room the main
/// stack may grow into (see `exec`).
pub const MMAP_TOP: u64 = exec::PROGRAM_LIMIT;
/// The most segments one process may have.
pub const MAX_SEGS: usize = 4096;

/// The schedctl pages' area, for any LWP id.
const SC_AREA: Range<u64> =
    SC_BASE..(sc_shared_addr(u32::MAX) + SC_SIZE).next_multiple_of(PAGE_SIZE);

/// What a segment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegKind {
    /// A piece of the program, mapped by `exec`: no call may change it.
    Program,
    /// Anonymous memory, made by `mmap`.
    Anon,
}

/// A segment: `start..end` (page-aligned), its rights and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seg {
    /// Its first address.
    pub start: u64,
    /// The address past its last page.
    pub end: u64,
    /// Its pages' rights.
    pub prot: Prot,
    /// What it is.
    pub kind: SegKind,
}

/// The main stack: `low..top` is mapped, and `low` may go down to `floor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stack {
    /// Its lowest mapped address.
    pub low: u64,
    /// The address past its highest page.
    pub top: u64,
    /// The lowest `low` may become (the process's stack limit below `top`).
    pub floor: u64,
}

/// A process's layout: its segments, in address order, and its main stack.
#[derive(Debug, Default)]
pub struct Vm {
    segs: Vec<Seg>,
    stack: Option<Stack>,
}

impl Vm {
    /// A layout with nothing in it: no program, no stack.
    pub const fn new() -> Vm {
        Vm { segs: Vec::new(), stack: None }
    }

    /// A layout whose main stack is mapped at `low..top` and may grow down to the
    /// stack limit in force (`rctl::stack_max`) below `top`.
    pub fn with_stack(low: u64, top: u64) -> Vm {
        let floor = top.saturating_sub(rctl::stack_max()).max(PAGE_SIZE).min(low);
        Vm { segs: Vec::new(), stack: Some(Stack { low, top, floor }) }
    }

    /// Its segments, in address order.
    pub fn segments(&self) -> &[Seg] {
        &self.segs
    }

    /// Its main stack, if it has one.
    pub fn stack(&self) -> Option<Stack> {
        self.stack
    }

    /// Adds a segment of the program (`exec`), which must touch no other;
    /// `ENOMEM` if there is no room for it.
    pub fn add_program(&mut self, start: u64, end: u64, prot: Prot) -> Result<(), Errno> {
        self.reserve(1)?;
        let at = self.segs.partition_point(|s| s.start < start);
        self.segs.insert(at, Seg { start, end, prot, kind: SegKind::Program });
        Ok(())
    }

    /// A copy, for a `fork` child; `ENOMEM` without room for it.
    pub fn try_clone(&self) -> Result<Vm, Errno> {
        let mut segs = Vec::new();
        segs.try_reserve_exact(self.segs.len()).map_err(|_| Errno::ENOMEM)?;
        segs.extend_from_slice(&self.segs);
        Ok(Vm { segs, stack: self.stack })
    }

    /// Makes room for `n` more segments (the cuts and the insertion of one call),
    /// so that what follows cannot fail; `ENOMEM` past [`MAX_SEGS`] or without
    /// memory.
    pub fn reserve(&mut self, n: usize) -> Result<(), Errno> {
        if self.segs.len() + n > MAX_SEGS {
            return Err(Errno::ENOMEM);
        }
        self.segs.try_reserve(n).map_err(|_| Errno::ENOMEM)
    }

    /// The parts of the address space no call may change: the machine's own, the
    /// schedctl area, and the main stack's room with a guard page on each side.
    fn fixed(&self) -> [Range<u64>; 3] {
        let stack = self.stack.map_or(0..0, |s| s.floor - PAGE_SIZE..s.top + PAGE_SIZE);
        [M::USER_RESERVED, SC_AREA, stack]
    }

    /// The index of the first segment that ends after `addr`.
    fn first_after(&self, addr: u64) -> usize {
        self.segs.partition_point(|s| s.end <= addr)
    }

    /// The segments that overlap `start..end`.
    fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = &Seg> {
        self.segs[self.first_after(start)..].iter().take_while(move |s| s.start < end)
    }

    /// `EINVAL` if `start..end` touches a fixed part of the layout or the program.
    pub fn check_changeable(&self, start: u64, end: u64) -> Result<(), Errno> {
        let fixed = self.fixed().iter().any(|r| r.start < end && start < r.end);
        let program = self.overlapping(start, end).any(|s| s.kind == SegKind::Program);
        if fixed || program {
            Err(Errno::EINVAL)
        } else {
            Ok(())
        }
    }

    /// Where a new mapping of `len` bytes (whole pages) goes: the highest hole
    /// below [`MMAP_TOP`] that holds it, clear of every segment and fixed part;
    /// `None` if there is none.
    pub fn find_gap(&self, len: u64) -> Option<u64> {
        let fixed = self.fixed();
        let mut segs = self.segs.iter().rev().peekable();
        let mut hi = MMAP_TOP;
        loop {
            let lo = hi.checked_sub(len).filter(|&lo| lo >= PAGE_SIZE)?;
            while segs.next_if(|s| s.start >= hi).is_some() {}
            // Segments are disjoint and sorted: only the highest one left can
            // reach above `lo`.
            let seg = segs.peek().filter(|s| s.end > lo).map(|s| s.start);
            let fix = fixed.iter().filter(|r| r.start < hi && r.end > lo).map(|r| r.start).max();
            match seg.max(fix) {
                Some(below) => hi = below,
                None => return Some(lo),
            }
        }
    }

    /// Adds anonymous memory at `start..end` (free of segments), as one segment with
    /// its neighbours of the same rights. Room must have been reserved.
    pub fn insert_anon(&mut self, start: u64, end: u64, prot: Prot) {
        let at = self.segs.partition_point(|s| s.start < start);
        self.segs.insert(at, Seg { start, end, prot, kind: SegKind::Anon });
        self.coalesce();
    }

    /// Removes the anonymous memory in `start..end` (program segments stay: the
    /// caller checked there are none), cutting the segments it ends inside of; `gone`
    /// is given each piece removed. Room for one cut must have been reserved.
    pub fn remove_anon(&mut self, start: u64, end: u64, mut gone: impl FnMut(u64, u64)) {
        let mut i = self.first_after(start);
        while let Some(&s) = self.segs.get(i).filter(|s| s.start < end) {
            if s.kind != SegKind::Anon {
                i += 1;
                continue;
            }
            let (a, b) = (s.start.max(start), s.end.min(end));
            gone(a, b);
            match (s.start < a, s.end > b) {
                (false, false) => {
                    self.segs.remove(i);
                }
                (true, false) => {
                    self.segs[i].end = a;
                    i += 1;
                }
                (false, true) => {
                    self.segs[i].start = b;
                    i += 1;
                }
                (true, true) => {
                    self.segs[i].end = a;
                    self.segs.insert(i + 1, Seg { start: b, ..s });
                    i += 2;
                }
            }
        }
    }

    /// Whether anonymous segments cover every page of `start..end`.
    pub fn anon_covers(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        for s in self.overlapping(start, end) {
            if s.kind != SegKind::Anon || s.start > at {
                return false;
            }
            at = s.end;
        }
        at >= end
    }

    /// Gives the anonymous memory of `start..end` (covered: [`Vm::anon_covers`]) the
    /// rights `prot`, cutting segments at both ends. Room for two cuts must have
    /// been reserved.
    pub fn protect_anon(&mut self, start: u64, end: u64, prot: Prot) {
        for cut in [start, end] {
            let i = self.first_after(cut);
            if let Some(&s) = self.segs.get(i).filter(|s| s.start < cut) {
                self.segs[i].end = cut;
                self.segs.insert(i + 1, Seg { start: cut, ..s });
            }
        }
        let i = self.first_after(start);
        for s in self.segs[i..].iter_mut().take_while(|s| s.start < end) {
            s.prot = prot;
        }
        self.coalesce();
    }

    /// Merges anonymous segments that touch and have the same rights.
    fn coalesce(&mut self) {
        self.segs.dedup_by(|next, prev| {
            let same = prev.kind == SegKind::Anon && next.kind == SegKind::Anon;
            if same && prev.end == next.start && prev.prot == next.prot {
                prev.end = next.end;
                true
            } else {
                false
            }
        });
    }

    /// What a fault at `addr` asks of the main stack: `Some(range)` if `addr` is in
    /// the room it may grow into (the pages to map: from `addr`'s up to the stack;
    /// empty if it has grown past `addr` since), `None` if `addr` is not the
    /// stack's to answer for.
    pub fn stack_growth(&self, addr: u64) -> Option<Range<u64>> {
        let s = self.stack?;
        let page = addr & !(PAGE_SIZE - 1);
        (s.floor..s.top).contains(&addr).then(|| page.min(s.low)..s.low)
    }

    /// The main stack now reaches down to `low` (mapped by the caller).
    pub fn grow_to(&mut self, low: u64) {
        if let Some(s) = &mut self.stack {
            s.low = s.low.min(low);
        }
    }
}

/// The rights `prot` asks for, if it holds nothing else.
fn prot_of(prot: u64) -> Result<Prot, Errno> {
    if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(Prot::from_bits_truncate(prot as u8))
}

/// `start..start + len` rounded out to whole pages, if it lies in the user address
/// space; `err` otherwise. `start` must be page-aligned and `len` not 0 (EINVAL).
fn user_range(start: u64, len: u64, err: Errno) -> Result<Range<u64>, Errno> {
    if !start.is_multiple_of(PAGE_SIZE) || len == 0 {
        return Err(Errno::EINVAL);
    }
    let end = len
        .checked_next_multiple_of(PAGE_SIZE)
        .and_then(|len| start.checked_add(len))
        .filter(|&end| end <= USER_LIMIT)
        .ok_or(err)?;
    Ok(start..end)
}

/// The calling process's address space; `EINVAL` for a process with none.
fn my_space() -> Result<(&'static crate::proc::Proc, arch::kmem::Shared<AddrSpace>), Errno> {
    let p = curproc().ok_or(Errno::EINVAL)?;
    Ok((p, p.addr_space().ok_or(Errno::EINVAL)?))
}

fn map_errno(e: MapError) -> Errno {
    match e {
        MapError::NoMemory => Errno::ENOMEM,
        MapError::BadRange | MapError::Overlap | MapError::Unmapped => Errno::EINVAL,
    }
}

/// `mmap(addr, len, prot, flags, fd, off)`: see `lwp_abi::mman`. The address of
/// the new mapping.
pub(crate) fn sys_mmap(addr: u64, len: u64, prot: u64, flags: u64, fd: u64, off: u64) -> SysResult {
    let flags = flags & !MAP_NEW;
    if flags & !(MAP_TYPE | MAP_FIXED | MAP_NORESERVE | MAP_ANON) != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MAP_ANON == 0 {
        // A descriptor: there is nothing a file could map (no file system).
        file::getf(fd)?;
        return Err(Errno::ENODEV);
    }
    match flags & MAP_TYPE {
        MAP_PRIVATE => {}
        MAP_SHARED => return Err(Errno::ENOTSUP),
        _ => return Err(Errno::EINVAL),
    }
    let prot = prot_of(prot)?;
    if !off.is_multiple_of(PAGE_SIZE) || len == 0 {
        return Err(Errno::EINVAL);
    }
    // More than the pool has free cannot be had: refused before any work (the
    // machine would find out only page by page).
    let pages = len.div_ceil(PAGE_SIZE);
    if pages > M::page_stats().free as u64 {
        return Err(Errno::ENOMEM);
    }
    let fixed = flags & MAP_FIXED != 0;
    let (p, space) = my_space()?;
    let mut vm = p.p_vm.lock();
    let range = if fixed {
        let range = user_range(addr, len, Errno::ENOMEM)?;
        vm.check_changeable(range.start, range.end)?;
        range
    } else {
        let len = len.checked_next_multiple_of(PAGE_SIZE).ok_or(Errno::ENOMEM)?;
        let start = vm.find_gap(len).ok_or(Errno::ENOMEM)?;
        start..start + len
    };
    vm.reserve(2)?;
    if fixed {
        vm.remove_anon(range.start, range.end, |a, b| {
            let _ = M::as_unmap(&space, a, b - a);
        });
    }
    M::as_map(&space, range.start, range.end - range.start, prot).map_err(map_errno)?;
    vm.insert_anon(range.start, range.end, prot);
    Ok((range.start, 0))
}

/// `munmap(addr, len)`: see `lwp_abi::mman`.
pub(crate) fn sys_munmap(addr: u64, len: u64) -> SysResult {
    let range = user_range(addr, len, Errno::EINVAL)?;
    let (p, space) = my_space()?;
    let mut vm = p.p_vm.lock();
    vm.check_changeable(range.start, range.end)?;
    vm.reserve(1)?;
    vm.remove_anon(range.start, range.end, |a, b| {
        let _ = M::as_unmap(&space, a, b - a);
    });
    Ok((0, 0))
}

/// `mprotect(addr, len, prot)`: see `lwp_abi::mman`.
pub(crate) fn sys_mprotect(addr: u64, len: u64, prot: u64) -> SysResult {
    let range = user_range(addr, len, Errno::ENOMEM)?;
    let prot = prot_of(prot)?;
    let (p, space) = my_space()?;
    let mut vm = p.p_vm.lock();
    vm.check_changeable(range.start, range.end)?;
    if !vm.anon_covers(range.start, range.end) {
        return Err(Errno::ENOMEM);
    }
    vm.reserve(2)?;
    M::as_protect(&space, range.start, range.end - range.start, prot).map_err(map_errno)?;
    vm.protect_anon(range.start, range.end, prot);
    Ok((0, 0))
}

/// `sysconfig(which)`: the page size, and the page pool's pages in all and free.
pub(crate) fn sysconfig(which: u64) -> SysResult {
    let pages = M::page_stats();
    let v = match which {
        CONFIG_PAGESIZE => PAGE_SIZE,
        CONFIG_PHYS_PAGES => pages.total as u64,
        CONFIG_AVPHYS_PAGES => pages.free as u64,
        _ => return Err(Errno::EINVAL),
    };
    Ok((v, 0))
}

/// A fault of the current LWP, or of the kernel's write to its memory: whether the
/// main stack has grown over its address (and the access may be made again).
pub fn user_fault(f: Fault) -> bool {
    if !matches!(f.kind, FaultKind::Unmapped | FaultKind::BadStack) {
        return false;
    }
    let Ok((p, space)) = my_space() else { return false };
    let mut vm = p.p_vm.lock();
    match vm.stack_growth(f.addr) {
        // Another LWP has grown it meanwhile: an unmapped page there is mapped now.
        Some(r) if r.is_empty() => f.kind == FaultKind::Unmapped,
        Some(r) => {
            let grown = M::as_map(&space, r.start, r.end - r.start, Prot::READ | Prot::WRITE);
            if grown.is_ok() {
                vm.grow_to(r.start);
            }
            grown.is_ok()
        }
        None => false,
    }
}
