//! What the machine and the kernel say to each other about user mode: an LWP's
//! user registers (S5.1), why user mode was left (a system call, a fault, or just a
//! chance to act on the way back), and the rights of user memory.
//!
//! Both machines use the SPARC V9 user ABI of Solaris: the registers are a
//! `gregset_t`, a system call is `ta 0x40` with its number in `%g1` and its
//! arguments in `%o0`..`%o5`, and it returns its values in `%o0`/`%o1` with the
//! carry bit clear, or an error number in `%o0` with the carry bit set. The host
//! simulation follows the same conventions, so the portable kernel sees one ABI.

use bitflags::bitflags;

/// Registers in a [`UserRegs`] (Solaris' SPARC V9 `NGREG`).
pub const NGREG: usize = 21;

/// Indices into [`UserRegs::r`], as Solaris' `REG_*` for SPARC V9.
pub mod reg {
    pub const CCR: usize = 0;
    pub const PC: usize = 1;
    pub const NPC: usize = 2;
    pub const Y: usize = 3;
    /// `%g1`; `%gN` is `G1 + N - 1`.
    pub const G1: usize = 4;
    pub const G7: usize = 10;
    /// `%o0`; `%oN` is `O0 + N`.
    pub const O0: usize = 11;
    pub const O6: usize = 17;
    pub const O7: usize = 18;
    pub const ASI: usize = 19;
    pub const FPRS: usize = 20;
}

/// The base page size.
pub const PAGE_SIZE: u64 = 8192;

/// The V9 stack bias: a 64-bit stack pointer is 2047 below the frame it points at.
pub const STACK_BIAS: u64 = 2047;
/// A minimal V9 stack frame: the register save area and the outgoing arguments.
pub const MIN_FRAME: u64 = 176;
/// The carry bits of `%ccr` (`icc.c`, `xcc.c`): set when a system call failed.
const CCR_CARRY: u64 = 0x11;

/// User addresses are `0..USER_LIMIT` (UltraSPARC's 44-bit virtual address space
/// has its hole above 2^43; user mode gets the bottom half).
pub const USER_LIMIT: u64 = 1 << 43;

/// An LWP's user-level registers (S5.1): Solaris' `gregset_t`. The integer state of
/// user mode; the other globals' and locals' worth lives in the register windows,
/// which spill to the user's own stack.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserRegs {
    pub r: [u64; NGREG],
}

impl UserRegs {
    /// The registers a new LWP starts with: at `pc`, on the stack whose (unbiased,
    /// 16-byte aligned) top is `stack_top`, with `arg` in `%o0` (and in `%i0` of the
    /// first window, as a called function would find it).
    pub fn for_entry(pc: u64, stack_top: u64, arg: u64) -> UserRegs {
        let mut r = UserRegs::default();
        r.r[reg::PC] = pc;
        r.r[reg::NPC] = pc.wrapping_add(4);
        r.r[reg::O6] = stack_top.wrapping_sub(MIN_FRAME + STACK_BIAS);
        r.r[reg::O0] = arg;
        r
    }

    pub fn pc(&self) -> u64 {
        self.r[reg::PC]
    }

    /// The user's stack pointer (biased).
    pub fn sp(&self) -> u64 {
        self.r[reg::O6]
    }

    /// The system-call number (`%g1`).
    pub fn sysnum(&self) -> u64 {
        self.r[reg::G1]
    }

    /// System-call argument `i` (`%o0`..`%o5`).
    pub fn sysarg(&self, i: usize) -> u64 {
        assert!(i < 6, "system-call argument {i}");
        self.r[reg::O0 + i]
    }

    /// A successful return: `%o0`, `%o1`, carry clear.
    pub fn set_rval(&mut self, r0: u64, r1: u64) {
        self.r[reg::O0] = r0;
        self.r[reg::O0 + 1] = r1;
        self.r[reg::CCR] &= !CCR_CARRY;
    }

    /// A failed return: the error number in `%o0`, carry set.
    pub fn set_error(&mut self, errno: u64) {
        self.r[reg::O0] = errno;
        self.r[reg::CCR] |= CCR_CARRY;
    }

    /// Whether the last system call failed (carry set), as user code tests it.
    pub fn failed(&self) -> bool {
        self.r[reg::CCR] & CCR_CARRY != 0
    }
}

/// Why the machine left user mode and called [`crate::Upcalls::user_trap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserTrap {
    /// `ta 0x40`: a system call; `pc`/`npc` already point past the trap instruction.
    Syscall,
    /// The LWP's own instruction faulted (S13): `pc` is the faulting instruction.
    Fault(Fault),
    /// Anything else the machine handled itself (an interrupt, say): the kernel's
    /// chance to act — stop, exit — before user mode goes on.
    Return,
}

/// A fault taken by user code (S13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    /// The address that faulted (data faults) or the faulting instruction's.
    pub addr: u64,
}

/// What kind of fault: the kernel turns each into its signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// An address with no mapping (SIGSEGV, `SEGV_MAPERR`).
    Unmapped,
    /// A mapped address without the right (write to read-only, fetch from data,
    /// user access to the kernel): SIGSEGV, `SEGV_ACCERR`.
    Protection,
    /// A misaligned access (SIGBUS, `BUS_ADRALN`).
    Misaligned,
    /// An illegal instruction (SIGILL, `ILL_ILLOPC`).
    IllegalInstruction,
    /// A privileged instruction (SIGILL, `ILL_PRVOPC`).
    PrivilegedInstruction,
    /// Integer division by zero (SIGFPE, `FPE_INTDIV`).
    DivisionByZero,
    /// A register window could be neither spilled to nor filled from the user
    /// stack at `addr` (SIGSEGV): the stack cannot be repaired.
    BadStack,
    /// Any other trap from user mode, by trap type (SIGILL).
    Other(u16),
}

bitflags! {
    /// The rights of a user mapping.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Prot: u8 {
        const READ = 1;
        const WRITE = 2;
        const EXEC = 4;
    }
}

/// Why an address-space operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// Not page-aligned, empty, outside `0..USER_LIMIT`, or where the machine keeps
    /// addresses for itself (on sparc64: the kernel's own window).
    BadRange,
    /// Part of the range is mapped already (`as_map`).
    Overlap,
    /// Part of the range is not mapped (`as_write`, `as_read`).
    Unmapped,
    /// No memory for pages or tables, or no MMU context left.
    NoMemory,
}
