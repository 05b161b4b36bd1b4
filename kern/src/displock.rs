//! The lowest-level lock: a spin lock held with interrupts off (Solaris' `disp_lock_t`).
//!
//! The dispatcher's queues, the sleep queues, the callout list and the thread cache
//! are touched from interrupt handlers and by every CPU. Their lock is taken with
//! interrupts disabled, so that a clock interrupt can never find the lock held by
//! the thread it interrupted on the same CPU, and it spins, because the holder is
//! always running on another CPU and holds it for a few instructions. Everything
//! above this layer uses blocking synchronization objects instead.
//!
//! The lock itself is the machine's ([`arch::cell::SpinLock`]): a word that one
//! compare-and-swap takes, spinning through the machine's relax hook, so that the
//! host simulation can run another simulated CPU while this one waits.
//!
//! Nothing is allocated while a `DispLock` is held: an allocation could take long
//! with interrupts off, and could fail where nothing can be undone. Code that needs
//! memory for what it will do under the lock allocates it first. The rule is checked:
//! the lock tells the machine ([`arch::Machine::alloc_forbid`]), whose allocator
//! panics on an allocation inside in debug builds (`arch::kmem`).

/// A spin lock taken with interrupts disabled.
pub type DispLock<T> = arch::cell::SpinLock<T>;

/// Access to the data of a held [`DispLock`]; dropping it unlocks and restores the
/// interrupt state of before. `#[must_use]` (the machine's `SpinGuard`): a guard
/// left unbound unlocks at once.
pub type DispLockGuard<'a, T> = arch::cell::SpinGuard<'a, T>;

/// How long [`peek`] spins for a lock before it reports it held.
const PEEK_SPINS: usize = 100_000;

/// Takes `lock` if it comes free within a bounded spin; `None` if it stays held
/// (by code the debugger stopped, which will not let go). For the debugger's
/// read-only accessors (`kmdb`), which every module that owns a lock provides.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub(crate) fn peek<T>(lock: &DispLock<T>) -> Option<DispLockGuard<'_, T>> {
    lock.try_lock_for(PEEK_SPINS)
}
