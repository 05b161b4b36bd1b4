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
/// starts at the entry point with `arg` in `%o0`. Returns its pid.
///
/// Nothing is left behind on failure: the image is checked before anything is
/// made, and the address space is dropped with whatever was mapped in it.
///
/// Errors: `ENOEXEC` for an image [`parse`] refuses (or the machine refuses to map
/// as [`load`] says); `EAGAIN` if no address space can be had (no MMU context
/// free), the current process is exiting or no pid is free; `ENOMEM` if there is
/// no memory for the pages.
pub fn spawn(elf: &[u8], arg: u64) -> Result<Pid, Errno> {
    let image = parse(elf)?;
    let space = M::as_create().map_err(|_| Errno::EAGAIN)?;
    load(&space, &image)?;
    let stack = USER_STACK_TOP - USER_STACK_SIZE;
    M::as_map(&space, stack, USER_STACK_SIZE, Prot::READ | Prot::WRITE).map_err(map_errno)?;
    let regs = UserRegs::for_entry(image.entry, USER_STACK_TOP, arg);
    let space = Shared::try_new(space).map_err(|_| Errno::ENOMEM)?;
    proc_create_user(space, regs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EHDR: usize = 64;
    const PHDR: usize = 56;
    const TEXT: u64 = 0x10_0000;

    /// A program header, as the tests write it.
    #[derive(Clone, Copy)]
    struct Ph {
        typ: u32,
        flags: u32,
        offset: u64,
        vaddr: u64,
        filesz: u64,
        memsz: u64,
    }

    fn load_ph(flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Ph {
        Ph { typ: elf::PT_LOAD, flags, offset, vaddr, filesz, memsz }
    }

    const RX: u32 = elf::PF_R | elf::PF_X;
    const RW: u32 = elf::PF_R | elf::PF_W;

    /// An ELF64 big-endian SPARC V9 executable with program headers `phs` right
    /// after the file header, `len` bytes long (at least the headers), the rest
    /// filled with a pattern.
    fn build(entry: u64, phs: &[Ph], len: usize) -> Vec<u8> {
        let mut b: Vec<u8> = (0..len.max(EHDR + PHDR * phs.len())).map(|i| i as u8).collect();
        b[..16].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut put = |at: usize, bytes: &[u8]| b[at..at + bytes.len()].copy_from_slice(bytes);
        put(16, &elf::ET_EXEC.to_be_bytes());
        put(18, &elf::EM_SPARCV9.to_be_bytes());
        put(20, &1u32.to_be_bytes()); // e_version
        put(24, &entry.to_be_bytes());
        put(32, &(EHDR as u64).to_be_bytes()); // e_phoff
        put(40, &0u64.to_be_bytes()); // e_shoff: no sections
        put(48, &0u32.to_be_bytes()); // e_flags
        put(52, &(EHDR as u16).to_be_bytes());
        put(54, &(PHDR as u16).to_be_bytes());
        put(56, &(phs.len() as u16).to_be_bytes());
        put(58, &[0; 6]); // e_shentsize, e_shnum, e_shstrndx
        for (i, ph) in phs.iter().enumerate() {
            let at = EHDR + i * PHDR;
            put(at, &ph.typ.to_be_bytes());
            put(at + 4, &ph.flags.to_be_bytes());
            put(at + 8, &ph.offset.to_be_bytes());
            put(at + 16, &ph.vaddr.to_be_bytes());
            put(at + 24, &ph.vaddr.to_be_bytes()); // p_paddr
            put(at + 32, &ph.filesz.to_be_bytes());
            put(at + 40, &ph.memsz.to_be_bytes());
            put(at + 48, &PAGE_SIZE.to_be_bytes()); // p_align
        }
        b
    }

    /// The typical static program: text (with the headers) in one page, data and
    /// bss in the next three; the image ends with the data's last byte.
    fn phs() -> [Ph; 2] {
        [load_ph(RX, 0, TEXT, 0x2000, 0x2000), load_ph(RW, 0x2000, TEXT + 0x2000, 0x100, 0x5000)]
    }
    const LEN: usize = 0x2100;
    const ENTRY: u64 = TEXT + 0x200;

    fn good() -> Vec<u8> {
        build(ENTRY, &phs(), LEN)
    }

    /// `good()` with its program headers changed by `f`.
    fn with(f: impl FnOnce(&mut [Ph; 2])) -> Vec<u8> {
        let mut p = phs();
        f(&mut p);
        build(ENTRY, &p, LEN)
    }

    fn refused(elf: &[u8], why: &str) {
        assert_eq!(parse(elf).err(), Some(Errno::ENOEXEC), "{why}");
    }

    #[test]
    fn exec_accepts_a_static_sparcv9_program() {
        let elf = good();
        let img = parse(&elf).unwrap();
        assert_eq!(img.entry, ENTRY);
        assert_eq!(img.segments.len(), 2);
        let (text, data) = (&img.segments[0], &img.segments[1]);
        assert_eq!((text.vaddr, text.memsz, text.prot), (TEXT, 0x2000, Prot::READ | Prot::EXEC));
        assert_eq!(text.data, &elf[..0x2000]);
        assert_eq!(text.pages(), TEXT..TEXT + 0x2000);
        assert_eq!(
            (data.vaddr, data.memsz, data.prot),
            (TEXT + 0x2000, 0x5000, Prot::READ | Prot::WRITE)
        );
        assert_eq!(data.data, &elf[0x2000..LEN]);
        assert_eq!(data.pages(), TEXT + 0x2000..TEXT + 0x8000);
    }

    #[test]
    fn exec_rights_follow_the_flags_and_other_headers_are_ignored() {
        let note = Ph { typ: elf::PT_NOTE, flags: 0, offset: 0, vaddr: 0, filesz: 0, memsz: 0 };
        let stack = Ph { typ: elf::PT_GNU_STACK, flags: RW, ..note };
        let empty = load_ph(elf::PF_R, 0, 0, 0, 0);
        let text = load_ph(elf::PF_X, 0, TEXT, 0x100, 0x100);
        let bss = load_ph(elf::PF_W, 0, TEXT + 0x2000, 0, 1);
        let elf = build(TEXT, &[note, text, empty, bss, stack], 0x100);
        let img = parse(&elf).unwrap();
        let prots: Vec<Prot> = img.segments.iter().map(|s| s.prot).collect();
        assert_eq!(prots, [Prot::EXEC, Prot::WRITE]);
        // A segment may start mid-page, at the file offset's place in its page.
        let elf = with(|p| (p[1].offset, p[1].vaddr, p[1].filesz) = (0x2010, TEXT + 0x4010, 0xf0));
        assert_eq!(parse(&elf).unwrap().segments[1].pages(), TEXT + 0x4000..TEXT + 0xa000);
    }

    #[test]
    fn exec_refuses_foreign_headers() {
        let patched = |at: usize, bytes: &[u8]| {
            let mut b = good();
            b[at..at + bytes.len()].copy_from_slice(bytes);
            b
        };
        refused(&patched(0, b"\x7fELG"), "bad magic");
        refused(&patched(4, &[1]), "ELFCLASS32");
        refused(&patched(5, &[1]), "little-endian");
        refused(&patched(6, &[2]), "ident version");
        refused(&patched(18, &elf::EM_SPARC.to_be_bytes()), "32-bit SPARC");
        refused(&patched(18, &elf::EM_X86_64.to_be_bytes()), "x86-64");
        refused(&patched(16, &elf::ET_DYN.to_be_bytes()), "ET_DYN");
        refused(&patched(16, &elf::ET_REL.to_be_bytes()), "ET_REL");
        refused(&patched(54, &32u16.to_be_bytes()), "e_phentsize");
        refused(&patched(32, &(LEN as u64).to_be_bytes()), "program headers beyond the image");
    }

    #[test]
    fn exec_refuses_truncated_images() {
        let elf = good();
        for len in 0..LEN {
            refused(&elf[..len], &alloc::format!("truncated to {len}"));
        }
    }

    #[test]
    fn exec_refuses_dynamic_programs() {
        let interp = Ph { typ: elf::PT_INTERP, ..load_ph(elf::PF_R, 0x200, TEXT + 0x200, 16, 16) };
        let dynamic =
            Ph { typ: elf::PT_DYNAMIC, flags: RW, offset: 0x2000, vaddr: TEXT + 0x2000, ..interp };
        let [text, data] = phs();
        refused(&build(ENTRY, &[interp, text, data], LEN), "PT_INTERP");
        refused(&build(ENTRY, &[text, data, dynamic], LEN), "PT_DYNAMIC");
    }

    #[test]
    fn exec_refuses_bad_segments() {
        refused(&with(|p| p[1].memsz = 0xff), "filesz > memsz");
        refused(&with(|p| p[1].filesz = 0x101), "file range beyond the image");
        refused(&with(|p| p[1].offset = u64::MAX - 0x1fff), "file range wraps around");
        let bss_only = with(|p| (p[1].offset, p[1].filesz) = (0x10_0000, 0));
        assert!(
            parse(&bss_only).unwrap().segments[1].data.is_empty(),
            "bss only, offset past the end"
        );
        refused(&with(|p| p[1].flags = 0), "no rights");
        refused(&with(|p| p[1].flags = elf::PF_MASKOS), "only OS flags");
        refused(&with(|p| p[1].vaddr = TEXT + 0x2008), "vaddr and offset differ in their page");
        refused(&with(|p| p[1].offset = 0x1ff0), "offset and vaddr differ in their page");
        refused(&with(|p| p[1].vaddr = USER_LIMIT), "beyond USER_LIMIT");
        refused(&with(|p| p[1].vaddr = USER_LIMIT - 0x2000), "ending beyond USER_LIMIT");
        refused(&with(|p| p[1].vaddr = PROGRAM_LIMIT - 0x2000), "into the stack's guard page");
        refused(&with(|p| p[1].vaddr = USER_STACK_TOP - 0x4000), "into the stack");
        refused(
            &with(|p| (p[1].vaddr, p[1].memsz) = (u64::MAX - 0x1fff, 0x4000)),
            "address wraps around",
        );
        // Just fits: ends at the guard page.
        let elf = with(|p| p[1].vaddr = PROGRAM_LIMIT - 0x6000);
        assert_eq!(parse(&elf).unwrap().segments[1].pages().end, PROGRAM_LIMIT);
    }

    #[test]
    fn exec_refuses_segments_sharing_pages() {
        refused(&with(|p| p[1].vaddr = TEXT), "the same address");
        refused(&with(|p| p[0].memsz = 0x2001), "text spilling into data's page");
        refused(
            &with(|p| (p[1].offset, p[1].vaddr) = (0x1ff0, TEXT + 0x1ff0)),
            "data starting in text's page",
        );
        refused(&with(|p| p[0].memsz = 0x10_0000), "data inside text's range");
        refused(&with(|p| p.swap(0, 1)), "out of address order");
        assert!(parse(&with(|p| p[1].vaddr = TEXT + 0x10_2000)).is_ok(), "far apart");
    }

    #[test]
    fn exec_refuses_a_bad_entry() {
        refused(&build(TEXT + 0x2000, &phs(), LEN), "entry in the data");
        refused(&build(TEXT - 4, &phs(), LEN), "entry below the text");
        refused(&build(ENTRY + 2, &phs(), LEN), "misaligned entry");
        refused(&build(0, &[], LEN), "no segments");
        refused(&with(|p| p[0].flags = elf::PF_R), "no executable segment");
        assert!(parse(&build(TEXT + 0x1ffc, &phs(), LEN)).is_ok(), "last text word");
    }

    /// A deterministic xorshift generator: the same bytes every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Whatever `parse` accepts satisfies the promises of [`Image`].
    fn check_accepted(elf: &[u8]) {
        let Ok(img) = parse(elf) else { return };
        for (i, s) in img.segments.iter().enumerate() {
            assert!(
                s.pages().end <= PROGRAM_LIMIT
                    && s.data.len() as u64 <= s.memsz
                    && !s.prot.is_empty()
            );
            assert!(i == 0 || img.segments[i - 1].pages().end <= s.pages().start);
        }
        assert!(img.segments.iter().any(|s| s.prot.contains(Prot::EXEC) && s.contains(img.entry)));
    }

    #[test]
    fn exec_garbage_never_panics() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        // Pure garbage, at lengths around the header sizes and beyond.
        for len in (0..300).chain([0x1000, 0x2100]) {
            for _ in 0..20 {
                let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                check_accepted(&bytes);
                // Garbage behind a valid identification gets further.
                let mut elf = good();
                elf.truncate(16);
                elf.extend_from_slice(&bytes);
                check_accepted(&elf);
            }
        }
        // A valid image with a few random bytes changed: mostly in the headers,
        // where the decisions are.
        for _ in 0..20_000 {
            let mut elf = good();
            for _ in 0..1 + rng.next() % 4 {
                let r = rng.next();
                let span = if r.is_multiple_of(4) { LEN } else { EHDR + 2 * PHDR };
                let at = (r >> 8) as usize % span;
                elf[at] = (r >> 40) as u8;
            }
            check_accepted(&elf);
        }
    }
}
