//! `limits`: a program that asks for LWPs until the kernel refuses, as a hostile or
//! careless program would (S16: too many of a good thing gets an error code, never
//! a kernel crash). The argument's low byte selects the way, the rest a count:
//!
//! 1. SUSPENDED LWPs (they never run, so they share one stack) until `_lwp_create`
//!    fails: it must fail with `EAGAIN`, having made at least one; then the
//!    program exits, which ends them all.
//! 2. LWPs that exit at once and are never waited for: zombies, which count for
//!    the process until waited for: creation fails with `EAGAIN`; after one
//!    `_lwp_wait` one more can be made.
//! 3. `count` LWPs made, run to their exit and waited for, one after another (the
//!    kernel's memory must be back afterwards: the test checks that).
//! 4. An LWP asleep in `nanosleep` for the longest time there is, woken `count` times
//!    by `_lwp_continue` (each wakeup makes it sleep again): the sleep's deadline must
//!    not overflow, and its timeout is re-armed, not piled up (the test checks the
//!    kernel's callouts afterwards). The program then exits, ending the sleeper.
//!
//! It prints `limits: N` (the LWPs made before the refusal). Exit codes: 0 done;
//! 1 a call failed unexpectedly; 2 creation was refused with another error than
//! EAGAIN; 3 nothing could be made at all; 4 no room after a wait; 5 an unknown way.

#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

use core::cell::UnsafeCell;

use lwp_user::abi::{Timespec, LWP_SUSPENDED, SYS_LWP_EXIT};
use lwp_user::errno::EAGAIN;
use lwp_user::{check, lwp_continue, lwp_create, lwp_wait, nanosleep, ok, say, sleep_ms, spawn};

lwp_user::main!(main);

/// The stack every LWP of ways 1 and 2 starts on: they never write to it (way 1's
/// never run; way 2's first instruction ends them).
#[repr(C, align(16))]
struct Shared(UnsafeCell<[u8; 8192]>);
// SAFETY: no code of this program reads or writes it; only its top is handed out.
unsafe impl Sync for Shared {}
static SHARED: Shared = Shared(UnsafeCell::new([0; 8192]));

fn shared_top() -> u64 {
    SHARED.0.get() as u64 + 8192
}

core::arch::global_asm!(
    ".globl limits_exit_now",
    ".type limits_exit_now, #function",
    "limits_exit_now:",
    "mov {exit}, %g1",
    "ta 0x40",
    "illtrap 0",
    exit = const SYS_LWP_EXIT,
);

extern "C" {
    /// `_lwp_exit` as its first instruction: touches no stack.
    fn limits_exit_now(arg: u64) -> !;
}

/// Makes LWPs at `entry` on the shared stack with `flags` until one is refused:
/// how many were made, and the error.
fn until_refused(entry: extern "C" fn(u64) -> !, flags: u64) -> (u64, u64) {
    let mut made = 0;
    loop {
        // SAFETY: the shared stack is only read, by the kernel's first fill of each
        // LWP's window, and never written (see `SHARED`).
        match unsafe { lwp_create(entry, shared_top(), made, flags) } {
            Ok(_) => made += 1,
            Err(e) => return (made, e),
        }
    }
}

/// Way 4's sleeper: the longest `nanosleep` there is.
fn sleep_forever(_: u64) {
    let _ = nanosleep(&Timespec { tv_sec: i64::MAX, tv_nsec: 999_999_999 });
}

extern "C" fn never_runs(_: u64) -> ! {
    lwp_user::lwp_exit()
}

extern "C" fn exit_now(arg: u64) -> ! {
    // SAFETY: the function takes its argument in %o0 and never returns.
    unsafe { limits_exit_now(arg) }
}

fn main(arg: u64) {
    let (way, count) = (arg & 0xff, arg >> 8);
    match way {
        1 => {
            let (made, e) = until_refused(never_runs, LWP_SUSPENDED);
            say!("{made}");
            check!(2, e == EAGAIN, "_lwp_create refused with {e}, not EAGAIN");
            check!(3, made > 0, "no LWP at all");
        }
        2 => {
            let (made, e) = until_refused(exit_now, 0);
            say!("{made}");
            check!(2, e == EAGAIN, "_lwp_create refused with {e}, not EAGAIN");
            check!(3, made > 0, "no LWP at all");
            ok!(1, lwp_wait(0));
            check!(4, until_refused(exit_now, 0).0 == 1, "not one more LWP after a wait");
        }
        3 => {
            for _ in 0..count {
                let id = ok!(1, spawn(|_| {}, 0, 0));
                ok!(1, lwp_wait(id));
            }
            say!("{count}");
        }
        4 => {
            let sleeper = ok!(1, spawn(sleep_forever, 0, 0));
            sleep_ms(5);
            for _ in 0..count {
                ok!(1, lwp_continue(sleeper));
            }
            say!("{count}");
        }
        _ => check!(5, false, "no way {way}"),
    }
}
