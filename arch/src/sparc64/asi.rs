//! Physical-address access through the MMU-bypass ASI (`ASI_PHYS_BYPASS_EC_E`, 0x15).
//!
//! The UART, the power register and the pvpanic device have no virtual mapping: the
//! kernel reaches them by physical address, uncached and with side effects, so no TLB
//! entry is ever spent on them and no TLB miss can happen on the console path.

use core::arch::asm;

/// Reads one byte at physical address `pa`.
#[inline]
pub fn read8(pa: u64) -> u8 {
    let v: u64;
    // SAFETY: a bypass-ASI load touches only the device at `pa`; callers pass the fixed
    // device addresses of this machine. It cannot alias Rust memory.
    unsafe { asm!("lduba [{pa}] 0x15, {v}", pa = in(reg) pa, v = out(reg) v, options(nostack)) };
    v as u8
}

/// Writes one byte at physical address `pa`.
#[inline]
pub fn write8(pa: u64, v: u8) {
    // SAFETY: as for `read8`: a device register store, no Rust memory involved.
    unsafe {
        asm!("stba {v}, [{pa}] 0x15", pa = in(reg) pa, v = in(reg) v as u64, options(nostack))
    };
}

/// Writes a 32-bit word at physical address `pa`.
#[inline]
pub fn write32(pa: u64, v: u32) {
    // SAFETY: as for `write8`.
    unsafe {
        asm!("stwa {v}, [{pa}] 0x15", pa = in(reg) pa, v = in(reg) v as u64, options(nostack))
    };
}
