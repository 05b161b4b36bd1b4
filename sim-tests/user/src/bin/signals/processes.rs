//! Signals between processes (checks 13, 14; S15): the target learns the sender's
//! pid and `SI_USER`, nothing of its LWPs, and neither reaches the other's LWPs
//! by id; and the targets of the kernel's own tests (checks 15, 16; S14): LWPs
//! spinning, sleeping and waiting in every way until a signal ends the process.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

use lwp_user::abi::*;
use lwp_user::errno::ESRCH;
use lwp_user::signal::{kill, sigsuspend, sigtimedwait};
use lwp_user::{check, lwp_kill, lwp_wait, ok, spawn, yield_now};

use super::{await_for, block, catch, h_record, nap, ran, set, spin_until_stage, GO, LAST};

// ---- 13, 14: another process (S15) ------------------------------------------------

pub(super) fn target(sender: u64) {
    catch(SIGUSR1, h_record, SA_SIGINFO);
    // LWPs 2 and 3 do not mask it (LWP 1 does, once they are made): either may take it.
    let a = ok!(100, spawn(spin_until_stage, 1, 0));
    let b = ok!(100, spawn(spin_until_stage, 1, 0));
    block(&[SIGUSR1]);
    check!(101, a == 2 && b == 3, "LWPs {a}, {b}");
    // Ready: the sender hears it from this process, as a signal.
    ok!(102, kill(sender, SIGUSR2));
    check!(102, await_for(10_000, || ran() == 1), "nothing from pid {sender}");
    let (code, from, by) =
        (LAST[2].load(SeqCst) as i32, LAST[3].load(SeqCst), LAST[1].load(SeqCst));
    check!(103, code == SI_USER && from == sender, "siginfo: code {code}, pid {from}");
    check!(104, by == 2 || by == 3, "taken by LWP {by}");
    // The sender's _lwp_kill of ids 2 and 3 named nothing here.
    nap(50);
    check!(105, ran() == 1, "{} signals arrived", ran());
    GO.store(1, SeqCst);
}

fn sender_lwp(target: u64) {
    ok!(113, kill(target, SIGUSR1));
}

pub(super) fn sender(target: u64) {
    catch(SIGUSR2, h_record, SA_SIGINFO);
    // The target's LWPs 2 and 3 are no LWPs of this process.
    for id in [2, 3] {
        check!(110, lwp_kill(id, SIGUSR1) == Err(ESRCH), "_lwp_kill({id}) reached something");
    }
    check!(111, await_for(10_000, || ran() == 1), "pid {target} never said it was ready");
    let (code, from) = (LAST[2].load(SeqCst) as i32, LAST[3].load(SeqCst));
    check!(112, code == SI_USER && from == target, "ready from pid {from}, code {code}");
    // Sent by an LWP that is not LWP 1: the target cannot tell.
    let id = ok!(113, spawn(sender_lwp, target, 0));
    ok!(113, lwp_wait(id));
}

// ---- 15, 16: for the kernel's tests ------------------------------------------------

static COUNT: AtomicU64 = AtomicU64::new(0);

fn count_forever(_: u64) {
    loop {
        COUNT.fetch_add(1, SeqCst);
    }
}

fn nap_forever(_: u64) {
    loop {
        nap(10);
    }
}

fn suspend_forever(_: u64) {
    loop {
        sigsuspend(&SigSet::EMPTY);
    }
}

fn timedwait_forever(_: u64) {
    block(&[SIGUSR2]);
    loop {
        let _ = sigtimedwait(&set(&[SIGUSR2]), None);
    }
}

pub(super) fn stop_target() {
    ok!(120, spawn(count_forever, 0, 0));
    ok!(120, spawn(count_forever, 0, 0));
    ok!(120, spawn(nap_forever, 0, 0));
    let _ = lwp_wait(0);
    check!(121, false, "lwp_wait returned");
}

pub(super) fn kill_target() {
    ok!(130, spawn(count_forever, 0, 0));
    ok!(130, spawn(nap_forever, 0, 0));
    ok!(130, spawn(suspend_forever, 0, 0));
    ok!(130, spawn(timedwait_forever, 0, 0));
    ok!(130, spawn(count_forever, 0, LWP_SUSPENDED));
    static WAITER_READY: AtomicBool = AtomicBool::new(false);
    fn waiter(_: u64) {
        WAITER_READY.store(true, SeqCst);
        let _ = lwp_wait(1);
    }
    ok!(130, spawn(waiter, 0, 0));
    while !WAITER_READY.load(SeqCst) {
        ok!(130, yield_now());
    }
    nap_forever(0);
}
