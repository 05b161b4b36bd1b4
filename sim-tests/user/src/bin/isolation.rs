//! `isolation`: processes are isolated (S1, S15). Two processes run this same
//! program, so the same static is at the same address in both:
//!
//! * argument 1, process A: keeps a secret in the static, makes three LWPs (ids
//!   2, 3, 4) that sleep, sleeps 200 ms itself, checks its secret is intact and
//!   exits 0 (which ends its LWPs);
//! * argument 2, process B, started while A lives: finds the static as the program
//!   file has it, not A's secret, and its own value in it once written; ids 2, 3
//!   and 4 name no LWP of its own, so every LWP call on them fails with ESRCH —
//!   A's LWPs are invisible to it, also to `_lwp_unpark` (and to `_lwp_park`'s
//!   unpark, which is then refused before it parks).
//!
//! Exit codes: 0 passed; 1 A did not find the static as loaded; 2 A's LWPs are
//! not 2, 3, 4; 3 A's secret changed; 11 B did not find the static as loaded; 12
//! its own value did not stay; 13 `lwp_continue`, 14 `lwp_suspend`, 15
//! `lwp_kill(id, 0)`, 16 `lwp_wait`, 17 `_lwp_unpark`, 18 `_lwp_park(unpark)` on
//! A's ids did not fail with ESRCH; 20 an unknown argument; 21 `spawn` failed.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use lwp_user::errno::ESRCH;
use lwp_user::{
    check, lwp_continue, lwp_kill, lwp_park, lwp_suspend, lwp_unpark, lwp_wait, ok, say, sleep_ms,
    spawn, LwpId,
};

lwp_user::main!(main);

const LOADED: u64 = 0x1111_2222_3333_4444;
const SECRET_A: u64 = 0xa5a5_5ec2_e7a5_a5a5;
const VALUE_B: u64 = 0xb0b0_b0b0_0000_000b;

static SECRET: AtomicU64 = AtomicU64::new(LOADED);

fn main(arg: u64) {
    match arg {
        1 => process_a(),
        2 => process_b(),
        _ => check!(20, false, "no role {arg}"),
    }
}

fn process_a() {
    let found = SECRET.load(Relaxed);
    check!(1, found == LOADED, "A found {found:#x} in its static");
    SECRET.store(SECRET_A, Relaxed);
    let ids: [LwpId; 3] = core::array::from_fn(|_| ok!(21, spawn(sleep_ms, 10_000, 0)));
    check!(2, ids == [2, 3, 4], "A's LWPs are {ids:?}");
    sleep_ms(200);
    let found = SECRET.load(Relaxed);
    check!(3, found == SECRET_A, "A's secret became {found:#x}");
    say!("A kept its secret");
}

fn process_b() {
    let found = SECRET.load(Relaxed);
    check!(11, found == LOADED, "B found {found:#x} in its static");
    SECRET.store(VALUE_B, Relaxed);
    sleep_ms(10);
    let found = SECRET.load(Relaxed);
    check!(12, found == VALUE_B, "B's value became {found:#x}");
    for id in 2..=4 {
        let r = lwp_continue(id);
        check!(13, r == Err(ESRCH), "lwp_continue({id}) = {r:?}");
        let r = lwp_suspend(id);
        check!(14, r == Err(ESRCH), "lwp_suspend({id}) = {r:?}");
        let r = lwp_kill(id, 0);
        check!(15, r == Err(ESRCH), "lwp_kill({id}, 0) = {r:?}");
        let r = lwp_wait(id);
        check!(16, r == Err(ESRCH), "lwp_wait({id}) = {r:?}");
        let r = lwp_unpark(id);
        check!(17, r == Err(ESRCH), "lwp_unpark({id}) = {r:?}");
        let r = lwp_park(None, id);
        check!(18, r == Err(ESRCH), "lwp_park(unpark {id}) = {r:?}");
    }
    say!("B saw nothing of A");
}
