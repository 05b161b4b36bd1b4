//! The lowest-level lock: a spin lock held with interrupts off (Solaris' `disp_lock_t`).
//!
//! The dispatcher's queues, the sleep queues, the callout list and the thread cache
//! are touched from interrupt handlers and by every CPU. Their lock is taken with
//! interrupts disabled, so that a clock interrupt can never find the lock held by
//! the thread it interrupted on the same CPU, and it spins, because the holder is
//! always running on another CPU and holds it for a few instructions. Everything
//! above this layer uses blocking synchronization objects instead.
//!
//! Spinning goes through the machine's relax hook, so that the host simulation can
//! run another simulated CPU while this one waits.

use core::ops::{Deref, DerefMut};

use arch::Machine;

use crate::M;

/// A spin lock taken with interrupts disabled.
pub struct DispLock<T> {
    inner: spin::mutex::Mutex<T, arch::Relax>,
}

/// Access to the data of a held [`DispLock`]; dropping it unlocks and restores the
/// interrupt state of before.
pub struct DispLockGuard<'a, T> {
    guard: Option<spin::mutex::MutexGuard<'a, T>>,
    intr_was_enabled: bool,
}

impl<T> DispLock<T> {
    pub const fn new(value: T) -> Self {
        DispLock { inner: spin::mutex::Mutex::new(value) }
    }

    /// Disables interrupts, then spins until the lock is free.
    #[inline]
    pub fn lock(&self) -> DispLockGuard<'_, T> {
        let intr_was_enabled = M::intr_disable();
        DispLockGuard { guard: Some(self.inner.lock()), intr_was_enabled }
    }
}

impl<T> Deref for DispLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("live guard")
    }
}

impl<T> DerefMut for DispLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("live guard")
    }
}

impl<T> Drop for DispLockGuard<'_, T> {
    fn drop(&mut self) {
        // Unlock first: interrupts come back only once the lock is free.
        self.guard = None;
        M::intr_restore(self.intr_was_enabled);
    }
}
