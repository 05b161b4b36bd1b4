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

use core::ops::Range;

use arch::{Fault, FaultKind, Machine, MapError, Prot, PAGE_SIZE, USER_LIMIT};
use lwp_abi::{
    CONFIG_AVPHYS_PAGES, CONFIG_PAGESIZE, CONFIG_PHYS_PAGES, MAP_ANON, MAP_FIXED, MAP_NEW,
    MAP_NORESERVE, MAP_PRIVATE, MAP_SHARED, MAP_TYPE, PROT_EXEC, PROT_READ, PROT_WRITE,
};

use crate::errno::Errno;
use crate::proc::AddrSpace;
use crate::syscall::uaccess::SysResult;
use crate::thread::curproc;
use crate::{file, M};

pub(crate) mod pstate;
pub use pstate::{Seg, SegKind, Stack, Vm, MAX_SEGS, MMAP_TOP};

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
