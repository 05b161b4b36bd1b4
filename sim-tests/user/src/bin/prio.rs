//! `prio`: scheduling classes of LWPs from user mode (S3), through `priocntl`, as
//! root (how the kernel starts it). The argument: 1 if the machine has one CPU
//! (then "at once" can be checked exactly).
//!
//! 1. an LWP starts in TS; an LWP of the process is put in RT above the caller
//!    (itself in RT for the while), and it runs at once — before the call that
//!    put it there returns, on one CPU — ahead of its TS sibling, which goes on
//!    in TS (each LWP in its own class);
//! 2. an LWP changes its own class and priority, and reads them back;
//! 3. bad arguments: an id that names no LWP of the process (`ESRCH`: LWPs of
//!    other processes have ids only there, S15), unknown commands, id types,
//!    classes and priorities (`EINVAL`), bad pointers (`EFAULT`);
//! 4. the TS table reads as Solaris' default `ts_dptbl`, is replaced and read
//!    back, and put back; bad tables (a wrong size, a quantum of 0, a level out of
//!    range, a changed global priority, a bad command) are refused with `EINVAL`
//!    and change nothing.
//!
//! Exit codes: 0 passed; 1 a call failed; 2 the RT LWP did not run at once; 3 a
//! class or priority read back wrong; 4 an id of no LWP here was not `ESRCH`; 5
//! a bad argument was not `EINVAL`; 6 a bad pointer was not `EFAULT`; 7 the TS
//! table is not the default, or did not round-trip; 8 a bad table was taken.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering::SeqCst};

use lwp_user::abi::{
    PcParms, TsDpEnt, PC_ADMIN, PC_CID_RT, PC_CID_SYS, PC_CID_TS, PC_GETPARMS, PC_SETPARMS,
    P_LWPID, SYS_PRIOCNTL, TS_GETDPTBL, TS_NDPENTS, TS_SETDPTBL,
};
use lwp_user::errno::{EFAULT, EINVAL, ESRCH};
use lwp_user::{
    addr, check, lwp_wait, ok, priocntl_get, priocntl_set, say, sleep_ms, spawn, ts_getdptbl,
    ts_setdptbl, yield_now,
};

lwp_user::main!(main);

/// Set by the RT LWP when it runs; counted up by the TS sibling as it spins.
static RT_RAN: AtomicU64 = AtomicU64::new(0);
static TS_SPINS: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicU64 = AtomicU64::new(0);

fn main(one_cpu: u64) {
    rt_runs_at_once(one_cpu == 1);
    own_class();
    bad_arguments();
    ts_table();
    say!("priocntl passed");
}

/// The RT LWP: records that it ran, and its class as it sees it.
fn rt_body(_: u64) {
    let p = ok!(1, priocntl_get(0));
    RT_RAN.store(((1 + p.pc_cid as u64) << 8) | p.pc_pri as u64, SeqCst);
}

/// A TS LWP that spins until told to stop.
fn ts_spinner(_: u64) {
    while STOP.load(SeqCst) == 0 {
        TS_SPINS.fetch_add(1, SeqCst);
        let _ = yield_now();
    }
}

/// 1.
fn rt_runs_at_once(one_cpu: bool) {
    let me = ok!(1, priocntl_get(0));
    check!(3, me.pc_cid == PC_CID_TS, "the first LWP is in class {}", me.pc_cid);
    // This LWP in RT, below the one to come: on one CPU the new TS LWPs wait
    // until it sleeps, whatever the clock does meanwhile.
    ok!(1, priocntl_set(0, PC_CID_RT, 0));
    let spinner = ok!(1, spawn(ts_spinner, 0, 0));
    let rt = ok!(1, spawn(rt_body, 0, 0));
    let ran_before = RT_RAN.load(SeqCst);
    ok!(1, priocntl_set(rt, PC_CID_RT, 10));
    let ran = RT_RAN.load(SeqCst);
    if one_cpu {
        check!(2, ran_before == 0 && ran != 0, "the RT LWP did not run at once");
    }
    ok!(1, priocntl_set(0, PC_CID_TS, 29));
    ok!(1, lwp_wait(rt));
    let ran = RT_RAN.load(SeqCst);
    check!(3, ran == ((1 + PC_CID_RT as u64) << 8) | 10, "the RT LWP saw {ran:#x}");
    // The sibling is still TS, and runs.
    let sp = ok!(1, priocntl_get(spinner));
    check!(3, sp.pc_cid == PC_CID_TS, "the spinner is in class {}", sp.pc_cid);
    let spins = TS_SPINS.load(SeqCst);
    sleep_ms(20);
    check!(3, TS_SPINS.load(SeqCst) > spins, "the TS spinner stopped running");
    STOP.store(1, SeqCst);
    ok!(1, lwp_wait(spinner));
}

/// 2.
fn own_class() {
    for (cid, pri) in [(PC_CID_TS, 0), (PC_CID_TS, 59), (PC_CID_RT, 0), (PC_CID_RT, 59)] {
        ok!(1, priocntl_set(0, cid, pri));
        let p = ok!(1, priocntl_get(0));
        check!(3, p == PcParms { pc_cid: cid, pc_pri: pri }, "set ({cid}, {pri}), read {p:?}");
    }
    ok!(1, priocntl_set(0, PC_CID_TS, 29));
}

fn raw(cmd: u64, idtype: u64, id: u64, arg: u64) -> Result<(u64, u64), u64> {
    // SAFETY: the kernel must refuse what is bad; what is good points at memory
    // of this LWP's frame of the size the call uses.
    unsafe { lwp_user::syscall6(SYS_PRIOCNTL, [cmd, idtype, id, arg, 0, 0]) }
}

/// 3.
fn bad_arguments() {
    for id in [2, 999, u64::from(u32::MAX), 1 << 32] {
        let mut p = PcParms::default();
        let pp = &mut p as *mut PcParms as u64;
        check!(4, raw(PC_GETPARMS, P_LWPID, id, pp) == Err(ESRCH), "PC_GETPARMS of {id}");
        let p = PcParms { pc_cid: PC_CID_TS, pc_pri: 1 };
        let pp = &p as *const PcParms as u64;
        check!(4, raw(PC_SETPARMS, P_LWPID, id, pp) == Err(ESRCH), "PC_SETPARMS of {id}");
    }
    let mut out = PcParms::default();
    let outp = &mut out as *mut PcParms as u64;
    check!(5, raw(99, P_LWPID, 0, outp) == Err(EINVAL), "command 99");
    check!(5, raw(PC_GETPARMS, 0, 0, outp) == Err(EINVAL), "id type P_PID");
    for (cid, pri) in [(PC_CID_SYS, 0), (7, 0), (-1, 0), (PC_CID_TS, 60), (PC_CID_RT, -1)] {
        check!(5, priocntl_set(0, cid, pri) == Err(EINVAL), "class {cid} priority {pri}");
    }
    check!(3, ok!(1, priocntl_get(0)) == PcParms { pc_cid: PC_CID_TS, pc_pri: 29 }, "changed");
    for bad in [addr::UNMAPPED, addr::LIMIT, u64::MAX - 3] {
        check!(6, raw(PC_GETPARMS, P_LWPID, 0, bad) == Err(EFAULT), "get to {bad:#x}");
        check!(6, raw(PC_SETPARMS, P_LWPID, 0, bad) == Err(EFAULT), "set from {bad:#x}");
        let n = TS_NDPENTS as u64;
        check!(6, raw(PC_ADMIN, TS_GETDPTBL, n, bad) == Err(EFAULT), "table to {bad:#x}");
        check!(6, raw(PC_ADMIN, TS_SETDPTBL, n, bad) == Err(EFAULT), "table from {bad:#x}");
    }
    check!(6, raw(PC_GETPARMS, P_LWPID, 0, addr::text()) == Err(EFAULT), "get to the text");
}

/// Solaris' default row `pri`, as `ts_dptbl(4)` documents it.
fn solaris_row(pri: i32) -> TsDpEnt {
    let band = [0, 10, 20, 30, 35, 40, 45, 46, 47, 49, 59].iter().rposition(|&b| pri >= b);
    let band = band.unwrap_or(0);
    let quantum = [20, 16, 12, 8, 8, 4, 4, 4, 4, 4, 2][band];
    let slpret = [50, 51, 52, 53, 54, 55, 56, 57, 58, 58, 59][band];
    let lwait = [50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 59][band];
    let maxwait = if pri == 59 { 32000 } else { 0 };
    let tqexp = (pri - 10).max(0);
    TsDpEnt {
        ts_globpri: pri,
        ts_quantum: quantum,
        ts_tqexp: tqexp,
        ts_slpret: slpret,
        ts_maxwait: maxwait,
        ts_lwait: lwait,
    }
}

/// 4.
fn ts_table() {
    let tbl = ok!(1, ts_getdptbl());
    for (pri, e) in tbl.iter().enumerate() {
        check!(7, *e == solaris_row(pri as i32), "row {pri} is {e:?}");
    }
    let mut mine = tbl;
    mine[10].ts_quantum = 17;
    mine[20].ts_slpret = 40;
    mine[59].ts_maxwait = 5;
    ok!(1, ts_setdptbl(&mine));
    check!(7, ok!(1, ts_getdptbl()) == mine, "the new table did not read back");
    let bad_rows = [
        (3, TsDpEnt { ts_quantum: 0, ..tbl[3] }),
        (3, TsDpEnt { ts_quantum: 40_000, ..tbl[3] }),
        (4, TsDpEnt { ts_tqexp: 60, ..tbl[4] }),
        (5, TsDpEnt { ts_slpret: -1, ..tbl[5] }),
        (6, TsDpEnt { ts_lwait: 100, ..tbl[6] }),
        (7, TsDpEnt { ts_maxwait: -1, ..tbl[7] }),
        (8, TsDpEnt { ts_globpri: 9, ..tbl[8] }),
    ];
    for (row, bad) in bad_rows {
        let mut t = tbl;
        t[row] = bad;
        check!(8, ts_setdptbl(&t) == Err(EINVAL), "row {row} {bad:?} taken");
    }
    let tp = tbl.as_ptr() as u64;
    let n = TS_NDPENTS as u64;
    check!(8, raw(PC_ADMIN, TS_SETDPTBL, n - 1, tp) == Err(EINVAL), "a table of {}", n - 1);
    check!(8, raw(PC_ADMIN, TS_SETDPTBL, n + 1, tp) == Err(EINVAL), "a table of {}", n + 1);
    check!(8, raw(PC_ADMIN, 1, n, tp) == Err(EINVAL), "TS_GETDPSIZE");
    check!(8, ok!(1, ts_getdptbl()) == mine, "a refused table changed the table");
    ok!(1, ts_setdptbl(&tbl));
    check!(7, ok!(1, ts_getdptbl()) == tbl, "the default table did not come back");
}
