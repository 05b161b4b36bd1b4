//! Leaving QEMU with the kernel's verdict, or resetting the machine.
//!
//! Success powers the machine off (QEMU exits 0). Failure writes to a pvpanic PCI
//! device, which QEMU turns into exit status 1 when started with
//! `-device pvpanic-pci,bus=pciB,addr=2 -action panic=exit-failure` (as `scripts/run`
//! does). Both are physical-address stores. Should either device be missing, the CPU
//! is parked: the host harness's time limit then reports the hang.

use super::asi;

/// The power-control register: writing `POWER_OFF` turns the machine off.
const POWER_REG: u64 = 0x1fe_0200_7240;
const POWER_OFF: u32 = 0x0100_0000;
/// BAR0 of the pvpanic device as OpenBIOS assigns it; byte 1 means "panicked".
const PVPANIC: u64 = 0x1ff_6000_000e;
const PVPANIC_PANICKED: u8 = 1;
/// The PCI host bridge's (Sabre's) reset control register, the low word of the
/// doubleword at offset 0xf020 of its register space; `SOFT_POR` asks for a
/// power-on reset of the whole machine.
const RESET_CONTROL: u64 = 0x1fe_0000_f024;
const SOFT_POR: u32 = 1 << 30;

/// Ends the run: QEMU exits 0 for success, 1 for failure.
pub fn halt(success: bool) -> ! {
    if success {
        asi::write32(POWER_REG, POWER_OFF);
    } else {
        asi::write8(PVPANIC, PVPANIC_PANICKED);
    }
    loop {
        core::hint::spin_loop();
    }
}

/// Resets the machine: OpenBIOS starts again and boots the kernel anew (under
/// QEMU's `-no-reboot`, as `scripts/run` starts it, QEMU exits instead).
pub fn reboot() -> ! {
    asi::write32(RESET_CONTROL, SOFT_POR);
    loop {
        core::hint::spin_loop();
    }
}
