//! `creds`: credentials from user mode (S1). The argument's low byte chooses:
//!
//! 0. the rules, as root (how the kernel starts a process): `getuid`/`getgid`
//!    give real and effective 0; root may set any gid and then any uid, which
//!    sets real, effective and saved ids; from then on only one's own ids may be
//!    set (`EPERM` otherwise, and nothing changes); ids above `MAXUID` are
//!    `EINVAL`; and what needs root is refused: the RT class, a new TS table;
//! 1. the ids the argument's bits 8..32 and 32..56 give (uid, gid) are this
//!    process's, real and effective: how it was started, or what it inherited;
//! 2. a signal sender acting as uid 100 (which it checks): process `a` (bits
//!    8..32) belongs to another user, so `kill` and `sigqueue` of it, signal 0
//!    included, are `EPERM`; process `b` (bits 32..56) is its own user's, and
//!    SIGTERM to it is sent;
//! 3. a signal sender acting as root: SIGTERM to process `a` is sent;
//! 4. a target: sleeps until a signal ends it (at most 30 s, then exits 0, which
//!    its test takes as a failure).
//!
//! Exit codes: 0 passed; 1 a call failed; 2 the ids are not what they should be;
//! 3 a change that must be refused was made or was not `EPERM`; 4 a bad id was
//! not `EINVAL`; 5 a refused change changed something; 6 root's privilege was
//! not needed where it must be; 7 a signal to another user's process was not
//! `EPERM`.

#![no_std]
#![no_main]

use lwp_user::abi::{PC_CID_RT, SIGTERM};
use lwp_user::errno::{EINVAL, EPERM};
use lwp_user::signal::{kill, sigqueue};
use lwp_user::{
    check, getgid, getuid, ok, priocntl_set, say, setgid, setuid, sleep_ms, ts_getdptbl,
    ts_setdptbl,
};

lwp_user::main!(main);

/// The largest id (Solaris' `MAXUID`).
const MAXUID: u64 = 2_147_483_646;

fn main(arg: u64) {
    let (a, b) = ((arg >> 8) & 0xff_ffff, (arg >> 32) & 0xff_ffff);
    match arg & 0xff {
        0 => rules(),
        1 => ids_are(a, b),
        2 => other_user(a, b),
        3 => {
            ids_are(0, 0);
            ok!(1, kill(a, SIGTERM));
        }
        _ => {
            sleep_ms(30_000);
            say!("the target was never signalled");
        }
    }
}

fn ids_are(uid: u64, gid: u64) {
    let (u, g) = (ok!(1, getuid()), ok!(1, getgid()));
    check!(2, u == (uid, uid) && g == (gid, gid), "uid {u:?} gid {g:?}, not {uid} and {gid}");
}

/// Mode 0.
fn rules() {
    ids_are(0, 0);
    // Root may set any group, then any user: real, effective and saved.
    ok!(1, setgid(20));
    ids_are(0, 20);
    for bad in [MAXUID + 1, u64::from(u32::MAX), 1 << 32, u64::MAX] {
        check!(4, setuid(bad) == Err(EINVAL), "setuid({bad:#x})");
        check!(4, setgid(bad) == Err(EINVAL), "setgid({bad:#x})");
    }
    ok!(1, setuid(100));
    ids_are(100, 20);
    // No longer root: only one's own ids.
    for (uid, gid) in [(0, 0), (101, 21), (MAXUID, MAXUID)] {
        check!(3, setuid(uid) == Err(EPERM), "setuid({uid}) as uid 100");
        check!(3, setgid(gid) == Err(EPERM), "setgid({gid}) as uid 100");
        ids_are(100, 20);
    }
    ok!(1, setuid(100));
    ok!(1, setgid(20));
    ids_are(100, 20);
    // What needs privilege.
    check!(6, priocntl_set(0, PC_CID_RT, 0) == Err(EPERM), "RT without privilege");
    let tbl = ok!(1, ts_getdptbl());
    let mut changed = tbl;
    changed[0].ts_quantum += 1;
    check!(6, ts_setdptbl(&changed) == Err(EPERM), "a new TS table without privilege");
    check!(5, ok!(1, ts_getdptbl()) == tbl, "a refused TS table was used");
    say!("credential rules passed");
}

/// Mode 2.
fn other_user(a: u64, b: u64) {
    ids_are(100, 100);
    for sig in [0, SIGTERM] {
        check!(7, kill(a, sig) == Err(EPERM), "kill({a}, {sig}) of another user's process");
        check!(7, sigqueue(a, sig, 1) == Err(EPERM), "sigqueue({a}, {sig})");
    }
    ok!(1, kill(b, 0));
    ok!(1, kill(b, SIGTERM));
    say!("signals between users passed");
}
