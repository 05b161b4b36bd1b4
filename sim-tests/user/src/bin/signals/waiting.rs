//! Calls a signal interrupts, and calls that wait for one (checks 8, 9; S14):
//! EINTR from `nanosleep` and `_lwp_wait`, `SA_RESTART`; `sigsuspend`, and
//! `sigtimedwait` taking a masked signal or timing out.

use lwp_user::abi::*;
use lwp_user::errno::{EAGAIN, EINTR};
use lwp_user::signal::{kill, sigmask, sigqueue, sigsuspend, sigtimedwait};
use lwp_user::{check, clock_ns, lwp_wait, nanosleep, ok, spawn};

use super::{block, catch, h_record, nap, pid, poke_lwp1, ran_by, set, MS};

// ---- 8: EINTR, SA_RESTART ---------------------------------------------------------

fn sleep_then_exit(ms: u64) {
    nap(ms);
}

pub(super) fn eintr() {
    catch(SIGUSR1, h_record, 0);
    let poker = ok!(60, spawn(poke_lwp1, 30, 0));
    let start = ok!(60, clock_ns());
    let r = nanosleep(&Timespec { tv_sec: 5, tv_nsec: 0 });
    let took = ok!(60, clock_ns()) - start;
    check!(61, r == Err(EINTR) && took < 2000 * MS, "nanosleep: {r:?} after {took} ns");
    check!(61, ran_by(1) == 1, "the handler did not run in LWP 1");
    ok!(61, lwp_wait(poker));
    // Without SA_RESTART: _lwp_wait fails with EINTR.
    let sleeper = ok!(62, spawn(sleep_then_exit, 300, 0));
    let poker = ok!(62, spawn(poke_lwp1, 30, 0));
    let r = lwp_wait(sleeper);
    check!(62, r == Err(EINTR) && ran_by(1) == 2, "_lwp_wait: {r:?}");
    ok!(62, lwp_wait(poker));
    ok!(62, lwp_wait(sleeper));
    // With SA_RESTART: restarted after the handler, it waits to its end.
    catch(SIGUSR1, h_record, SA_RESTART);
    let sleeper = ok!(63, spawn(sleep_then_exit, 300, 0));
    let poker = ok!(63, spawn(poke_lwp1, 30, 0));
    let r = lwp_wait(sleeper);
    check!(63, r == Ok(sleeper) && ran_by(1) == 3, "_lwp_wait with SA_RESTART: {r:?}");
    ok!(63, lwp_wait(poker));
}

// ---- 9: sigsuspend, sigtimedwait --------------------------------------------------

fn send_self(sig_ms: u64) {
    nap(sig_ms >> 8);
    ok!(70, kill(pid(), sig_ms & 0xff));
}

pub(super) fn suspend_and_wait() {
    catch(SIGUSR1, h_record, 0);
    block(&[SIGUSR1, SIGUSR2]);
    let sender = ok!(70, spawn(send_self, SIGUSR1 | 30 << 8, 0));
    let e = sigsuspend(&SigSet::EMPTY);
    check!(71, e == EINTR && ran_by(1) == 1, "sigsuspend: {e}, handler runs {}", ran_by(1));
    check!(72, ok!(72, sigmask()) == set(&[SIGUSR1, SIGUSR2]), "the old mask is not back");
    ok!(72, lwp_wait(sender));
    // sigtimedwait takes a masked signal: its handler (the default would end the
    // process) never runs.
    let sender = ok!(73, spawn(send_self, SIGUSR2 | 30 << 8, 0));
    let (sig, info) = ok!(73, sigtimedwait(&set(&[SIGUSR2]), None));
    check!(74, sig == SIGUSR2 && info.si_signo == SIGUSR2 as i32, "took {sig}");
    check!(74, info.si_code == SI_USER && info.si_pid as u64 == pid(), "{info:?}");
    ok!(74, lwp_wait(sender));
    ok!(75, sigqueue(pid(), SIGUSR2, 0x1234));
    let (sig, info) = ok!(75, sigtimedwait(&set(&[SIGUSR2]), None));
    check!(75, sig == SIGUSR2 && info.si_code == SI_QUEUE && info.si_value == 0x1234, "{info:?}");
    let start = ok!(76, clock_ns());
    let r = sigtimedwait(&set(&[SIGUSR2]), Some(&Timespec { tv_sec: 0, tv_nsec: 30 * MS as i64 }));
    let took = ok!(76, clock_ns()) - start;
    check!(76, r.map(|(s, _)| s) == Err(EAGAIN) && took >= 30 * MS, "{r:?} after {took} ns");
    check!(77, ran_by(1) == 1, "a handler ran for a signal taken by sigtimedwait");
}
