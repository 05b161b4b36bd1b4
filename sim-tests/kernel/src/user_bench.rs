//! The benchmarks that need user programs (`scripts/bench`, `../shared/TARGETS.md`):
//! the `bench` program measures from user mode, with `clock_ns`, and prints its own
//! `bench:` lines; here the kernel starts it for each figure and checks that it
//! measured (exit 0: see the program for what it verifies).
//!
//! * `null_syscall`: the null system call (S16's mode switch);
//! * `lwp_create_exit_wait`: an LWP created, run to its exit and reaped (S16);
//! * `lwp_yield_switch`: a yield between two LWPs of one process, per switch (S17);
//!   `lwp_yield_switch_fp` the same between two LWPs that use the FPU;
//! * `fork1_exit_wait`: a process forked, exiting at once and reaped (S1); the
//!   same by `forkall` from four LWPs (`forkall_exit_wait`), and with an `exec`
//!   of a small program in the child (`fork1_exec_exit_wait`);
//! * `proc_yield_switch`: the same between LWPs of two processes (S17 across
//!   address spaces), per real switch: two copies run together;
//! * `fast_trap_gethrtime`: the fast trap `ta 0x24`, beside the null system call;
//! * `park_unpark_pingpong`: two LWPs wake each other with `_lwp_unpark` and wait
//!   with `_lwp_park`, per switch (Linux: the futex ping-pong);
//! * `park_handoff_pingpong`: the same with the unpark made by the park itself.
//! * `signal_roundtrip`: `kill` of the own process → handler entry → return from
//!   it (S10–S14's cost);
//! * `sigprocmask_pair`: SIGUSR1 blocked and unblocked (S11's cost).
//! * `pipe_pingpong`: a byte back and forth through two pipes between a process
//!   and its `fork1` child, per switch (S1's pipes; as Linux's figure).
//! * `mmap_touch_munmap`: one anonymous page mapped, a byte written to it, and
//!   unmapped (Linux's figure is the same loop).

use alloc::string::String;
use alloc::vec::Vec;

use kern::proc::WaitStatus;
use kern_selftest::bench::{Bench, Figure};

use crate::programs::{BENCH, UBENCH};
use kern_selftest::reap;

use crate::user_tests::{passes, start};

pub static USER_BENCHES: &[Bench] = &[
    ("null_syscall", || mode(1, 20_000)),
    ("lwp_create_exit_wait", || mode(2, 2_000)),
    ("lwp_yield_switch", || mode(3, 10_000)),
    ("lwp_yield_switch_fp", || mode(10, 10_000)),
    ("fork1_exit_wait", || mode(11, 200)),
    ("forkall_exit_wait", || mode(14, 200)),
    ("fork1_exec_exit_wait", || mode(15, 200)),
    ("proc_yield_switch", proc_yield_switch),
    ("fast_trap_gethrtime", || mode(5, 100_000)),
    ("park_unpark_pingpong", || mode(6, 10_000)),
    ("park_handoff_pingpong", || mode(7, 10_000)),
    ("uthread_yield_switch", || umode(1, 20_000)),
    ("uthread_create_exit_join", || umode(2, 10_000)),
    ("umutex_lock_unlock", || umode(3, 100_000)),
    ("umutex_handoff_lwps", || umode(4, 10_000)),
    ("umutex_handoff_unbound", || umode(5, 10_000)),
    ("ucond_pingpong_lwps", || umode(6, 10_000)),
    ("signal_roundtrip", || mode(8, 10_000)),
    ("sigprocmask_pair", || mode(9, 10_000)),
    ("pipe_pingpong", || mode(13, 10_000)),
    ("mmap_touch_munmap", || mode(16, 10_000)),
];

type Figures = Result<Vec<(String, Figure)>, String>;

/// Runs benchmark `which` of the program for `ops` operations.
fn mode(which: u64, ops: u64) -> Figures {
    passes(BENCH, which | ops << 8)?;
    Ok(Vec::new())
}

/// Runs benchmark `which` of the thread library's program for `ops` operations.
fn umode(which: u64, ops: u64) -> Figures {
    passes(UBENCH, which | ops << 8)?;
    Ok(Vec::new())
}

fn proc_yield_switch() -> Figures {
    let (a, b) = (start(BENCH, 4)?, start(BENCH, 4)?);
    let (sa, sb) = (reap(a)?, reap(b)?);
    if (sa, sb) != (WaitStatus::Exited(0), WaitStatus::Exited(0)) {
        return Err(alloc::format!("the two processes ended {sa:?} and {sb:?}"));
    }
    Ok(Vec::new())
}
