//! Exec: starting a user process from a program image (S1), the ELF loader.
//!
//! This module owns what a new process's address space holds when its first LWP
//! starts: which images are acceptable ([`parse`]), how their segments become pages
//! ([`load`]), where the user stack is ([`USER_STACK_TOP`], [`USER_STACK_SIZE`]),
//! and the whole sequence that ends in a running process ([`spawn`]).
//!
//! # Theory
//!
//! `exec` ([`execve`]) replaces the image of the calling process with a program
//! the kernel image carries, by name (there is no file system: [`set_programs`]
//! gives the kernel its table). Everything that can fail is done before anything
//! changes — the name is found, the image checked and loaded into a new address
//! space with the arguments and environment on its stack — so that a call that
//! fails (`ENOENT`, `ENOEXEC`, `E2BIG`, `EFAULT`, `ENOMEM`) leaves the caller
//! going on in its old image. Then every other LWP of the process is made to
//! exit and waited for (they leave at their next stop point, as for `exit`; the
//! caller becomes the process's one LWP), the new space replaces the old one,
//! the caller's registers are set for the new program's entry, caught signals go
//! back to their default action (ignored ones stay ignored; the mask and the
//! pending signals are kept, as POSIX says), the alternate stack is disabled,
//! and the FPU is off again.
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
//! instead of writing over the program's data; the room the stack may grow into
//! (up to [`STACK_LIMIT`]); the stack, `READ | WRITE`, [`USER_STACK_SIZE`] of it
//! mapped at first, up to [`USER_STACK_TOP`]; one unmapped page above it, up to
//! `USER_LIMIT`, so that a read past the top of the stack faults too. Its layout
//! ([`Vm`]: the program's segments, where the stack is and may grow) goes with it
//! to the process, for `mmap` and the stack's growth (`vm`).

use alloc::vec::Vec;
use arch::kmem::Shared;
use core::ops::Range;

use arch::{Machine, MapError, Prot, UserRegs, PAGE_SIZE};
use object::elf::{self, FileHeader64, ProgramHeader64};
use object::read::elf::{FileHeader, ProgramHeader};
use object::BigEndian;

use crate::cred::Cred;
use crate::errno::Errno;
use crate::proc::life::proc_create_user;
use crate::proc::{AddrSpace, Pid};
use crate::vm::Vm;
use crate::M;

pub use crate::rctl::STACK_LIMIT;
pub use crate::vm::pstate::{PROGRAM_LIMIT, USER_STACK_SIZE, USER_STACK_TOP};

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
/// their file bytes in (the rest of each segment, and of its pages, is zero); each
/// goes into the layout `vm` as a program segment.
///
/// On an error some segments may be mapped already: the caller drops `space`.
///
/// Errors: `ENOMEM` if the machine has no memory for the pages; `ENOEXEC` if it
/// refuses addresses the image asks for (addresses it reserves for itself).
pub fn load(space: &AddrSpace, vm: &mut Vm, image: &Image<'_>) -> Result<(), Errno> {
    for seg in &image.segments {
        let pages = seg.pages();
        M::as_map(space, pages.start, pages.end - pages.start, seg.prot).map_err(map_errno)?;
        vm.add_program(pages.start, pages.end, seg.prot)?;
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
    let (space, vm, entry) = image_space(elf)?;
    let regs = UserRegs::for_entry(entry, USER_STACK_TOP, arg);
    let space = Shared::try_new(space).map_err(|_| Errno::ENOMEM)?;
    proc_create_user(space, vm, regs, cred)
}

/// The programs the kernel image carries, by name: what `exec` may start.
static PROGRAMS: spin::Once<&'static [(&'static str, &'static [u8])]> = spin::Once::new();

/// Gives the kernel the programs `exec` finds by name (once, at boot).
pub fn set_programs(table: &'static [(&'static str, &'static [u8])]) {
    PROGRAMS.call_once(|| table);
}

/// The program the kernel image carries under `name`; `ENOENT` if none.
fn program(name: &str) -> Result<&'static [u8], Errno> {
    PROGRAMS
        .get()
        .and_then(|t| t.iter().find(|(n, _)| *n == name))
        .map(|&(_, elf)| elf)
        .ok_or(Errno::ENOENT)
}

/// Starts `init`, the program of that name, as the process that adopts orphans
/// (`proc::set_init`; Solaris' `start_init`): called once at boot, before any
/// other process is made, so that its pid is 1. Its argument is 0.
///
/// Errors: `ENOENT` if the kernel image carries no `init`; those of [`spawn`].
pub fn start_init() -> Result<Pid, Errno> {
    let pid = spawn(program("init")?, 0)?;
    crate::proc::set_init(pid)?;
    if let Some(p) = crate::proc::prfind(pid) {
        p.set_comm("init");
    }
    Ok(pid)
}

/// The longest program name `exec` takes, and the most bytes its arguments and
/// environment may take together, strings and pointers (Solaris' `ARG_MAX` is
/// larger; this stack is small).
const MAXPATHLEN: usize = 256;
const ARG_MAX: usize = 16 * 1024;

/// `execve(path, argv, envp)` for the LWP whose registers are `frame`; see the
/// module comment. On success the registers are the new program's: the LWP
/// starts at its entry with `%o0` = argc, `%o1` = argv, `%o2` = envp.
///
/// Errors: `EFAULT` for a bad pointer; `ENAMETOOLONG`; `ENOENT` if no program has
/// that name; `E2BIG` if the arguments and environment are too big; `ENOEXEC` for
/// a malformed image; `ENOMEM`, `EAGAIN` as for [`spawn`]; `EINTR` if the process
/// is exiting meanwhile (or another LWP is in `exec`).
pub fn execve(frame: &arch::UserFrame, path: u64, argv: u64, envp: u64) -> Result<(), Errno> {
    let name = copyin_str(path, MAXPATHLEN).map_err(|e| match e {
        Errno::E2BIG => Errno::ENAMETOOLONG,
        e => e,
    })?;
    let name = core::str::from_utf8(&name).map_err(|_| Errno::ENOENT)?;
    let elf = program(name)?;
    let mut strings = Vec::new();
    let argc = copyin_strings(argv, &mut strings)?;
    let envc = copyin_strings(envp, &mut strings)?;
    let (space, vm, entry) = image_space(elf)?;
    let regs = push_args(&space, entry, &strings, argc, envc)?;
    let space = Shared::try_new(space).map_err(|_| Errno::ENOMEM)?;
    crate::proc::life::exec_replace(space, vm, name, || frame.store(&regs))
}

/// A NUL-terminated string of user memory at `uaddr`, without its NUL, of at most
/// `max` bytes (`E2BIG` beyond); `EFAULT` if it cannot be read.
fn copyin_str(uaddr: u64, max: usize) -> Result<Vec<u8>, Errno> {
    let mut s = Vec::new();
    loop {
        // Never past the string's page unless it goes on: the next may not exist.
        let at = uaddr.checked_add(s.len() as u64).ok_or(Errno::EFAULT)?;
        let n = (PAGE_SIZE - at % PAGE_SIZE).min(64) as usize;
        let mut buf = [0u8; 64];
        crate::syscall::uaccess::copyin(at, &mut buf[..n])?;
        let piece = &buf[..n];
        let end = piece.iter().position(|&b| b == 0);
        let take = &piece[..end.unwrap_or(n)];
        if s.len() + take.len() > max {
            return Err(Errno::E2BIG);
        }
        s.try_reserve(take.len()).map_err(|_| Errno::ENOMEM)?;
        s.extend_from_slice(take);
        if end.is_some() {
            return Ok(s);
        }
    }
}

/// The strings of a null-terminated array of user pointers at `uaddr` (null: none)
/// appended to `out`, each with its NUL; how many. `E2BIG` past [`ARG_MAX`] (with
/// a pointer each).
fn copyin_strings(uaddr: u64, out: &mut Vec<u8>) -> Result<usize, Errno> {
    if uaddr == 0 {
        return Ok(0);
    }
    let mut n = 0;
    loop {
        let at = uaddr.checked_add(n as u64 * 8).ok_or(Errno::EFAULT)?;
        let p = M::copyin_words(at, |w: &[u64; 1]| w[0]).map_err(|_| Errno::EFAULT)?;
        if p == 0 {
            return Ok(n);
        }
        let room = ARG_MAX.checked_sub(out.len() + 8 * (n + 2)).ok_or(Errno::E2BIG)?;
        let s = copyin_str(p, room)?;
        out.try_reserve(s.len() + 1).map_err(|_| Errno::ENOMEM)?;
        out.extend_from_slice(&s);
        out.push(0);
        n += 1;
    }
}

/// A new address space with `elf` loaded and a user stack: the space, its layout
/// and the entry point (what [`spawn`] and [`execve`] start from).
fn image_space(elf: &[u8]) -> Result<(AddrSpace, Vm, u64), Errno> {
    let image = parse(elf)?;
    let space = M::as_create().map_err(|_| Errno::EAGAIN)?;
    let stack = USER_STACK_TOP - USER_STACK_SIZE;
    let mut vm = Vm::with_stack(stack, USER_STACK_TOP);
    load(&space, &mut vm, &image)?;
    M::as_map(&space, stack, USER_STACK_SIZE, Prot::READ | Prot::WRITE).map_err(map_errno)?;
    Ok((space, vm, image.entry))
}

/// Writes the `argc` arguments and `envc` environment strings in `strings` (each
/// NUL-terminated, in order) at the top of `space`'s stack, with their pointer
/// arrays (each null-terminated) below them, and returns the registers that start
/// the program at `entry` below all that, with `(argc, argv, envp)` as arguments.
fn push_args(
    space: &AddrSpace,
    entry: u64,
    strings: &[u8],
    argc: usize,
    envc: usize,
) -> Result<UserRegs, Errno> {
    let strings_at = (USER_STACK_TOP - strings.len() as u64) & !15;
    let argv_at = (strings_at - 8 * (argc + envc + 2) as u64) & !15;
    let envp_at = argv_at + 8 * (argc + 1) as u64;
    let mut addrs = strings.split_inclusive(|&b| b == 0).scan(strings_at, |at, s| {
        let a = *at;
        *at += s.len() as u64;
        Some(a)
    });
    // argv[0..argc], null, envp[0..envc], null: a word each.
    let words = (0..argc + envc + 2).map(|i| match i {
        i if i == argc || i == argc + envc + 1 => 0,
        _ => addrs.next().unwrap_or(0),
    });
    for (i, w) in words.enumerate() {
        M::as_write(space, argv_at + 8 * i as u64, &w.to_be_bytes()).map_err(map_errno)?;
    }
    M::as_write(space, strings_at, strings).map_err(map_errno)?;
    let mut regs = UserRegs::for_entry(entry, argv_at, argc as u64);
    regs.r[arch::reg::O0 + 1] = argv_at;
    regs.r[arch::reg::O0 + 2] = envp_at;
    Ok(regs)
}
