//! A process's LWP directory (Solaris' `p_lwpdir`): the per-process name space of
//! LWP ids (S15), each LWP's entry, and the counts `lwp_wait` reasons with.
//!
//! Ids exist only inside their process (S15): two processes have their own LWP 1,
//! and nothing outside a process can name one of its LWPs. A new LWP gets the lowest
//! id not in the directory, and an exited LWP keeps its entry (a zombie) until it is
//! waited for, so an id is reused only after its last owner was waited for (or, if
//! detached, has exited). Solaris hands ids out from a counter that wraps around;
//! lowest-free keeps them small and makes that rule observable.
//!
//! The directory lives in the process's locked state (`ProcState`): every method
//! runs under `p_lock`.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::{Lwp, LwpId};
use crate::thread::KThread;

/// What an LWP waits for in `lwp_wait` (Solaris' `t_waitfor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waitfor {
    /// It is not in `lwp_wait`.
    Nothing,
    /// Any LWP of the process.
    Any,
    /// That LWP.
    Lwp(LwpId),
    /// The LWP it waited for was reaped by another waiter: it gets `ESRCH` (and
    /// never mistakes a new LWP given the same id for the one it wanted).
    Gone,
}

/// One LWP of the process (Solaris' `lwpent_t`).
pub(crate) struct LwpEnt {
    /// Its thread and `Lwp`; `None` once it has exited: a zombie, until waited for.
    pub(crate) le_live: Option<(&'static KThread, &'static Lwp)>,
    /// Created DETACHED: never waited for, reaped as it exits.
    pub(crate) le_detached: bool,
    /// How many LWPs wait for this one by id.
    pub(crate) le_waiters: u32,
    /// What this LWP itself waits for.
    pub(crate) le_waitfor: Waitfor,
}

/// A process's LWPs, live and zombie, by id.
pub(crate) struct LwpDir {
    ld_ents: BTreeMap<LwpId, LwpEnt>,
    /// Live LWPs (Solaris' `p_lwpcnt`).
    ld_lwpcnt: u32,
    /// Zombie LWPs, exited and not yet waited for (`p_zombcnt`).
    ld_zombcnt: u32,
    /// Live LWPs inside `lwp_wait` (`p_lwpwait`).
    ld_lwpwait: u32,
}

impl LwpDir {
    pub(crate) const fn new() -> LwpDir {
        LwpDir { ld_ents: BTreeMap::new(), ld_lwpcnt: 0, ld_zombcnt: 0, ld_lwpwait: 0 }
    }

    pub(crate) fn lwpcnt(&self) -> u32 {
        self.ld_lwpcnt
    }

    pub(crate) fn zombcnt(&self) -> u32 {
        self.ld_zombcnt
    }

    pub(crate) fn lwpwait(&self) -> u32 {
        self.ld_lwpwait
    }

    /// Entries, live and zombie.
    pub(crate) fn len(&self) -> usize {
        self.ld_ents.len()
    }

    /// Every id in the directory, live or zombie, in order.
    pub(crate) fn ids(&self) -> Vec<LwpId> {
        self.ld_ents.keys().copied().collect()
    }

    /// The lowest id not in use.
    pub(crate) fn alloc_id(&self) -> LwpId {
        let mut want = 1;
        for id in self.ld_ents.keys() {
            if id.0 != want {
                break;
            }
            want += 1;
        }
        LwpId(want)
    }

    /// Enters a new live LWP.
    pub(crate) fn enter(
        &mut self,
        id: LwpId,
        t: &'static KThread,
        lwp: &'static Lwp,
        detached: bool,
    ) {
        let e = LwpEnt {
            le_live: Some((t, lwp)),
            le_detached: detached,
            le_waiters: 0,
            le_waitfor: Waitfor::Nothing,
        };
        self.ld_ents.insert(id, e);
        self.ld_lwpcnt += 1;
    }

    pub(crate) fn get(&self, id: LwpId) -> Option<&LwpEnt> {
        self.ld_ents.get(&id)
    }

    /// The thread and `Lwp` of live LWP `id`.
    pub(crate) fn live(&self, id: LwpId) -> Option<(&'static KThread, &'static Lwp)> {
        self.ld_ents.get(&id).and_then(|e| e.le_live)
    }

    /// Every live LWP.
    pub(crate) fn live_all(&self) -> impl Iterator<Item = (&'static KThread, &'static Lwp)> + '_ {
        self.ld_ents.values().filter_map(|e| e.le_live)
    }

    /// Zombies: (id, how many wait for it by id).
    pub(crate) fn zombies(&self) -> impl Iterator<Item = (LwpId, u32)> + '_ {
        self.ld_ents.iter().filter(|(_, e)| e.le_live.is_none()).map(|(&id, e)| (id, e.le_waiters))
    }

    /// LWP `id` has exited: it becomes a zombie, or goes at once if detached.
    /// Returns whether it was the last live LWP.
    pub(crate) fn exited(&mut self, id: LwpId) -> bool {
        if let Some(e) = self.ld_ents.get_mut(&id) {
            if e.le_detached {
                self.ld_ents.remove(&id);
            } else {
                e.le_live = None;
                self.ld_zombcnt += 1;
            }
            self.ld_lwpcnt -= 1;
        }
        self.ld_lwpcnt == 0
    }

    /// Removes zombie `id`, waited for: its id is free again. Whoever else waited
    /// for it by id is told it is gone.
    pub(crate) fn reap(&mut self, id: LwpId) {
        let Some(e) = self.ld_ents.remove(&id) else { return };
        self.ld_zombcnt -= 1;
        if e.le_waiters > 1 {
            for other in self.ld_ents.values_mut().filter(|o| o.le_waitfor == Waitfor::Lwp(id)) {
                other.le_waitfor = Waitfor::Gone;
            }
        }
    }

    /// LWP `me` enters `lwp_wait` for `which` (nothing if it is already counted).
    pub(crate) fn wait_begin(&mut self, me: LwpId, which: Waitfor) {
        match self.ld_ents.get_mut(&me) {
            Some(e) if e.le_waitfor == Waitfor::Nothing => e.le_waitfor = which,
            _ => return,
        }
        self.ld_lwpwait += 1;
        if let Waitfor::Lwp(target) = which {
            if let Some(t) = self.ld_ents.get_mut(&target) {
                t.le_waiters += 1;
            }
        }
    }

    /// LWP `me` leaves `lwp_wait` (or stops inside it: it is not counted while stopped).
    pub(crate) fn wait_end(&mut self, me: LwpId) {
        let Some(e) = self.ld_ents.get_mut(&me) else { return };
        let was = core::mem::replace(&mut e.le_waitfor, Waitfor::Nothing);
        if was == Waitfor::Nothing {
            return;
        }
        self.ld_lwpwait -= 1;
        if let Waitfor::Lwp(target) = was {
            if let Some(t) = self.ld_ents.get_mut(&target) {
                t.le_waiters -= 1;
            }
        }
    }

    /// Forgets every remaining zombie: the process itself is becoming a zombie.
    pub(crate) fn clear(&mut self) {
        *self = LwpDir::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thread::THREAD0;

    fn lwp() -> &'static Lwp {
        alloc::boxed::Box::leak(alloc::boxed::Box::new(Lwp::unused()))
    }

    #[test]
    fn ids_are_lowest_free_and_reused_only_after_reap() {
        let mut d = LwpDir::new();
        for want in 1..=3 {
            let id = d.alloc_id();
            assert_eq!(id, LwpId(want));
            d.enter(id, &THREAD0, lwp(), false);
        }
        assert!(!d.exited(LwpId(2)), "two LWPs are still alive");
        assert_eq!((d.lwpcnt(), d.zombcnt()), (2, 1));
        assert_eq!(d.alloc_id(), LwpId(4), "a zombie keeps its id");
        d.reap(LwpId(2));
        assert_eq!(d.alloc_id(), LwpId(2), "a reaped id is free");
        assert_eq!(d.ids(), [LwpId(1), LwpId(3)]);
    }

    #[test]
    fn detached_lwps_leave_no_zombie_and_waiters_are_counted() {
        let mut d = LwpDir::new();
        d.enter(LwpId(1), &THREAD0, lwp(), false);
        d.enter(LwpId(2), &THREAD0, lwp(), true);
        d.enter(LwpId(3), &THREAD0, lwp(), false);
        assert!(!d.exited(LwpId(2)));
        assert!(
            d.get(LwpId(2)).is_none() && d.zombcnt() == 0,
            "a detached LWP is reaped as it exits"
        );
        d.wait_begin(LwpId(1), Waitfor::Lwp(LwpId(3)));
        d.wait_begin(LwpId(1), Waitfor::Lwp(LwpId(3)));
        assert_eq!((d.lwpwait(), d.get(LwpId(3)).unwrap().le_waiters), (1, 1), "counted once");
        d.wait_end(LwpId(1));
        assert_eq!((d.lwpwait(), d.get(LwpId(3)).unwrap().le_waiters), (0, 0));
        assert!(!d.exited(LwpId(3)));
        assert!(d.exited(LwpId(1)), "the last live LWP");
        assert_eq!(d.zombies().collect::<Vec<_>>(), [(LwpId(1), 0), (LwpId(3), 0)]);
    }
}
