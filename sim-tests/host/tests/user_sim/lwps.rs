//! The programs' side of LWPs, for every suite of `user_sim` (S3, S15): making
//! worker `i` (its `LwpContext` at `CTX + 24 * i`, its stack the page below
//! `stack_top(i + 1)`, its id at `IDS + 8 * i`), waiting for it, and waiting for a
//! word of the process's memory to say something, yielding meanwhile.

use arch::sim::user;
use lwp_abi::*;

use super::{stack_top, sys, CTX, IDS};

/// The calling LWP's id.
pub fn me() -> u64 {
    sys(SYS_LWP_SELF, &[]).expect("_lwp_self").0
}

/// Gives the CPU away; the call returns 0 in both registers, also when a handler
/// is taken on its way out (the handler's return puts the registers back).
pub fn yield_now() {
    assert_eq!(sys(SYS_YIELD, &[]), Ok((0, 0)), "yield's registers");
}

/// Yields until `done()`; panics (failing the boot, with `what`) after many rounds
/// rather than hang.
pub fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..2_000_000 {
        if done() {
            return;
        }
        yield_now();
    }
    panic!("user: waited too long for {what}");
}

/// Puts worker `i`'s `LwpContext` in place: `pc`, `stack_top`, and `i` as its
/// argument.
pub fn set_context(i: u64, pc: u64, stack_top: u64) -> u64 {
    let ctx = CTX + 24 * i;
    user::store_u64(ctx, pc);
    user::store_u64(ctx + 8, stack_top);
    user::store_u64(ctx + 16, i);
    ctx
}

/// Creates worker `i` running the program at `pc` with argument `arg`, with
/// `_lwp_create` flags `flags`: its id.
pub fn create_lwp(i: u64, pc: u64, arg: u64, flags: u64) -> u32 {
    let ctx = set_context(i, pc, stack_top(i + 1));
    user::store_u64(ctx + 16, arg);
    assert_eq!(
        sys(SYS_LWP_CREATE, &[ctx, flags, IDS + 8 * i]),
        Ok((0, 0)),
        "_lwp_create of worker {i}"
    );
    user::load_u32(IDS + 8 * i)
}

/// Creates worker `i` running `program(arg)`: its id.
pub fn worker_arg(i: u64, program: fn(u64), arg: u64) -> u64 {
    create_lwp(i, user::program(program), arg, 0).into()
}

/// Creates worker `i` running `program(i)`: its id.
pub fn worker(i: u64, program: fn(u64)) -> u64 {
    worker_arg(i, program, i)
}

/// Waits for LWP `id` to end.
pub fn wait_lwp(id: u64) {
    assert_eq!(sys(SYS_LWP_WAIT, &[id, 0]), Ok((0, 0)), "_lwp_wait({id})");
}

/// Ends the calling LWP.
pub fn lwp_exit() -> ! {
    let _ = sys(SYS_LWP_EXIT, &[]);
    unreachable!("_lwp_exit returned");
}
