//! An LWP's handle (`Lwp`, what its thread's `t_lwp` points at) and its id: resident
//! (S6), below the thread structure, the directory and the swappable `lwp`
//! structure (`data`) it holds.

use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

use arch::cell::StaticRef;
use bitflags::bitflags;

use super::data::LwpImage;
use crate::displock::DispLock;
use crate::signal::data::{SigInfo, NSIG};
use crate::thread::curlwp;

/// An LWP's id: a name inside its process only (S15). Ids start at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LwpId(pub u32);

impl fmt::Display for LwpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lwp {}", self.0)
    }
}

bitflags! {
    /// How [`super::lwp_create`] makes an LWP (Solaris' `_lwp_create` flags, same values).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct LwpFlags: u32 {
        /// Never waited for: it leaves no zombie and is reaped as it exits.
        const DETACHED = 0x40;
        /// Created stopped: it runs only once [`super::lwp_continue`]d.
        const SUSPENDED = 0x80;
    }
}

/// What an LWP runs first.
#[derive(Clone, Copy)]
pub(super) enum Start {
    /// Kernel code: `func(arg)`; the LWP exits when it returns.
    Kernel(fn(usize), usize),
    /// User mode, in its process's address space, with the registers in its `lwp`
    /// structure (S5.1).
    User,
}

/// An LWP: the handle its thread points at (`t_lwp`).
pub struct Lwp {
    /// Its id in its process (S15); 0 while the handle is cached.
    pub(super) lwp_id: AtomicU32,
    /// What its thread runs first: taken once, by `lwp_main`.
    pub(super) lwp_start: DispLock<Option<Start>>,
    /// The swappable `lwp` structure (S5): resident or swapped out.
    pub(super) lwp_image: DispLock<LwpImage>,
    /// What each signal pending on the LWP (its thread's `t_sig`) is about: the
    /// first one sent, while it is pending. In the handle, which stays resident
    /// while the `lwp` structure is swapped out (S6), and which only threads of
    /// LWPs have. Written and read under the process's `p_lock` (`signal`).
    pub(crate) lwp_siginfo: spin::Mutex<[SigInfo; NSIG]>,
    /// The next handle in the cache (only while cached).
    pub(super) lwp_next: StaticRef<Lwp>,
}

impl Lwp {
    /// A handle with no LWP in it (id 0, no `lwp` structure): what the handle cache
    /// makes new handles of. One standing alone is only an entry for what keeps
    /// handles, such as an [`super::LwpDir`].
    pub const fn unused() -> Lwp {
        Lwp {
            lwp_id: AtomicU32::new(0),
            lwp_start: DispLock::new(None),
            lwp_image: DispLock::new(LwpImage::Unused(None)),
            lwp_siginfo: spin::Mutex::new([SigInfo::NONE; NSIG]),
            lwp_next: StaticRef::none(),
        }
    }

    /// Its id in its process.
    pub fn id(&self) -> LwpId {
        LwpId(self.lwp_id.load(Ordering::Relaxed))
    }
}

/// The current LWP's id; `None` in a kernel thread (S2).
pub fn lwp_self() -> Option<LwpId> {
    curlwp().map(Lwp::id)
}

impl fmt::Debug for Lwp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            self.id(),
            if self.is_resident() { "resident" } else { "not resident" }
        )
    }
}
