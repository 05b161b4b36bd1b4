//! Anonymous memory (`mmap`, `munmap`, `mprotect`: Solaris' `<sys/mman.h>`) and the
//! machine's memory figures (`sysconfig`: Solaris' `<sys/sysconfig.h>`), with
//! Solaris' numbers.
//!
//! `mmap(addr, len, prot, flags, fd, off) -> address` maps `len` bytes (rounded up
//! to whole pages) of zero-filled private memory: `flags` must hold [`MAP_PRIVATE`]
//! and [`MAP_ANON`] (`fd` and `off` are then not looked at but for `off`'s
//! alignment); with [`MAP_FIXED`] at `addr` (page-aligned), replacing what the
//! process mapped there before, otherwise where the kernel chooses (`addr` is no
//! hint). `munmap(addr, len)` unmaps whatever anonymous memory lies in the range
//! (none is fine). `mprotect(addr, len, prot)` changes the rights of mapped
//! anonymous memory. Ranges that touch the program's own segments, the main stack
//! and the room it may grow into, the schedctl pages or the kernel's reserved
//! addresses are refused (`EINVAL`). Errors: `EINVAL` for a misaligned address or
//! offset, a zero length, unknown `prot` or `flags` bits, or a refused range;
//! `ENOMEM` when memory runs out, for a fixed range beyond the user address space,
//! or (`mprotect`) where nothing is mapped; `ENOTSUP` for shared anonymous memory;
//! `EBADF`/`ENODEV` for a mapping of a descriptor (none can be mapped).

/// Page protections (`prot`).
pub const PROT_NONE: u64 = 0;
pub const PROT_READ: u64 = 1;
pub const PROT_WRITE: u64 = 2;
pub const PROT_EXEC: u64 = 4;

/// `mmap` flags: the mapping's type (`MAP_TYPE` bits), and the rest.
pub const MAP_SHARED: u64 = 1;
pub const MAP_PRIVATE: u64 = 2;
pub const MAP_TYPE: u64 = 0xf;
pub const MAP_FIXED: u64 = 0x10;
pub const MAP_NORESERVE: u64 = 0x40;
pub const MAP_ANON: u64 = 0x100;
/// Set by Solaris' libc on every `mmap` (`_MAP_NEW`: return the address); taken
/// and ignored.
pub const MAP_NEW: u64 = 0x8000_0000;

/// `sysconfig(which)` (Solaris' `_sysconfig`): the page size; the pages of memory
/// user programs can have in all (the machine's page pool), and of them those free.
pub const CONFIG_PAGESIZE: u64 = 6;
pub const CONFIG_PHYS_PAGES: u64 = 26;
pub const CONFIG_AVPHYS_PAGES: u64 = 27;
