//! `rc`: runs other test programs the way Solaris' `init` runs its rc scripts
//! (S1): for each, in turn, `fork1`, then `execve` of the program by name in the
//! child — the number of its arguments choosing what the program checks, as its
//! `main` gets `argc` — and `waitid` for that child in the parent, which checks
//! that it ended as expected: exit 0 for the programs that pass, SIGPIPE for the
//! one that writes into a pipe without readers. In turn, not at once: several of
//! them count the page pool's free pages, which another program's would move.
//!
//! Exit codes: 0 passed; 1 a call failed; 2 a program ended otherwise than
//! expected (its line says which, and how); 3 the `execve` failed in the child.

#![no_std]
#![no_main]

use lwp_user::abi::{CLD_EXITED, CLD_KILLED, P_PID, SIGPIPE, WEXITED};
use lwp_user::{check, execve, exit, fork1, ok, say, waitid};

lwp_user::main!(main);

/// How a program must end: exit with a code, or killed by a signal.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Exit(u64),
    Killed(u64),
}

/// A program to run: its name, its arguments (the first is its name) and its end.
type Run = (&'static [u8], &'static [&'static [u8]], End);

/// The programs, in the order they run.
const RUNS: &[Run] = &[
    (b"fork\0", &[b"fork\0"], End::Exit(0)),
    (b"lwps\0", &[b"lwps\0"], End::Exit(0)),
    (b"wait\0", &[b"wait\0"], End::Exit(0)),
    (b"fpu\0", &[b"fpu\0"], End::Exit(0)),
    // argc 0: the anonymous-memory checks.
    (b"mmap\0", &[], End::Exit(0)),
    // argc 1: a write without readers.
    (b"pipes\0", &[b"pipes\0"], End::Killed(SIGPIPE)),
    // argc 1: a handler installed by one LWP runs in another.
    (b"signals\0", &[b"signals\0"], End::Exit(0)),
    // argc 1: every kind of thread life.
    (b"uthreads\0", &[b"uthreads\0"], End::Exit(0)),
];

fn main(_: u64) {
    for &(name, argv, end) in RUNS {
        let shown = core::str::from_utf8(&name[..name.len() - 1]).unwrap_or("?");
        let pid = match ok!(1, fork1()) {
            0 => {
                let e = execve(name, argv, &[b"RC=yes\0"]);
                say!("execve({shown}) failed: {e}");
                exit(3)
            }
            pid => pid,
        };
        let i = ok!(1, waitid(P_PID, pid, WEXITED));
        let got = match i.si_code {
            CLD_EXITED => Some(End::Exit(i.si_value)),
            CLD_KILLED => Some(End::Killed(i.si_value)),
            _ => None,
        };
        check!(
            2,
            got == Some(end),
            "{shown} with {} arguments ended with code {} and status {}",
            argv.len(),
            i.si_code,
            i.si_value
        );
    }
    say!("{} programs forked, executed and waited for, each ended as expected", RUNS.len());
}
