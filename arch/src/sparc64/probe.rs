//! Machine probes for the kernel's self-tests: small routines that make the CPU take
//! a software trap, execute an illegal instruction, or load through a bad address,
//! so that tests can check the trap machinery itself, and one that does to the
//! running thread's stack canary what an overflow would.

use core::arch::{asm, global_asm};
use core::mem::offset_of;

use super::frame::{TrapFrame, MIN_FRAME};

global_asm!(
    r#"
    .section .text.probe, "ax"
    .align  32
    ! sparc64_probe_soft_trap(inp: &SoftTrapIn, out: &mut SoftTrapOut)
    ! %o0..%o5 = inp.args; %g1..%g5 = inp.base + 1..5; ta 0x70; then out gets
    ! %o0, %o1, %g1..%g5 and %g7 as the trap left them.
    .globl  sparc64_probe_soft_trap
sparc64_probe_soft_trap:
    save    %sp, -{minframe}, %sp
    ldx     [%i0 + {in_args} + 0], %o0
    ldx     [%i0 + {in_args} + 8], %o1
    ldx     [%i0 + {in_args} + 16], %o2
    ldx     [%i0 + {in_args} + 24], %o3
    ldx     [%i0 + {in_args} + 32], %o4
    ldx     [%i0 + {in_args} + 40], %o5
    ldx     [%i0 + {in_base}], %l0
    add     %l0, 1, %g1
    add     %l0, 2, %g2
    add     %l0, 3, %g3
    add     %l0, 4, %g4
    add     %l0, 5, %g5
    ta      0x70
    stx     %o0, [%i1 + {out_o0}]
    stx     %o1, [%i1 + {out_o1}]
    stx     %g1, [%i1 + {out_g} + 0]
    stx     %g2, [%i1 + {out_g} + 8]
    stx     %g3, [%i1 + {out_g} + 16]
    stx     %g4, [%i1 + {out_g} + 24]
    stx     %g5, [%i1 + {out_g} + 32]
    stx     %g7, [%i1 + {out_g7}]
    ret
     restore

    .globl  sparc64_probe_illegal
    .globl  sparc64_probe_illegal_pc
sparc64_probe_illegal:
sparc64_probe_illegal_pc:
    illtrap 0
    retl
     nop

    ! sparc64_probe_load(addr): one 64-bit load from `addr`.
    .globl  sparc64_probe_load
    .globl  sparc64_probe_load_pc
sparc64_probe_load:
sparc64_probe_load_pc:
    ldx     [%o0], %o0
    retl
     nop
"#,
    minframe = const MIN_FRAME,
    in_args = const offset_of!(SoftTrapIn, args),
    in_base = const offset_of!(SoftTrapIn, base),
    out_o0 = const offset_of!(SoftTrapOut, o0),
    out_o1 = const offset_of!(SoftTrapOut, o1),
    out_g = const offset_of!(SoftTrapOut, g),
    out_g7 = const offset_of!(SoftTrapOut, g7),
);

/// What the soft-trap probe loads before its trap.
#[repr(C)]
struct SoftTrapIn {
    /// `%o0`..`%o5`.
    args: [u64; 6],
    /// `%gN` = `base + N` for N in 1..=5.
    base: u64,
}

/// What the soft-trap probe finds after its trap.
#[repr(C)]
#[derive(Default)]
struct SoftTrapOut {
    o0: u64,
    o1: u64,
    /// `%g1`..`%g5`.
    g: [u64; 5],
    g7: u64,
}

extern "C" {
    fn sparc64_probe_soft_trap(inp: *const SoftTrapIn, out: *mut SoftTrapOut);
    fn sparc64_probe_illegal();
    fn sparc64_probe_load(addr: usize);
    static sparc64_probe_illegal_pc: u8;
    static sparc64_probe_load_pc: u8;
}

/// Executes `illtrap` (trap type 0x10). Shaped as an `extern "C" fn(usize)` so that
/// [`super::ontrap::catch`] can run it; outside `catch` the trap is fatal.
pub extern "C" fn illegal(_: usize) {
    // SAFETY: the routine touches no memory; its trap is the point.
    unsafe { sparc64_probe_illegal() }
}

/// Overwrites the running thread's stack canary, as a kernel stack that overflowed
/// into its bottom would: the thread's next switch away must stop the kernel with
/// the overflow report. False if the thread has no stack the switch checks.
pub fn smash_canary() -> bool {
    super::context::Context::smash_running_canary()
}

/// Loads a doubleword from `addr` with one `ldx`, whose address may be bad on purpose
/// (see [`illegal`] about `catch`). The load reads no Rust object through a reference.
pub extern "C" fn load(addr: usize) {
    // SAFETY: an assembly load from a possibly bad address either reads a value that
    // is thrown away or traps; it creates no reference and writes nothing.
    unsafe { sparc64_probe_load(addr) }
}

/// The address of the `illtrap` in `sparc64_probe_illegal`.
pub fn illegal_pc() -> u64 {
    // SAFETY: only the symbol's address is taken.
    unsafe { &sparc64_probe_illegal_pc as *const u8 as u64 }
}

/// The address of the load in `sparc64_probe_load`.
pub fn load_pc() -> u64 {
    // SAFETY: only the symbol's address is taken.
    unsafe { &sparc64_probe_load_pc as *const u8 as u64 }
}

/// What the probe trap reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftTrapResult {
    /// `%o0` after the trap: the handler's sum of `%o0`..`%o5`.
    pub sum: u64,
    /// `%o1` after the trap: `%g7` as the handler read it.
    pub g7_in_handler: u64,
    /// `%g1`..`%g5` after the trap (they went in as `base + 1..5`).
    pub globals: [u64; 5],
    /// `%g7` after the trap.
    pub g7_after: u64,
}

/// Takes the probe trap (`ta 0x70`) with `args` in `%o0`..`%o5` and `base + n` in each
/// `%gn`; the handler clobbers the globals, so that getting them back proves that
/// trap entry and exit keep them.
pub fn soft_trap(args: [u64; 6], base: u64) -> SoftTrapResult {
    let inp = SoftTrapIn { args, base };
    let mut out = SoftTrapOut::default();
    // SAFETY: the probe reads `inp` and writes `out`, both live and of the layouts it
    // is assembled with; the trap returns to the next instruction.
    unsafe { sparc64_probe_soft_trap(&inp, &mut out) };
    SoftTrapResult { sum: out.o0, g7_in_handler: out.o1, globals: out.g, g7_after: out.g7 }
}

/// The probe trap's handler: answers in the trapped window's `%o0`/`%o1`.
pub(super) fn trap(frame: &mut TrapFrame) {
    frame.o[0] = frame.o[..6].iter().fold(0u64, |a, &x| a.wrapping_add(x));
    frame.o[1] = super::curthread_raw() as u64;
    // SAFETY: only the normal globals %g2..%g5 are overwritten, and they are declared
    // clobbered; the trap exit must restore the trapped code's values from the frame.
    unsafe {
        asm!(
            "mov -1, %g2", "mov -1, %g3", "mov -1, %g4", "mov -1, %g5",
            out("g2") _, out("g3") _, out("g4") _, out("g5") _,
            options(nomem, nostack)
        );
    }
    frame.skip_instruction();
}

global_asm!(
    r#"
    .section .rodata.user_probe, "a"
    .align  8
    ! User code, copied into a user page (position independent). From the start:
    ! spin long enough for clock interrupts to arrive in user mode; recurse ten
    ! windows deep (more than the file holds: user spills, fills, clean windows),
    ! keeping each level's number in a local; sum the locals on the way back up
    ! (55 if every window came back intact); set the user's own %g7; ta 0x41.
    .globl  sparc64_user_probe
sparc64_user_probe:
    sethi   %hi(0x4000000), %o2        ! ~200M instructions: many clock ticks
1:  subcc   %o2, 1, %o2
    bne,pt  %icc, 1b
     nop
    mov     10, %o0
2:  save    %sp, -192, %sp
    mov     %i0, %l0
    subcc   %i0, 1, %o0
    bne,pt  %icc, 2b
     nop
    clr     %g1
3:  add     %g1, %l0, %g1
    cmp     %l0, 10
    be,pn   %icc, 4f
     nop
    ba,pt   %icc, 3b
     restore
4:  restore
    mov     %g1, %o0
    mov     0x456, %o1
    sethi   %hi(0x5eed0000), %g7
    .globl  sparc64_user_probe_ta
sparc64_user_probe_ta:
    ta      0x41
    ! Entry 2: a privileged instruction.
    .globl  sparc64_user_probe_priv
sparc64_user_probe_priv:
    rdpr    %pstate, %o0
    ! Entry 3: a load from the kernel's memory.
    .globl  sparc64_user_probe_kread
sparc64_user_probe_kread:
    sethi   %hi(0x404000), %o0
    ldx     [%o0], %o0
    ! Entry 4: sum the first doubleword of 80 pages from 0x40000, twice: more pages
    ! than the TLB holds, so the second pass refills what the first evicted.
    .globl  sparc64_user_probe_pages
sparc64_user_probe_pages:
    clr     %o2
    mov     2, %o5
5:  sethi   %hi(0x40000), %o0
    mov     80, %o1
6:  ldx     [%o0], %o3
    add     %o2, %o3, %o2
    sethi   %hi(0x2000), %o4
    add     %o0, %o4, %o0
    subcc   %o1, 1, %o1
    bne,pt  %icc, 6b
     nop
    subcc   %o5, 1, %o5
    bne,pt  %icc, 5b
     nop
    mov     %o2, %o0
    ta      0x41
    ! Entry 5: a load from an address the space does not map.
    .globl  sparc64_user_probe_unmapped
sparc64_user_probe_unmapped:
    sethi   %hi(0x7000000), %o0
    ldx     [%o0], %o0
    .globl  sparc64_user_probe_end
sparc64_user_probe_end:
"#
);

extern "C" {
    static sparc64_user_probe: u8;
    static sparc64_user_probe_ta: u8;
    static sparc64_user_probe_priv: u8;
    static sparc64_user_probe_kread: u8;
    static sparc64_user_probe_pages: u8;
    static sparc64_user_probe_unmapped: u8;
    static sparc64_user_probe_end: u8;
}

/// The user-mode probe program, and the offsets of its points of interest.
pub struct UserProbe {
    /// The program's position-independent machine code, to copy into a user page;
    /// the other fields are byte offsets into it.
    pub code: &'static [u8],
    /// The `ta 0x41` that ends a normal run.
    pub ta: u64,
    /// Entry point: a privileged instruction.
    pub privileged: u64,
    /// Entry point: a load from kernel memory (the load is 4 bytes in).
    pub kernel_read: u64,
    /// Entry point: sum the first doubleword of the 80 pages from 0x40000, twice.
    pub pages: u64,
    /// Entry point: a load from 0x7000000, which no space maps (4 bytes in).
    pub unmapped: u64,
}

/// The user-mode probe (see the assembly above).
pub fn user_probe() -> UserProbe {
    // SAFETY: only the addresses of the labels are taken; the bytes between the
    // first and the last are the probe's code in the kernel's read-only data.
    unsafe {
        let start = &sparc64_user_probe as *const u8;
        let off = |p: *const u8| p as u64 - start as u64;
        UserProbe {
            code: core::slice::from_raw_parts(start, off(&sparc64_user_probe_end) as usize),
            ta: off(&sparc64_user_probe_ta),
            privileged: off(&sparc64_user_probe_priv),
            kernel_read: off(&sparc64_user_probe_kread),
            pages: off(&sparc64_user_probe_pages),
            unmapped: off(&sparc64_user_probe_unmapped),
        }
    }
}
