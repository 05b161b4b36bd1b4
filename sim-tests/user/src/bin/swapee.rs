//! `swapee`: LWPs that sleep and spin while the kernel swaps their `lwp` structures
//! out and back in, again and again (the test `user_swap_everything_repeatedly`),
//! and check that nothing of theirs changed (S5).
//!
//! Four sleepers each make rounds of: a `nanosleep` whose trap leaves values of
//! their own in the registers a system call keeps (`%g2`..`%g5`, `%o2`..`%o5`,
//! `%y`, and this window's `%l0`..`%l3`), all checked when it returns — they were in
//! the registers' image on the swap device meanwhile, or the window on the user
//! stack; `lwp_times`, whose count of system calls must have grown by exactly the
//! two calls of the round (S5.4) and whose CPU times never go back (S5.6); and a
//! recursion deep enough to spill register windows, checked against a loop. Two
//! spinners make the same recursion, yield and nap; each yield (the fast path's
//! switch, S16/S17) holds values in the same registers, checked the same way. Main
//! waits for them all (it sleeps too). The argument only tells the processes'
//! values apart.
//!
//! Exit codes: 0 passed; 1 a global or out register changed across the sleep or
//! yield; 2 `%y` changed; 3 a local register changed; 4 `nanosleep` or `yield`
//! failed; 5 the count of system calls is not what was made; 6 a CPU time went
//! back; 7 a recursion gave another result than the loop; 8 spawn failed; 9
//! `lwp_wait` failed.

#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

use core::arch::asm;
use core::hint::black_box;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};

use lwp_user::abi::{Timespec, SYS_NANOSLEEP, SYS_YIELD};
use lwp_user::{check, lwp_times, lwp_wait, ok, say, sleep_ms, spawn};

lwp_user::main!(main);

const SLEEPERS: u64 = 4;
const SPINNERS: u64 = 2;
const ROUNDS: u64 = 40;

/// The first failure any LWP saw: its exit code.
static FAILED: AtomicU8 = AtomicU8::new(0);
/// Rounds done, by all the LWPs.
static ROUNDS_DONE: AtomicU64 = AtomicU64::new(0);

fn fail(code: u8) {
    let _ = FAILED.compare_exchange(0, code, Relaxed, Relaxed);
}

/// What the registers held after the call.
struct After {
    regs: [u64; 8],
    y: u64,
    locals: [u64; 4],
    error: bool,
}

/// System call `num` with `a0` (its only argument) and `regs` in `%g2`..`%g5`,
/// `%o2`..`%o5`, `y` in `%y` and `locals` in `%l0`..`%l3`: what they hold once it
/// returns.
#[inline(never)]
fn call_holding(num: u64, a0: u64, regs: [u64; 8], y: u64, locals: [u64; 4]) -> After {
    let mut a = After { regs, y, locals, error: false };
    let ccr: u64;
    // SAFETY: the trap is a system call (`%g1`, which LLVM reserves, holds its
    // number): `nanosleep` with a valid timespec (the kernel reads it) or `yield`,
    // without arguments. The kernel changes
    // only %o0, %o1 and the condition codes, which are outputs here; every other
    // register named is an input and an output, so the compiler expects nothing of
    // them. `%y` is written before and read after, inside the block.
    unsafe {
        asm!(
            "wr {y}, 0, %y",
            "mov {num}, %g1",
            "ta 0x40",
            "rd %ccr, {ccr}",
            "rd %y, {y}",
            num = in(reg) num,
            y = inout(reg) a.y,
            ccr = lateout(reg) ccr,
            inout("o0") a0 => _,
            inout("o1") 0u64 => _,
            inout("g2") a.regs[0],
            inout("g3") a.regs[1],
            inout("g4") a.regs[2],
            inout("g5") a.regs[3],
            inout("o2") a.regs[4],
            inout("o3") a.regs[5],
            inout("o4") a.regs[6],
            inout("o5") a.regs[7],
            inout("l0") a.locals[0],
            inout("l1") a.locals[1],
            inout("l2") a.locals[2],
            inout("l3") a.locals[3],
        );
    }
    a.error = ccr & 1 != 0;
    a
}

fn mix(x: u64, y: u64) -> u64 {
    (x ^ y.rotate_left(13)).wrapping_mul(0x2545_f491_4f6c_dd1d) ^ (x >> 29)
}

/// A recursion that keeps values live across each call: a register window per level.
#[inline(never)]
fn deep(n: u64, seed: u64) -> u64 {
    if n == 0 {
        return seed;
    }
    let a = mix(seed, n);
    let b = deep(black_box(n - 1), a);
    mix(b, a) ^ seed
}

/// [`deep`] as a loop over a stack of its own.
fn deep_by_loop(n: u64, seed: u64) -> u64 {
    let mut seeds = [0u64; 64];
    let mut s = seed;
    for (k, slot) in seeds.iter_mut().take(n as usize).enumerate() {
        *slot = s;
        s = mix(s, n - k as u64);
    }
    let mut r = s;
    for k in (0..n as usize).rev() {
        let a = mix(seeds[k], n - k as u64);
        r = mix(r, a) ^ seeds[k];
    }
    r
}

fn recursion_holds(n: u64, seed: u64) {
    if deep(n, seed) != deep_by_loop(n, seed) {
        fail(7);
    }
}

/// The values an LWP's call of a round holds in the registers it keeps.
fn values(id: u64, round: u64) -> ([u64; 8], u64, [u64; 4]) {
    let v = |i: u64| (id << 40) ^ (round << 20) ^ (0x5a5a_0000 + i);
    let regs: [u64; 8] = core::array::from_fn(|i| v(i as u64));
    let locals: [u64; 4] = core::array::from_fn(|i| !v(16 + i as u64));
    (regs, v(9) & 0xffff_ffff, locals)
}

/// Notes what of `regs`, `y` and `locals` a call did not keep, or its failure.
fn check_after(after: After, regs: [u64; 8], y: u64, locals: [u64; 4]) {
    if after.error {
        fail(4);
    }
    if after.regs != regs {
        fail(1);
    }
    if after.y != y {
        fail(2);
    }
    if after.locals != locals {
        fail(3);
    }
}

fn sleeper(id: u64) {
    let mut before = lwp_times().map_or(Default::default(), |t| t);
    for round in 0..ROUNDS {
        let (regs, y, locals) = values(id, round);
        let ms = 5 + (id + round) % 11;
        let ts = Timespec { tv_sec: 0, tv_nsec: (ms * 1_000_000) as i64 };
        let ts = &ts as *const Timespec as u64;
        check_after(call_holding(SYS_NANOSLEEP, ts, regs, y, locals), regs, y, locals);
        let now = lwp_times().map_or(Default::default(), |t| t);
        // This round's calls: the sleep and this one.
        if now.lwp_sysc != before.lwp_sysc + 2 {
            fail(5);
        }
        if now.lwp_utime < before.lwp_utime || now.lwp_stime < before.lwp_stime {
            fail(6);
        }
        before = now;
        recursion_holds(40 + (id + round) % 20, id ^ round);
        ROUNDS_DONE.fetch_add(1, Relaxed);
    }
}

fn spinner(id: u64) {
    for round in 0..ROUNDS {
        for k in 0..20 {
            recursion_holds(30 + k, id << 32 | round << 8 | k);
        }
        let (regs, y, locals) = values(id, round);
        check_after(call_holding(SYS_YIELD, 0, regs, y, locals), regs, y, locals);
        if round % 5 == 0 {
            sleep_ms(2);
        }
        ROUNDS_DONE.fetch_add(1, Relaxed);
    }
}

fn main(arg: u64) {
    let mut ids = [0u32; (SLEEPERS + SPINNERS) as usize];
    for (i, slot) in ids.iter_mut().enumerate() {
        let i = i as u64;
        let id = arg << 8 | i;
        *slot = if i < SLEEPERS {
            ok!(8, spawn(sleeper, id, 0))
        } else {
            ok!(8, spawn(spinner, id, 0))
        };
    }
    for id in ids {
        ok!(9, lwp_wait(id));
    }
    let failed = FAILED.load(Relaxed);
    check!(failed, failed == 0, "an LWP found something of its own changed");
    say!("process {arg}: {} rounds, everything as it was", ROUNDS_DONE.load(Relaxed));
}
