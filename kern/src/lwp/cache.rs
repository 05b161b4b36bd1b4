//! The cache of `Lwp` handles and the counts of LWPs (S3, S5): handles are never
//! freed (`&'static Lwp` must never dangle) but kept here for the next LWP, each
//! with the block of its last `lwp` structure unless memory ran low; and how many
//! LWPs live in every process (`rctl::max_lwps`) and how many handles were ever
//! made, which `kmem`'s census reads. Below the LWP's life, which takes handles
//! from here and gives them back, and below `kmem`, which reaps the blocks.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicU32, Ordering};

use arch::kmem;

use super::data::LwpImage;
use super::handle::Lwp;
use crate::displock::{self, DispLock};
use crate::errno::Errno;

/// Handles of exited LWPs, for reuse: a list through `lwp_next`.
static LWP_CACHE: DispLock<Option<&'static Lwp>> = DispLock::new(None);
/// LWPs made and not yet freed, in every process (`rctl::max_lwps`).
pub(super) static NLWPS: AtomicU32 = AtomicU32::new(0);
/// `Lwp` handles ever allocated (the cache holds those not in use).
static NALLOCATED: AtomicU32 = AtomicU32::new(0);

/// A handle from the cache, or a new one; `ENOMEM` if there is no memory.
pub(super) fn lwp_alloc() -> Result<&'static Lwp, Errno> {
    let cached = {
        let mut head = LWP_CACHE.lock();
        let lwp = *head;
        if let Some(l) = lwp {
            *head = l.lwp_next.take();
        }
        lwp
    };
    match cached {
        Some(lwp) => Ok(lwp),
        None => {
            let lwp = kmem::try_box(Lwp::unused()).map_err(|_| Errno::ENOMEM)?;
            NALLOCATED.fetch_add(1, Ordering::Relaxed);
            Ok(Box::leak(lwp))
        }
    }
}

/// Puts a handle that carries no LWP in the cache.
pub(super) fn lwp_cache(lwp: &'static Lwp) {
    let mut head = LWP_CACHE.lock();
    lwp.lwp_next.set(*head);
    *head = Some(lwp);
}

/// LWPs in every process, live (zombies are only their directory entries).
pub fn nlwps() -> u32 {
    NLWPS.load(Ordering::Relaxed)
}

/// `Lwp` handles allocated since boot, in use or cached.
pub(crate) fn nallocated() -> u32 {
    NALLOCATED.load(Ordering::Relaxed)
}

/// The handle cache's figures for the debugger: handles cached, and how many of
/// them keep an `lwp` structure's block for their next LWP; `None` if a lock it
/// needs is held.
pub(crate) fn cache_peek() -> Option<(usize, usize)> {
    let head = displock::peek(&LWP_CACHE)?;
    let mut n = 0;
    let mut blocks = 0;
    for lwp in core::iter::successors(*head, |l| l.lwp_next.get()) {
        n += 1;
        let kept =
            displock::peek(&lwp.lwp_image).is_some_and(|i| matches!(*i, LwpImage::Unused(Some(_))));
        blocks += usize::from(kept);
    }
    Some((n, blocks))
}

/// Frees the blocks cached handles keep for their next LWP (memory runs low);
/// returns how many. The list is taken whole and put back, as the thread cache's.
pub(crate) fn cache_reap() -> usize {
    let list = LWP_CACHE.lock().take();
    let mut freed = 0;
    let mut last = None;
    let mut cur = list;
    while let Some(lwp) = cur {
        freed += usize::from(lwp.take_block().is_some());
        last = Some(lwp);
        cur = lwp.lwp_next.get();
    }
    if let (Some(first), Some(last)) = (list, last) {
        let mut head = LWP_CACHE.lock();
        last.lwp_next.set(*head);
        *head = Some(first);
    }
    freed
}
