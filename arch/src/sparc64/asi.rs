//! Physical-address access through the MMU-bypass ASIs: `ASI_PHYS_BYPASS_EC_E` (0x15,
//! big-endian) and `ASI_PHYS_BYPASS_EC_E_LITTLE` (0x1d, little-endian).
//!
//! The UART, the power register, the pvpanic device, the PCI host bridge and the
//! disk have no virtual mapping: the kernel reaches them by physical address,
//! uncached and with side effects, so no TLB entry is ever spent on them and no TLB
//! miss can happen on their paths. PCI registers (configuration space, a device's
//! BARs) are little-endian: the `_le` accesses read and write them as the values
//! they are; the host bridge's own registers are big-endian.

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

/// Writes a 64-bit word at physical address `pa`.
#[inline]
pub fn write64(pa: u64, v: u64) {
    // SAFETY: as for `write8`.
    unsafe { asm!("stxa {v}, [{pa}] 0x15", pa = in(reg) pa, v = in(reg) v, options(nostack)) };
}

/// Reads a 64-bit word at physical address `pa`.
#[inline]
pub fn read64(pa: u64) -> u64 {
    let v: u64;
    // SAFETY: as for `read8`.
    unsafe { asm!("ldxa [{pa}] 0x15, {v}", pa = in(reg) pa, v = out(reg) v, options(nostack)) };
    v
}

/// Reads a little-endian 16-bit register at physical address `pa`.
#[inline]
pub fn read16_le(pa: u64) -> u16 {
    let v: u64;
    // SAFETY: as for `read8`, through the little-endian bypass ASI.
    unsafe { asm!("lduha [{pa}] 0x1d, {v}", pa = in(reg) pa, v = out(reg) v, options(nostack)) };
    v as u16
}

/// Reads a little-endian 32-bit register at physical address `pa`.
#[inline]
pub fn read32_le(pa: u64) -> u32 {
    let v: u64;
    // SAFETY: as for `read8`, through the little-endian bypass ASI.
    unsafe { asm!("lduwa [{pa}] 0x1d, {v}", pa = in(reg) pa, v = out(reg) v, options(nostack)) };
    v as u32
}

/// Writes a little-endian 16-bit register at physical address `pa`.
#[inline]
pub fn write16_le(pa: u64, v: u16) {
    // SAFETY: as for `write8`, through the little-endian bypass ASI.
    unsafe {
        asm!("stha {v}, [{pa}] 0x1d", pa = in(reg) pa, v = in(reg) u64::from(v), options(nostack))
    };
}

/// Writes a little-endian 32-bit register at physical address `pa`.
#[inline]
pub fn write32_le(pa: u64, v: u32) {
    // SAFETY: as for `write8`, through the little-endian bypass ASI.
    unsafe {
        asm!("stwa {v}, [{pa}] 0x1d", pa = in(reg) pa, v = in(reg) u64::from(v), options(nostack))
    };
}
