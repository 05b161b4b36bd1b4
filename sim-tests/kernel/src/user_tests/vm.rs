//! Anonymous memory and the growing stack from user mode (S1, S13, S16): mapped,
//! protected, unmapped, exhausted; the main stack up to its limit; every page back
//! in the pool.

use arch::Machine;
use kern_selftest::{ensure_eq, TestResult};

use super::passes;
use crate::programs::*;

/// Anonymous memory (the `mmap` program, mode 0): mapped zero-filled, touched,
/// protected (a write to a read-only page is SIGSEGV `SEGV_ACCERR` at the LWP that
/// made it, and the TLB entries of the old rights are gone), unmapped (a read after
/// it is `SEGV_MAPERR`: the page's TLB entry went with it), mapped fixed; every bad
/// argument's errno; the page pool back where it was.
pub(super) fn user_mmap_anon() -> TestResult {
    let free = kern::M::page_stats().free;
    passes(MMAP, 0)?;
    ensure_eq!(kern::M::page_stats().free, free);
    Ok(())
}

/// Memory exhausted from user mode (mode 1): `ENOMEM`, never a panic; `fork1` and
/// a fixed mapping refused, an LWP still made; every page back after `munmap`, and
/// after the process.
pub(super) fn user_mmap_exhausts_memory() -> TestResult {
    let free = kern::M::page_stats().free;
    passes(MMAP, 1)?;
    ensure_eq!(kern::M::page_stats().free, free);
    passes(HELLO, 0)
}

/// The main stack grows on demand (mode 2): 20,000 frames of 256 bytes, up to
/// its limit and not past it (SIGSEGV `SEGV_MAPERR` in the guard page below); a
/// child's pages, stack and mappings, all back in the pool once it exits.
pub(super) fn user_stack_grows() -> TestResult {
    let free = kern::M::page_stats().free;
    passes(MMAP, 2)?;
    ensure_eq!(kern::M::page_stats().free, free);
    Ok(())
}
