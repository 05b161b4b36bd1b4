//! Credentials and scheduling classes from user mode (S1, S3): what root and
//! others may set, ids given and inherited, signals between users' processes;
//! LWPs of one process in different classes (`priocntl`).

use alloc::format;

use arch::Machine;
use kern::cred::{self, Cred};
use kern::exec;
use kern::proc::{self, PStat, WaitStatus};
use kern_selftest::{ensure, ensure_eq, reap, TestResult};
use lwp_abi::{SIGKILL, SIGTERM};

use super::{passes, sig_to};
use crate::programs::*;

/// S1: credentials from user mode — a process the kernel starts is root; what
/// root and others may set, what needs root (the `creds` program, mode 0).
pub(super) fn user_creds_rules() -> TestResult {
    passes(CREDS, 0)
}

/// The `creds` program's argument: a mode and two 24-bit values.
fn creds_arg(mode: u64, a: u64, b: u64) -> u64 {
    mode | a << 8 | b << 32
}

/// A process the kernel starts for a user runs with that user's ids; a process
/// made by another inherits its creator's (here a process of the kernel's, which
/// became uid 100, gid 7, starts the program: `cred::crdup`).
pub(super) fn user_creds_given_and_inherited() -> TestResult {
    let as_user = Some(Cred::user(100, 7));
    let pid = exec::spawn_as(CREDS, creds_arg(1, 100, 7), as_user).map_err(|e| format!("{e}"))?;
    ensure_eq!(reap(pid)?, WaitStatus::Exited(0));
    let creator = proc::life::proc_create(creator_as_uid_100, 0).map_err(|e| format!("{e}"))?;
    ensure_eq!(reap(creator)?, WaitStatus::Exited(0));
    Ok(())
}

/// The kernel process of `user_creds_given_and_inherited`: becomes uid 100 and
/// gid 7 (it is root, as its creator), starts `creds` and exits with its code
/// (99: it could not).
fn creator_as_uid_100(_: usize) {
    let started = cred::setgid(7)
        .and_then(|()| cred::setuid(100))
        .and_then(|()| exec::spawn(CREDS, creds_arg(1, 100, 7)));
    let code = match started.map(reap) {
        Ok(Ok(WaitStatus::Exited(code))) => code,
        _ => 99,
    };
    proc::life::proc_exit(code)
}

/// S1: signals between users' processes (POSIX's rule): uid 100 may not signal
/// root's process (`EPERM`, signal 0 too) but may signal another of uid 100's;
/// root may signal anyone.
pub(super) fn user_creds_kill_between_users() -> TestResult {
    let user = Some(Cred::user(100, 100));
    let spawn_as = |arg, cred| exec::spawn_as(CREDS, arg, cred).map_err(|e| format!("{e}"));
    let roots = spawn_as(creds_arg(4, 0, 0), None)?;
    let users = spawn_as(creds_arg(4, 0, 0), user);
    let sender = users
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|&u| spawn_as(creds_arg(2, u64::from(roots.0), u64::from(u.0)), user));
    let result = (|| {
        ensure_eq!(reap(sender?)?, WaitStatus::Exited(0));
        ensure_eq!(reap(users.clone()?)?, WaitStatus::Killed(SIGTERM as u8));
        let stat = proc::prfind(roots).map(|p| p.stat());
        ensure!(stat == Some(PStat::Active), "root's process is {stat:?} after the refused kill");
        let root_sender = spawn_as(creds_arg(3, u64::from(roots.0), 0), None)?;
        ensure_eq!(reap(root_sender)?, WaitStatus::Exited(0));
        ensure_eq!(reap(roots)?, WaitStatus::Killed(SIGTERM as u8));
        Ok(())
    })();
    if result.is_err() {
        for pid in [Ok(roots), users].into_iter().flatten() {
            let _ = sig_to(pid, SIGKILL);
            let _ = reap(pid);
        }
    }
    result
}

/// S3: LWPs of one process in different classes (an RT LWP runs at once, ahead
/// of its TS sibling), `priocntl`'s errors, and the TS table read and replaced
/// (the `prio` program; "at once" is exact on one CPU).
pub(super) fn user_priocntl() -> TestResult {
    passes(PRIO, u64::from(kern::M::ncpus() == 1))
}
