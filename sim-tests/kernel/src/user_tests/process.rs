//! Processes from user mode (S1, S15, S16): a program started and reaped with
//! its status, images the loader refuses, `fork1` and `waitid`, `exec`, a program
//! that runs the others as `init` runs its rc scripts, two processes of one
//! program beside each other, a start that runs out of memory at each allocation,
//! and the benchmark programs run once.

use alloc::vec::Vec;

use kern::errno::Errno;
use kern::exec;
use kern::proc::{self, Pid, WaitStatus};
use kern_selftest::{ensure, ensure_eq, reap, TestResult};

use super::{beside_sibling, passes, start};
use crate::programs::*;

/// A program runs in user mode, makes system calls and exits 0; the pid it sees
/// is the one its parent got (pids are given in turn: the next is one more).
pub(super) fn user_hello() -> TestResult {
    let pid = start(HELLO, 0)?;
    ensure_eq!(reap(pid)?, WaitStatus::Exited(0));
    let next = Pid(pid.0 + 1);
    let again = start(HELLO, u64::from(next.0))?;
    let status = reap(again)?;
    ensure_eq!(again, next);
    ensure_eq!(status, WaitStatus::Exited(0));
    Ok(())
}

/// Images the loader must refuse: `spawn` fails with ENOEXEC and no process is
/// left (every pid given out between two good spawns names nothing). The loader's
/// every rule is unit-tested on the host (`kern::exec`); these are real programs
/// broken as a bad file would be.
pub(super) fn user_malformed_elf() -> TestResult {
    let patched = |at: usize, bytes: &[u8]| {
        let mut b: Vec<u8> = HELLO.to_vec();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        b
    };
    // The first program header's p_vaddr: past the end of user space.
    let phoff = u64::from_be_bytes(HELLO[32..40].try_into().map_err(|_| "e_phoff")?) as usize;
    let bad: [(&str, Vec<u8>); 7] = [
        ("empty", Vec::new()),
        ("truncated header", HELLO[..40].to_vec()),
        ("truncated segment", HELLO[..HELLO.len() / 2].to_vec()),
        ("garbage", (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()),
        ("x86-64 machine", patched(18, &62u16.to_be_bytes())),
        ("little-endian", patched(5, &[1])),
        ("segment beyond user space", patched(phoff + 16, &(1u64 << 43).to_be_bytes())),
    ];
    let before = start(HELLO, 0)?;
    ensure_eq!(reap(before)?, WaitStatus::Exited(0));
    for (what, image) in &bad {
        let r = exec::spawn(image, 0);
        ensure!(r == Err(Errno::ENOEXEC), "{what}: spawn = {r:?}");
    }
    let after = start(HELLO, 0)?;
    ensure_eq!(reap(after)?, WaitStatus::Exited(0));
    for pid in (before.0 + 1..after.0).map(Pid) {
        ensure!(proc::prfind(pid).is_none(), "a refused image left {pid}");
    }
    Ok(())
}

/// A user process makes processes (S1): `fork1` copies its memory and only the
/// calling LWP, with its mask, FP registers and the process's dispositions;
/// `waitid` reports exits, kills, stops and continues, `WNOHANG` too, and every
/// bad argument gets its error (see the `fork` program).
pub(super) fn user_fork1_and_waitid() -> TestResult {
    passes(FORK, 0)
}

/// `exec` replaces a process's image with a program the kernel carries: the other
/// LWPs exit, caught signals go back to the default, mask and pending signals stay,
/// the memory and FP registers are the new image's; a failing `exec` (no such
/// program, a malformed one, bad arguments) leaves the caller as it was (S1; see
/// the `exec` program).
pub(super) fn user_exec() -> TestResult {
    passes(EXEC, 0)
}

/// A user program forks, execs and waits for other test programs in turn (S1), as
/// Solaris' `init` runs its rc scripts: each ends as it must, seen through
/// `waitid` (exit 0; SIGPIPE for the one that writes into a pipe without readers).
pub(super) fn user_rc_runs_the_programs() -> TestResult {
    passes(RC, 0)
}

/// Two processes of one program: each has its own memory at the same addresses,
/// and one's LWP ids mean nothing to the other (S1, S15). B starts once A has its
/// LWPs 2, 3 and 4.
pub(super) fn user_isolation() -> TestResult {
    beside_sibling(|| passes(ISOLATION, 2))
}

/// Starting a program (`exec::spawn`: the address space, its tables and pages, the
/// process, its first LWP) with each of its allocations refused in turn: every
/// refusal fails the start with ENOMEM/EAGAIN and leaves nothing behind (S16).
pub(super) fn user_spawn_survives_each_allocation_failure() -> TestResult {
    let n = kern_selftest::each_allocation_fails(
        "exec::spawn",
        || exec::spawn(HELLO, 0),
        |pid| {
            ensure_eq!(reap(pid)?, WaitStatus::Exited(0));
            Ok(())
        },
    )?;
    ensure!(n >= 10, "starting a program took only {n} allocations");
    Ok(())
}

/// The benchmark program runs each of its benchmarks (a few operations each here;
/// `scripts/bench` runs them in full) and finds what it measured real: the two
/// processes of the process-switch benchmark run together.
pub(super) fn user_bench_programs() -> TestResult {
    for which in [1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 16] {
        passes(BENCH, which | 100 << 8)?;
    }
    let (a, b) = (start(BENCH, 4)?, start(BENCH, 4)?);
    let (sa, sb) = (reap(a), reap(b));
    ensure_eq!(sa?, WaitStatus::Exited(0));
    ensure_eq!(sb?, WaitStatus::Exited(0));
    Ok(())
}
