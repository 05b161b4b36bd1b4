//! The sparc64 machine: an UltraSPARC-IIi in QEMU's sun4u, booted by OpenBIOS (S19).
//!
//! Boot order (see [`sparc64_entry!`] and [`boot_main`]): the entry code jumps from
//! OpenBIOS's alias to the linked address, takes the register windows over, sets the
//! boot stack, clears `.bss` and loads `%g7` with the boot thread (S7), all before
//! the first line of Rust. Then, in Rust: the boot arguments are read from OpenBIOS
//! and its device tree walked for the disk, the kernel window is locked into the
//! TLBs, the kernel's trap table replaces OpenBIOS's, the heap is set up, the disk
//! started, and the kernel's `main` runs.
//!
//! `%g7` is the current-thread register. LLVM never allocates `%g7` on SPARC, so
//! only the code in this module writes it: the entry code, `resume`
//! ([`context`]), `prom_call` (which puts it back), [`Machine::set_curthread`], and
//! the trap code of user mode ([`trap`]: entry from user mode loads the kernel's
//! thread, the return to user mode the user's own `%g7`). `scripts/check-g7`
//! disassembles the kernel and fails the tests if any other instruction writes it.

pub mod asi;
pub mod clock;
pub mod console;
pub mod context;
pub mod cpu;
pub mod fpu;
pub mod frame;
pub mod heap;
pub mod ksyms;
mod mem;
pub mod mmu;
pub mod ontrap;
pub mod physmem;
pub mod power;
pub mod probe;
pub mod prom;
pub mod trap;
pub mod user;
pub mod virtio;
pub mod vm;

use core::arch::asm;

use spin::Once;

use crate::kmem::Shared;
use crate::{
    BlkDone, BlkError, BlkRequest, Fault, Machine, MapError, Prot, ThreadEntry, ThreadRegister,
    Upcalls, UserFrame, WalkFrom,
};

/// The sparc64 machine.
pub struct Sparc64;

static UPCALLS: Once<&'static Upcalls> = Once::new();

const BOOT_STACK_SIZE: usize = 64 * 1024;
/// The stack the boot thread runs on.
#[no_mangle]
#[used]
static mut sparc64_boot_stack: [u128; BOOT_STACK_SIZE / 16] = [0; BOOT_STACK_SIZE / 16];
core::arch::global_asm!(
    ".globl sparc64_boot_stack_top",
    ".set sparc64_boot_stack_top, sparc64_boot_stack + {size}",
    size = const BOOT_STACK_SIZE,
);

/// The boot stack's bounds, `[low, high)`: the stack of the boot thread.
pub(crate) fn boot_stack() -> (u64, u64) {
    let low = &raw const sparc64_boot_stack as u64;
    (low, low + BOOT_STACK_SIZE as u64)
}

/// The kernel's entry point, `_start`, which OpenBIOS calls.
///
/// Expanded once, in the kernel image, with the boot thread (a `static` of the
/// kernel's thread type) and the kernel's `main` (`fn() -> !`). The code runs
/// before any Rust: `%g7` holds the boot thread from the first line of Rust on (S7).
#[macro_export]
macro_rules! sparc64_entry {
    ($thread0:path, $main:path) => {
        core::arch::global_asm!(
            ".section .text.entry, \"ax\"",
            ".globl _start",
            "_start:",
            // OpenBIOS calls the 0x40004000 alias of our first byte: go to where we
            // are linked (virtual = physical, mapped by OpenBIOS below 8 MiB).
            "sethi %hi(1f), %g1",
            "or %g1, %lo(1f), %g1",
            "jmpl %g1, %g0",
            " nop",
            "1:",
            "wrpr %g0, 0x4, %pstate", // privileged, interrupts off, normal globals
            // Take the windows over: OpenBIOS's frames are never returned to.
            "wrpr %g0, 0, %canrestore",
            "wrpr %g0, 0, %otherwin",
            "wrpr %g0, 6, %cansave",
            "wrpr %g0, 7, %cleanwin",
            "sethi %hi(sparc64_boot_stack_top), %sp",
            "or %sp, %lo(sparc64_boot_stack_top), %sp",
            "sub %sp, 2047 + 192, %sp",
            "clr %fp",
            "clr %i7",
            // Clear .bss (the boot stack is in it and not yet in use).
            "sethi %hi(__bss_start), %g2",
            "or %g2, %lo(__bss_start), %g2",
            "sethi %hi(__bss_end), %g3",
            "or %g3, %lo(__bss_end), %g3",
            "2:",
            "cmp %g2, %g3",
            "bgeu,pn %xcc, 3f",
            " nop",
            "stx %g0, [%g2]",
            "ba,pt %xcc, 2b",
            " add %g2, 8, %g2",
            "3:",
            "sethi %hi({thread0}), %g7", // curthread = the boot thread (S7)
            "or %g7, %lo({thread0}), %g7",
            "mov %o4, %o0", // the client-interface handler
            "sethi %hi({main}), %o1",
            "or %o1, %lo({main}), %o1",
            "call {boot}",
            " nop",
            "illtrap 0",
            thread0 = sym $thread0,
            main = sym $main,
            boot = sym $crate::sparc64::boot_main,
        );
    };
}

/// The boot arguments, copied out of OpenBIOS before it is left behind.
static BOOTARGS: Once<([u8; 256], usize)> = Once::new();

/// The first Rust code: called by `_start` with OpenBIOS's client-interface handler.
pub extern "C" fn boot_main(cif: usize, main: extern "C" fn() -> !) -> ! {
    clock::HANDOVER_TICK.store(clock::tick(), core::sync::atomic::Ordering::Relaxed);
    // The boot thread has been on the CPU since `%tick` started: its virtual time is
    // `%tick`'s count, which is the raw read (what the switch and `ta 0x25` add
    // `vbase` to) without the NPT bit.
    let npt = clock::tick_raw() & clock::NPT;
    cpu::sparc64_cpu.vbase.store(npt.wrapping_neg(), core::sync::atomic::Ordering::Relaxed);
    prom::init(cif);
    BOOTARGS.call_once(|| {
        let mut buf = [0u8; 256];
        let len = prom::getprop(c"/chosen", c"bootargs", &mut buf).unwrap_or(0);
        // The property may carry its terminating NUL.
        let len = buf[..len].iter().position(|&b| b == 0).unwrap_or(len);
        (buf, len)
    });
    // The device tree, while OpenBIOS's client interface works.
    virtio::probe();
    physmem::init();
    mmu::lock_kernel();
    trap::install();
    heap::init();
    if let Err(why) = virtio::init() {
        console::write(b"virtio: ");
        console::write(why.as_bytes());
        console::write(b": no disk\n");
    }
    main()
}

/// `%g7` as a number.
#[inline(always)]
fn curthread_raw() -> usize {
    let p: usize;
    // SAFETY: reading %g7 has no side effect.
    unsafe { asm!("mov %g7, {}", out(reg) p, options(nomem, nostack, preserves_flags)) };
    p
}

fn pstate() -> u64 {
    let p: u64;
    // SAFETY: reading PSTATE has no side effect.
    unsafe { asm!("rdpr %pstate, {}", out(reg) p, options(nomem, nostack)) };
    p
}

fn set_pstate(p: u64) {
    // SAFETY: callers only flip PSTATE.IE; every other bit is written back unchanged.
    // The memory clobber keeps the compiler from moving loads and stores across.
    unsafe { asm!("wrpr {}, 0, %pstate", in(reg) p, options(nostack)) };
}

#[inline]
fn intr_disable() -> bool {
    let p = pstate();
    set_pstate(p & !trap::pstate::IE);
    p & trap::pstate::IE != 0
}

#[inline]
fn intr_restore(enabled: bool) {
    let p = pstate();
    set_pstate(if enabled { p | trap::pstate::IE } else { p & !trap::pstate::IE });
}

impl Machine for Sparc64 {
    type Context = context::Context;
    const BOOT_CONTEXT: context::Context = context::Context::BOOT;

    fn context_new(
        stack_size: usize,
        entry: ThreadEntry,
        arg: usize,
    ) -> Result<context::Context, crate::kmem::AllocError> {
        context::Context::new(stack_size, entry, arg)
    }

    fn context_reset(
        ctx: &context::Context,
        stack_size: usize,
        entry: ThreadEntry,
        arg: usize,
    ) -> Result<(), crate::kmem::AllocError> {
        ctx.reset(stack_size, entry, arg)
    }

    fn context_release_stack(ctx: &context::Context) -> bool {
        ctx.release_stack()
    }

    fn context_boot(ctx: &context::Context) {
        ctx.boot();
    }

    #[inline(always)]
    fn switch<T: ThreadRegister>(
        from: &context::Context,
        to: &context::Context,
        to_thread: &'static T,
    ) {
        context::Context::switch(from, to, to_thread as *const T as usize)
    }

    #[inline(always)]
    fn curthread<T: ThreadRegister>() -> &'static T {
        let p = curthread_raw() as *const T;
        // SAFETY: %g7 holds a `&'static T` from the first line of Rust on (the entry
        // code loads the boot thread; only `switch` and `set_curthread` change it, from
        // a `&'static T`), and `ThreadRegister` is implemented by one type only.
        unsafe { &*p }
    }

    fn set_curthread<T: ThreadRegister>(t: &'static T) {
        // SAFETY: the value is a `&'static T` (see `curthread`).
        unsafe { asm!("mov {}, %g7", in(reg) t as *const T as usize, options(nomem, nostack)) };
    }

    fn cpu_id() -> usize {
        0
    }

    fn ncpus() -> usize {
        1
    }

    fn intr_disable() -> bool {
        intr_disable()
    }

    fn intr_restore(was_enabled: bool) {
        intr_restore(was_enabled)
    }

    fn intr_enabled() -> bool {
        pstate() & trap::pstate::IE != 0
    }

    fn poke_cpu(cpu: usize) {
        // One CPU: the kernel never needs to interrupt another one.
        assert_eq!(cpu, 0, "sun4u under QEMU has one CPU");
    }

    #[inline(always)]
    fn relax() {
        core::hint::spin_loop()
    }

    fn idle_wait() {
        // UltraSPARC-IIi has no "wait for interrupt": spin with interrupts on until
        // the clock has been taken once more.
        let seen = clock::INTERRUPTS.load(core::sync::atomic::Ordering::SeqCst);
        intr_restore(true);
        while clock::INTERRUPTS.load(core::sync::atomic::Ordering::SeqCst) == seen {
            core::hint::spin_loop();
        }
        intr_disable();
    }

    fn set_upcalls(upcalls: &'static Upcalls) {
        UPCALLS.call_once(|| upcalls);
        cpu::set_sysent(upcalls.sysent);
    }

    fn clock_start(hz: u32) {
        clock::start(hz)
    }

    fn now_ns() -> u64 {
        clock::tick() * (1_000_000_000 / clock::TICK_HZ)
    }

    fn heap_stats() -> crate::HeapStats {
        heap::stats()
    }

    fn page_stats() -> crate::PageStats {
        physmem::stats()
    }

    #[inline(always)]
    fn alloc_forbid() {
        heap::alloc_forbid(true)
    }

    #[inline(always)]
    fn alloc_permit() {
        heap::alloc_forbid(false)
    }

    fn blk_sectors() -> Option<u64> {
        virtio::sectors()
    }

    fn blk_submit(req: BlkRequest) -> Result<(), (BlkRequest, BlkError)> {
        virtio::submit(req)
    }

    fn blk_reap() -> Option<BlkDone> {
        virtio::reap()
    }

    fn console_write(bytes: &[u8]) {
        console::write(bytes)
    }

    fn console_read() -> Option<u8> {
        console::read()
    }

    fn kernel_symbols() -> &'static [u8] {
        ksyms::symbols()
    }

    fn stack_walk(ctx: &context::Context, from: WalkFrom, out: &mut [usize]) -> usize {
        ctx.stack_walk(from, out)
    }

    fn context_stack_bytes(ctx: &context::Context) -> usize {
        ctx.stack_bytes()
    }

    fn boot_args() -> &'static str {
        BOOTARGS.get().map_or("", |(buf, len)| core::str::from_utf8(&buf[..*len]).unwrap_or(""))
    }

    fn halt(success: bool) -> ! {
        power::halt(success)
    }

    fn reboot() -> ! {
        power::reboot()
    }

    type AddrSpace = vm::AddrSpace;

    const USER_RESERVED: core::ops::Range<u64> = mmu::KERNEL_BASE..mmu::KERNEL_END;

    fn as_create() -> Result<vm::AddrSpace, MapError> {
        vm::AddrSpace::new()
    }

    fn as_map(space: &vm::AddrSpace, va: u64, len: u64, prot: Prot) -> Result<(), MapError> {
        space.map(va, len, prot)
    }

    fn as_unmap(space: &vm::AddrSpace, va: u64, len: u64) -> Result<(), MapError> {
        space.unmap(va, len)
    }

    fn as_protect(space: &vm::AddrSpace, va: u64, len: u64, prot: Prot) -> Result<(), MapError> {
        space.protect(va, len, prot)
    }

    fn as_write(space: &vm::AddrSpace, va: u64, bytes: &[u8]) -> Result<(), MapError> {
        space.write(va, bytes)
    }

    fn as_fork(space: &vm::AddrSpace) -> Result<vm::AddrSpace, MapError> {
        space.fork()
    }

    fn as_read(space: &vm::AddrSpace, va: u64, buf: &mut [u8]) -> Result<(), MapError> {
        space.read(va, buf)
    }

    fn user_enter(space: crate::kmem::Shared<vm::AddrSpace>, frame: UserFrame) -> ! {
        user::enter(space, frame)
    }

    fn user_flush_windows() {
        user::flush_user_windows()
    }

    fn user_exec(space: Shared<vm::AddrSpace>) {
        user::exec(space)
    }

    fn user_exit() {
        user::exit()
    }

    fn user_frame_detach(ctx: &context::Context) -> Option<UserFrame> {
        let frame = ctx.user_frame_exchange(UserFrame::empty());
        (!frame.is_empty()).then_some(frame)
    }

    fn user_frame_attach(ctx: &context::Context, frame: UserFrame) {
        let old = ctx.user_frame_exchange(frame);
        assert!(old.is_empty(), "a user frame attached over another");
    }

    #[inline]
    fn copyin(uaddr: u64, buf: &mut [u8]) -> Result<(), Fault> {
        vm::copy_user(uaddr, buf.as_mut_ptr(), buf.len(), false, user::current_space)
    }

    #[inline]
    fn copyout(uaddr: u64, bytes: &[u8]) -> Result<(), Fault> {
        // The copy only reads `bytes`: the pointer is mutable for the shared routine.
        vm::copy_user(uaddr, bytes.as_ptr().cast_mut(), bytes.len(), true, user::current_space)
    }

    #[inline]
    fn copyin_words<const N: usize, R>(
        uaddr: u64,
        f: impl FnOnce(&[u64; N]) -> R,
    ) -> Result<R, Fault> {
        let mut words = core::mem::MaybeUninit::<[u64; N]>::uninit();
        vm::copy_user(uaddr, words.as_mut_ptr().cast(), N * 8, false, user::current_space)?;
        // SAFETY: the copy wrote all N * 8 bytes (it returns Ok only then), and
        // every bit pattern is a u64: big-endian user memory is this CPU's order.
        Ok(f(unsafe { words.assume_init_ref() }))
    }

    #[inline]
    fn copyout_words(uaddr: u64, words: &[u64]) -> Result<(), Fault> {
        // Big-endian words are user memory's order already. The copy only reads.
        vm::copy_user(
            uaddr,
            words.as_ptr().cast::<u8>().cast_mut(),
            words.len() * 8,
            true,
            user::current_space,
        )
    }

    fn user_cas32(uaddr: u64, old: u32, new: u32) -> Result<u32, Fault> {
        vm::cas_user(uaddr, old, new, user::current_space)
    }

    type SharedPage = vm::SharedPage;

    fn as_map_shared(space: &vm::AddrSpace, va: u64) -> Result<Shared<vm::SharedPage>, MapError> {
        space.map_shared(va)
    }

    fn shared_load(page: &vm::SharedPage, offset: usize) -> u32 {
        page.load(offset)
    }

    fn shared_store(page: &vm::SharedPage, offset: usize, v: u32) {
        page.store(offset, v)
    }
}
