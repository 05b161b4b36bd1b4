//! Callouts: functions the clock calls after a given number of ticks (`timeout`).
//!
//! Pending callouts wait in a list ordered by expiry tick; at each tick CPU 0 runs
//! those that are due, in the clock interrupt, with the list unlocked (a callout may
//! arm another). They must be short: waking a thread is the typical one.

use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::clock;
use crate::displock::DispLock;
use crate::sleepq;
use crate::thread::KThread;

/// Names a pending callout, for [`untimeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalloutId {
    expire: u64,
    id: u64,
}

enum Action {
    Call(fn(usize), usize),
    /// End sleep number `.1` of the thread, if it still goes on.
    Wake(&'static KThread, u64),
}

static CALLOUTS: DispLock<BTreeMap<(u64, u64), Action>> = DispLock::new(BTreeMap::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn arm(ticks: u64, action: Action) -> CalloutId {
    let c = CalloutId {
        expire: clock::lbolt() + ticks.max(1),
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
    };
    CALLOUTS.lock().insert((c.expire, c.id), action);
    c
}

/// Calls `func(arg)` from the clock interrupt in `ticks` ticks (at least one).
pub fn timeout(func: fn(usize), arg: usize, ticks: u64) -> CalloutId {
    arm(ticks, Action::Call(func, arg))
}

/// Cancels a callout; true if it had not run yet.
pub fn untimeout(c: CalloutId) -> bool {
    CALLOUTS.lock().remove(&(c.expire, c.id)).is_some()
}

pub(crate) fn timeout_wake(t: &'static KThread, gen: u64, ticks: u64) {
    arm(ticks, Action::Wake(t, gen));
}

/// Callouts not yet run.
pub fn pending() -> usize {
    CALLOUTS.lock().len()
}

/// Runs every callout due at tick `now` (from the clock interrupt).
pub(crate) fn run(now: u64) {
    loop {
        let due = {
            let mut list = CALLOUTS.lock();
            match list.first_key_value() {
                Some((&(expire, _), _)) if expire <= now => list.pop_first().map(|(_, a)| a),
                _ => None,
            }
        };
        match due {
            Some(Action::Call(f, arg)) => f(arg),
            Some(Action::Wake(t, gen)) => sleepq::timed_out(t, gen),
            None => break,
        }
    }
}
