//! Credentials and scheduling classes from user programs of the simulation (S1,
//! S3, S15): what root and others may set; `kill` of another user's process is
//! `EPERM`, of one's own user's is sent; an RT LWP of a process runs ahead of its
//! TS sibling — at once on one CPU; `priocntl`'s `ESRCH` for ids of no LWP of
//! the process, `EPERM` without privilege, `EINVAL` for bad classes, priorities
//! and tables; the TS table read, replaced, read back and put back.

use arch::sim::user;
use arch::Machine;
use kern::cred::Cred;
use kern::proc::{prfind, PStat, WaitStatus};
use kern::M;
use kern_selftest::{ensure, ensure_eq, reap, wait_until, Test, TestResult};
use lwp_abi::*;

use super::lwps::{create_lwp, lwp_exit, until, wait_lwp, worker_arg};
use super::{errno, exit, new_space, poke, start, start_as, sys, DATA};

/// The tests, in the order they run.
pub static CREDS: &[Test] = &[
    Test::new("creds_set_and_get", set_and_get),
    Test::new("creds_kill_between_users", kill_between_users),
    Test::new("creds_rt_lwp_runs_ahead_of_its_ts_sibling", rt_runs_ahead),
    Test::new("creds_priocntl_errors_and_ts_table", priocntl_errors_and_table),
];

// What lives where in `DATA` (whose words lie where: the table in `user_sim`).
/// Pids for a sender: the one it may not signal, the one it may.
const TARGETS: u64 = DATA + 0x1800;
/// Set by the RT LWP when it runs; the TS sibling's spins; a stop flag.
const RT_RAN: u64 = DATA + 0x1810;
const SPINS: u64 = DATA + 0x1818;
const STOP: u64 = DATA + 0x1820;
/// A `PcParms`.
const PARMS: u64 = DATA + 0x1830;
/// The TS table (`TS_NDPENTS` rows of 24 bytes), and a second copy.
const TBL: u64 = DATA + 0x800;
const TBL2: u64 = TBL + 24 * TS_NDPENTS as u64;
const _: () = assert!(TBL2 + 24 * TS_NDPENTS as u64 <= DATA + 0x1800);

fn ids() -> ((u64, u64), (u64, u64)) {
    (sys(SYS_GETUID, &[]).expect("getuid"), sys(SYS_GETGID, &[]).expect("getgid"))
}

fn set_and_get_main(_: u64) {
    let (eperm, einval) = (Err(errno(Errno::EPERM)), Err(errno(Errno::EINVAL)));
    assert_eq!(ids(), ((0, 0), (0, 0)), "user: a process the kernel starts is root");
    assert_eq!(sys(SYS_SETGID, &[20]), Ok((0, 0)));
    assert_eq!(sys(SYS_SETUID, &[1 << 31]), einval, "user: setuid beyond MAXUID");
    assert_eq!(sys(SYS_SETUID, &[100]), Ok((0, 0)));
    assert_eq!(ids(), ((100, 100), (20, 20)));
    for (uid, gid) in [(0, 0), (101, 21)] {
        assert_eq!(sys(SYS_SETUID, &[uid]), eperm, "user: setuid({uid}) as uid 100");
        assert_eq!(sys(SYS_SETGID, &[gid]), eperm, "user: setgid({gid}) as uid 100");
    }
    assert_eq!(sys(SYS_SETUID, &[100]), Ok((0, 0)));
    assert_eq!(ids(), ((100, 100), (20, 20)));
    exit(0)
}

/// S1: a process the kernel starts is root; root may set any ids (all three),
/// others only their own; ids beyond `MAXUID` are `EINVAL`.
fn set_and_get() -> TestResult {
    let space = new_space()?;
    ensure_eq!(reap(start(&space, set_and_get_main, 0)?)?, WaitStatus::Exited(0));
    Ok(())
}

/// A target: yields until a signal ends it; with a nonzero argument, it makes
/// another LWP that does the same first.
fn target(lwps: u64) {
    if lwps != 0 {
        worker_arg(0, target, 0);
    }
    loop {
        let _ = sys(SYS_YIELD, &[]);
    }
}

fn sender_main(_: u64) {
    let (roots, users) = (user::load_u64(TARGETS), user::load_u64(TARGETS + 8));
    assert_eq!(ids().0, (100, 100));
    for sig in [0, SIGTERM] {
        let eperm = Err(errno(Errno::EPERM));
        assert_eq!(sys(SYS_KILL, &[roots, sig]), eperm, "user: kill of root's process");
        assert_eq!(sys(SYS_SIGQUEUE, &[roots, sig, 1]), eperm, "user: sigqueue of root's");
    }
    assert_eq!(sys(SYS_KILL, &[users, SIGTERM]), Ok((0, 0)), "user: kill of uid 100's");
    exit(0)
}

/// S1: uid 100 may not signal root's process (`EPERM`, signal 0 too), may signal
/// another of uid 100's; the kernel (root) may signal anyone.
fn kill_between_users() -> TestResult {
    let user100 = Cred::user(100, 100);
    let (a, b, c) = (new_space()?, new_space()?, new_space()?);
    let roots = start(&a, target, 0)?;
    let users = start_as(&b, target, 0, Some(user100))?;
    poke(&c, TARGETS, u64::from(roots.0))?;
    poke(&c, TARGETS + 8, u64::from(users.0))?;
    let sender = start_as(&c, sender_main, 0, Some(user100))?;
    ensure_eq!(reap(sender)?, WaitStatus::Exited(0));
    ensure_eq!(reap(users)?, WaitStatus::Killed(SIGTERM as u8));
    let stat = prfind(roots).map(|p| p.stat());
    ensure!(stat == Some(PStat::Active), "root's process is {stat:?}");
    kern::signal::kill(u64::from(roots.0), SIGKILL).map_err(|e| format!("kill: {e}"))?;
    ensure_eq!(reap(roots)?, WaitStatus::Killed(SIGKILL as u8));
    Ok(())
}

/// `priocntl(PC_SETPARMS, P_LWPID, id, (cid, pri))`.
fn setparms(id: u64, cid: i32, pri: i32) -> Result<(u64, u64), u64> {
    user::store_u64(PARMS, u64::from(cid as u32) << 32 | u64::from(pri as u32));
    sys(SYS_PRIOCNTL, &[PC_SETPARMS, P_LWPID, id, PARMS])
}

/// `priocntl(PC_GETPARMS, P_LWPID, id)`: (cid, pri).
fn getparms(id: u64) -> Result<(i32, i32), u64> {
    sys(SYS_PRIOCNTL, &[PC_GETPARMS, P_LWPID, id, PARMS])?;
    let w = user::load_u64(PARMS);
    Ok(((w >> 32) as i32, w as i32))
}

fn rt_body(_: u64) {
    user::store_u64(RT_RAN, 1);
    lwp_exit()
}

fn ts_spinner(_: u64) {
    while user::load_u64(STOP) == 0 {
        user::store_u64(SPINS, user::load_u64(SPINS) + 1);
        let _ = sys(SYS_YIELD, &[]);
    }
    lwp_exit()
}

fn rt_main(one_cpu: u64) {
    assert_eq!(getparms(0), Ok((PC_CID_TS, i32::from(kern::class::TS_DEFAULT_PRI))));
    // In RT itself while it makes them: on one CPU the TS LWPs wait.
    assert_eq!(setparms(0, PC_CID_RT, 0), Ok((0, 0)));
    let spinner = worker_arg(0, ts_spinner, 0);
    // Made suspended, so that it is there to be put in RT (on several CPUs it could
    // otherwise run and exit first); once continued, above this LWP, on one CPU
    // it runs at once.
    let rt = u64::from(create_lwp(1, user::program(rt_body), 0, LWP_SUSPENDED));
    assert_eq!(setparms(rt, PC_CID_RT, 10), Ok((0, 0)));
    assert_eq!(user::load_u64(RT_RAN), 0, "user: the suspended LWP ran");
    assert_eq!(sys(SYS_LWP_CONTINUE, &[rt]), Ok((0, 0)));
    if one_cpu == 1 {
        assert_eq!(user::load_u64(RT_RAN), 1, "user: the RT LWP did not run at once");
    }
    assert_eq!(setparms(0, PC_CID_TS, 29), Ok((0, 0)));
    wait_lwp(rt);
    assert_eq!(user::load_u64(RT_RAN), 1);
    assert_eq!(getparms(spinner), Ok((PC_CID_TS, i32::from(kern::class::TS_DEFAULT_PRI))));
    let spins = user::load_u64(SPINS);
    until("the TS sibling to run", || user::load_u64(SPINS) > spins);
    user::store_u64(STOP, 1);
    wait_lwp(spinner);
    exit(0)
}

/// S3: LWPs of one process in different classes are scheduled each by its own:
/// one put in RT above its creator runs at once (exactly so on one CPU), while
/// its TS sibling stays TS and goes on running afterwards.
fn rt_runs_ahead() -> TestResult {
    let space = new_space()?;
    let one_cpu = u64::from(M::ncpus() == 1);
    ensure_eq!(reap(start(&space, rt_main, one_cpu)?)?, WaitStatus::Exited(0));
    Ok(())
}

fn table(at: u64) -> Vec<u64> {
    (0..3 * TS_NDPENTS as u64).map(|k| user::load_u64(at + 8 * k)).collect()
}

fn admin(cmd: u64, n: u64, at: u64) -> Result<(u64, u64), u64> {
    sys(SYS_PRIOCNTL, &[PC_ADMIN, cmd, n, at])
}

fn priocntl_main(other_lwp: u64) {
    let esrch = errno(Errno::ESRCH);
    let (einval, eperm) = (Err(errno(Errno::EINVAL)), Err(errno(Errno::EPERM)));
    let n = TS_NDPENTS as u64;
    // Ids of no LWP here (another process's LWP among them).
    for id in [other_lwp, 2, 999, 1 << 32] {
        assert_eq!(getparms(id), Err(esrch), "user: PC_GETPARMS of {id}");
        assert_eq!(setparms(id, PC_CID_TS, 3), Err(esrch), "user: PC_SETPARMS of {id}");
    }
    for (cid, pri) in [(PC_CID_SYS, 0), (9, 0), (PC_CID_TS, 60), (PC_CID_RT, -1)] {
        assert_eq!(setparms(0, cid, pri), einval, "user: class {cid} priority {pri}");
    }
    assert_eq!(sys(SYS_PRIOCNTL, &[PC_GETPARMS, 0, 0, PARMS]), einval, "user: id type 0");
    assert_eq!(sys(SYS_PRIOCNTL, &[77, P_LWPID, 0, PARMS]), einval, "user: command 77");
    // The TS table: Solaris' default; replaced, read back, put back.
    assert_eq!(admin(TS_GETDPTBL, n, TBL), Ok((0, 0)));
    let default = table(TBL);
    // Row 0: (globpri 0, quantum 20), (tqexp 0, slpret 50), (maxwait 0, lwait 50).
    assert_eq!(default[..3], [20, 50, 50], "user: row 0");
    assert_eq!(default[3 * 59..], [59 << 32 | 2, 49 << 32 | 59, 32000 << 32 | 59], "user: row 59");
    user::store_u64(TBL + 24 * 10, 10 << 32 | 17);
    assert_eq!(admin(TS_SETDPTBL, n, TBL), Ok((0, 0)));
    assert_eq!(admin(TS_GETDPTBL, n, TBL2), Ok((0, 0)));
    assert_eq!(table(TBL2), table(TBL), "user: the new table read back");
    user::store_u64(TBL + 24 * 10, 10 << 32); // a quantum of 0
    assert_eq!(admin(TS_SETDPTBL, n, TBL), einval, "user: a quantum of 0");
    user::store_u64(TBL + 24 * 10, 11 << 32 | 16); // the wrong global priority
    assert_eq!(admin(TS_SETDPTBL, n, TBL), einval, "user: a changed globpri");
    assert_eq!(admin(TS_SETDPTBL, n - 1, TBL), einval, "user: a short table");
    assert_eq!(admin(5, n, TBL), einval, "user: admin command 5");
    assert_eq!(admin(TS_GETDPTBL, n, TBL), Ok((0, 0)));
    assert_eq!(table(TBL), table(TBL2), "user: a refused table changed the table");
    for (k, w) in default.iter().enumerate() {
        user::store_u64(TBL + 8 * k as u64, *w);
    }
    assert_eq!(admin(TS_SETDPTBL, n, TBL), Ok((0, 0)));
    // Without privilege: neither RT nor a new table.
    assert_eq!(sys(SYS_SETUID, &[100]), Ok((0, 0)));
    assert_eq!(setparms(0, PC_CID_RT, 0), eperm, "user: RT as uid 100");
    assert_eq!(admin(TS_SETDPTBL, n, TBL), eperm, "user: a new table as uid 100");
    assert_eq!(admin(TS_GETDPTBL, n, TBL2), Ok((0, 0)));
    assert_eq!(table(TBL2), default, "user: the default table is back");
    exit(0)
}

/// S3, S15, S16: `priocntl`'s errors (an id of another process's LWP is
/// `ESRCH`), the TS table round trip, and what needs privilege.
fn priocntl_errors_and_table() -> TestResult {
    let (a, b) = (new_space()?, new_space()?);
    let others = start(&a, target, 1)?;
    let result = (|| {
        wait_until("the other process's LWP 2", 60, || {
            Ok(prfind(others).is_some_and(|p| p.lwpcnt() == 2))
        })?;
        ensure_eq!(reap(start(&b, priocntl_main, 2)?)?, WaitStatus::Exited(0));
        Ok(())
    })();
    kern::signal::kill(u64::from(others.0), SIGKILL).map_err(|e| format!("kill: {e}"))?;
    reap(others)?;
    result
}
