//! `init`: the first user process (S1), pid 1, which the kernel starts at boot
//! (`kern::exec::start_init`). As Solaris' `init` does for orphans, it is the
//! parent of every process whose own parent exited first, and it reaps them when
//! they exit, so that no zombie stays for ever.
//!
//! It waits for SIGCHLD with the signal blocked everywhere but in `sigsuspend`:
//! a child that exits between its last `waitid` and the suspension leaves the
//! signal pending, and the suspension returns at once — no exit is missed.
//! It never exits (exit code 1 if it cannot set up its signals).

#![no_std]
#![no_main]

use lwp_user::abi::{SigInfoT, SigSet, UContext, P_ALL, SIGCHLD, SIG_BLOCK, WEXITED, WNOHANG};
use lwp_user::signal::{sigaction, sigprocmask, sigsuspend, Disposition};
use lwp_user::{check, waitid};

lwp_user::main!(main);

/// SIGCHLD only ends the suspension: the loop does the reaping.
fn on_chld(_: u64, _: Option<&SigInfoT>, _: &mut UContext) {}

fn main(_: u64) {
    let caught = sigaction(SIGCHLD, Disposition::Catch(on_chld), 0, SigSet::EMPTY);
    check!(1, caught.is_ok(), "sigaction(SIGCHLD): {caught:?}");
    let blocked = sigprocmask(SIG_BLOCK, SigSet::of(&[SIGCHLD]));
    check!(1, blocked.is_ok(), "blocking SIGCHLD: {blocked:?}");
    loop {
        // Every child that has exited, then wait for the next SIGCHLD (ECHILD:
        // none at all yet).
        while matches!(waitid(P_ALL, 0, WEXITED | WNOHANG), Ok(i) if i.si_pid != 0) {}
        sigsuspend(&SigSet::EMPTY);
    }
}
