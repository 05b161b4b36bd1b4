//! LWPs (S3, S15): a process's LWP directory (`kern::lwp::LwpDir`: ids, zombies,
//! waiters), and the wait channels of LWP mutexes.

use kern::lwp::{lwp_mutex_chan_names as chan_names, Lwp, LwpDir, LwpId, Waitfor};
use kern::thread::THREAD0;

fn lwp() -> &'static Lwp {
    Box::leak(Box::new(Lwp::unused()))
}

/// Enters an LWP, growing the directory first if it must.
fn enter(d: &mut LwpDir, detached: bool) -> LwpId {
    if !d.has_room() {
        let room = LwpDir::room_of(d.room_size()).unwrap();
        drop(d.adopt(room));
    }
    d.enter(&THREAD0, lwp(), detached)
}

#[test]
fn ids_are_reused_only_after_reap_most_recent_first() {
    let mut d = LwpDir::new();
    for want in 1..=6 {
        assert_eq!(enter(&mut d, false), LwpId(want), "the lowest never used, growing");
    }
    assert!(!d.exited(LwpId(2)), "five LWPs are still alive");
    assert!(!d.exited(LwpId(5)));
    assert_eq!((d.lwpcnt(), d.zombcnt()), (4, 2));
    assert_eq!(enter(&mut d, false), LwpId(7), "zombies keep their ids");
    d.reap(LwpId(2));
    d.reap(LwpId(5));
    assert_eq!(enter(&mut d, false), LwpId(5), "the id freed last comes first");
    assert_eq!(enter(&mut d, false), LwpId(2));
    let mut ids = Vec::with_capacity(16);
    d.ids_into(&mut ids);
    assert_eq!(ids, (1..=7).map(LwpId).collect::<Vec<_>>());
    let mut two = Vec::with_capacity(2);
    d.ids_into(&mut two);
    assert_eq!(two, [LwpId(1), LwpId(2)], "no more than the capacity given");
}

#[test]
fn a_room_made_for_nothing_is_given_back() {
    let mut d = LwpDir::new();
    enter(&mut d, false);
    let room = LwpDir::room_of(d.room_size()).unwrap();
    let cap = room.capacity();
    let back = d.adopt(room);
    assert_eq!(back.capacity(), cap, "there was room already: the new array comes back");
    assert_eq!(d.get(LwpId(1)).map(|e| e.le_gen), Some(THREAD0.id()));
}

#[test]
fn detached_lwps_leave_no_zombie_and_waiters_are_counted() {
    let mut d = LwpDir::new();
    enter(&mut d, false);
    enter(&mut d, true);
    enter(&mut d, false);
    assert!(!d.exited(LwpId(2)));
    assert!(d.get(LwpId(2)).is_none() && d.zombcnt() == 0, "reaped as it exits");
    d.wait_begin(LwpId(1), Waitfor::Lwp(LwpId(3)));
    d.wait_begin(LwpId(1), Waitfor::Lwp(LwpId(3)));
    assert_eq!((d.lwpwait(), d.get(LwpId(3)).unwrap().le_waiters), (1, 1), "counted once");
    d.wait_end(LwpId(1));
    assert_eq!((d.lwpwait(), d.get(LwpId(3)).unwrap().le_waiters), (0, 0));
    assert!(!d.exited(LwpId(3)));
    assert!(d.exited(LwpId(1)), "the last live LWP");
    assert_eq!(d.zombies().collect::<Vec<_>>(), [(LwpId(1), 0), (LwpId(3), 0)]);
    assert_eq!(d.take().len(), 2);
    assert_eq!(d.len(), 0);
}

// The wait channels of LWP mutexes (`lwp::mutex`).

/// The debugger reads back the pid and the address a channel was made of.
#[test]
fn a_channel_names_its_process_and_address() {
    let chan = (1u64 << 63 | 999_999 << 43 | ((1 << 43) - 4)) as usize;
    assert_eq!(chan_names(chan), (999_999, (1 << 43) - 4));
}
