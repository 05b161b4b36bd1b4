//! `traps`: the software traps of Solaris that user code relies on and that are no
//! system calls (S13's neighbours): the fast traps `ta 0x24` (gethrtime) and
//! `ta 0x25` (gethrvtime), which the kernel serves in its trap table, and `ta 3`,
//! which flushes the register windows to the stack. (`ta 1` and `ta 2` raise
//! signals: the `fault` program.) Checks:
//!
//! 1. gethrtime reads the clock that `clock_ns` reads: a call between two readings
//!    lies between them;
//! 2. the fast traps are no system calls: a hundred of them leave the LWP's count
//!    of system calls (`lwp_times`) as it was;
//! 3. gethrvtime counts the LWP's time on a CPU: spinning for 20 ms of gethrtime
//!    adds at least 10 ms to it;
//! 4. sleeping adds nothing to it: 50 ms asleep add less than half of that, while
//!    gethrtime moves 50 ms at least;
//! 5. the LWP's virtual time is below the time since the machine started;
//! 6. `ta 3` writes a caller's window to its save area on the stack: its `%l3`,
//!    set in a register, is in memory (zeroed before) after the trap.
//!
//! Exit codes: the number of the failed check.

#![no_std]
#![no_main]
#![feature(asm_experimental_arch)]

use core::arch::asm;
use core::hint::black_box;

use lwp_user::{check, clock_ns, gethrtime, gethrvtime, lwp_times, ok, say, sleep_ms};

lwp_user::main!(main);

const MS: u64 = 1_000_000;

/// What the caller's window holds in `%l3`.
const MAGIC: u64 = 0x7a3_5e5a_1ad0;

/// A frame A puts `MAGIC` in its `%l3` (in the register only: the slot of `%l3` in
/// A's save area on the stack is zeroed), calls one frame deeper, B, which makes
/// `ta 3` and reads that slot: what it returns.
fn flushed_l3() -> u64 {
    let v: u64;
    // SAFETY: two frames on this LWP's own stack, below its stack pointer, popped
    // before the asm ends; the value travels back through %i0/%o0.
    unsafe {
        asm!(
            "save %sp, -176, %sp",          // A
            "mov %i0, %l3",
            "stx %g0, [%sp + 2047 + 24]",   // A's save area: %l3 is its fourth doubleword
            "save %sp, -176, %sp",          // B: A's %sp is B's %fp
            "ta 3",
            "ldx [%fp + 2047 + 24], %i0",
            "restore %i0, %g0, %i0",        // back in A, the value in A's %i0
            "restore %i0, %g0, %o0",        // back here, the value in %o0
            inout("o0") MAGIC => v,
            options(nostack),
        )
    };
    v
}

fn main(_: u64) {
    let t0 = gethrtime();
    let c = ok!(1, clock_ns());
    let t1 = gethrtime();
    check!(1, t0 <= c && c <= t1, "gethrtime {t0}, clock_ns {c}, gethrtime {t1}");

    let before = ok!(2, lwp_times()).lwp_sysc;
    for _ in 0..100 {
        black_box(gethrtime());
        black_box(gethrvtime());
    }
    let after = ok!(2, lwp_times()).lwp_sysc;
    check!(2, after == before + 1, "200 fast traps made {} system calls", after - before - 1);

    let v0 = gethrvtime();
    let start = gethrtime();
    while gethrtime() - start < 20 * MS {
        core::hint::spin_loop();
    }
    let v1 = gethrvtime();
    check!(3, v1 - v0 >= 10 * MS, "20 ms spinning added {} ns of virtual time", v1 - v0);

    let h1 = gethrtime();
    sleep_ms(50);
    let v2 = gethrvtime();
    let h2 = gethrtime();
    check!(
        4,
        h2 - h1 >= 50 * MS && v2 - v1 < 25 * MS,
        "{} ns asleep added {} ns of virtual time",
        h2 - h1,
        v2 - v1
    );
    check!(5, v2 < h2, "virtual time {v2} beyond the time since boot {h2}");

    let l3 = flushed_l3();
    check!(6, l3 == MAGIC, "after ta 3 the caller's %l3 on the stack is {l3:#x}");
    say!("fast traps and ta 3 work");
}
