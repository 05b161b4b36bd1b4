//! Interval timers (S5.5): `ITIMER_REAL` is the process's — real time, counted by
//! a callout the process keeps (`p_itimer`), SIGALRM for the process when it runs
//! out (`alarm` sets it too); `ITIMER_VIRTUAL` and `ITIMER_PROF` are each LWP's,
//! in its `lwp` structure, counted down by the clock tick by tick as it charges the
//! LWP's user time (SIGVTALRM) or its user and system time (SIGPROF), and signal
//! that LWP. Times are kept in nanoseconds and run in whole clock ticks.

use super::post::{post, Post};
use super::{Sig, SigInfo, SigSet};
use crate::clock;
use crate::errno::Errno;
use crate::lwp::{ITimerVal, NITIMER};
use crate::proc::{self, PStat, Pid, Proc, ProcState};
use crate::thread::{curlwp, curproc};
use lwp_abi::{ITIMER_PROF, ITIMER_REAL, ITIMER_VIRTUAL, SIGALRM, SIGPROF, SIGVTALRM};

const NANOSEC: u64 = 1_000_000_000;

fn tick_ns() -> u64 {
    NANOSEC / u64::from(clock::hz())
}

/// `ns` nanoseconds in clock ticks, rounded up.
fn ticks_of(ns: u64) -> u64 {
    let t = (u128::from(ns) * u128::from(clock::hz())).div_ceil(u128::from(NANOSEC));
    u64::try_from(t).unwrap_or(u64::MAX)
}

/// The process's `ITIMER_REAL`, as `getitimer` reports it (under `p_lock`).
fn real_get(ps: &ProcState) -> ITimerVal {
    let s = &ps.p_sig;
    let left = if s.real_expire == 0 { 0 } else { s.real_expire.saturating_sub(clock::lbolt()) };
    ITimerVal {
        it_interval: s.real_interval.saturating_mul(tick_ns()),
        it_value: left.max(u64::from(s.real_expire != 0)).saturating_mul(tick_ns()),
    }
}

/// Sets the process's `ITIMER_REAL` to `v` (under `p_lock`): its callout is armed
/// for the first expiry, or disarmed.
fn real_set(p: &'static Proc, ps: &mut ProcState, v: ITimerVal) {
    let s = &mut ps.p_sig;
    if v.it_value == 0 {
        s.real_expire = 0;
        s.real_interval = 0;
        p.p_itimer.untimeout();
        return;
    }
    let ticks = ticks_of(v.it_value).max(1);
    s.real_expire = clock::lbolt().saturating_add(ticks);
    s.real_interval = ticks_of(v.it_interval);
    p.p_itimer.timeout(realitexpire, p.pid().0 as usize, ticks);
}

/// The callout of `ITIMER_REAL` of process `pid` (in the clock interrupt): SIGALRM
/// for the process, and the next expiry armed if the timer has an interval. A
/// process that is exiting, or a timer set anew meanwhile, gets nothing.
fn realitexpire(pid: usize) {
    let pid = Pid(pid as u32);
    let Some(p) = proc::prfind(pid) else { return };
    let due = {
        let mut ps = p.p_lock.lock();
        let now = clock::lbolt();
        let active = ps.p_stat == PStat::Active && p.pid() == pid;
        let s = &mut ps.p_sig;
        if !active || s.real_expire == 0 || now < s.real_expire {
            false
        } else {
            if s.real_interval > 0 {
                s.real_expire = now + s.real_interval;
                p.p_itimer.timeout(realitexpire, pid.0 as usize, s.real_interval);
            } else {
                s.real_expire = 0;
            }
            true
        }
    };
    if due {
        let alrm = Sig(SIGALRM as u8);
        post(p, pid, Post::Proc, alrm, SigInfo::bare(alrm));
    }
}

/// The process is gone: its real-time timer too.
pub(crate) fn realitimer_cancel(p: &'static Proc) {
    p.p_itimer.untimeout();
}

/// The signal and slot of an LWP's timer `which`.
fn lwp_timer(which: u64) -> Option<(usize, Sig)> {
    match which {
        ITIMER_VIRTUAL => Some((0, Sig(SIGVTALRM as u8))),
        ITIMER_PROF => Some((1, Sig(SIGPROF as u8))),
        _ => None,
    }
}

/// A clock tick charged to the running LWP (in the clock interrupt, under its `lwp`
/// structure's lock): its timers count it down — the virtual one only for a tick
/// of user time. Returns the signals of those that ran out (each is reloaded with
/// its interval, or stops).
pub(crate) fn itimer_tick(timers: &mut [ITimerVal; NITIMER], from_user: bool) -> SigSet {
    let ns = tick_ns();
    let mut fired = SigSet::EMPTY;
    for which in [ITIMER_VIRTUAL, ITIMER_PROF] {
        let Some((i, sig)) = lwp_timer(which) else { continue };
        let t = &mut timers[i];
        if t.it_value == 0 || (which == ITIMER_VIRTUAL && !from_user) {
            continue;
        }
        if t.it_value > ns {
            t.it_value -= ns;
        } else {
            t.it_value = t.it_interval;
            fired = fired.with(sig);
        }
    }
    fired
}

/// The running LWP's timers that ran out signal it (in the clock interrupt, with
/// no lock held).
pub(crate) fn itimer_expired(sigs: SigSet) {
    if sigs.is_empty() {
        return;
    }
    let (Some(lwp), Some(p)) = (curlwp(), curproc()) else { return };
    for sig in sigs.iter() {
        post(p, p.pid(), Post::Lwp(lwp.id()), sig, SigInfo::bare(sig));
    }
}

/// `getitimer(which)`: the timer's interval and the time left before it runs out
/// (0: disarmed), in nanoseconds.
///
/// Errors: `EINVAL` for an unknown timer, or in a kernel thread.
pub fn getitimer(which: u64) -> Result<ITimerVal, Errno> {
    let p = curproc().ok_or(Errno::EINVAL)?;
    if which == ITIMER_REAL {
        return Ok(real_get(&p.p_lock.lock()));
    }
    let (i, _) = lwp_timer(which).ok_or(Errno::EINVAL)?;
    curlwp().and_then(|l| l.with_data(|d| d.lwp_itimer[i])).ok_or(Errno::EINVAL)
}

/// `setitimer(which, v)`: arms timer `which` to run out in `v.it_value`
/// nanoseconds (0: disarms it) and then every `v.it_interval` (0: once); returns
/// the timer as it was. Times are rounded up to clock ticks.
///
/// Errors: `EINVAL` for an unknown timer, or in a kernel thread.
pub fn setitimer(which: u64, v: ITimerVal) -> Result<ITimerVal, Errno> {
    let p = curproc().ok_or(Errno::EINVAL)?;
    if which == ITIMER_REAL {
        let mut ps = p.p_lock.lock();
        let old = real_get(&ps);
        real_set(p, &mut ps, v);
        return Ok(old);
    }
    let (i, _) = lwp_timer(which).ok_or(Errno::EINVAL)?;
    let lwp = curlwp().ok_or(Errno::EINVAL)?;
    lwp.with_data(|d| core::mem::replace(&mut d.lwp_itimer[i], v)).ok_or(Errno::EINVAL)
}

/// `alarm(secs)`: SIGALRM for the process in `secs` seconds (0: none); returns the
/// seconds that were left of the previous alarm, rounded up.
pub fn alarm(secs: u64) -> Result<u64, Errno> {
    let v = ITimerVal { it_interval: 0, it_value: secs.saturating_mul(NANOSEC) };
    let old = setitimer(ITIMER_REAL, v)?;
    Ok(old.it_value.div_ceil(NANOSEC))
}
