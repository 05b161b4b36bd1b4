//! What each process carries for its memory (`Proc::p_vm`): the user address
//! layout (where programs, anonymous memory and the main stack go), its segments
//! and its main stack. Kept by `vm`, whose theory says how they are used; below the
//! process structure that holds it.

use alloc::vec::Vec;
use core::ops::Range;

use arch::uregs::USER_LIMIT;
use arch::{Machine, Prot, PAGE_SIZE};
use lwp_abi::{sc_shared_addr, SC_BASE, SC_SIZE};

use crate::errno::Errno;
use crate::rctl::{self, STACK_LIMIT};
use crate::M;

/// The top of the user stack of a new process (unbiased, page-aligned): its first
/// LWP's stack pointer starts one minimal frame below it.
pub const USER_STACK_TOP: u64 = USER_LIMIT - PAGE_SIZE;
/// The size of the user stack of a new process, mapped at once; it grows on demand
/// (`vm`) up to the process's stack limit.
pub const USER_STACK_SIZE: u64 = 256 * 1024;
/// Program segments end at or below this: the guard page under the room the stack
/// may grow into starts here (and anonymous mappings go below it: `vm`).
pub const PROGRAM_LIMIT: u64 = USER_STACK_TOP - STACK_LIMIT - PAGE_SIZE;

/// Anonymous mappings go at or below this: the guard page under the room the main
/// stack may grow into (see `exec`).
pub const MMAP_TOP: u64 = PROGRAM_LIMIT;
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
