//! What a trap leaves behind, and the stack frames it is made of: the V9 stack
//! bias and minimal frame, the trap types ([`tt`]), the frame `etrap` saves
//! ([`TrapFrame`]), what a recovered trap reports ([`TrapInfo`]), and
//! [`flush_windows`], which writes the register windows out to their frames.
//!
//! These are data and one instruction: the trap code (`trap`), the switch
//! (`context`), user mode (`user`), fault recovery (`ontrap`) and the probes all
//! read them, and they read nothing of those.

use core::arch::global_asm;
use core::mem::size_of;

/// The V9 64-bit stack bias: `%sp + 2047` is the real frame address.
pub const STACK_BIAS: u64 = 2047;

/// A minimal V9 stack frame: 16 doublewords of register save area and 6 of outgoing
/// arguments, 16-byte aligned.
pub const MIN_FRAME: usize = 176;

/// Trap types the dispatcher knows.
pub mod tt {
    /// 0x010 illegal_instruction: an unimplemented or reserved opcode (or `illtrap`) was executed.
    pub const ILLEGAL_INSTRUCTION: u64 = 0x010;
    /// 0x011 privileged_opcode: a privileged instruction (`rdpr`, `wrpr`, `done`,
    /// `retry`...) was executed in user mode (`PSTATE.PRIV` = 0).
    pub const PRIVILEGED_OPCODE: u64 = 0x011;
    /// 0x020 fp_disabled: a floating-point instruction while the FPU is off
    /// (`PSTATE.PEF` or `FPRS.FEF` is 0).
    pub const FP_DISABLED: u64 = 0x020;
    /// 0x021 fp_exception_ieee_754: an FP operation raised an IEEE exception whose
    /// trap `%fsr.TEM` enables (`%fsr.cexc` says which).
    pub const FP_EXCEPTION_IEEE_754: u64 = 0x021;
    /// 0x022 fp_exception_other: an FP operation the hardware did not complete
    /// (`%fsr.ftt` says why: unfinished or unimplemented).
    pub const FP_EXCEPTION_OTHER: u64 = 0x022;
    /// 0x028 division_by_zero: an integer divide (`udivx`, `sdivx`, `udiv`, `sdiv`) by zero.
    pub const DIVISION_BY_ZERO: u64 = 0x028;
    /// 0x030 data_access_exception: the MMU refuses a load or store for a reason other
    /// than a TLB miss or a write to a read-only page (a privileged page from user
    /// mode, a bad ASI, an address in the VA hole); the address is in the SFAR.
    pub const DATA_ACCESS_EXCEPTION: u64 = 0x030;
    /// 0x032 data_access_error: the memory system reported an error on a load or
    /// store (a bus error, an uncorrectable ECC error).
    pub const DATA_ACCESS_ERROR: u64 = 0x032;
    /// 0x034 mem_address_not_aligned: a load or store at an address not a multiple
    /// of its size (or a jump to an address not a multiple of 4).
    pub const MEM_ADDRESS_NOT_ALIGNED: u64 = 0x034;
    /// Interrupt level 14: `%tick_cmpr` matched (the clock).
    pub const INTERRUPT_LEVEL_14: u64 = 0x04e;
    /// An interrupt vector: a device's interrupt, through the PCI host bridge.
    pub const INTERRUPT_VECTOR: u64 = 0x060;
    /// 0x064 fast_instruction_access_MMU_miss: an instruction fetch from a page not
    /// in the ITLB (the vector refills it from the page table, or it is a fault).
    pub const FAST_INSTRUCTION_ACCESS_MMU_MISS: u64 = 0x064;
    /// 0x068 fast_data_access_MMU_miss: a load or store to a page not in the DTLB
    /// (refilled from the page table, or a fault); the page is in the tag access register.
    pub const FAST_DATA_ACCESS_MMU_MISS: u64 = 0x068;
    /// 0x06c fast_data_access_protection: a store to a page whose DTLB entry is not
    /// writable; the page is in the tag access register.
    pub const FAST_DATA_ACCESS_PROTECTION: u64 = 0x06c;
    /// Window spills and fills of user windows (`WSTATE` 1: `spill_1_normal`,
    /// `spill_1_other`, `fill_1_normal`, `fill_1_other`).
    pub const SPILL_USER: u64 = 0x084;
    /// 0x0a4 spill_1_other: a user window is spilled to the user's stack while the
    /// kernel runs (the user's windows are then "other" windows, `OTHERWIN` > 0).
    pub const SPILL_USER_OTHER: u64 = 0x0a4;
    /// 0x0c4 fill_1_normal: a `restore` in user mode needs a window that is no longer
    /// in the register file, and it is filled from the user's stack.
    pub const FILL_USER: u64 = 0x0c4;
    /// 0x0e4 fill_1_other: a user window is filled from the user's stack while the
    /// kernel runs (on the way back to user mode).
    pub const FILL_USER_OTHER: u64 = 0x0e4;
    /// Solaris' software traps user code relies on (`<sys/trap.h>`; `ta n` is
    /// trap type `0x100 + n`): `ta 1` a breakpoint (`ST_BREAKPOINT`), `ta 2`
    /// integer division by zero (`ST_DIV0`), `ta 3` flush the register windows to
    /// the stack (`ST_FLUSH_WINDOWS`).
    pub const SOFT_BREAKPOINT: u64 = 0x101;
    /// `ta 2` (`ST_DIV0`): integer division by zero, found by software (a fault like
    /// [`DIVISION_BY_ZERO`]).
    pub const SOFT_DIV0: u64 = 0x102;
    /// `ta 3` (`ST_FLUSH_WINDOWS`): write the user's register windows to its stack.
    pub const SOFT_FLUSH_WINDOWS: u64 = 0x103;
    /// The fast traps served in the trap table: `ta 0x24` gethrtime, `ta 0x25`
    /// gethrvtime (`ST_GETHRTIME`, `ST_GETHRVTIME`).
    pub const FAST_GETHRTIME: u64 = 0x124;
    /// `ta 0x25` (`ST_GETHRVTIME`): the LWP's virtual time (its time on a CPU),
    /// answered by the trap table itself.
    pub const FAST_GETHRVTIME: u64 = 0x125;
    /// `ta 0x40`: a system call (Solaris' `ST_SYSCALL` for 64-bit programs).
    pub const SYSCALL: u64 = 0x140;
    /// `ta 0x70`: the self-test probe trap (software trap 0x70 is trap type 0x170).
    pub const PROBE: u64 = 0x170;
}

/// What `etrap` saves: the trap registers and the interrupted code's globals and
/// out registers (its locals and ins stay in its own register window).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TrapFrame {
    /// `TSTATE[TL]`: the interrupted code's `%ccr` (bits 39..32), `%asi` (31..24),
    /// `PSTATE` (19..8) and `CWP` (4..0).
    pub tstate: u64,
    /// `TPC[TL]`: the address of the trapped instruction (where `retry` resumes).
    pub tpc: u64,
    /// `TNPC[TL]`: the next instruction's address (where `done` resumes).
    pub tnpc: u64,
    /// `TT[TL]`: the trap type (see [`tt`]).
    pub tt: u64,
    /// `%y`: the upper 32 bits of the 32-bit multiply and divide instructions.
    pub y: u64,
    /// `%g0`..`%g7`; `g[0]` is unused so that `g[n]` is `%gn`.
    pub g: [u64; 8],
    /// The interrupted window's `%o0`..`%o7` (they are `etrap`'s `%i0`..`%i7`).
    pub o: [u64; 8],
    _pad: u64,
}

// `etrap` puts it on the stack below a minimal frame: both keep the stack 16-byte aligned.
const _: () = assert!(size_of::<TrapFrame>().is_multiple_of(16));

impl TrapFrame {
    /// Resumes after the trapping instruction (a software trap is done).
    pub fn skip_instruction(&mut self) {
        self.tpc = self.tnpc;
        self.tnpc = self.tnpc.wrapping_add(4);
    }

    /// The interrupted code's stack pointer.
    pub fn sp(&self) -> u64 {
        self.o[6]
    }
}

/// Where a trap is described when `ontrap::catch` recovers from it, or a `user::run`
/// ends.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrapInfo {
    /// The trap type (`TT`, see [`tt`]).
    pub tt: u64,
    /// The address of the trapping instruction (`TPC`).
    pub tpc: u64,
    /// The address of the instruction after it (`TNPC`).
    pub tnpc: u64,
    /// `TSTATE` at the trap: `%ccr`, `%asi`, `PSTATE` and `CWP` of the trapped code.
    pub tstate: u64,
}

global_asm!(
    r#"
    .section .text.frame, "ax"
    .align  4
    .globl  sparc64_flush_windows
    .type   sparc64_flush_windows, #function
sparc64_flush_windows:
    retl
     flushw
    .size   sparc64_flush_windows, . - sparc64_flush_windows
"#
);

extern "C" {
    fn sparc64_flush_windows();
}

/// Writes every register window but the current one to its stack frame.
pub fn flush_windows() {
    // SAFETY: flushw only stores windows into their own frames via the spill handler.
    unsafe { sparc64_flush_windows() }
}
