//! `fault`: user-mode faults become signals delivered to the LWP that caused them
//! (S13), whose default action ends the process — never the kernel. The argument
//! selects the fault:
//!
//! | arg | fault | signal |
//! |---|---|---|
//! | 1 | load from an unmapped address | SIGSEGV |
//! | 2 | store to its own text (read-only) | SIGSEGV |
//! | 3 | misaligned 8-byte load | SIGBUS |
//! | 4 | illegal instruction (`illtrap`) | SIGILL |
//! | 5 | privileged instruction (`rdpr %pstate`) | SIGILL |
//! | 6 | integer division by zero (`sdivx`) | SIGFPE |
//! | 7 | system call number 9999 | SIGSYS |
//! | 8 | jump into a data page (no execute right) | SIGSEGV |
//! | 9 | load from the kernel's base | SIGSEGV |
//! | 10 | fault 1 in a second LWP while main sleeps in `lwp_wait` | SIGSEGV |
//! | 11 | `ta 1`, Solaris' breakpoint trap | SIGTRAP |
//! | 12 | `ta 2`, Solaris' division-by-zero trap (compiled code's) | SIGFPE |
//! | 13 | `ta 0x50`, a software trap nobody serves | SIGILL |
//!
//! Exit codes (the fault did not end the process): the argument; 100 an unknown
//! argument; 101 (a panic) `spawn` failed.

#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

use core::arch::asm;
use core::sync::atomic::{AtomicU32, AtomicU64};

use lwp_user::addr::{text, KERNEL, UNMAPPED};
use lwp_user::{check, lwp_wait, say, spawn, syscall6};

lwp_user::main!(main);

/// Aligned data, for the misaligned load.
static WORD: AtomicU64 = AtomicU64::new(0);
/// `retl; nop` in a data page: a function that would return, were data executable.
/// Never written, it would go to the read-only (executable) text: the section says
/// where it belongs.
#[link_section = ".data.data_code"]
static DATA_CODE: [AtomicU32; 2] = [AtomicU32::new(0x81c3_e008), AtomicU32::new(0x0100_0000)];

/// An 8-byte load from `addr`.
fn load(addr: u64) -> u64 {
    let v: u64;
    // SAFETY: meant to fault; were it to succeed, it only reads.
    unsafe {
        asm!("ldx [{a}], {v}", a = in(reg) addr, v = lateout(reg) v, options(nostack, readonly))
    };
    v
}

fn fault(kind: u64) {
    match kind {
        1 | 10 => {
            load(UNMAPPED);
        }
        2 => {
            // SAFETY: meant to fault; the text is not writable. Were it, the store
            // writes zero over `_start`'s first instruction (8-byte aligned: the
            // fault must be the right's, not the alignment's), which runs no more.
            unsafe { asm!("stx %g0, [{a}]", a = in(reg) text(), options(nostack)) }
        }
        3 => {
            load(WORD.as_ptr() as u64 + 4);
        }
        4 => {
            // SAFETY: traps; changes nothing the program uses.
            unsafe { asm!("illtrap 0", options(nostack, nomem)) }
        }
        5 => {
            // SAFETY: a privileged read: traps, or changes nothing.
            unsafe { asm!("rdpr %pstate, {v}", v = out(reg) _, options(nostack, nomem)) }
        }
        6 => {
            // SAFETY: a division by zero: traps, and touches no memory.
            unsafe {
                asm!(
                    "sdivx {n}, {d}, {q}",
                    n = in(reg) 7u64,
                    d = in(reg) core::hint::black_box(0u64),
                    q = lateout(reg) _,
                    options(nostack, nomem),
                )
            }
        }
        // SAFETY: no pointers; the kernel knows no call 9999.
        7 => drop(unsafe { syscall6(9999, [0; 6]) }),
        8 => {
            // SAFETY: meant to fault: the data is not executable. Were it, the two
            // words are `retl; nop`, and the call returns at once.
            let f: extern "C" fn() = unsafe { core::mem::transmute(DATA_CODE.as_ptr()) };
            f();
        }
        9 => {
            load(KERNEL);
        }
        // The software traps below end the process or change nothing.
        11 => {
            // SAFETY: see above.
            unsafe { asm!("ta 1", options(nostack, nomem)) }
        }
        12 => {
            // SAFETY: see above.
            unsafe { asm!("ta 2", options(nostack, nomem)) }
        }
        13 => {
            // SAFETY: see above.
            unsafe { asm!("ta 0x50", options(nostack, nomem)) }
        }
        _ => check!(100, false, "no fault {kind}"),
    }
}

fn main(kind: u64) {
    say!("fault {kind}");
    if kind == 10 {
        let id = spawn(fault, kind, 0).expect("spawn");
        let r = lwp_wait(id);
        check!(10, false, "the fault of LWP {id} did not end the process: lwp_wait = {r:?}");
    }
    fault(kind);
    check!(kind as u8, false, "fault {kind} did not end the process");
}
