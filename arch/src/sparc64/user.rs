//! User mode: user address-space mappings, entering user mode, and coming back.
//!
//! # Theory
//!
//! A user address space is an MMU context number and a table of its pages: its
//! translations are TLB entries tagged with that context and without the privileged
//! bit. A TLB miss in that context (from user mode, or from the kernel reaching user
//! memory through the as-if-user ASIs) is refilled from the table; an address the
//! table does not have ends the run with the fault. The kernel's own entries are
//! global, so they translate in every context and the kernel never needs to switch
//! context to run.
//!
//! Entering user mode: the kernel's windows are flushed to the kernel stack, the
//! current window is wiped and becomes the user's first one, every other window is
//! free and counted unclean (a user `save` into one is cleaned first), spills and
//! fills go to the user stack (`WSTATE` 1), the globals are zeroed (the user's `%g7`
//! is its own), and `retry` at TL=1 drops the privilege.
//!
//! A trap from user mode (see `trap`) builds its frame at the kernel stack pointer
//! recorded in the per-CPU block when user mode was entered (the switch keeps it
//! per thread), saves the user's `%g7` and loads the kernel's current thread from
//! the same block.
//!
//! [`run`] is the one way in for now: it runs user code until the first trap that
//! is not an interrupt, and returns that trap with the user's registers, landing
//! back in the caller's frame the way fault recovery does.

use alloc::alloc::{alloc_zeroed, dealloc};
use alloc::collections::BTreeMap;
use core::alloc::Layout;
use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use super::trap::{TrapFrame, TrapInfo};

/// The base page size.
pub const PAGE_SIZE: usize = 8192;

/// One TSB entry: the tag access value it translates (va | context; 0: empty, as
/// context 0 is the kernel's and never misses) and its TTE.
#[repr(C)]
pub struct TsbEntry {
    tag: AtomicU64,
    tte: AtomicU64,
}

const TSB_ENTRIES: usize = 512;

/// The translation storage buffer the data-MMU miss vectors search (see `trap`):
/// direct-mapped by virtual page number, data translations only. The truth is the address space's page
/// table; this only caches it where a miss at TL>1 can find it.
#[no_mangle]
pub static sparc64_tsb: [TsbEntry; TSB_ENTRIES] =
    [const { TsbEntry { tag: AtomicU64::new(0), tte: AtomicU64::new(0) } }; TSB_ENTRIES];

fn tsb_slot(tag: u64) -> &'static TsbEntry {
    &sparc64_tsb[(tag >> 13) as usize % TSB_ENTRIES]
}

fn tsb_insert(tag: u64, tte: u64) {
    let e = tsb_slot(tag);
    // Empty the slot first: a miss vector never sees a new tag with an old TTE.
    e.tag.store(0, Ordering::SeqCst);
    e.tte.store(tte, Ordering::SeqCst);
    e.tag.store(tag, Ordering::SeqCst);
}

/// What trap entry from user mode needs, per CPU (one CPU here).
#[repr(C)]
pub struct ArchCpu {
    /// The kernel stack pointer (biased) below which traps from user mode build
    /// their frames: where the thread left its kernel stack when it entered user mode.
    pub(super) ksp: AtomicU64,
    /// The kernel's current thread, for `%g7` on trap entry from user mode.
    pub(super) thread: AtomicU64,
    /// The [`run`] in progress on this CPU, if any.
    run: AtomicPtr<UserRun>,
    /// The user address space of that run.
    space: AtomicPtr<UserSpace>,
}

/// The per-CPU block that `etrap` reads (offsets CPU_KSP, CPU_THREAD).
#[no_mangle]
pub static sparc64_cpu: ArchCpu = ArchCpu {
    ksp: AtomicU64::new(0),
    thread: AtomicU64::new(0),
    run: AtomicPtr::new(core::ptr::null_mut()),
    space: AtomicPtr::new(core::ptr::null_mut()),
};

const _: () = assert!(core::mem::offset_of!(ArchCpu, ksp) == 0 && core::mem::offset_of!(ArchCpu, thread) == 8);

/// How a [`run`] of user code ended.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct UserExit {
    /// The trap that ended it, with the user PC.
    pub trap: TrapInfo,
    /// The user's `%o0`..`%o7` at the trap.
    pub o: [u64; 8],
    /// The user's `%g0`..`%g7` at the trap (`g[7]`: the user's own `%g7`).
    pub g: [u64; 8],
    /// `%g7` as the kernel's trap handler saw it: the current kernel thread.
    pub kernel_g7: u64,
    /// For an MMU miss: the page of the address that had no translation.
    pub fault_va: u64,
}

/// A run of user code in progress: where to land when it ends, and what ended it.
#[repr(C)]
struct UserRun {
    fp: u64,
    i7: u64,
    exit: UserExit,
}

global_asm!(
    r#"
    .section .text.user, "ax"
    .align  32
    ! sparc64_enter_user(pc, sp, run): never returns here; `run` ends in the landing.
    .globl  sparc64_enter_user
    .type   sparc64_enter_user, #function
sparc64_enter_user:
    save    %sp, -176, %sp
    stx     %fp, [%i2 + 0]              ! the landing returns from this call
    stx     %i7, [%i2 + 8]
    flushw                              ! the kernel's windows onto the kernel stack
    sethi   %hi(sparc64_cpu), %l0
    or      %l0, %lo(sparc64_cpu), %l0
    stx     %sp, [%l0 + 0]              ! traps from user mode build frames below here
    mov     %i0, %l1
    mov     %i1, %l2
    wrpr    %g0, 0, %canrestore         ! this window is the user's only one
    wrpr    %g0, 0, %otherwin
    wrpr    %g0, 6, %cansave
    wrpr    %g0, 0, %cleanwin           ! every other window must be cleaned first
    wrpr    %g0, 1, %wstate             ! spill_1 / fill_1: the user's stack
    clr     %g1                         ! the user's globals: nothing of the kernel's
    clr     %g2
    clr     %g3
    clr     %g4
    clr     %g5
    clr     %g6
    clr     %g7
    wrpr    %g0, 0x5, %pstate           ! PRIV | AG: work in the alternate globals
    mov     %l1, %g1
    mov     %l2, %g2
    clr     %l0                         ! and nothing of the kernel's in its window
    clr     %l1
    clr     %l2
    clr     %l3
    clr     %l4
    clr     %l5
    clr     %l6
    clr     %l7
    clr     %i0
    clr     %i1
    clr     %i2
    clr     %i3
    clr     %i4
    clr     %i5
    clr     %i6
    clr     %i7
    clr     %o0
    clr     %o1
    clr     %o2
    clr     %o3
    clr     %o4
    clr     %o5
    clr     %o7
    mov     %g2, %o6                    ! the user's stack pointer
    wrpr    %g0, 1, %tl
    rdpr    %cwp, %g3
    sethi   %hi(0x80000000), %g4        ! TSTATE: ASI_PRIMARY (0x80) << 24, and
    or      %g4, 0x200, %g4             ! PSTATE.IE << 8: user, unprivileged, interrupts on
    or      %g3, %g4, %g3
    wrpr    %g3, 0, %tstate
    wrpr    %g1, 0, %tpc
    add     %g1, 4, %g1
    wrpr    %g1, 0, %tnpc
    retry
    .size   sparc64_enter_user, . - sparc64_enter_user

    ! sparc64_user_landing(run): called by the trap handler, at TL=0 in the kernel
    ! with interrupts off, to end the run. Every window in the file (the user's and
    ! the trap handler's) is abandoned; return from sparc64_enter_user's call as
    ! `resume` enters a thread: the fill comes from the kernel stack.
    .globl  sparc64_user_landing
sparc64_user_landing:
    wrpr    %g0, 0, %otherwin
    wrpr    %g0, 0, %canrestore
    wrpr    %g0, 6, %cansave
    wrpr    %g0, 7, %cleanwin
    wrpr    %g0, 0, %wstate
    ldx     [%o0 + 0], %fp
    ldx     [%o0 + 8], %i7
    ret
     restore
"#
);

extern "C" {
    fn sparc64_enter_user(pc: u64, sp: u64, run: *mut UserRun);
    fn sparc64_user_landing(run: *mut UserRun) -> !;
}

/// Sets the primary context register (and with it which user entries translate).
fn set_primary_context(ctx: u16) {
    // SAFETY: the primary context only selects which non-global TLB entries match;
    // everything the kernel uses is global, so nothing the kernel needs changes.
    unsafe { asm!("stxa {ctx}, [{va}] 0x58", "membar #Sync", ctx = in(reg) u64::from(ctx), va = in(reg) 0x8u64, options(nostack)) };
}

/// Removes every TLB entry of the primary context (`demap context`).
fn demap_primary_context() {
    // SAFETY: a demap only removes translations of the current primary context,
    // which belong to user address spaces; the kernel's are global and stay.
    unsafe {
        asm!(
            "stxa %g0, [{op}] 0x5f",
            "membar #Sync",
            "stxa %g0, [{op}] 0x57",
            "flush {k}",
            op = in(reg) 0x40u64, // demap context, primary
            k = in(reg) super::mmu::KERNEL_BASE,
            options(nostack)
        )
    };
}

/// One page of a user address space: where it is, and its rights.
struct Page {
    /// The kernel's memory is mapped virtual = physical: this is also its address.
    pa: u64,
    writable: bool,
    exec: bool,
}

impl Page {
    /// Its TTE: valid, 8 KiB, cacheable, unprivileged, writable if it is.
    fn tte(&self) -> u64 {
        TTE_V | self.pa | TTE_CP | TTE_CV | if self.writable { TTE_W } else { 0 }
    }
}

/// A user address space: an MMU context and its pages, refilled into the TLB on
/// demand. Pages are zeroed kernel memory mapped at user addresses.
pub struct UserSpace {
    ctx: u16,
    pages: BTreeMap<u64, Page>,
}

const TTE_V: u64 = 1 << 63;
const TTE_CP: u64 = 1 << 5;
const TTE_CV: u64 = 1 << 4;
const TTE_W: u64 = 1 << 1;
const PAGE_LAYOUT: Layout = match Layout::from_size_align(PAGE_SIZE, PAGE_SIZE) {
    Ok(l) => l,
    Err(_) => panic!("page layout"),
};

impl UserSpace {
    /// An empty address space with context number `ctx` (1..8191; 0 is the kernel's).
    pub fn new(ctx: u16) -> UserSpace {
        assert!((1..8192).contains(&ctx), "context {ctx} out of range");
        UserSpace { ctx, pages: BTreeMap::new() }
    }

    /// Maps a new zeroed page at user address `va` holding `bytes` at its start.
    pub fn map(&mut self, va: u64, bytes: &[u8], writable: bool, exec: bool) {
        assert!(va % PAGE_SIZE as u64 == 0 && bytes.len() <= PAGE_SIZE && !self.pages.contains_key(&va));
        // SAFETY: the layout has a nonzero size.
        let page = unsafe { alloc_zeroed(PAGE_LAYOUT) };
        assert!(!page.is_null(), "out of memory for a user page");
        // SAFETY: `page` is a fresh allocation of PAGE_SIZE bytes, `bytes` fits.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), page, bytes.len()) };
        let p = Page { pa: page as u64, writable, exec };
        tsb_insert(va | u64::from(self.ctx), p.tte());
        self.pages.insert(va, p);
    }

    /// Loads the translation of `va` into the instruction or the data TLB, if the
    /// space maps it with the rights that TLB needs.
    fn refill(&self, va: u64, instruction: bool) -> bool {
        let Some(p) = self.pages.get(&(va & !(PAGE_SIZE as u64 - 1))) else { return false };
        if instruction && !p.exec {
            return false;
        }
        let data = p.tte();
        let tag = (va & !(PAGE_SIZE as u64 - 1)) | u64::from(self.ctx);
        if !instruction {
            tsb_insert(tag, data);
        }
        // SAFETY: the entry maps a page this space owns, unprivileged, in this space's
        // context only; it cannot alias anything the kernel relies on.
        unsafe {
            if instruction {
                asm!("stxa {tag}, [{ta}] 0x50", "stxa {data}, [%g0] 0x54", "flush {k}",
                    tag = in(reg) tag, ta = in(reg) 0x30u64, data = in(reg) data,
                    k = in(reg) super::mmu::KERNEL_BASE, options(nostack));
            } else {
                asm!("stxa {tag}, [{ta}] 0x58", "stxa {data}, [%g0] 0x5c", "membar #Sync",
                    tag = in(reg) tag, ta = in(reg) 0x30u64, data = in(reg) data, options(nostack));
            }
        }
        true
    }
}

/// The tag access register of the MMU that missed: the address and its context.
fn tag_access(instruction: bool) -> u64 {
    let t: u64;
    // SAFETY: reading the tag access register has no side effect.
    unsafe {
        if instruction {
            asm!("ldxa [{va}] 0x50, {t}", va = in(reg) 0x30u64, t = out(reg) t, options(nostack));
        } else {
            asm!("ldxa [{va}] 0x58, {t}", va = in(reg) 0x30u64, t = out(reg) t, options(nostack));
        }
    }
    t
}

/// A fast MMU miss: refills it from the running user address space if the missing
/// address is one of its pages; false otherwise.
pub(super) fn tlb_miss(frame: &TrapFrame) -> bool {
    let instruction = frame.tt == super::trap::tt::FAST_INSTRUCTION_ACCESS_MMU_MISS;
    let tag = tag_access(instruction);
    let space = sparc64_cpu.space.load(Ordering::SeqCst);
    // SAFETY: a non-null `space` is the address space of the run in progress on this
    // CPU, borrowed by `run` for its whole duration.
    let Some(space) = (unsafe { space.as_ref() }) else { return false };
    tag & 0x1fff == u64::from(space.ctx) && space.refill(tag & !0x1fff, instruction)
}

impl Drop for UserSpace {
    fn drop(&mut self) {
        let was = super::intr_disable();
        for e in sparc64_tsb.iter().filter(|e| e.tag.load(Ordering::SeqCst) & 0x1fff == u64::from(self.ctx)) {
            e.tag.store(0, Ordering::SeqCst);
        }
        set_primary_context(self.ctx);
        demap_primary_context();
        set_primary_context(0);
        super::intr_restore(was);
        for p in self.pages.values() {
            // SAFETY: allocated in `map` with this layout; no TLB entry maps it now.
            unsafe { dealloc(p.pa as *mut u8, PAGE_LAYOUT) };
        }
    }
}

/// Runs user code of `space` from `pc` with stack pointer `sp` (unbiased top) until
/// its first trap other than an interrupt, and returns that trap.
pub fn run(space: &UserSpace, pc: u64, sp: u64) -> UserExit {
    let was = super::intr_disable();
    let mut r = UserRun { fp: 0, i7: 0, exit: UserExit::default() };
    sparc64_cpu.run.store(&mut r, Ordering::SeqCst);
    sparc64_cpu.space.store(space as *const UserSpace as *mut UserSpace, Ordering::SeqCst);
    sparc64_cpu.thread.store(super::curthread_raw() as u64, Ordering::Relaxed);
    set_primary_context(space.ctx);
    // SAFETY: `r` lives until the landing returns here; the address space maps `pc`
    // and the stack; enter_user flushes this thread's windows to its kernel stack
    // first, and the landing returns into this frame like `resume` does.
    unsafe { sparc64_enter_user(pc, sp - 2047 - 192, &mut r) };
    set_primary_context(0);
    sparc64_cpu.run.store(core::ptr::null_mut(), Ordering::SeqCst);
    sparc64_cpu.space.store(core::ptr::null_mut(), Ordering::SeqCst);
    super::intr_restore(was);
    r.exit
}

/// A trap from user mode that is not an interrupt: ends the [`run`] in progress
/// (and does not return). Returns if there is none: nothing else runs user code yet.
pub(super) fn trap(frame: &TrapFrame) {
    let r = sparc64_cpu.run.load(Ordering::SeqCst);
    if r.is_null() {
        return;
    }
    // SAFETY: a non-null `run` is the live UserRun of `run` on this CPU, whose
    // frame is below this trap frame on the same kernel stack.
    let r = unsafe { &mut *r };
    r.exit = UserExit {
        trap: TrapInfo { tt: frame.tt, tpc: frame.tpc, tnpc: frame.tnpc, tstate: frame.tstate },
        o: frame.o,
        g: frame.g,
        kernel_g7: super::curthread_raw() as u64,
        fault_va: match frame.tt {
            super::trap::tt::FAST_INSTRUCTION_ACCESS_MMU_MISS => tag_access(true) & !0x1fff,
            super::trap::tt::FAST_DATA_ACCESS_MMU_MISS => tag_access(false) & !0x1fff,
            _ => 0,
        },
    };
    // SAFETY: `r` is the live run whose `fp`/`i7` enter_user recorded on this very
    // thread's kernel stack, above this trap's frame; everything below is abandoned.
    unsafe { sparc64_user_landing(r) }
}
