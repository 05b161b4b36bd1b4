//! The per-CPU block ([`ArchCpu`], `sparc64_cpu`): what the trap code, the switch
//! and user mode keep about the CPU and the thread that runs on it — the kernel
//! stack for traps from user mode, the current thread, its page table, user frame,
//! FP state and user side, the system-call table, the last window fault and
//! protection fault, the virtual-time clock. Data only: `trap`'s assembly reads it
//! by name and offset, `context` and `user` write it at every switch and entry to
//! user mode, `vm` reads the page table and the MMU context it holds.

use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use super::context::{Context, BEFORE_BOOT};
use crate::SysEnt;

/// The per-CPU block the trap code reads (one CPU here; its offsets are given to
/// the assembly in `trap`).
#[repr(C)]
pub struct ArchCpu {
    /// The kernel stack pointer (biased) below which traps from user mode build
    /// their frames: where the thread left its kernel stack when it entered user mode.
    pub(super) ksp: AtomicU64,
    /// The kernel's current thread, for `%g7` on trap entry from user mode.
    pub(super) thread: AtomicU64,
    /// The running thread's page table (its space's root), 0 if it has none: what
    /// the MMU-miss vectors walk.
    pub(super) pgd: AtomicU64,
    /// The running thread's user frame (its `FrameData`), 0 if it has none: where
    /// traps from user mode save the registers, and where the window buffer is.
    pub(super) frame: AtomicU64,
    /// The FP state that lives in the FPU: that frame's (`fpu::FpuState`) if its
    /// LWP uses the FPU, else 0. What a switch saves (see `fpu`).
    pub(super) fpu: AtomicU64,
    /// The context number in the primary context register.
    pub(super) ctx: AtomicU64,
    /// The running thread's context, never null: a stand-in until the kernel names
    /// the boot thread's (`context::BEFORE_BOOT`, `Machine::context_boot`). Its
    /// user side and fault-recovery slot are the running thread's
    /// (`Context::running`).
    pub(super) context: AtomicPtr<Context>,
    /// The `user::run` in progress on this CPU (its `UserRun`), 0 if none.
    pub(super) run: AtomicU64,
    /// The kernel's system-call table (`Upcalls::sysent`) and its length.
    pub(super) sysent: AtomicU64,
    pub(super) nsysent: AtomicU64,
    /// The trap type of the last fault inside a window spill or fill of a user
    /// window (the fault vector notes it: it tells a misaligned stack from a bad one).
    pub(super) winfault: AtomicU64,
    /// The page of the last `fast_data_access_protection` trap at TL=0 (the trap
    /// table's vector notes it before anything can change the tag access register).
    pub(super) dprot_va: AtomicU64,
    /// The running thread's time on a CPU, in `%tick`s, until it was switched in,
    /// less `%tick` then (modulo 2^64): its LWP's virtual time (`ta 0x25`) is
    /// `%tick` plus this, one addition. Kept by `context::switch` from raw `%tick`
    /// reads ([`clock::tick_raw`](super::clock::tick_raw)).
    pub(super) vbase: AtomicU64,
}

/// The one CPU's [`ArchCpu`]; unmangled so that the trap-table assembly can reach it
/// by name (`sethi %hi(sparc64_cpu)`).
#[no_mangle]
pub static sparc64_cpu: ArchCpu = ArchCpu {
    ksp: AtomicU64::new(0),
    thread: AtomicU64::new(0),
    pgd: AtomicU64::new(0),
    frame: AtomicU64::new(0),
    fpu: AtomicU64::new(0),
    ctx: AtomicU64::new(0),
    context: AtomicPtr::new(&raw const BEFORE_BOOT as *mut Context),
    run: AtomicU64::new(0),
    sysent: AtomicU64::new(0),
    nsysent: AtomicU64::new(0),
    winfault: AtomicU64::new(0),
    dprot_va: AtomicU64::new(0),
    vbase: AtomicU64::new(0),
};

/// Makes `table` the system-call table the trap code calls through.
pub(super) fn set_sysent(table: &'static [SysEnt]) {
    sparc64_cpu.sysent.store(table.as_ptr() as u64, Ordering::Relaxed);
    sparc64_cpu.nsysent.store(table.len() as u64, Ordering::Relaxed);
}
