//! `hello`: the smallest program (S1, S3): it prints a line from user mode and
//! checks that it is LWP 1 of its process and, when the kernel passes a nonzero
//! argument, that the argument is its pid.
//!
//! Exit codes: 0 passed; 1 `lwp_self` is not 1; 2 `getpid` is not the argument.

#![no_std]
#![no_main]

use lwp_user::{check, getpid, lwp_self, say};

lwp_user::main!(main);

fn main(arg: u64) {
    let pid = getpid().expect("getpid");
    let me = lwp_self().expect("lwp_self");
    say!("hello from user mode: pid {pid}, LWP {me}, argument {arg}");
    check!(1, me == 1, "the first LWP is LWP {me}");
    check!(2, arg == 0 || pid == arg, "getpid() = {pid}, expected {arg}");
}
