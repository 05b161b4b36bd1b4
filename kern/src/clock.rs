//! The clock's counters: ticks since boot (`lbolt`) and the clock rate (`hz`).
//!
//! Everything that measures time in ticks reads them (the dispatcher, sleeps,
//! callouts); only the clock interrupt (`tick`) advances `lbolt`, so this module
//! sits below all of them and imports nothing.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Clock interrupts per second unless the boot arguments say `hz=N`.
pub const DEFAULT_HZ: u32 = 100;

static HZ: AtomicU32 = AtomicU32::new(DEFAULT_HZ);
static LBOLT: AtomicU64 = AtomicU64::new(0);

/// Ticks since boot, counted on CPU 0.
#[inline]
pub fn lbolt() -> u64 {
    LBOLT.load(Ordering::Relaxed)
}

/// The clock rate.
pub fn hz() -> u32 {
    HZ.load(Ordering::Relaxed)
}

pub(crate) fn set_hz(hz: u32) {
    HZ.store(hz, Ordering::Relaxed);
}

/// Counts one tick: the new `lbolt`. Called by the clock interrupt, on CPU 0.
pub(crate) fn advance() -> u64 {
    LBOLT.fetch_add(1, Ordering::Relaxed) + 1
}
