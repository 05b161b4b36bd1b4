//! `priocntl` (S3): the scheduling class and priority of an LWP, and the TS
//! dispatcher parameter table, from user mode — the call's arguments checked,
//! copied in and out, and who may ask (the ABI: `lwp_abi::priocntl`).
//!
//! # Theory
//!
//! Each LWP is scheduled on its own (S3): its kernel thread has its own class and
//! priority, so the LWPs of one process may be in different classes, an RT one
//! running before a TS sibling whatever the siblings do. An LWP names only LWPs of
//! its own process (S15): an id of another process's LWP is simply not found
//! (`ESRCH`). Privilege (`cred`) is needed to enter RT, whose priorities are
//! above every TS and SYS thread, and to replace the TS table, which governs every
//! TS thread; reading either needs none. The class-dependent work is `class`'s
//! (`set_parms`, `class::ts_dptbl_set`).

use crate::class::{self, SchedClass, TsDpEnt, TS_NLEVELS};
use crate::cred;
use crate::disp;
use crate::errno::Errno;
use crate::syscall::uaccess::{copyout_words, lwp_id, with_copyin_words, SysResult};
use crate::thread::{curproc, curthread, KThread};
use lwp_abi::{
    PC_ADMIN, PC_CID_RT, PC_CID_SYS, PC_CID_TS, PC_GETPARMS, PC_SETPARMS, P_LWPID, P_MYID,
    TS_GETDPTBL, TS_NDPENTS, TS_SETDPTBL,
};

/// A `TsDpEnt` in user memory: three words (six 4-byte fields).
const DPENT_WORDS: usize = 3;
/// The whole table in user memory.
const DPTBL_WORDS: usize = DPENT_WORDS * TS_NDPENTS;
const _: () = assert!(TS_NDPENTS == TS_NLEVELS);
const _: () = assert!(core::mem::size_of::<lwp_abi::TsDpEnt>() == DPENT_WORDS * 8);

/// `priocntl(cmd, idtype, id, arg)`: see `lwp_abi::priocntl`.
///
/// Errors: `EINVAL` for an unknown command, id type, class, priority or table;
/// `ESRCH` for an id that names no LWP of the caller's process; `EPERM` for RT or
/// a new TS table without privilege; `EFAULT`.
pub(crate) fn priocntl(cmd: u64, a1: u64, a2: u64, arg: u64) -> SysResult {
    match cmd {
        PC_GETPARMS => {
            let (class, pri) = on_lwp(a1, a2, |t| Ok(class::parms(t)))?;
            let cid = match class {
                SchedClass::Sys => PC_CID_SYS,
                SchedClass::Ts => PC_CID_TS,
                SchedClass::Rt => PC_CID_RT,
            };
            copyout_words(arg, &[pair(cid, i32::from(pri))])?;
            Ok((0, 0))
        }
        PC_SETPARMS => {
            let (cid, pri) = with_copyin_words(arg, |&[w]: &[u64; 1]| unpair(w))?;
            let class = match cid {
                PC_CID_TS => SchedClass::Ts,
                PC_CID_RT => SchedClass::Rt,
                _ => return Err(Errno::EINVAL),
            };
            let pri = u8::try_from(pri).map_err(|_| Errno::EINVAL)?;
            if class == SchedClass::Rt && !cred::curcred().is_root() {
                return Err(Errno::EPERM);
            }
            let r = on_lwp(a1, a2, |t| set_parms(t, class, pri));
            // This CPU may have to give way to the LWP now.
            disp::kpreempt();
            r.map(|()| (0, 0))
        }
        PC_ADMIN => ts_admin(a1, a2, arg),
        _ => Err(Errno::EINVAL),
    }
}

/// Puts thread `t` in `class` at the class's priority `pri` (0–59; TS and RT
/// only: SYS is the kernel's), wherever it is — running, queued or asleep — and
/// moves it on the dispatch queues at once (`disp`). The caller checks who may
/// ask (`priocntl`), and calls `disp::kpreempt` once it holds no lock.
///
/// Errors: `EINVAL` for SYS, or a priority outside `0..=59`.
fn set_parms(t: &'static KThread, class: SchedClass, pri: u8) -> Result<(), Errno> {
    if class == SchedClass::Sys || pri > class::TS_MAXPRI {
        return Err(Errno::EINVAL);
    }
    disp::change_class(t, class, *class.range().start() + pri);
    Ok(())
}

/// Two 4-byte fields in one big-endian word, the first in the high half.
fn pair(hi: i32, lo: i32) -> u64 {
    u64::from(hi as u32) << 32 | u64::from(lo as u32)
}

fn unpair(w: u64) -> (i32, i32) {
    ((w >> 32) as u32 as i32, w as u32 as i32)
}

/// Runs `f` on the thread of the LWP `idtype`/`id` names — the caller (`P_MYID`)
/// or an LWP of its process — under the process's lock, so that the LWP cannot
/// exit (and its thread be reused) meanwhile.
fn on_lwp<R>(
    idtype: u64,
    id: u64,
    f: impl FnOnce(&'static KThread) -> Result<R, Errno>,
) -> Result<R, Errno> {
    if idtype != P_LWPID {
        return Err(Errno::EINVAL);
    }
    let p = curproc().ok_or(Errno::EINVAL)?;
    let id = if id == P_MYID { None } else { Some(lwp_id(id)?) };
    let ps = p.p_lock.lock();
    let t = match id {
        None => curthread(),
        Some(id) => ps.p_lwpdir.live(id).map(|(t, _)| t).ok_or(Errno::ESRCH)?,
    };
    f(t)
}

/// `PC_ADMIN`: the TS table copied out (`TS_GETDPTBL`), or replaced
/// (`TS_SETDPTBL`, root only) by one checked whole first.
fn ts_admin(cmd: u64, n: u64, tblp: u64) -> SysResult {
    if n != TS_NDPENTS as u64 {
        return Err(Errno::EINVAL);
    }
    match cmd {
        TS_GETDPTBL => {
            let mut w = [0u64; DPTBL_WORDS];
            for (pri, row) in w.chunks_exact_mut(DPENT_WORDS).enumerate() {
                let e = class::ts_dptbl(pri as u8);
                row[0] = pair(pri as i32, e.quantum);
                row[1] = pair(i32::from(e.tqexp), i32::from(e.slpret));
                row[2] = pair(i32::from(e.maxwait), i32::from(e.lwait));
            }
            copyout_words(tblp, &w)?;
            Ok((0, 0))
        }
        TS_SETDPTBL => {
            if !cred::curcred().is_root() {
                return Err(Errno::EPERM);
            }
            let tbl = with_copyin_words(tblp, |w: &[u64; DPTBL_WORDS]| {
                let mut tbl = [class::ts_dptbl(0); TS_NLEVELS];
                for (pri, (row, e)) in w.chunks_exact(DPENT_WORDS).zip(&mut tbl).enumerate() {
                    *e = dpent(pri, row)?;
                }
                Ok(tbl)
            })??;
            class::ts_dptbl_set(&tbl).map(|()| (0, 0))
        }
        _ => Err(Errno::EINVAL),
    }
}

/// Row `pri` of a table from user memory: `EINVAL` unless its `ts_globpri` is
/// `pri` and every field fits its kind (`class::ts_dptbl_set` checks the rest).
fn dpent(pri: usize, row: &[u64]) -> Result<TsDpEnt, Errno> {
    let ((globpri, quantum), (tqexp, slpret), (maxwait, lwait)) =
        (unpair(row[0]), unpair(row[1]), unpair(row[2]));
    let level = |v: i32| u8::try_from(v).map_err(|_| Errno::EINVAL);
    if globpri != pri as i32 {
        return Err(Errno::EINVAL);
    }
    Ok(TsDpEnt {
        quantum,
        tqexp: level(tqexp)?,
        slpret: level(slpret)?,
        maxwait: u16::try_from(maxwait).map_err(|_| Errno::EINVAL)?,
        lwait: level(lwait)?,
    })
}
