//! `stack`: an LWP whose stack is unusable is killed with SIGSEGV, and the kernel
//! survives (S13, S17): the kernel cannot put the LWP's register windows where its
//! stack pointer says. The argument selects how:
//!
//! * 1: the stack pointer is set to an unmapped address and the program recurses
//!   (`save` after `save`) until register windows must spill to that stack;
//! * 2: the stack pointer is set to an unmapped address and the program makes a
//!   system call (`yield`), which switches to a second, spinning LWP: the kernel
//!   must save this LWP's windows, the one with the bad stack pointer among them.
//!
//! Neither uses the stack once its pointer is bad. Exit codes (the process was
//! not killed): 2 the system call came back; 3 an unknown argument; 101 (a panic)
//! `spawn` failed.

#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

use core::arch::asm;

use lwp_user::abi::SYS_YIELD;
use lwp_user::addr::UNMAPPED;
use lwp_user::{check, say, spawn};

lwp_user::main!(main);

/// A biased V9 stack pointer (the frame is 2047 above it) into unmapped memory.
const BAD_SP: u64 = UNMAPPED - 2047;

fn spin(_: u64) {
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
        2 => {
            spawn(spin, 0, 0).expect("spawn");
            // SAFETY: between the two moves nothing but the trap uses the stack;
            // should the call come back, the good stack pointer is put back.
            unsafe {
                asm!(
                    "mov %sp, {good}",
                    "mov {sp}, %sp",
                    "mov {num}, %g1",
                    "ta 0x40",
                    "mov {good}, %sp",
                    good = out(reg) _,
                    sp = in(reg) BAD_SP,
                    num = in(reg) SYS_YIELD,
                    out("o0") _,
                    out("o1") _,
                )
            };
            check!(2, false, "a system call with an unusable stack came back");
        }
        _ => check!(3, false, "no way {how}"),
    }
}
