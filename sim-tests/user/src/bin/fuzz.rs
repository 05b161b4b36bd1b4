//! `fuzz`: the system-call fuzzer (issue #9) on sparc64: `lwp_fuzz` (S3, S13, S15,
//! S16) through this machine's system calls, memory and stacks. The argument is a
//! run (seed, calls, fate) or the guard (`lwp_fuzz::Role::arg`); the exit status is
//! the fate's (`lwp_fuzz::Fate::ending`), or the code of a failed check
//! (`lwp_fuzz::code`, `Call::code`), whose line on the console names the call and
//! its arguments.
//!
//! What this machine gives the fuzzer: system calls by `ta 0x40`, each with values
//! of its own in `%g2`..`%g5` and in `%g7` (the user's thread pointer, which the
//! kernel swaps for its own on every entry), which must come back unchanged
//! (`lwp_fuzz::code::REGISTERS` otherwise: the runtime's contract is that a call
//! changes only `%o0`, `%o1` and the condition codes); the
//! process's shared words as atomics in its data (`casx`); each LWP's staging area
//! on its own stack; a stack of its own in the bss for each slot's LWP; two stubs
//! in assembly that never touch their stack (`_lwp_exit`, and `nanosleep(%o0)`
//! then `_lwp_exit`), and a stack for them whose contents are nobody's; the fast
//! traps `ta 0x24`, `ta 0x25` and `ta 3`. The page below `STACK_TOP`, the top of
//! the first LWP's stack, is where out-pointers straddle the end of mapped memory:
//! its last bytes belong to the first frame's argument area, which nobody reads.
//! The guard's mailbox is the lowest word of that stack, which no LWP reaches.

#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

use core::arch::{asm, global_asm};
use core::cell::UnsafeCell;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};

use lwp_fuzz::{code, word, Env, Layout, NSLOTS, STAGE_LEN};
use lwp_user::abi::{Timespec, SYS_LWP_EXIT, SYS_NANOSLEEP};
use lwp_user::addr::{data_end, text, STACK_BOTTOM, STACK_TOP, UNMAPPED};
use lwp_user::{exit, flush_windows, gethrtime, gethrvtime, lwp_create, println};

lwp_user::main!(main);

fn main(arg: u64) {
    lwp_fuzz::start(&mut Sparc::new(), arg);
}

/// Where every LWP the fuzzer spawns starts, on its slot's stack.
extern "C" fn lwp_entry(arg: u64) -> ! {
    lwp_fuzz::lwp_start(&mut Sparc::new(), arg);
    lwp_user::lwp_exit()
}

global_asm!(
    ".section .text.fuzz_stubs, \"ax\"",
    ".align 4",
    ".globl fuzz_stub_exit",
    "fuzz_stub_exit:",
    "    mov {exit}, %g1",
    "    ta 0x40",
    "    illtrap 0",
    ".globl fuzz_stub_sleep",
    "fuzz_stub_sleep:",
    "    mov {sleep}, %g1",
    "    ta 0x40",
    "    mov {exit}, %g1",
    "    ta 0x40",
    "    illtrap 0",
    exit = const SYS_LWP_EXIT,
    sleep = const SYS_NANOSLEEP,
);

extern "C" {
    fn fuzz_stub_exit();
    fn fuzz_stub_sleep();
}

/// Memory the kernel reaches by address only.
#[repr(C, align(16))]
struct Bytes<const N: usize>(UnsafeCell<[u8; N]>);

// SAFETY: the program never makes a reference into it: only addresses are handed
// out (to the kernel, and to the LWP of one slot at a time for its stack).
unsafe impl<const N: usize> Sync for Bytes<N> {}

impl<const N: usize> Bytes<N> {
    const fn new() -> Self {
        Bytes(UnsafeCell::new([0; N]))
    }

    fn addr(&self) -> u64 {
        self.0.get() as u64
    }
}

/// Where what the kernel writes lands: garbage nobody reads.
static OUTBUF: Bytes<512> = Bytes::new();
/// The stubs' stack.
static STUB_STACK: Bytes<1024> = Bytes::new();
/// A stack per slot but the main LWP's.
const STACK: usize = 16 * 1024;
static STACKS: Bytes<{ STACK * (NSLOTS - 1) }> = Bytes::new();
/// The line written to the console.
static LINE: &[u8] = b"fuzz: the console line\n";
static HUGE: Timespec = Timespec { tv_sec: i64::MAX, tv_nsec: 999_999_999 };
/// The process's shared words.
static SHARED: [AtomicU64; word::N] = [const { AtomicU64::new(0) }; word::N];

/// One LWP's view: its staging area (on its own stack) and the layout.
struct Sparc {
    stage: UnsafeCell<[u64; STAGE_LEN as usize / 8]>,
    layout: Layout,
}

impl Sparc {
    fn new() -> Sparc {
        Sparc {
            stage: UnsafeCell::new([0; STAGE_LEN as usize / 8]),
            layout: Layout {
                text: text(),
                data_end: data_end(),
                top: STACK_TOP,
                unmapped: UNMAPPED,
                outbuf: OUTBUF.addr(),
                outbuf_len: 512,
                line: LINE.as_ptr() as u64,
                line_len: LINE.len() as u64,
                stub_pc: fuzz_stub_exit as *const () as u64,
                sleeper_pc: fuzz_stub_sleep as *const () as u64,
                stub_stack_top: STUB_STACK.addr() + 1024,
                huge_ts: &HUGE as *const Timespec as u64,
                mailbox: STACK_BOTTOM,
            },
        }
    }
}

impl Env for Sparc {
    fn syscall(&mut self, num: u64, args: [u64; 6]) -> Result<(u64, u64), u64> {
        // Values of this call's own, for the globals.
        let g = [0x2222, 0x3333, 0x4444, 0x5555, 0x7777]
            .map(|k: u64| (num ^ args[0].rotate_left(k as u32 % 64)).wrapping_mul(k | 1));
        let (r0, r1, ccr, g2, g3, g4, g5, g7): (u64, u64, u64, u64, u64, u64, u64, u64);
        // SAFETY: the trap enters the kernel as `syscall6` does (see its comment); %g7,
        // which the compiler keeps for itself, is given the call's value and back its
        // own before the asm ends (this program has no thread-local storage).
        // Memory: what the fuzzer points at in this program's memory is meant for
        // what the calls do with it: its staging area and buffer of garbage (which
        // the kernel may write), its console line and huge Timespec (which it
        // reads). Every other pointer is bad on purpose: the kernel's business.
        unsafe {
            asm!(
                "mov %g7, {keep}",
                "mov {g7in}, %g7",
                "mov {num}, %g1",
                "ta 0x40",
                "rd %ccr, {ccr}",
                "mov %g7, {g7out}",
                "mov {keep}, %g7",
                keep = out(reg) _,
                g7in = in(reg) g[4],
                num = in(reg) num,
                g7out = lateout(reg) g7,
                ccr = lateout(reg) ccr,
                inout("g2") g[0] => g2,
                inout("g3") g[1] => g3,
                inout("g4") g[2] => g4,
                inout("g5") g[3] => g5,
                inout("o0") args[0] => r0,
                inout("o1") args[1] => r1,
                inout("o2") args[2] => _,
                inout("o3") args[3] => _,
                inout("o4") args[4] => _,
                inout("o5") args[5] => _,
            );
        }
        if [g2, g3, g4, g5, g7] != g {
            println!(
                "fuzz: check {} failed: call {num:#x}{args:x?} changed the globals \
                 %g2..%g5, %g7 from {g:x?} to {:x?}",
                code::REGISTERS,
                [g2, g3, g4, g5, g7]
            );
            exit(code::REGISTERS);
        }
        // The carry of %icc: the call failed, its error in %o0.
        if ccr & 1 != 0 {
            Err(r0)
        } else {
            Ok((r0, r1))
        }
    }

    fn get(&self, w: usize) -> u64 {
        SHARED[w].load(SeqCst)
    }

    fn set(&self, w: usize, v: u64) {
        SHARED[w].store(v, SeqCst)
    }

    fn add(&self, w: usize, n: u64) -> u64 {
        SHARED[w].fetch_add(n, SeqCst) + n
    }

    fn stage(&mut self, words: &[u64]) -> u64 {
        let at = self.stage.get();
        for (i, &w) in words.iter().enumerate() {
            // SAFETY: the area is this LWP's own, and big enough (`Env::stage`); the
            // writes are volatile because only the kernel reads them.
            unsafe { (at as *mut u64).add(i).write_volatile(w) };
        }
        at as u64
    }

    fn peek(&self, at: u64) -> u64 {
        // SAFETY: the fuzzer peeks only at words of this program it named: its
        // staging area and the guard's mailbox (8-aligned, mapped, readable),
        // which the kernel writes behind the compiler's back: volatile.
        unsafe { (at as *const u64).read_volatile() }
    }

    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn spawn(&mut self, slot: usize, arg: u64, flags: u64) -> Result<u32, u64> {
        let top = STACKS.addr() + (slot * STACK) as u64;
        // SAFETY: slot `slot`'s stack is this LWP's alone until it is gone (the
        // fuzzer frees a slot only once its LWP's id names no live LWP).
        unsafe { lwp_create(lwp_entry, top, arg, flags) }
    }

    fn say(&mut self, line: fmt::Arguments) {
        println!("{line}");
    }

    fn soft_trap(&mut self, which: u64) -> Option<u64> {
        match which {
            0x24 => Some(gethrtime()),
            0x25 => Some(gethrvtime()),
            3 => {
                flush_windows();
                Some(0)
            }
            _ => None,
        }
    }
}
