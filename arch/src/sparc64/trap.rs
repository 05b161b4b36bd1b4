//! Traps: the trap table, trap entry and exit from the kernel and from user mode,
//! register-window traps, and what happens to a trap nobody expected.
//!
//! # Theory
//!
//! The trap table (32 KiB, two halves of 512 eight-instruction vectors: traps taken at
//! TL=0, then at TL>0) sends every trap type somewhere:
//!
//! * Window spill, fill and clean-window traps are handled in the vector itself, in
//!   both halves: they are the only traps the entry and exit paths below can cause
//!   themselves (a `save` or `restore` at TL=1). Kernel windows go to the kernel
//!   stack (`WSTATE` 0), user windows to the user's stack through the as-if-user ASI
//!   (`WSTATE` 1 in user mode, "other" windows while the kernel runs).
//! * MMU misses are refilled by the vector from the running thread's page table
//!   (`vm`), at any trap level, read by physical address (the tables are in the
//!   page pool, `physmem`); what the table does not map goes on as a fault. A
//!   store to a page whose TLB entry is read-only (`fast_data_access_protection`)
//!   at TL=0 has its page noted in the per-CPU block first (`dprot`): `vm`
//!   resolves a copy-on-write page from it, before anything else sees a fault.
//! * The fast traps `ta 0x24` and `ta 0x25` (Solaris' gethrtime and gethrvtime) are
//!   served by the vector itself, in a few instructions, without saving anything.
//! * A system call (`ta 0x40`) enters `sparc64_syscall_trap` (Solaris'
//!   `syscall_trap`). For a call the kernel's table marks `fast`, it saves only the
//!   globals the handler may change, keeps the rest in its own window (the trapped
//!   window's outs are the arguments), calls the handler, and returns straight from
//!   those registers unless work is pending (even when the handler switched
//!   threads: the frame is made whole only if the user's window then cannot be
//!   filled); with work pending, and for every other call, the frame is made whole
//!   and the general path runs.
//!   Every other trap at TL=0 enters `etrap`.
//! * `etrap` sends a trap from user mode to `sparc64_utrap`, which saves the user's
//!   registers into the frame as well and calls `user` (see there: the frame, the
//!   return path, pending work, the window buffer). A trap from the kernel gets a
//!   [`TrapFrame`] below the interrupted code's stack pointer; `etrap` leaves the
//!   alternate globals and goes back to TL=0 (interrupts still off), saves the normal
//!   globals and calls [`sparc64_trap`] in Rust. `%g7` is never written on this path:
//!   it still holds the interrupted thread (S7). `rtrap` undoes it all and `retry`s,
//!   with `TSTATE.CWP` rewritten to the window the thread has *now*: a handler that
//!   switched threads may come back to a different window number.
//! * A data fault at TL>1 is legitimate only inside a spill or fill of a user window
//!   whose stack cannot take it: `wintrap_fault` puts a spilled window in the LWP's
//!   window buffer, and turns a fill that cannot be made into a trap from user mode
//!   (`user`); anything else at TL>0 is a bug in this file and goes to `tl1_fatal`,
//!   which reports it from an emergency stack.
//!
//! From the kernel, the Rust dispatcher handles the clock interrupt, the disk's
//! interrupt vector (`virtio`), the self-test probe trap (`probe`), and faults
//! inside `catch` (`ontrap`: the trapped code is abandoned and `catch` returns the
//! trap, the basis of `copyin`). Anything else is reported with a register dump
//! and the machine stops with failure.
//!
//! This file is the top of the machine's trap handling: the table reaches every
//! handler, and no other file of the machine reaches it. What the table and its
//! handlers share is below it: the frames and trap types (`frame`), the per-CPU
//! block (`cpu`), fault recovery (`ontrap`), the LWP's frame and window buffer
//! (`user`), the page tables (`vm`).

use core::arch::{asm, global_asm};
use core::fmt::Write;
use core::mem::{offset_of, size_of};
use core::sync::atomic::{AtomicU64, Ordering};

use super::cpu::ArchCpu;
use super::frame::{flush_windows, tt, TrapFrame, MIN_FRAME, STACK_BIAS};
use super::user::{WindowBuffer, FRAME_FPU_EN, FRAME_WBUF, PENDING_WBUF, WBUF_WINDOWS};
use super::{clock, console, ontrap, power, probe, virtio};
use crate::uregs::FrameData;
use crate::{SysEnt, SysPath};

/// A short name for a trap type, for reports.
pub fn tt_name(t: u64) -> &'static str {
    match t {
        0x008 => "instruction_access_exception",
        0x00a => "instruction_access_error",
        tt::ILLEGAL_INSTRUCTION => "illegal_instruction",
        tt::PRIVILEGED_OPCODE => "privileged_opcode",
        tt::FP_DISABLED => "fp_disabled",
        tt::FP_EXCEPTION_IEEE_754 => "fp_exception_ieee_754",
        tt::FP_EXCEPTION_OTHER => "fp_exception_other",
        0x023 => "tag_overflow",
        tt::DIVISION_BY_ZERO => "division_by_zero",
        tt::DATA_ACCESS_EXCEPTION => "data_access_exception",
        tt::DATA_ACCESS_ERROR => "data_access_error",
        tt::MEM_ADDRESS_NOT_ALIGNED => "mem_address_not_aligned",
        0x035 => "LDDF_mem_address_not_aligned",
        0x036 => "STDF_mem_address_not_aligned",
        0x037 => "privileged_action",
        0x041..=0x04f => "interrupt_level_n",
        tt::INTERRUPT_VECTOR => "interrupt_vector",
        tt::FAST_INSTRUCTION_ACCESS_MMU_MISS => "fast_instruction_access_MMU_miss",
        tt::FAST_DATA_ACCESS_MMU_MISS => "fast_data_access_MMU_miss",
        tt::FAST_DATA_ACCESS_PROTECTION => "fast_data_access_protection",
        0x080..=0x0ff => "window spill/fill",
        0x100..=0x17f => "trap_instruction",
        _ => "reserved",
    }
}

/// PSTATE bits used here.
pub mod pstate {
    /// Alternate globals: `%g0`..`%g7` name the alternate global set (trap entry sets it).
    pub const AG: u64 = 0x001;
    /// Interrupt enable: interrupts above `PIL` are taken only while it is set.
    pub const IE: u64 = 0x002;
    /// Privileged mode: the kernel runs; privileged instructions, registers and ASIs are allowed.
    pub const PRIV: u64 = 0x004;
}

/// A system-call table entry is `1 << SYSENT_SHIFT` bytes: the trap code indexes the
/// table with a shift.
const SYSENT_SHIFT: u32 = size_of::<SysEnt>().trailing_zeros();
const _: () = assert!(size_of::<SysEnt>() == 1 << SYSENT_SHIFT);
// A fast entry's path is the PSTATE its call runs with (see `SysPath`).
const _: () = assert!(SysPath::Fast as u64 == pstate::PRIV | pstate::IE);
const _: () = assert!(SysPath::FastIntrOff as u64 == pstate::PRIV);

global_asm!(
    r#"
    .set    BIAS, {bias}
    .set    NWINDOWS, 8                 ! register windows of the UltraSPARC-IIi
    .set    PSTATE_KERNEL, 0x4          ! PRIV; interrupts off, normal globals
    .set    PSTATE_KERNEL_IE, 0x6       ! PRIV | IE
    .set    PSTATE_KERNEL_AG, 0x5       ! PRIV | AG
    .set    TSTATE_PRIV, 0x400          ! TSTATE's copy of PSTATE.PRIV: trapped in the kernel
    .set    TSTATE_USER, 0x200          ! TSTATE's PSTATE for user mode: IE, nothing else
    .set    TSTATE_CWP, 0x1f            ! TSTATE's CWP
    .set    CCR_CARRY, {ccr_carry}      ! %ccr's carry bits: a system call failed
    .set    ASI_AIUP, 0x10              ! as if user, primary context
    .set    ASI_NUCLEUS_QUAD_LDD, 0x24  ! 16 bytes into a register pair, nucleus context
    .set    WSTATE_USER, 0x1            ! user mode: every window is the user's (spill_1)
    .set    WSTATE_KERNEL_UOTHER, 0x8   ! kernel, user windows still in the file (other = 1)
    ! Offsets into the structures this code reads, from their Rust definitions: a
    ! field moved there moves here too.
    .set    MINFRAME, {minframe}        ! a minimal stack frame (register save area, args)
    .set    TF_SIZE, {tf_size}          ! TrapFrame
    .set    TF_TSTATE, {tf_tstate}
    .set    TF_TPC, {tf_tpc}
    .set    TF_TNPC, {tf_tnpc}
    .set    TF_TT, {tf_tt}
    .set    TF_Y, {tf_y}
    .set    TF_G, {tf_g}                ! %g0; %gN is TF_G + 8 * N
    .set    TF_O, {tf_o}                ! %o0; %oN is TF_O + 8 * N
    .set    CPU_KSP, {cpu_ksp}          ! sparc64_cpu: kernel %sp for traps from user mode
    .set    CPU_THREAD, {cpu_thread}    ! sparc64_cpu: the kernel's current thread
    .set    CPU_PGD, {cpu_pgd}          ! sparc64_cpu: the running thread's page table
    .set    COUNT_MASK, {count_mask}    ! vm: the leaf's count in a middle-level entry
    .set    CPU_FRAME, {cpu_frame}      ! sparc64_cpu: the running thread's user frame
    .set    CPU_SYSENT, {cpu_sysent}    ! sparc64_cpu: the system-call table
    .set    CPU_NSYSENT, {cpu_nsysent}  !   and its length
    .set    CPU_WINFAULT, {cpu_winfault} ! sparc64_cpu: the last fault in a user window trap
    .set    CPU_DPROT_VA, {cpu_dprot_va} ! sparc64_cpu: the page of the last protection fault
    .set    CPU_VBASE, {cpu_vbase}      ! sparc64_cpu: the thread's %ticks on a CPU less %tick
    .set    NS_PER_TICK, {ns_per_tick}  ! %tick runs at TICK_HZ
    .set    FR_TSTATE, {fr_tstate}      ! FrameData: %ccr and %asi, as TSTATE has them
    .set    FR_PC, {fr_pc}
    .set    FR_NPC, {fr_npc}
    .set    FR_Y, {fr_y}
    .set    FR_G, {fr_g}                ! %g0; %gN is FR_G + 8 * N
    .set    FR_O, {fr_o}                ! %o0; %oN is FR_O + 8 * N
    .set    FR_SYSC, {fr_sysc}          ! system calls made
    .set    FR_WBUF, {fr_wbuf}          ! the window buffer
    .set    FR_FPU_EN, {fr_fpu_en}      ! the FP state's `en`: TSTATE.PEF or 0
    .set    WBUF_COUNT, {wbuf_count}    ! WindowBuffer: windows held
    .set    WBUF_WINDOWS, {wbuf_windows} ! WindowBuffer: the first window
    .set    WBUF_NWINDOWS, {wbuf_nwindows} ! windows a WindowBuffer holds
    .set    WBUF_SLOT, {wbuf_slot}      ! a window's slot: its %sp, then its 16 registers
    .set    PENDING_WBUF, {pending_wbuf} ! the pending-work bit: windows wait in the buffer
    .set    SE_SHIFT, {se_shift}        ! log2 of a SysEnt's size
    .set    SE_CALL, {se_call}          ! SysEnt: the handler
    .set    SE_PATH, {se_path}          ! SysEnt: how the machine makes the call

    ! A vector that leaves for `target`: eight instructions.
    .macro  VEC target
    ba,pt   %xcc, \target
     nop
    nop
    nop
    nop
    nop
    nop
    nop
    .endm

    ! `n` vectors that leave for `target`.
    .macro  VECS n, target
    .rept   \n
    VEC     \target
    .endr
    .endm

    ! spill_0_normal: this window's locals and ins go to its own (biased) stack frame.
    .macro  SPILL64
    stx     %l0, [%sp + BIAS + 0x00]
    stx     %l1, [%sp + BIAS + 0x08]
    stx     %l2, [%sp + BIAS + 0x10]
    stx     %l3, [%sp + BIAS + 0x18]
    stx     %l4, [%sp + BIAS + 0x20]
    stx     %l5, [%sp + BIAS + 0x28]
    stx     %l6, [%sp + BIAS + 0x30]
    stx     %l7, [%sp + BIAS + 0x38]
    stx     %i0, [%sp + BIAS + 0x40]
    stx     %i1, [%sp + BIAS + 0x48]
    stx     %i2, [%sp + BIAS + 0x50]
    stx     %i3, [%sp + BIAS + 0x58]
    stx     %i4, [%sp + BIAS + 0x60]
    stx     %i5, [%sp + BIAS + 0x68]
    stx     %i6, [%sp + BIAS + 0x70]
    stx     %i7, [%sp + BIAS + 0x78]
    saved
    retry
    .endm

    ! fill_0_normal: the inverse, two registers a load: a kernel frame's save area
    ! is 16-byte aligned (every kernel stack and frame size is a multiple of 16),
    ! as the nucleus quad load (ASI 0x24, UltraSPARC's ASI_NUCLEUS_QUAD_LDD) needs.
    ! (%asi is the trapped code's again after `retry`: TSTATE holds it.)
    .macro  FILL64
    wr      %g0, ASI_NUCLEUS_QUAD_LDD, %asi
    ldda    [%sp + BIAS + 0x00] %asi, %l0
    ldda    [%sp + BIAS + 0x10] %asi, %l2
    ldda    [%sp + BIAS + 0x20] %asi, %l4
    ldda    [%sp + BIAS + 0x30] %asi, %l6
    ldda    [%sp + BIAS + 0x40] %asi, %i0
    ldda    [%sp + BIAS + 0x50] %asi, %i2
    ldda    [%sp + BIAS + 0x60] %asi, %i4
    ldda    [%sp + BIAS + 0x70] %asi, %i6
    restored
    retry
    .endm

    ! spill_1_normal / spill_1_other: a window of user code goes to the user's stack,
    ! through ASI_AS_IF_USER_PRIMARY: with the user's own rights, in its own context.
    .macro  SPILL64_USER
    wr      %g0, ASI_AIUP, %asi
    stxa    %l0, [%sp + BIAS + 0x00] %asi
    stxa    %l1, [%sp + BIAS + 0x08] %asi
    stxa    %l2, [%sp + BIAS + 0x10] %asi
    stxa    %l3, [%sp + BIAS + 0x18] %asi
    stxa    %l4, [%sp + BIAS + 0x20] %asi
    stxa    %l5, [%sp + BIAS + 0x28] %asi
    stxa    %l6, [%sp + BIAS + 0x30] %asi
    stxa    %l7, [%sp + BIAS + 0x38] %asi
    stxa    %i0, [%sp + BIAS + 0x40] %asi
    stxa    %i1, [%sp + BIAS + 0x48] %asi
    stxa    %i2, [%sp + BIAS + 0x50] %asi
    stxa    %i3, [%sp + BIAS + 0x58] %asi
    stxa    %i4, [%sp + BIAS + 0x60] %asi
    stxa    %i5, [%sp + BIAS + 0x68] %asi
    stxa    %i6, [%sp + BIAS + 0x70] %asi
    stxa    %i7, [%sp + BIAS + 0x78] %asi
    saved
    retry
    .endm

    ! fill_1_normal / fill_1_other: the inverse.
    .macro  FILL64_USER
    wr      %g0, ASI_AIUP, %asi
    ldxa    [%sp + BIAS + 0x00] %asi, %l0
    ldxa    [%sp + BIAS + 0x08] %asi, %l1
    ldxa    [%sp + BIAS + 0x10] %asi, %l2
    ldxa    [%sp + BIAS + 0x18] %asi, %l3
    ldxa    [%sp + BIAS + 0x20] %asi, %l4
    ldxa    [%sp + BIAS + 0x28] %asi, %l5
    ldxa    [%sp + BIAS + 0x30] %asi, %l6
    ldxa    [%sp + BIAS + 0x38] %asi, %l7
    ldxa    [%sp + BIAS + 0x40] %asi, %i0
    ldxa    [%sp + BIAS + 0x48] %asi, %i1
    ldxa    [%sp + BIAS + 0x50] %asi, %i2
    ldxa    [%sp + BIAS + 0x58] %asi, %i3
    ldxa    [%sp + BIAS + 0x60] %asi, %i4
    ldxa    [%sp + BIAS + 0x68] %asi, %i5
    ldxa    [%sp + BIAS + 0x70] %asi, %i6
    ldxa    [%sp + BIAS + 0x78] %asi, %i7
    restored
    retry
    .endm

    ! clean_window: the window `save` is about to use held someone else's values;
    ! zero its locals and outs, count it clean, and let the `save` run again.
    .macro  CLEANWIN
    clr     %l0
    clr     %l1
    clr     %l2
    clr     %l3
    clr     %l4
    clr     %l5
    clr     %l6
    clr     %l7
    clr     %o0
    clr     %o1
    clr     %o2
    clr     %o3
    clr     %o4
    clr     %o5
    clr     %o6
    clr     %o7
    rdpr    %cleanwin, %l0
    inc     %l0
    wrpr    %l0, 0, %cleanwin
    clr     %l0
    retry
    .endm

    ! WALK: the MMU-miss refill. Walks the running thread's page table (see `vm`)
    ! for the address in the tag access register of the MMU whose ASI is `asi`, and
    ! leaves the page's TTE in %g2; anything the table does not map goes to `other`.
    ! The tables are in the page pool, read by physical address through the
    ! MMU-bypass ASI (0x14), which needs no translation; a middle-level entry
    ! carries its leaf's count of pages in its low bits, masked off here.
    ! The CPU gives MMU misses their own globals, so this never disturbs a handler
    ! it interrupts (a window spill to a user stack inside etrap, say).
    .macro  WALK asi, other
    mov     0x30, %g1
    ldxa    [%g1] \asi, %g1               ! tag access: va | context
    sethi   %hi(sparc64_cpu), %g2
    or      %g2, %lo(sparc64_cpu), %g2
    ldx     [%g2 + CPU_PGD], %g2
    brz,pn  %g2, \other                   ! a thread with no address space
     sllx   %g1, 51, %g3
    brz,pn  %g3, \other                   ! context 0 is the kernel's: never a user page
     srlx   %g1, 43, %g3
    brnz,pn %g3, \other                   ! beyond the user range
     srlx   %g1, 33, %g3
    and     %g3, 1023, %g3
    sllx    %g3, 3, %g3
    ldxa    [%g2 + %g3] 0x14, %g2         ! level 1: va[42:33]
    brz,pn  %g2, \other
     srlx   %g1, 23, %g3
    and     %g3, 1023, %g3
    sllx    %g3, 3, %g3
    ldxa    [%g2 + %g3] 0x14, %g2         ! level 2: va[32:23], and the leaf's count
    brz,pn  %g2, \other
     srlx   %g1, 13, %g3
    and     %g3, 1023, %g3
    sllx    %g3, 3, %g3
    and     %g2, -COUNT_MASK - 1, %g2     ! the count off
    ldxa    [%g2 + %g3] 0x14, %g2         ! level 3: the TTE
    brgez,pn %g2, \other                  ! not valid (V is bit 63)
     nop
    .endm

    ! One half of the table: `other` is where unexpected traps of that half go,
    ! `imiss`/`dmiss` the MMU-miss refills, `dfault` data faults (access exception,
    ! misalignment), `dprot` a store to a page its TLB entry does not let be
    ! written; `soft` (TL=0 only) serves the software traps user code makes: the
    ! system call and the fast traps.
    .macro  HALF base, other, imiss, dmiss, dfault, dprot, soft
    VECS    0x24, \other
    CLEANWIN
    .org    \base + 0x28 * 32
    VECS    0x30 - 0x28, \other
    VEC     \dfault                     ! 0x30 data_access_exception
    VECS    0x34 - 0x31, \other
    VEC     \dfault                     ! 0x34 mem_address_not_aligned
    VECS    0x64 - 0x35, \other
    VEC     \imiss                      ! 0x64 fast_instruction_access_MMU_miss
    VECS    0x68 - 0x65, \other
    VEC     \dmiss                      ! 0x68 fast_data_access_MMU_miss
    VECS    0x6c - 0x69, \other
    VEC     \dprot                      ! 0x6c fast_data_access_protection
    VECS    0x80 - 0x6d, \other
    .org    \base + 0x80 * 32
    SPILL64                             ! spill_0_normal: the kernel's own windows
    .org    \base + 0x84 * 32
    SPILL64_USER                        ! spill_1_normal: user code's own saves
    .org    \base + 0x88 * 32
    VECS    0xa4 - 0x88, \other
    .org    \base + 0xa4 * 32
    SPILL64_USER                        ! spill_1_other: the kernel pushes user windows out
    .org    \base + 0xa8 * 32
    VECS    0xc0 - 0xa8, \other
    .org    \base + 0xc0 * 32
    FILL64
    .org    \base + 0xc4 * 32
    FILL64_USER
    .org    \base + 0xc8 * 32
    VECS    0xe4 - 0xc8, \other
    .org    \base + 0xe4 * 32
    FILL64_USER
    .org    \base + 0xe8 * 32
    VECS    0x124 - 0xe8, \other
    .if     \soft
    GETHRTIME                           ! 0x124 ta 0x24: gethrtime
    .org    \base + 0x125 * 32
    VEC     fast_gethrvtime             ! 0x125 ta 0x25: gethrvtime
    .else
    VECS    2, \other
    .endif
    VECS    0x140 - 0x126, \other
    .if     \soft
    ba,pt   %xcc, syscall_trap          ! 0x140 ta 0x40: a system call
     rdpr   %tstate, %g1                ! (syscall_trap's first instruction)
    .org    \base + 0x141 * 32
    .else
    VEC     \other
    .endif
    VECS    0x200 - 0x141, \other
    .endm

    ! The fast traps: served in the trap table, on the alternate globals, without
    ! saving anything or entering Rust; `done` returns past the `ta`.
    ! GETHRTIME (ta 0x24): %o0 = nanoseconds since the machine started (%tick at
    ! TICK_HZ, NPT bit off), the clock `clock_ns` reads too.
    .macro  GETHRTIME
    rd      %tick, %g1
    sllx    %g1, 1, %g1
    srlx    %g1, 1, %g1
    mulx    %g1, NS_PER_TICK, %o0
    done
    .endm

    .section .text.traptable, "ax"
    .align  32768
    .globl  sparc64_trap_table
sparc64_trap_table:
    HALF    sparc64_trap_table, etrap, immu_miss, dmmu_miss, etrap, dprot, 1
    .org    sparc64_trap_table + 0x4000
    HALF    sparc64_trap_table + 0x4000, tl1_fatal, tl1_fatal, dmmu_miss_tl1, wintrap_fault, wintrap_fault, 0
    .org    sparc64_trap_table + 0x8000

    ! The MMU-miss refills (see WALK). Instruction misses load the ITLB only for
    ! pages that may be executed; a miss at TL>0 comes from a window spill or fill
    ! of a user window: what the table cannot answer is the user stack's fault.
immu_miss:
    WALK    0x50, etrap
    srlx    %g2, 7, %g3                 ! TTE_SOFT_EXEC
    andcc   %g3, 1, %g0
    bz,pn   %xcc, etrap
     nop
    stxa    %g2, [%g0] 0x54             ! ITLB data in
    retry
dmmu_miss:
    WALK    0x58, etrap
    stxa    %g2, [%g0] 0x5c             ! DTLB data in
    retry
dmmu_miss_tl1:
    WALK    0x58, wintrap_fault
    stxa    %g2, [%g0] 0x5c
    retry

    ! dprot: a store at TL=0 to a page whose TLB entry is not writable (perhaps a
    ! copy-on-write page: see `vm`). The page goes to the per-CPU block before
    ! anything else can take an MMU miss and change the tag access register (the
    ! `save` of a trap from user mode may spill a user window), then etrap.
dprot:
    mov     0x30, %g1
    ldxa    [%g1] 0x58, %g1               ! tag access: va | context
    sethi   %hi(sparc64_cpu), %g2
    or      %g2, %lo(sparc64_cpu), %g2
    srlx    %g1, 13, %g1
    sllx    %g1, 13, %g1
    ba,pt   %xcc, etrap
     stx    %g1, [%g2 + CPU_DPROT_VA]

    ! fast_gethrvtime (ta 0x25): %o0 = the LWP's virtual time, the nanoseconds its
    ! thread has spent on a CPU: %tick (read whole, NPT bit and all) plus
    ! CPU_VBASE, which `context::switch` keeps (see `ArchCpu::vbase`).
fast_gethrvtime:
    sethi   %hi(sparc64_cpu), %g1
    or      %g1, %lo(sparc64_cpu), %g1
    rd      %tick, %g2
    ldx     [%g1 + CPU_VBASE], %g3
    add     %g2, %g3, %g2
    mulx    %g2, NS_PER_TICK, %o0
    done

    ! wintrap_fault: a data fault at TL>1 (on the MMU globals for a miss, the
    ! alternate ones otherwise). Legitimate only inside a spill or fill of a user
    ! window whose stack cannot take it (see `user`): the fault is noted, and handled
    ! back at the window trap's level.
    ! - A spill stores the window in the running LWP's window buffer, asks its
    !   return to user mode to write the buffer out (the pending-work bit), and
    !   completes (`saved`). If the spill was user code's own `save`, user mode is
    !   left at once, as if the `save` had trapped (CWP back to the user's window:
    !   TSTATE has it); if it came from the kernel (a trap's save, a flushw), the
    !   kernel goes on.
    ! - A fill cannot complete. If it was user code's own `restore`, user mode is
    !   left as if the `restore` had trapped. From the kernel, only the returns to
    !   user mode restore a user window (USER_RETURN): the trap becomes a trap from
    !   user mode at the registers the return was loading (sparc64_user_refault;
    !   the fast system call's return makes the frame whole first,
    !   sparc64_syscall_refault). Anything else is a bug here, and fatal.
wintrap_fault:
    rdpr    %tt, %g4
    sethi   %hi(sparc64_cpu), %g2
    or      %g2, %lo(sparc64_cpu), %g2
    stx     %g4, [%g2 + CPU_WINFAULT]
    rdpr    %tl, %g1
    sub     %g1, 1, %g1
    wrpr    %g1, 0, %tl
    rdpr    %tt, %g1
    cmp     %g1, 0x84
    be,pt   %xcc, 1f
     cmp    %g1, 0xa4
    be,pt   %xcc, 1f
     cmp    %g1, 0xc4
    be,pt   %xcc, 3f
     cmp    %g1, 0xe4
    be,pt   %xcc, 3f
     nop
    ba,pt   %xcc, tl1_fatal
     nop
1:  ldx     [%g2 + CPU_FRAME], %g3
    brz,pn  %g3, tl1_fatal
     add    %g3, FR_WBUF, %g3
    ldx     [%g3 + WBUF_COUNT], %g4
    cmp     %g4, WBUF_NWINDOWS
    bgeu,pn %xcc, tl1_fatal
     mulx   %g4, WBUF_SLOT, %g5         ! the window's slot
    add     %g5, WBUF_WINDOWS, %g5
    add     %g3, %g5, %g5
    stx     %sp, [%g5 + 0x00]
    stx     %l0, [%g5 + 0x08]
    stx     %l1, [%g5 + 0x10]
    stx     %l2, [%g5 + 0x18]
    stx     %l3, [%g5 + 0x20]
    stx     %l4, [%g5 + 0x28]
    stx     %l5, [%g5 + 0x30]
    stx     %l6, [%g5 + 0x38]
    stx     %l7, [%g5 + 0x40]
    stx     %i0, [%g5 + 0x48]
    stx     %i1, [%g5 + 0x50]
    stx     %i2, [%g5 + 0x58]
    stx     %i3, [%g5 + 0x60]
    stx     %i4, [%g5 + 0x68]
    stx     %i5, [%g5 + 0x70]
    stx     %i6, [%g5 + 0x78]
    stx     %i7, [%g5 + 0x80]
    inc     %g4
    stx     %g4, [%g3 + WBUF_COUNT]
    ldx     [%g2 + CPU_THREAD], %g3     ! its pending-work word (at offset 0)
    lduw    [%g3], %g4
    sethi   %hi(PENDING_WBUF), %g5
    or      %g4, %g5, %g4
    stw     %g4, [%g3]
    saved
    rdpr    %tstate, %g1
    andcc   %g1, TSTATE_PRIV, %g0
    bnz,pt  %xcc, 2f
     and    %g1, 0x1f, %g1
    wrpr    %g1, 0, %cwp
    ba,pt   %xcc, etrap
     nop
2:  retry
3:  rdpr    %tstate, %g1
    andcc   %g1, TSTATE_PRIV, %g0
    bnz,pn  %xcc, 4f
     and    %g1, 0x1f, %g1
    wrpr    %g1, 0, %cwp
    ba,pt   %xcc, etrap
     nop
4:  rdpr    %tpc, %g3
    wrpr    %g1, 0, %cwp                ! the return path's window, as it was
    sethi   %hi(sparc64_user_restore), %g4
    or      %g4, %lo(sparc64_user_restore), %g4
    cmp     %g3, %g4
    be,pt   %xcc, user_refault          ! the frame holds every register
     nop
    sethi   %hi(sparc64_syscall_restore), %g4
    or      %g4, %lo(sparc64_syscall_restore), %g4
    cmp     %g3, %g4
    be,pt   %xcc, syscall_refault       ! this window holds what the frame lacks
     nop
    ba,pt   %xcc, tl1_fatal
     nop

    ! etrap: a trap taken at TL=0 that its vector does not handle. From user mode,
    ! sparc64_utrap. From the kernel: TL=1, alternate globals, interrupts off, in
    ! the interrupted code's window; a TrapFrame goes below its stack pointer, then
    ! TL=0, the normal globals (%g7 is the interrupted thread: never written here),
    ! and sparc64_trap in Rust. rtrap undoes it all and `retry`s, with TSTATE.CWP
    ! rewritten to the window the thread has now (a handler that switched threads
    ! comes back to a different window number).
    .globl  sparc64_etrap
sparc64_etrap:
etrap:                                  ! (branches take local labels: lld cannot relocate
    rdpr    %tstate, %g1                !  19-bit displacements to global symbols)
    andcc   %g1, TSTATE_PRIV, %g0
    bz,pn   %xcc, utrap
     nop
    save    %sp, -(MINFRAME + TF_SIZE), %sp ! a minimal frame for our callee, and the TrapFrame
    add     %sp, BIAS + MINFRAME, %l7   ! %l7 = &TrapFrame
    stx     %g1, [%l7 + TF_TSTATE]
    rdpr    %tpc, %l0
    stx     %l0, [%l7 + TF_TPC]
    rdpr    %tnpc, %l0
    stx     %l0, [%l7 + TF_TNPC]
    rdpr    %tt, %l0
    stx     %l0, [%l7 + TF_TT]
    rd      %y, %l0
    stx     %l0, [%l7 + TF_Y]
    stx     %i0, [%l7 + TF_O + 0]
    stx     %i1, [%l7 + TF_O + 8]
    stx     %i2, [%l7 + TF_O + 16]
    stx     %i3, [%l7 + TF_O + 24]
    stx     %i4, [%l7 + TF_O + 32]
    stx     %i5, [%l7 + TF_O + 40]
    stx     %i6, [%l7 + TF_O + 48]
    stx     %i7, [%l7 + TF_O + 56]
    wrpr    %g0, 0, %tl
    wrpr    %g0, PSTATE_KERNEL, %pstate ! the normal globals: %g7 is curthread
    stx     %g1, [%l7 + TF_G + 8]
    stx     %g2, [%l7 + TF_G + 16]
    stx     %g3, [%l7 + TF_G + 24]
    stx     %g4, [%l7 + TF_G + 32]
    stx     %g5, [%l7 + TF_G + 40]
    stx     %g6, [%l7 + TF_G + 48]
    stx     %g7, [%l7 + TF_G + 56]
    call    sparc64_trap
     mov    %l7, %o0
    .globl  sparc64_rtrap
sparc64_rtrap:
    ldx     [%l7 + TF_G + 8], %g1
    ldx     [%l7 + TF_G + 16], %g2
    ldx     [%l7 + TF_G + 24], %g3
    ldx     [%l7 + TF_G + 32], %g4
    ldx     [%l7 + TF_G + 40], %g5
    ldx     [%l7 + TF_G + 48], %g6
    ldx     [%l7 + TF_Y], %l0
    wr      %l0, 0, %y
    ldx     [%l7 + TF_O + 0], %i0
    ldx     [%l7 + TF_O + 8], %i1
    ldx     [%l7 + TF_O + 16], %i2
    ldx     [%l7 + TF_O + 24], %i3
    ldx     [%l7 + TF_O + 32], %i4
    ldx     [%l7 + TF_O + 40], %i5
    ldx     [%l7 + TF_O + 48], %i6
    ldx     [%l7 + TF_O + 56], %i7
    wrpr    %g0, PSTATE_KERNEL_AG, %pstate
    wrpr    %g0, 1, %tl
    ldx     [%l7 + TF_TSTATE], %g1
    ldx     [%l7 + TF_TPC], %g2
    ldx     [%l7 + TF_TNPC], %g3
    restore                             ! may fill at TL=2 from the kernel stack
    rdpr    %cwp, %g4
    andn    %g1, 0x1f, %g1
    or      %g1, %g4, %g1
    wrpr    %g1, 0, %tstate
    wrpr    %g2, 0, %tpc
    wrpr    %g3, 0, %tnpc
    retry

    ! ---- User mode: traps that leave it, and the way back (see `user`) ----

    ! USER_ENTRY: the start of every trap from user mode (TL=1, alternate globals,
    ! the window the user trapped in). The free windows are marked clean, so that
    ! the kernel, this save included, takes no clean_window trap (what they hold is
    ! the user's own, or the kernel's; the return to user mode counts them dirty
    ! again). A kernel frame on the thread's kernel stack (the save may spill a user
    ! window, to the user's stack or the window buffer); the user's windows in the
    ! file become "other" windows. Leaves %g3 = &sparc64_cpu, `frame` = the frame.
    ! (Marking the windows clean, `wrpr %g0, NWINDOWS - 1, %cleanwin`, comes first,
    ! before the macro, where a delay slot can take it.)
    .macro  USER_ENTRY frame
    sethi   %hi(sparc64_cpu), %g3
    or      %g3, %lo(sparc64_cpu), %g3
    ldx     [%g3 + CPU_KSP], %g2
    save    %g2, -MINFRAME, %sp
    rdpr    %canrestore, %g2
    wrpr    %g0, 0, %canrestore
    wrpr    %g2, 0, %otherwin
    wrpr    %g0, WSTATE_KERNEL_UOTHER, %wstate
    ldx     [%g3 + CPU_FRAME], \frame
    .endm

    ! USER_SAVE: the rest of the user's registers into the frame (%g1 = TSTATE, the
    ! trapped window's outs are our ins), then TL=0 on the normal globals with
    ! %g7 = the kernel's current thread (S7), interrupts still off. Leaves %l7 =
    ! the frame, %l6 = &sparc64_cpu.
    .macro  USER_SAVE
    srlx    %g1, 24, %g2                ! %ccr and %asi, nothing else
    sllx    %g2, 24, %g2
    stx     %g2, [%g5 + FR_TSTATE]
    rd      %y, %g2
    stx     %g2, [%g5 + FR_Y]
    stx     %i0, [%g5 + FR_O + 0]
    stx     %i1, [%g5 + FR_O + 8]
    stx     %i2, [%g5 + FR_O + 16]
    stx     %i3, [%g5 + FR_O + 24]
    stx     %i4, [%g5 + FR_O + 32]
    stx     %i5, [%g5 + FR_O + 40]
    stx     %i6, [%g5 + FR_O + 48]
    stx     %i7, [%g5 + FR_O + 56]
    mov     %g5, %l7
    mov     %g3, %l6
    wrpr    %g0, 0, %tl
    wrpr    %g0, PSTATE_KERNEL, %pstate ! the normal globals: the user's
    stx     %g1, [%l7 + FR_G + 8]
    stx     %g2, [%l7 + FR_G + 16]
    stx     %g3, [%l7 + FR_G + 24]
    stx     %g4, [%l7 + FR_G + 32]
    stx     %g5, [%l7 + FR_G + 40]
    stx     %g6, [%l7 + FR_G + 48]
    stx     %g7, [%l7 + FR_G + 56]
    ldx     [%l6 + CPU_THREAD], %g7     ! the kernel's current thread
    .endm

    ! USER_RETURN: the last steps back to user mode (TL=1, the alternate globals:
    ! %g1 = TSTATE without its CWP, %g2 = pc, %g3 = npc; %wstate the user's), into
    ! the window the user trapped in. Its `restore` may fill that window from the
    ! user's stack at TL=2, and fail there: wintrap_fault knows each place this
    ! macro is used by the address of its `restore`.
    .macro  USER_RETURN
    restore
    ! Windows beyond the user's own held kernel values: clean them before it uses them.
    rdpr    %canrestore, %g4
    wrpr    %g4, 0, %cleanwin
    rdpr    %cwp, %g4
    or      %g1, %g4, %g1
    wrpr    %g1, 0, %tstate
    wrpr    %g2, 0, %tpc
    wrpr    %g3, 0, %tnpc
    retry
    .endm

    ! SYSCALL_FRAME: the frame made whole on sparc64_syscall_trap's slow paths, from
    ! its locals and the trapped window's outs (%i0-%i7), as USER_SAVE leaves it.
    .macro  SYSCALL_FRAME
    srlx    %l0, 24, %l4                ! %ccr and %asi, nothing else
    sllx    %l4, 24, %l4
    stx     %l4, [%l7 + FR_TSTATE]
    stx     %l1, [%l7 + FR_PC]
    add     %l1, 4, %l4
    stx     %l4, [%l7 + FR_NPC]
    stx     %l3, [%l7 + FR_Y]
    stx     %l2, [%l7 + FR_G + 56]
    stx     %i0, [%l7 + FR_O + 0]
    stx     %i1, [%l7 + FR_O + 8]
    stx     %i2, [%l7 + FR_O + 16]
    stx     %i3, [%l7 + FR_O + 24]
    stx     %i4, [%l7 + FR_O + 32]
    stx     %i5, [%l7 + FR_O + 40]
    stx     %i6, [%l7 + FR_O + 48]
    stx     %i7, [%l7 + FR_O + 56]
    .endm

    ! sparc64_utrap: a trap from user mode other than a system call (from etrap,
    ! %g1 = TSTATE): saved whole, handed to sparc64_user_trap with its type.
    .globl  sparc64_utrap
sparc64_utrap:
utrap:
    wrpr    %g0, NWINDOWS - 1, %cleanwin
    USER_ENTRY %g5
    rdpr    %tpc, %g2
    stx     %g2, [%g5 + FR_PC]
    rdpr    %tnpc, %g2
    stx     %g2, [%g5 + FR_NPC]
    rdpr    %tt, %l5
    USER_SAVE
.Lutrap_call:
    call    sparc64_user_trap
     mov    %l5, %o0
    ba,pt   %xcc, user_rtt
     nop

    ! sparc64_syscall_trap: ta 0x40 (Solaris' syscall_trap), in two paths.
    !
    ! The fast path, for a call whose table entry is `fast`: only what the handler
    ! may change is saved. The user's %g1-%g6 go into the frame (the handler's code
    ! may use %g1-%g5; %g6 is saved for the general return below); TSTATE, the
    ! return pc, the user's %g7 and %y stay in this window's locals; the trapped
    ! window's outs are this window's ins, the arguments, and stay there. The
    ! results come back in %o0 (or the error number) and %i1, the carry into
    ! TSTATE's %ccr, and if no work is pending and the trapped window is still in
    ! the register file (`%otherwin` > 0: nothing flushed the windows, so no switch
    ! happened), the return goes straight from these registers: the `restore` into
    ! the trapped window moves %o0 into its %o0 as it goes, and `done` resumes at
    ! the return pc (TNPC) with the next one past it.
    !
    ! A handler that switched threads flushed the trapped window to the user's
    ! stack (`%otherwin` = 0): the return is the same from these registers, but
    ! its `restore` fills that window from user memory, which may fail; only then
    ! is the frame made whole, by sparc64_syscall_refault. The frame is where it
    ! was: only an LWP asleep on a sleep queue or stopped has its structure, which
    ! holds it, swapped out (`swap`'s `swappable`), and a fast call is neither (it
    ! may block on a kernel lock's turnstile, which `swap` leaves alone). TSTATE
    ! is the trap's but for CWP: its PSTATE is user mode's with PEF as the LWP's
    ! FP state has it, which only the LWP's own traps change (see `fpu`), never a
    ! fast call.
    !
    ! Otherwise the frame is made whole (SYSCALL_FRAME) and the general path runs:
    ! a call that is not fast goes to sparc64_user_syscall, with interrupts on; a
    ! fast call with pending work returns through user_rtt.
    !
    ! Locals: %l0 = TSTATE, %l1 = the return pc (past the `ta`), %l2 = the user's
    ! %g7, %l3 = %y, %l6 = &sparc64_cpu, %l7 = the frame.
    .globl  sparc64_syscall_trap
sparc64_syscall_trap:
syscall_trap:                           ! %g1 = TSTATE (read in the vector)
    andcc   %g1, TSTATE_PRIV, %g0
    bnz,pn  %xcc, etrap                 ! from the kernel: not a system call (reported)
     wrpr   %g0, NWINDOWS - 1, %cleanwin ! (for etrap too: harmless in the kernel)
    USER_ENTRY %l7
    mov     %g1, %l0
    rdpr    %tnpc, %l1
    mov     %g3, %l6
    wrpr    %g0, 0, %tl
    wrpr    %g0, PSTATE_KERNEL, %pstate ! the normal globals: the user's
    stx     %g1, [%l7 + FR_G + 8]
    stx     %g2, [%l7 + FR_G + 16]
    stx     %g3, [%l7 + FR_G + 24]
    stx     %g4, [%l7 + FR_G + 32]
    stx     %g5, [%l7 + FR_G + 40]
    stx     %g6, [%l7 + FR_G + 48]
    mov     %g7, %l2
    rd      %y, %l3
    ldx     [%l6 + CPU_THREAD], %g7     ! the kernel's current thread (S7)
    ldx     [%l7 + FR_SYSC], %l4        ! the call is counted
    inc     %l4
    stx     %l4, [%l7 + FR_SYSC]
    ldx     [%l6 + CPU_NSYSENT], %l4    ! %g1: the call number
    cmp     %g1, %l4
    bgeu,pn %xcc, .Lsyscall_general
     sllx   %g1, SE_SHIFT, %l4
    ldx     [%l6 + CPU_SYSENT], %l5
    add     %l5, %l4, %l4
    ldub    [%l4 + SE_PATH], %l5        ! SysPath: 0, or the PSTATE for the call
    brz,pn  %l5, .Lsyscall_general
     ldx    [%l4 + SE_CALL], %l4
    wrpr    %l5, 0, %pstate
    mov     %i0, %o0
    mov     %i1, %o1
    mov     %i2, %o2
    mov     %i3, %o3
    mov     %i4, %o4
    call    %l4
     mov    %i5, %o5
    wrpr    %g0, PSTATE_KERNEL, %pstate ! %o0, %o1; %o2 the error number, or 0
    mov     CCR_CARRY, %l4
    brnz,pn %o2, .Lsyscall_failed
     sllx   %l4, 32, %l4
    andn    %l0, %l4, %l0               ! success: carry clear, the results in %o0, %o1
    mov     %o1, %i1                    ! (%o0 goes with the `restore` below)
.Lsyscall_done:
    lduw    [%g7], %l4                  ! pending work?
    brnz,pn %l4, .Lsyscall_return
     rdpr   %otherwin, %l5              ! the trapped window still in the file?
    brz,pn  %l5, .Lsyscall_flushed
     ldx    [%l7 + FR_G + 8], %g1
    ldx     [%l7 + FR_G + 16], %g2
    ldx     [%l7 + FR_G + 24], %g3
    ldx     [%l7 + FR_G + 32], %g4
    ldx     [%l7 + FR_G + 40], %g5
    wr      %l3, 0, %y
    mov     %l2, %g7                    ! the user's own %g7: no kernel code from here
    wrpr    %g0, PSTATE_KERNEL_AG, %pstate
    wrpr    %g0, 1, %tl
    wrpr    %l0, 0, %tstate             ! CWP: the trapped window's, where `restore` goes
    wrpr    %l1, 0, %tnpc               ! `done` returns there (and NPC past it)
    wrpr    %l5, 0, %canrestore         ! the user's windows, as user_rtt makes them
    wrpr    %g0, 0, %otherwin
    wrpr    %g0, WSTATE_USER, %wstate
    restore %o0, %g0, %o0               ! never fills: the window is in the file; %o0 its %o0
    rdpr    %canrestore, %g4            ! beyond the user's windows: to be cleaned
    wrpr    %g4, 0, %cleanwin
    done
.Lsyscall_failed:                       ! failure: carry set, the error in %o0, %o1 as it was
    or      %l0, %l4, %l0
    ba,pt   %xcc, .Lsyscall_done
     mov    %o2, %o0
.Lsyscall_general:
    SYSCALL_FRAME
    wrpr    %g0, PSTATE_KERNEL_IE, %pstate
    call    sparc64_user_syscall
     nop
    wrpr    %g0, PSTATE_KERNEL, %pstate
    ba,pt   %xcc, user_rtt
     nop
.Lsyscall_return:
    mov     %o0, %i0                    ! the result (or error) the fast return puts there
    SYSCALL_FRAME
    ba,pt   %xcc, .Luser_rtt_ins        ! the outs are in this window already
     nop
.Lsyscall_flushed:                      ! the trapped window is on the user's stack
    andn    %l0, TSTATE_CWP, %l0        ! TSTATE as it was but for CWP, the window's now
    ldx     [%l7 + FR_G + 16], %g2      ! (%g1 came in the delay slot)
    ldx     [%l7 + FR_G + 24], %g3
    ldx     [%l7 + FR_G + 32], %g4
    ldx     [%l7 + FR_G + 40], %g5
    ldx     [%l7 + FR_G + 48], %g6      ! (another thread's return may have changed it)
    wr      %l3, 0, %y
    mov     %l2, %g7                    ! the user's own %g7: no kernel code from here
    wrpr    %g0, PSTATE_KERNEL_AG, %pstate
    wrpr    %g0, 1, %tl
    mov     %l0, %g1
    wrpr    %l1, 0, %tnpc               ! `done` returns there (the fill's trap is a level up)
    wrpr    %g0, WSTATE_USER, %wstate   ! (%canrestore and %otherwin are 0: nothing below)
    .globl  sparc64_syscall_restore
sparc64_syscall_restore:
    restore %o0, %g0, %o0               ! fills the trapped window (fails as
                                        !  sparc64_syscall_refault); %o0 its %o0
    wrpr    %g0, 0, %cleanwin           ! no user window below it: all beyond are dirty
    rdpr    %cwp, %g4
    or      %g1, %g4, %g1
    wrpr    %g1, 0, %tstate
    done

    ! sparc64_syscall_refault: wintrap_fault found that the fast return could not
    ! fill the trapped window (TL=2, in the return path's window). The frame is made
    ! whole from this window, as .Lsyscall_return makes it (the result is in %o0;
    ! TSTATE's extra bits are dropped again), and the return becomes a trap from
    ! user mode as user_refault makes it.
syscall_refault:
    mov     %o0, %i0
    SYSCALL_FRAME
    ba,pt   %xcc, user_refault
     nop

    ! sparc64_user_refault: wintrap_fault found that the return to user mode could
    ! not fill the user's window (TL=2, in the return path's window, the alternate
    ! or MMU globals). The frame still holds every register of the LWP, and the
    ! normal globals the user's: a trap from user mode, as from sparc64_utrap, with
    ! the fill's trap type.
    .globl  sparc64_user_refault
sparc64_user_refault:
user_refault:
    wrpr    %g0, WSTATE_KERNEL_UOTHER, %wstate
    wrpr    %g0, NWINDOWS - 1, %cleanwin
    rdpr    %tt, %l5
    sethi   %hi(sparc64_cpu), %l6
    or      %l6, %lo(sparc64_cpu), %l6
    ldx     [%l6 + CPU_FRAME], %l7
    wrpr    %g0, 0, %tl
    wrpr    %g0, PSTATE_KERNEL, %pstate
    ba,pt   %xcc, .Lutrap_call
     ldx    [%l6 + CPU_THREAD], %g7

    ! sparc64_user_rtt: back to user mode with the registers of the running thread's
    ! frame, from TL=0 in the kernel, normal globals, %l6 = &sparc64_cpu, interrupts
    ! off. The frame's address is taken afresh (into %l7): while the kernel had the
    ! LWP, its registers may have gone out to the swap device with its lwp structure
    ! and come back in another block (S5). Pending work first (the thread's word at
    ! %g7 + 0): only when it is set, sparc64_user_pending, and the test again.
    .globl  sparc64_user_rtt
sparc64_user_rtt:
user_rtt:
    ldx     [%l6 + CPU_FRAME], %l7
    ldx     [%l7 + FR_O + 0], %i0
    ldx     [%l7 + FR_O + 8], %i1
    ldx     [%l7 + FR_O + 16], %i2
    ldx     [%l7 + FR_O + 24], %i3
    ldx     [%l7 + FR_O + 32], %i4
    ldx     [%l7 + FR_O + 40], %i5
    ldx     [%l7 + FR_O + 48], %i6
    ldx     [%l7 + FR_O + 56], %i7
.Luser_rtt_ins:
    lduw    [%g7], %l0
    brnz,pn %l0, .Luser_pending
     ldx    [%l7 + FR_G + 8], %g1
    ldx     [%l7 + FR_G + 16], %g2
    ldx     [%l7 + FR_G + 24], %g3
    ldx     [%l7 + FR_G + 32], %g4
    ldx     [%l7 + FR_G + 40], %g5
    ldx     [%l7 + FR_G + 48], %g6
    ldx     [%l7 + FR_Y], %l0
    wr      %l0, 0, %y
    ldx     [%l7 + FR_TSTATE], %l0
    or      %l0, TSTATE_USER, %l0
    ldx     [%l7 + FR_FPU_EN], %l3      ! TSTATE.PEF if the LWP uses the FPU (see `fpu`)
    or      %l0, %l3, %l0
    ldx     [%l7 + FR_PC], %l1
    ldx     [%l7 + FR_NPC], %l2
    ldx     [%l7 + FR_G + 56], %g7      ! the user's own %g7: no kernel code from here
    wrpr    %g0, PSTATE_KERNEL_AG, %pstate
    wrpr    %g0, 1, %tl
    mov     %l0, %g1
    mov     %l1, %g2
    mov     %l2, %g3
    ! The user's windows still in the file are restorable again, and spills and
    ! fills from now on are the user's.
    rdpr    %otherwin, %g4
    wrpr    %g4, 0, %canrestore
    wrpr    %g0, 0, %otherwin
    wrpr    %g0, WSTATE_USER, %wstate
    .globl  sparc64_user_restore
sparc64_user_restore:
    USER_RETURN                         ! fails as sparc64_user_refault
.Luser_pending:
    call    sparc64_user_pending
     nop
    ba,pt   %xcc, user_rtt
     nop

    ! A trap at TL>0 that is not a window trap: report it from the emergency stack.
tl1_fatal:
    rdpr    %tt, %o0
    rdpr    %tpc, %o1
    rdpr    %tnpc, %o2
    rdpr    %tstate, %o3
    rdpr    %tl, %o4
    wrpr    %g0, 0, %canrestore         ! the windows are lost; start clean
    wrpr    %g0, 0, %otherwin
    wrpr    %g0, 6, %cansave
    wrpr    %g0, 0, %wstate             ! any spill from here on is the kernel's
    sethi   %hi(sparc64_emergency_stack_top), %sp
    or      %sp, %lo(sparc64_emergency_stack_top), %sp
    sub     %sp, BIAS + 192, %sp
    call    sparc64_tl1_fatal
     nop
    ! not reached

"#,
    bias = const STACK_BIAS,
    ccr_carry = const crate::uregs::CCR_CARRY,
    minframe = const MIN_FRAME,
    tf_size = const size_of::<TrapFrame>(),
    tf_tstate = const offset_of!(TrapFrame, tstate),
    tf_tpc = const offset_of!(TrapFrame, tpc),
    tf_tnpc = const offset_of!(TrapFrame, tnpc),
    tf_tt = const offset_of!(TrapFrame, tt),
    tf_y = const offset_of!(TrapFrame, y),
    tf_g = const offset_of!(TrapFrame, g),
    tf_o = const offset_of!(TrapFrame, o),
    cpu_ksp = const offset_of!(ArchCpu, ksp),
    cpu_thread = const offset_of!(ArchCpu, thread),
    cpu_pgd = const offset_of!(ArchCpu, pgd),
    count_mask = const super::vm::COUNT_MASK,
    cpu_frame = const offset_of!(ArchCpu, frame),
    cpu_sysent = const offset_of!(ArchCpu, sysent),
    cpu_nsysent = const offset_of!(ArchCpu, nsysent),
    cpu_winfault = const offset_of!(ArchCpu, winfault),
    cpu_dprot_va = const offset_of!(ArchCpu, dprot_va),
    cpu_vbase = const offset_of!(ArchCpu, vbase),
    ns_per_tick = const 1_000_000_000 / clock::TICK_HZ,
    fr_tstate = const offset_of!(FrameData, tstate),
    fr_pc = const offset_of!(FrameData, pc),
    fr_npc = const offset_of!(FrameData, npc),
    fr_y = const offset_of!(FrameData, y),
    fr_g = const offset_of!(FrameData, g),
    fr_o = const offset_of!(FrameData, o),
    fr_sysc = const offset_of!(FrameData, sysc),
    fr_wbuf = const FRAME_WBUF,
    fr_fpu_en = const FRAME_FPU_EN,
    wbuf_count = const WindowBuffer::COUNT,
    wbuf_windows = const WindowBuffer::WINDOWS,
    wbuf_nwindows = const WBUF_WINDOWS,
    wbuf_slot = const WindowBuffer::SLOT,
    pending_wbuf = const PENDING_WBUF,
    se_shift = const SYSENT_SHIFT,
    se_call = const offset_of!(SysEnt, call),
    se_path = const offset_of!(SysEnt, path),
);

extern "C" {
    static sparc64_trap_table: u8;
}

/// A stack for reporting a trap at TL>0, when the thread's own stack may be the problem.
#[no_mangle]
#[used]
static mut sparc64_emergency_stack: [u128; EMERGENCY_STACK / 16] = [0; EMERGENCY_STACK / 16];
const EMERGENCY_STACK: usize = 16 * 1024;
global_asm!(
    ".globl sparc64_emergency_stack_top",
    ".set sparc64_emergency_stack_top, sparc64_emergency_stack + {size}",
    size = const EMERGENCY_STACK,
);

/// Installs the kernel's trap table and its window-state conventions. From here on
/// every trap, MMU misses included, comes to this kernel.
pub fn install() {
    // SAFETY: the table is a complete 32 KiB, 32 KiB-aligned trap table whose
    // handlers only touch the trapped thread's own stack; the MMU entries that cover
    // the kernel were locked before (see `mmu::lock_kernel`), so no miss can follow.
    // WSTATE 0 selects spill_0/fill_0_normal for kernel windows.
    unsafe {
        asm!(
            "wrpr {tba}, 0, %tba",
            "wrpr %g0, 0, %wstate",
            tba = in(reg) &sparc64_trap_table as *const u8 as u64,
            options(nostack)
        );
    }
}

/// Traps counted by type class, for self-tests and reports.
pub static PROBE_TRAPS: AtomicU64 = AtomicU64::new(0);

/// The Rust side of a trap taken in the kernel (traps from user mode go to `user`).
#[no_mangle]
extern "C" fn sparc64_trap(frame: &mut TrapFrame) {
    match frame.tt {
        tt::INTERRUPT_LEVEL_14 => clock::intr(false),
        tt::INTERRUPT_VECTOR => virtio::vector(),
        tt::PROBE => {
            PROBE_TRAPS.fetch_add(1, Ordering::Relaxed);
            probe::trap(frame);
        }
        _ => {
            if !ontrap::recover(frame) {
                fatal(frame)
            }
        }
    }
}

/// Writes the whole trap report: trap registers, globals, and the trapped window.
fn report(w: &mut impl Write, frame: &TrapFrame) {
    let _ = writeln!(
        w,
        "\nunexpected trap tt={:#05x} ({}) at TL=1\n  tpc={:#018x} tnpc={:#018x}\n  \
         tstate={:#018x} (ccr={:#04x} asi={:#04x} pstate={:#05x} cwp={})",
        frame.tt,
        tt_name(frame.tt),
        frame.tpc,
        frame.tnpc,
        frame.tstate,
        (frame.tstate >> 32) & 0xff,
        (frame.tstate >> 24) & 0xff,
        (frame.tstate >> 8) & 0xfff,
        frame.tstate & 0x1f
    );
    let _ = writeln!(w, "  curthread (%g7) = {:#018x}", frame.g[7]);
    let mut g = frame.g;
    g[0] = 0; // not saved: %g0 is always zero
    dump_regs(w, "g", &g);
    dump_regs(w, "o", &frame.o);
    // The trapped window's locals and ins: flush it to its frame, then read them there.
    flush_windows();
    let sp = frame.sp();
    if sp != 0 && (sp + STACK_BIAS).is_multiple_of(8) {
        let save = (sp + STACK_BIAS) as *const [u64; 16];
        // SAFETY: `sp` is the trapped code's stack pointer; its register save area (16
        // doublewords at `sp + BIAS`) was just written by `flushw`. The kernel's
        // memory is mapped by locked TLB entries, so reading it cannot miss.
        let save = unsafe { save.read_volatile() };
        let (l, i) = save.split_at(8);
        dump_regs(w, "l", l.try_into().unwrap());
        dump_regs(w, "i", i.try_into().unwrap());
    }
}

fn dump_regs(w: &mut impl Write, name: &str, r: &[u64; 8]) {
    for (row, regs) in r.chunks(4).enumerate() {
        let _ = write!(w, " ");
        for (k, v) in regs.iter().enumerate() {
            let _ = write!(w, " %{}{}={:#018x}", name, row * 4 + k, v);
        }
        let _ = writeln!(w);
    }
}

/// Reports an unexpected trap, lets the kernel add what it knows (its threads, the
/// trapped stack: `Upcalls::fatal_trap`), and stops the machine with failure.
fn fatal(frame: &TrapFrame) -> ! {
    report(&mut console::Writer, frame);
    let _ = writeln!(console::Writer, "*** KERNEL FATAL: unexpected trap {:#05x}", frame.tt);
    if let Some(up) = super::UPCALLS.get() {
        (up.fatal_trap)(frame.tpc as usize, frame.sp() as usize);
    }
    power::halt(false)
}

#[no_mangle]
extern "C" fn sparc64_tl1_fatal(tt: u64, tpc: u64, tnpc: u64, tstate: u64, tl: u64) -> ! {
    let _ = writeln!(
        console::Writer,
        "\nunexpected trap tt={tt:#05x} ({}) at TL={tl}\n  \
         tpc={tpc:#018x} tnpc={tnpc:#018x} tstate={tstate:#018x}\n\
         *** KERNEL FATAL: trap at TL>0",
        tt_name(tt)
    );
    power::halt(false)
}
