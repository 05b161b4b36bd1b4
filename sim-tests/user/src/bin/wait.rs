//! `wait`: `_lwp_wait` from user mode (S3, S15): a wait for any LWP returns each
//! departed LWP once; a wait for a given id returns that one, once; waits that
//! could never end fail with EDEADLK (for oneself; for any when no other LWP is
//! left; for an LWP that waits for oneself); an id that names no LWP gives ESRCH.
//!
//! Exit codes: 0 passed; 1 a wait for itself was not EDEADLK; 2 a wait for a
//! nonexistent LWP was not ESRCH; 3 a wait for any with no other LWP was not
//! EDEADLK; 4 a wait for any failed; 5 it returned an unknown or repeated id;
//! 6 a reaped id could be waited for again; 7 a wait by id did not return it;
//! 8 waiting for an LWP that waits for main was neither EDEADLK nor its id; 9
//! main got the id but that LWP's own wait was not EDEADLK; 10 spawn failed.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use lwp_user::errno::{EDEADLK, ESRCH};
use lwp_user::{check, lwp_self, lwp_wait, ok, say, sleep_ms, spawn};

lwp_user::main!(main);

/// What the LWP that waits for main got: 0 not yet, else its error number.
static CYCLE_ERR: AtomicU64 = AtomicU64::new(0);

/// Waits for LWP `main`; records the error (success would be a kernel bug too).
fn wait_for_main(main: u64) {
    let r = lwp_wait(main as u32);
    CYCLE_ERR.store(r.err().unwrap_or(u64::MAX), Relaxed);
}

fn main(_: u64) {
    let me = ok!(10, lwp_self());
    let r = lwp_wait(me);
    check!(1, r == Err(EDEADLK), "lwp_wait(self = {me}) = {r:?}");
    let r = lwp_wait(77);
    check!(2, r == Err(ESRCH), "lwp_wait(77) = {r:?}");
    let r = lwp_wait(0);
    check!(3, r == Err(EDEADLK), "lwp_wait(any) alone = {r:?}");

    // Three LWPs that exit at once, reaped by waits for any: each exactly once.
    let mut ids = [0; 3];
    for id in ids.iter_mut() {
        *id = ok!(10, spawn(|_| {}, 0, 0));
    }
    let mut reaped = [false; 3];
    for _ in 0..3 {
        let gone = ok!(4, lwp_wait(0));
        let i = ids.iter().position(|&id| id == gone);
        check!(
            5,
            i.is_some_and(|i| !reaped[i]),
            "lwp_wait(any) = {gone}; made {ids:?}, reaped {reaped:?}"
        );
        reaped[i.unwrap_or_default()] = true;
    }
    let r = lwp_wait(ids[0]);
    check!(6, r == Err(ESRCH), "lwp_wait({}) after it was reaped = {r:?}", ids[0]);

    // By id: it is still running (asleep) when main starts to wait.
    let id = ok!(10, spawn(sleep_ms, 20, 0));
    let r = lwp_wait(id);
    check!(7, r == Ok(id), "lwp_wait({id}) = {r:?}");

    // A cycle of two waits: whichever of main and the LWP waits second is refused.
    let id = ok!(10, spawn(wait_for_main, u64::from(me), 0));
    sleep_ms(20);
    match lwp_wait(id) {
        // The usual order: the LWP waits for main first (and exit ends it).
        Err(EDEADLK) => {}
        Ok(gone) if gone == id => {
            let e = CYCLE_ERR.load(Relaxed);
            check!(9, e == EDEADLK, "LWP {id} waiting for main got error {e}, main got its id");
        }
        r => check!(8, false, "lwp_wait({id}), an LWP waiting for main, = {r:?}"),
    }
    say!("every wait returned what it should");
}
