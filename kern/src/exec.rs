//! Exec: starting a user process from a program image (S1), the ELF loader.
//!
//! This module owns what a new process's address space holds when its first LWP
//! starts: which images are acceptable ([`parse`]), how their segments become pages
//! ([`load`]), where the user stack is ([`USER_STACK_TOP`], [`USER_STACK_SIZE`]),
//! and the whole sequence that ends in a running process ([`spawn`]).
//!
//! # Theory
//!
//! An image is a static SPARC V9 executable (S19): ELF64, big-endian, `EM_SPARCV9`,
//! `ET_EXEC`, with no `PT_INTERP` or `PT_DYNAMIC` (there is no run-time linker to
//! hand it to). Its `PT_LOAD` segments are mapped with the rights their flags ask
//! for; other program headers (notes, `PT_GNU_STACK`, `PT_TLS`) need nothing from
//! the kernel and are ignored.
//!
//! A malformed image is refused with `ENOEXEC`, never loaded half-way and never a
//! kernel crash (S16). That is why [`parse`] decides everything: it checks every
//! header and segment before a single page exists, and the [`Image`] it returns
//! is one that [`load`] maps without a decision of its own. What the machine may
//! still refuse (memory, addresses it reserves) fails [`spawn`] before the process
//! exists, and the new address space is dropped with whatever was mapped in it.
//!
//! The address space of a new process: the program's segments, below
//! [`PROGRAM_LIMIT`]; one unmapped guard page, so that a stack overflow faults
//! instead of writing over the program's data; the stack, `READ | WRITE`, up to
//! [`USER_STACK_TOP`]; one unmapped page above it, up to `USER_LIMIT`, so that a
//! read past the top of the stack faults too.

use alloc::vec::Vec;
use arch::kmem::Shared;
use core::ops::Range;

use arch::uregs::USER_LIMIT;
use arch::{Machine, MapError, Prot, UserRegs, PAGE_SIZE};
use object::elf::{self, FileHeader64, ProgramHeader64};
use object::read::elf::{FileHeader, ProgramHeader};
use object::BigEndian;

use crate::cred::Cred;
use crate::errno::Errno;
use crate::proc::{proc_create_user, AddrSpace, Pid};
use crate::M;

/// The top of the user stack of a new process (unbiased, page-aligned): its first
/// LWP's stack pointer starts one minimal frame below it.
pub const USER_STACK_TOP: u64 = USER_LIMIT - PAGE_SIZE;
/// The size of the user stack of a new process.
pub const USER_STACK_SIZE: u64 = 256 * 1024;
/// Program segments end at or below this: the stack's guard page starts here.
pub const PROGRAM_LIMIT: u64 = USER_STACK_TOP - USER_STACK_SIZE - PAGE_SIZE;

/// A validated program image, ready for [`load`]: every segment inside
/// `0..PROGRAM_LIMIT`, no two sharing a page, the entry in an executable one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image<'a> {
    /// Where the first LWP starts.
    pub entry: u64,
    /// The `PT_LOAD` segments, in ascending address order.
    pub segments: Vec<Segment<'a>>,
}

/// One loadable segment of an [`Image`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Its first address; the segment is `vaddr..vaddr + memsz`.
    pub vaddr: u64,
    /// Its size in memory, in bytes (ELF's `p_memsz`; at least `data.len()`).
    pub memsz: u64,
    /// The bytes of the image that go at `vaddr`; the rest of the segment is zero.
    pub data: &'a [u8],
    /// The rights of its pages, from ELF's `p_flags` (`PF_R`, `PF_W`, `PF_X`).
    pub prot: Prot,
}

impl Segment<'_> {
    /// The pages the segment occupies: its range rounded out to whole pages.
    pub fn pages(&self) -> Range<u64> {
        let start = self.vaddr & !(PAGE_SIZE - 1);
        // Cannot overflow: parse kept the end at or below PROGRAM_LIMIT.
        let end = (self.vaddr + self.memsz).next_multiple_of(PAGE_SIZE);
        start..end
    }

    fn contains(&self, addr: u64) -> bool {
        (self.vaddr..self.vaddr + self.memsz).contains(&addr)
    }
}

/// Checks the ELF image `elf` whole and describes what loading it maps.
///
/// Errors: `ENOEXEC` for anything but a well-formed static SPARC V9 executable
/// that fits the user address space (see the module documentation): a truncated
/// or foreign header; a segment whose file bytes are not all in the image, whose
/// file size exceeds its memory size, which reaches beyond [`PROGRAM_LIMIT`] (or
/// wraps around), whose address and file offset differ modulo the page size (its
/// bytes would not land where the program expects them), or which has no rights;
/// segments out of address order or sharing a page (one page has one set of
/// rights); an entry point that is misaligned or not in an executable segment
/// (which also refuses an image without segments).
pub fn parse(elf: &[u8]) -> Result<Image<'_>, Errno> {
    // Room for every segment the headers may describe, had before they are read.
    let mut segments = Vec::new();
    let phnum = FileHeader64::<BigEndian>::parse(elf)
        .ok()
        .and_then(|h| h.endian().ok().map(|e| usize::from(h.e_phnum(e))))
        .ok_or(Errno::ENOEXEC)?;
    segments.try_reserve_exact(phnum).map_err(|_| Errno::ENOMEM)?;
    parse_image(elf, segments).ok_or(Errno::ENOEXEC)
}

/// The checks of [`parse`], the segments going into `segments` (room made for all).
fn parse_image<'a>(elf: &'a [u8], mut segments: Vec<Segment<'a>>) -> Option<Image<'a>> {
    let hdr = FileHeader64::<BigEndian>::parse(elf).ok()?; // magic, class, version
    let e = hdr.endian().ok()?; // refuses little-endian
    if hdr.e_machine(e) != elf::EM_SPARCV9 || hdr.e_type(e) != elf::ET_EXEC {
        return None;
    }
    let headers = hdr.program_headers(e, elf).ok()?;
    if headers.len() > segments.capacity() {
        return None;
    }
    for ph in headers {
        match ph.p_type(e) {
            elf::PT_LOAD => {}
            elf::PT_INTERP | elf::PT_DYNAMIC => return None,
            _ => continue,
        }
        let seg = segment(ph, e, elf)?;
        // An empty segment maps nothing (linkers may emit one).
        if seg.memsz == 0 {
            continue;
        }
        // ELF sorts PT_LOAD by address; checking neighbours then refuses overlaps.
        if segments.last().is_some_and(|prev| seg.pages().start < prev.pages().end) {
            return None;
        }
        segments.push(seg);
    }
    let entry = hdr.e_entry(e);
    // SPARC instructions are words: a misaligned entry could only trap.
    let runs = segments.iter().any(|s| s.prot.contains(Prot::EXEC) && s.contains(entry));
    (entry.is_multiple_of(4) && runs).then_some(Image { entry, segments })
}

/// One `PT_LOAD` program header, checked on its own.
fn segment<'a>(
    ph: &ProgramHeader64<BigEndian>,
    e: BigEndian,
    elf: &'a [u8],
) -> Option<Segment<'a>> {
    let (vaddr, memsz, offset) = (ph.p_vaddr(e), ph.p_memsz(e), ph.p_offset(e));
    // The file range, inside the image; a segment without file bytes (all bss)
    // reads none, wherever its offset points (past the end of a stripped image).
    let data = if ph.p_filesz(e) == 0 { &[][..] } else { ph.data(e, elf).ok()? };
    let flags = ph.p_flags(e);
    let prot = [(elf::PF_R, Prot::READ), (elf::PF_W, Prot::WRITE), (elf::PF_X, Prot::EXEC)]
        .into_iter()
        .filter(|&(f, _)| flags & f != 0)
        .fold(Prot::empty(), |p, (_, q)| p | q);
    let fits = vaddr.checked_add(memsz).is_some_and(|end| end <= PROGRAM_LIMIT);
    let ok = fits
        && data.len() as u64 <= memsz
        && vaddr % PAGE_SIZE == offset % PAGE_SIZE
        && !prot.is_empty();
    ok.then_some(Segment { vaddr, memsz, data, prot })
}

/// Maps the segments of `image` into `space`, a new address space, and copies
/// their file bytes in (the rest of each segment, and of its pages, is zero).
///
/// On an error some segments may be mapped already: the caller drops `space`.
///
/// Errors: `ENOMEM` if the machine has no memory for the pages; `ENOEXEC` if it
/// refuses addresses the image asks for (addresses it reserves for itself).
pub fn load(space: &AddrSpace, image: &Image<'_>) -> Result<(), Errno> {
    for seg in &image.segments {
        let pages = seg.pages();
        M::as_map(space, pages.start, pages.end - pages.start, seg.prot).map_err(map_errno)?;
        if !seg.data.is_empty() {
            M::as_write(space, seg.vaddr, seg.data).map_err(map_errno)?;
        }
    }
    Ok(())
}

fn map_errno(e: MapError) -> Errno {
    match e {
        MapError::NoMemory => Errno::ENOMEM,
        MapError::BadRange | MapError::Overlap | MapError::Unmapped => Errno::ENOEXEC,
    }
}

/// Starts the program `elf` in a new process (S1), child of the current one: a
/// new address space with the image loaded and a user stack, and one LWP that
/// starts at the entry point with `arg` in `%o0`, acting for the current
/// process's credentials. Returns its pid.
///
/// Nothing is left behind on failure: the image is checked before anything is
/// made, and the address space is dropped with whatever was mapped in it.
///
/// Errors: `ENOEXEC` for an image [`parse`] refuses (or the machine refuses to map
/// as [`load`] says); `EAGAIN` if no address space can be had (no MMU context
/// free), the current process is exiting or no pid is free; `ENOMEM` if there is
/// no memory for the pages.
pub fn spawn(elf: &[u8], arg: u64) -> Result<Pid, Errno> {
    spawn_as(elf, arg, None)
}

/// [`spawn`], the new process acting for `cred` (`None`: the current process's
/// credentials): how the kernel starts a process for a user other than root.
pub fn spawn_as(elf: &[u8], arg: u64, cred: Option<Cred>) -> Result<Pid, Errno> {
    let image = parse(elf)?;
    let space = M::as_create().map_err(|_| Errno::EAGAIN)?;
    load(&space, &image)?;
    let stack = USER_STACK_TOP - USER_STACK_SIZE;
    M::as_map(&space, stack, USER_STACK_SIZE, Prot::READ | Prot::WRITE).map_err(map_errno)?;
    let regs = UserRegs::for_entry(image.entry, USER_STACK_TOP, arg);
    let space = Shared::try_new(space).map_err(|_| Errno::ENOMEM)?;
    proc_create_user(space, regs, cred)
}
