//! The ELF loader's checks (`kern::exec::parse`, S1, S16): what it accepts, and
//! that everything else is refused with `ENOEXEC`, never a panic.

use arch::uregs::USER_LIMIT;
use arch::{Prot, PAGE_SIZE};
use kern::errno::Errno;
use kern::exec::{parse, Segment, PROGRAM_LIMIT, USER_STACK_TOP};
use object::elf;

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
        refused(&elf[..len], &format!("truncated to {len}"));
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
    assert!(parse(&bss_only).unwrap().segments[1].data.is_empty(), "bss only, offset past the end");
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
            s.pages().end <= PROGRAM_LIMIT && s.data.len() as u64 <= s.memsz && !s.prot.is_empty()
        );
        assert!(i == 0 || img.segments[i - 1].pages().end <= s.pages().start);
    }
    let runs = |s: &Segment<'_>| (s.vaddr..s.vaddr + s.memsz).contains(&img.entry);
    assert!(img.segments.iter().any(|s| s.prot.contains(Prot::EXEC) && runs(s)));
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
