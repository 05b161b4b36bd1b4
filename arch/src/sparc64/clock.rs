//! The clock: `%tick` as the time base, `%tick_cmpr` as the periodic interrupt.
//!
//! `%tick` counts at 100 MHz under QEMU. Each interrupt re-arms the compare register
//! one interval after the previous *deadline* (not after "now"), so the tick rate does
//! not drift with the handler's latency; a deadline already past is skipped forward.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

/// `%tick` frequency under QEMU's sun4u.
pub const TICK_HZ: u64 = 100_000_000;
/// `%tick`'s "non-privileged trap" bit; `%tick_cmpr`'s INT_DIS bit.
pub(super) const NPT: u64 = 1 << 63;

static INTERVAL: AtomicU64 = AtomicU64::new(0);
static DEADLINE: AtomicU64 = AtomicU64::new(0);
/// `%tick` when the kernel took over from OpenBIOS (the first line of Rust).
pub static HANDOVER_TICK: AtomicU64 = AtomicU64::new(0);

/// Nanoseconds since the kernel took over from OpenBIOS.
pub fn since_handover_ns() -> u64 {
    (tick() - HANDOVER_TICK.load(Ordering::Relaxed)) * (1_000_000_000 / TICK_HZ)
}

/// Interrupts taken since boot, the clock's and the disk's (what `idle_wait`
/// watches for).
pub static INTERRUPTS: AtomicU64 = AtomicU64::new(0);

/// The current `%tick` value.
#[inline]
pub fn tick() -> u64 {
    let t: u64;
    // NPT (bit 63) off: two shifts, cheaper on SPARC than the 64-bit mask (made in
    // the assembly: the compiler would turn them into that mask, five instructions
    // to build it).
    // SAFETY: reading %tick has no side effect.
    unsafe {
        asm!(
            "rd %tick, {t}",
            "sllx {t}, 1, {t}",
            "srlx {t}, 1, {t}",
            t = out(reg) t,
            options(nomem, nostack)
        )
    };
    t
}

/// `%tick` as it reads, NPT bit (63) and all: for differences only. The kernel
/// never writes `%tick`, so the bit is the same in every read and cancels out of
/// a difference; a read saves the two shifts of [`tick`].
#[inline(always)]
pub fn tick_raw() -> u64 {
    let t: u64;
    // SAFETY: reading %tick has no side effect.
    unsafe { asm!("rd %tick, {t}", t = out(reg) t, options(nomem, nostack)) };
    t
}

fn set_compare(deadline: u64) {
    // SAFETY: writing %tick_cmpr (%asr23) only schedules the level-14 interrupt;
    // INT_DIS (bit 63) stays clear because deadlines are below 2^63.
    unsafe { asm!("wr {}, 0, %asr23", in(reg) deadline & !NPT, options(nomem, nostack)) };
}

fn clear_tick_softint() {
    // SAFETY: CLEAR_SOFTINT (%asr21) bit 0 acknowledges the tick-compare interrupt.
    unsafe { asm!("wr %g0, 1, %asr21", options(nomem, nostack)) };
}

/// Starts the periodic interrupt at `hz` per second.
pub fn start(hz: u32) {
    let interval = TICK_HZ / u64::from(hz.max(1));
    INTERVAL.store(interval, Ordering::Relaxed);
    let deadline = tick() + interval;
    DEADLINE.store(deadline, Ordering::Relaxed);
    set_compare(deadline);
}

/// The level-14 interrupt: acknowledge, re-arm, tell the kernel.
pub fn intr(from_user: bool) {
    clear_tick_softint();
    let interval = INTERVAL.load(Ordering::Relaxed);
    let now = tick();
    let mut deadline = DEADLINE.load(Ordering::Relaxed) + interval;
    if deadline <= now {
        deadline = now + interval;
    }
    DEADLINE.store(deadline, Ordering::Relaxed);
    set_compare(deadline);
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
    if let Some(up) = super::UPCALLS.get() {
        (up.clock_intr)(from_user);
    }
}
