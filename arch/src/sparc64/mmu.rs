//! The kernel's MMU mappings: a few locked 4 MiB TLB entries.
//!
//! Once the kernel's trap table is installed every TLB miss comes to the kernel, so
//! before that the kernel maps all the memory it will ever touch (image, stacks,
//! heap) with locked, global 4 MiB entries, virtual = physical, in both the ITLB and
//! the DTLB. Devices are reached through the MMU-bypass ASI and need no mapping.
//! User address spaces will get their own translations on top of these.

use core::arch::asm;

/// The kernel's virtual (= physical) window: [`KERNEL_BASE`, `KERNEL_END`).
pub const KERNEL_BASE: u64 = 0x40_0000;
/// The end (exclusive) of the kernel window, 16 MiB: three locked 4 MiB pages from
/// [`KERNEL_BASE`]; the heap runs up to it.
pub const KERNEL_END: u64 = 0x100_0000;
const PAGE_4M: u64 = 0x40_0000;

/// TTE data: valid, 4 MiB, locked, cacheable, privileged, writable, global.
const TTE_V: u64 = 1 << 63;
const TTE_SZ_4M: u64 = 3 << 61;
const TTE_L: u64 = 1 << 6;
const TTE_CP: u64 = 1 << 5;
const TTE_CV: u64 = 1 << 4;
const TTE_P: u64 = 1 << 2;
const TTE_W: u64 = 1 << 1;
const TTE_G: u64 = 1 << 0;

const ASI_IMMU: u64 = 0x50;
const ASI_DMMU: u64 = 0x58;
const TAG_ACCESS: u64 = 0x30;

/// Locks the kernel window into both TLBs. Interrupts must be off.
pub fn lock_kernel() {
    let mut va = KERNEL_BASE;
    while va < KERNEL_END {
        let data = TTE_V | TTE_SZ_4M | va | TTE_L | TTE_CP | TTE_CV | TTE_P | TTE_W | TTE_G;
        // SAFETY: the entry maps `va` to the same physical address, which is where the
        // kernel already runs through OpenBIOS's own mappings, with the same meaning;
        // adding it changes no translation the kernel relies on. The tag is written
        // first, then the data-in register loads the entry; membar/flush order it.
        unsafe {
            asm!(
                "stxa {tag}, [{ta}] {dmmu}",
                "stxa {data}, [%g0] 0x5c",
                "membar #Sync",
                "stxa {tag}, [{ta}] {immu}",
                "stxa {data}, [%g0] 0x54",
                "flush {va}",
                tag = in(reg) va, // context 0: the nucleus (G makes it match any context)
                ta = in(reg) TAG_ACCESS,
                data = in(reg) data,
                va = in(reg) va,
                dmmu = const ASI_DMMU,
                immu = const ASI_IMMU,
                options(nostack)
            );
        }
        va += PAGE_4M;
    }
}
