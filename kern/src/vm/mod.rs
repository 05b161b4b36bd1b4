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

use arch::{Fault, FaultKind, Machine, Prot};

use crate::errno::Errno;
use crate::proc::AddrSpace;
use crate::thread::curproc;
use crate::M;

pub(crate) mod calls;
pub(crate) mod pstate;
pub use pstate::{Seg, SegKind, Stack, Vm, MAX_SEGS, MMAP_TOP};

/// The calling process's address space; `EINVAL` for a process with none.
pub(super) fn my_space(
) -> Result<(&'static crate::proc::Proc, arch::kmem::Shared<AddrSpace>), Errno> {
    let p = curproc().ok_or(Errno::EINVAL)?;
    Ok((p, p.addr_space().ok_or(Errno::EINVAL)?))
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
