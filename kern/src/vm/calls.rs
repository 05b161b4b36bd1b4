//! The memory calls (S1, S16): `mmap`, `munmap`, `mprotect` and `sysconfig`'s
//! memory figures, each checked whole before it changes anything (see `vm`).

use core::ops::Range;

use arch::{Machine, MapError, Prot, PAGE_SIZE, USER_LIMIT};
use lwp_abi::{
    CONFIG_AVPHYS_PAGES, CONFIG_PAGESIZE, CONFIG_PHYS_PAGES, MAP_ANON, MAP_FIXED, MAP_NEW,
    MAP_NORESERVE, MAP_PRIVATE, MAP_SHARED, MAP_TYPE, PROT_EXEC, PROT_READ, PROT_WRITE,
};

use super::my_space;
use crate::errno::Errno;
use crate::file;
use crate::syscall::uaccess::SysResult;
use crate::M;

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
