//! `stack`: an LWP whose stack is unusable is killed with SIGSEGV or SIGBUS, and the
//! kernel survives (S13, S17): every user stack pointer is the LWP's problem, never
//! the kernel's. The kernel cannot put the LWP's register windows where its stack
//! pointer says, or cannot take them from there. The argument selects how:
//!
//! | arg | the stack pointer | when the kernel meets it | signal |
//! |---|---|---|---|
//! | 1 | unmapped | the program recurses (`save` after `save`) until windows spill there | SIGSEGV |
//! | 2 | unmapped | a system call (`yield`) switches to a second, spinning LWP: the kernel spills this one's windows | SIGSEGV |
//! | 3 | unmapped, aligned, given to `_lwp_create` | the new LWP's first entry to user mode fills its first window from there | SIGSEGV |
//! | 4 | misaligned, on mapped memory | `yield` switches away and back: spill, then fill | SIGBUS |
//! | 5 | even (no stack bias), on mapped memory | the same | SIGBUS |
//! | 6 | misaligned, on mapped memory | a second LWP spins with it until preempted (main wakes from a sleep) | SIGBUS |
//! | 7 | in the kernel's memory | `yield` switches away and back | SIGSEGV |
//! | 8 | mapped when `yield` switches away, unmapped by the other LWP before it comes back | the fill at the return | SIGSEGV |
//!
//! None uses the stack once its pointer is bad. Exit codes (the process was not
//! killed): 2 the system call came back; 3 an unknown argument; 4 the LWP of way 3
//! was reaped; 5 way 6's LWP lived on; 101 (a panic) `spawn` or `_lwp_create` failed.

#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

use core::arch::asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use lwp_user::abi::{PROT_READ, PROT_WRITE, SYS_YIELD};
use lwp_user::addr::{KERNEL, UNMAPPED};
use lwp_user::{check, lwp_create, lwp_wait, mmap_anon, munmap, say, sleep_ms, spawn};

lwp_user::main!(main);

/// The V9 stack bias: a biased stack pointer is 2047 below its frame.
const BIAS: u64 = 2047;
/// A biased V9 stack pointer (the frame is 2047 above it) into unmapped memory.
const BAD_SP: u64 = UNMAPPED - BIAS;

/// Mapped, writable memory for the stack pointers of ways 4 to 6.
#[repr(C, align(16))]
struct Area(UnsafeCell<[u8; 4096]>);
// SAFETY: the program never reads or writes the area; only its address is used.
unsafe impl Sync for Area {}
static AREA: Area = Area(UnsafeCell::new([0; 4096]));

fn spin(_: u64) {
    loop {
        core::hint::spin_loop();
    }
}

/// A frame address in the middle of `AREA`: 16-byte aligned, mapped, writable.
fn area() -> u64 {
    AREA.0.get() as u64 + 2048
}

/// Way 8's page, which its second LWP unmaps.
static PAGE: AtomicU64 = AtomicU64::new(0);
const PAGE_LEN: u64 = 8192;

/// Way 8's second LWP: unmaps the page that the main LWP's stack pointer is in
/// (its window went there when it switched away), then spins.
fn unmap_then_spin(_: u64) {
    // SAFETY: nothing of this program's is in the page: the main LWP, whose window
    // it holds, is in the kernel, and must not come back to user mode through it.
    unsafe { munmap(PAGE.load(Relaxed), PAGE_LEN) }.expect("munmap");
    spin(0)
}

/// Makes the `yield` system call with `%sp` = `sp` while a second LWP runs `other`
/// (spinning at the end, so the call switches to it, and this LWP's windows must be
/// saved and restored).
fn yield_with_sp(sp: u64, other: fn(u64)) {
    spawn(other, 0, 0).expect("spawn");
    // SAFETY: between the two moves nothing but the trap uses the stack; should
    // the call come back, the good stack pointer is put back.
    unsafe {
        asm!(
            "mov %sp, {good}",
            "mov {sp}, %sp",
            "mov {num}, %g1",
            "ta 0x40",
            "mov {good}, %sp",
            good = out(reg) _,
            sp = in(reg) sp,
            num = in(reg) SYS_YIELD,
            out("o0") _,
            out("o1") _,
        )
    };
    check!(2, false, "a system call with an unusable stack came back");
}

/// Way 6's LWP: spins with a misaligned stack pointer, never entering the kernel.
fn spin_misaligned(_: u64) {
    // SAFETY: the loop uses no stack and never ends; only preemption stops it.
    unsafe {
        asm!("mov {sp}, %sp", "1: ba,a 1b", sp = in(reg) area() - BIAS + 4, options(noreturn))
    }
}

/// Where way 3's LWP would start: it never gets to run a single instruction.
extern "C" fn never(_: u64) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

fn main(how: u64) {
    say!("unusable stack, way {how}");
    match how {
        // SAFETY: nothing runs with the bad stack pointer but these instructions,
        // which never return: the spill must kill the process.
        1 => unsafe {
            asm!(
                "mov {sp}, %sp",
                "1: save %sp, -176, %sp",
                "ba,a 1b",
                sp = in(reg) BAD_SP,
                options(noreturn),
            )
        },
        2 => yield_with_sp(BAD_SP, spin),
        3 => {
            // SAFETY: the stack is unmapped on purpose: the LWP cannot start, and
            // its fault ends the process while this LWP waits for it.
            let id = unsafe { lwp_create(never, UNMAPPED, 0, 0) }.expect("_lwp_create");
            let gone = lwp_wait(id);
            check!(4, false, "the LWP with an unmapped stack was reaped: {gone:?}");
        }
        4 => yield_with_sp(area() - BIAS + 4, spin),
        5 => yield_with_sp(area(), spin),
        6 => {
            spawn(spin_misaligned, 0, 0).expect("spawn");
            // Each wakeup preempts the spinner (a sleeper wakes at a higher priority).
            for _ in 0..500 {
                sleep_ms(10);
            }
            check!(5, false, "the LWP with a misaligned stack lived on");
        }
        7 => yield_with_sp(KERNEL + 0x10000 - BIAS, spin),
        8 => {
            let page = mmap_anon(PAGE_LEN, PROT_READ | PROT_WRITE).expect("mmap");
            PAGE.store(page, Relaxed);
            yield_with_sp(page + PAGE_LEN / 2 - BIAS, unmap_then_spin)
        }
        _ => check!(3, false, "no way {how}"),
    }
}
