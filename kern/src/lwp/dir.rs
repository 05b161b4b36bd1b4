//! A process's LWP directory (Solaris' `p_lwpdir`): the per-process name space of
//! LWP ids (S15), each LWP's entry, and the counts `lwp_wait` reasons with.
//!
//! # Theory
//!
//! Ids exist only inside their process (S15): two processes have their own LWP 1,
//! and nothing outside a process can name one of its LWPs. The directory is an
//! array of slots, LWP `n` in slot `n - 1`, and the free slots form a list through
//! the slots themselves (as Solaris' `p_lwpfree`): a new LWP takes the head of the
//! list — the slot freed last, or the lowest never used — in a few instructions,
//! whatever the number of LWPs, with no search under the process's lock. An exited
//! LWP keeps its slot (a zombie) until it is waited for, so an id is reused only
//! after its last owner was waited for (or, if detached, has exited).
//!
//! The directory lives in the process's locked state (`ProcState`): every method
//! runs under `p_lock`, a `DispLock`, under which nothing may be allocated. So the
//! array never grows in place: a creator that finds no free slot drops the lock,
//! makes a bigger array ([`LwpDir::room_of`]), and hands it over under the lock
//! ([`LwpDir::adopt`]), which moves the slots without allocating; the old array is
//! freed once the lock is dropped.
//!
//! Every entry carries the unique id of the thread its LWP was made with
//! (`le_gen`), so a waiter that holds on to an id across a stop can tell its LWP
//! from a later one given the same id.

use alloc::vec::Vec;

use super::handle::{Lwp, LwpId};
use crate::errno::Errno;
use crate::proc::Proc;
use crate::thread::KThread;

/// What an LWP waits for in `lwp_wait` (Solaris' `t_waitfor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waitfor {
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
pub struct LwpEnt {
    /// Its thread and `Lwp`; `None` once it has exited: a zombie, until waited for.
    pub le_live: Option<(&'static KThread, &'static Lwp)>,
    /// Which LWP this is, for ever: its thread's unique id when it was made.
    pub le_gen: u64,
    /// Created DETACHED: never waited for, reaped as it exits.
    pub le_detached: bool,
    /// How many LWPs wait for this one by id.
    pub le_waiters: u32,
    /// What this LWP itself waits for.
    pub le_waitfor: Waitfor,
}

/// A slot of the directory.
pub enum Slot {
    /// Free; the next free slot's index plus one (0: the last).
    Free(u32),
    /// An LWP's, live or zombie.
    Used(LwpEnt),
}

/// A process's LWPs, live and zombie, by id.
#[derive(Default)]
pub struct LwpDir {
    /// LWP `n` is in slot `n - 1`; every slot of the array's capacity exists.
    ld_slots: Vec<Slot>,
    /// The first free slot's index plus one (0: none).
    ld_free: u32,
    /// Slots in use.
    ld_used: u32,
    /// Live LWPs (Solaris' `p_lwpcnt`).
    ld_lwpcnt: u32,
    /// Zombie LWPs, exited and not yet waited for (`p_zombcnt`).
    ld_zombcnt: u32,
    /// Live LWPs inside `lwp_wait` (`p_lwpwait`).
    ld_lwpwait: u32,
}

impl LwpDir {
    /// An empty directory, with no slots.
    pub const fn new() -> LwpDir {
        LwpDir {
            ld_slots: Vec::new(),
            ld_free: 0,
            ld_used: 0,
            ld_lwpcnt: 0,
            ld_zombcnt: 0,
            ld_lwpwait: 0,
        }
    }

    /// Live LWPs (Solaris' `p_lwpcnt`).
    pub fn lwpcnt(&self) -> u32 {
        self.ld_lwpcnt
    }

    /// Zombie LWPs, exited and not yet waited for (`p_zombcnt`).
    pub fn zombcnt(&self) -> u32 {
        self.ld_zombcnt
    }

    /// Live LWPs inside `lwp_wait` (`p_lwpwait`).
    pub fn lwpwait(&self) -> u32 {
        self.ld_lwpwait
    }

    /// Entries, live and zombie.
    pub fn len(&self) -> usize {
        self.ld_used as usize
    }

    /// Whether it has no entry, live or zombie.
    pub fn is_empty(&self) -> bool {
        self.ld_used == 0
    }

    /// Every id in the directory, live or zombie, in order, into `out` (as many as
    /// its capacity takes: nothing is allocated under the lock).
    pub fn ids_into(&self, out: &mut Vec<LwpId>) {
        let used = self.ld_slots.iter().enumerate().filter(|(_, s)| matches!(s, Slot::Used(_)));
        for (i, _) in used.take(out.capacity() - out.len()) {
            out.push(LwpId(i as u32 + 1));
        }
    }

    /// Whether a new LWP can be entered now.
    pub fn has_room(&self) -> bool {
        self.ld_free != 0
    }

    /// How many slots the next, bigger array has.
    pub fn room_size(&self) -> usize {
        (self.ld_slots.len() * 2).max(4)
    }

    /// An array of `slots` slots for a directory, made outside the lock (see the
    /// module comment); `ENOMEM` if there is no memory.
    pub fn room_of(slots: usize) -> Result<Vec<Slot>, Errno> {
        let mut v = Vec::new();
        v.try_reserve_exact(slots).map_err(|_| Errno::ENOMEM)?;
        Ok(v)
    }

    /// Moves the directory into `bigger`, allocating nothing; returns the array to
    /// free once the lock is dropped (the old one, or `bigger` if the directory grew
    /// meanwhile and needs it no more).
    pub fn adopt(&mut self, mut bigger: Vec<Slot>) -> Vec<Slot> {
        let old = self.ld_slots.len();
        if self.has_room() || bigger.capacity() <= old {
            return bigger;
        }
        for slot in self.ld_slots.drain(..) {
            bigger.push(slot);
        }
        let cap = bigger.capacity();
        for i in old..cap {
            // The new slots, in order, end the free list (which was empty).
            bigger.push(Slot::Free(if i + 1 < cap { i as u32 + 2 } else { 0 }));
        }
        self.ld_free = old as u32 + 1;
        core::mem::replace(&mut self.ld_slots, bigger)
    }

    /// Enters a new live LWP in the first free slot, which there must be
    /// ([`LwpDir::has_room`]); returns its id.
    pub fn enter(&mut self, t: &'static KThread, lwp: &'static Lwp, detached: bool) -> LwpId {
        let i = self.ld_free.checked_sub(1).expect("an LWP entered in a full directory") as usize;
        let Slot::Free(next) = self.ld_slots[i] else {
            unreachable!("a used slot on the free list")
        };
        self.ld_free = next;
        self.fill(i, t, lwp, detached)
    }

    /// Enters a new live LWP as LWP `id` (a `forkall` copy keeps its parent's id):
    /// `None` if that id is taken or beyond the directory's room. Walks the free
    /// list: for a directory being filled, not for a hot path.
    pub fn enter_as(
        &mut self,
        id: LwpId,
        t: &'static KThread,
        lwp: &'static Lwp,
        detached: bool,
    ) -> Option<LwpId> {
        let want = Self::index(id)?;
        let (mut prev, mut cur) = (None, self.ld_free);
        while let Some(i) = cur.checked_sub(1).map(|i| i as usize) {
            let Slot::Free(next) = self.ld_slots[i] else {
                unreachable!("a used slot on the free list")
            };
            if i == want {
                match prev {
                    None => self.ld_free = next,
                    Some(p) => self.ld_slots[p] = Slot::Free(next),
                }
                return Some(self.fill(i, t, lwp, detached));
            }
            (prev, cur) = (Some(i), next);
        }
        None
    }

    /// Makes free slot `i`, off the free list, LWP `i + 1`'s.
    fn fill(&mut self, i: usize, t: &'static KThread, lwp: &'static Lwp, detached: bool) -> LwpId {
        self.ld_slots[i] = Slot::Used(LwpEnt {
            le_live: Some((t, lwp)),
            le_gen: t.id(),
            le_detached: detached,
            le_waiters: 0,
            le_waitfor: Waitfor::Nothing,
        });
        self.ld_used += 1;
        self.ld_lwpcnt += 1;
        LwpId(i as u32 + 1)
    }

    fn index(id: LwpId) -> Option<usize> {
        (id.0 as usize).checked_sub(1)
    }

    /// The entry of `id`, live or zombie.
    pub fn get(&self, id: LwpId) -> Option<&LwpEnt> {
        match self.ld_slots.get(Self::index(id)?)? {
            Slot::Used(e) => Some(e),
            Slot::Free(_) => None,
        }
    }

    fn get_mut(&mut self, id: LwpId) -> Option<&mut LwpEnt> {
        match self.ld_slots.get_mut(Self::index(id)?)? {
            Slot::Used(e) => Some(e),
            Slot::Free(_) => None,
        }
    }

    /// Frees the slot of `id`: its id is free again.
    fn remove(&mut self, id: LwpId) -> Option<LwpEnt> {
        let i = Self::index(id)?;
        if !matches!(self.ld_slots.get(i), Some(Slot::Used(_))) {
            return None;
        }
        let Slot::Used(e) = core::mem::replace(&mut self.ld_slots[i], Slot::Free(self.ld_free))
        else {
            unreachable!()
        };
        self.ld_free = i as u32 + 1;
        self.ld_used -= 1;
        Some(e)
    }

    /// The thread and `Lwp` of live LWP `id`.
    pub fn live(&self, id: LwpId) -> Option<(&'static KThread, &'static Lwp)> {
        self.get(id).and_then(|e| e.le_live)
    }

    /// Every entry, live and zombie, by id.
    pub fn used(&self) -> impl Iterator<Item = (LwpId, &LwpEnt)> + '_ {
        self.ld_slots.iter().enumerate().filter_map(|(i, s)| match s {
            Slot::Used(e) => Some((LwpId(i as u32 + 1), e)),
            Slot::Free(_) => None,
        })
    }

    /// Every live LWP.
    pub fn live_all(&self) -> impl Iterator<Item = (&'static KThread, &'static Lwp)> + '_ {
        self.used().filter_map(|(_, e)| e.le_live)
    }

    /// Zombies: (id, how many wait for it by id).
    pub fn zombies(&self) -> impl Iterator<Item = (LwpId, u32)> + '_ {
        self.used().filter(|(_, e)| e.le_live.is_none()).map(|(id, e)| (id, e.le_waiters))
    }

    /// LWP `id` has exited: it becomes a zombie, or goes at once if detached.
    /// Returns whether it was the last live LWP.
    pub fn exited(&mut self, id: LwpId) -> bool {
        if let Some(e) = self.get_mut(id) {
            if e.le_detached {
                self.remove(id);
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
    pub fn reap(&mut self, id: LwpId) {
        let Some(e) = self.remove(id) else { return };
        self.ld_zombcnt -= 1;
        if e.le_waiters > 1 {
            for slot in &mut self.ld_slots {
                if let Slot::Used(o) = slot {
                    if o.le_waitfor == Waitfor::Lwp(id) {
                        o.le_waitfor = Waitfor::Gone;
                    }
                }
            }
        }
    }

    /// LWP `me` enters `lwp_wait` for `which` (nothing if it is already counted).
    pub fn wait_begin(&mut self, me: LwpId, which: Waitfor) {
        match self.get_mut(me) {
            Some(e) if e.le_waitfor == Waitfor::Nothing => e.le_waitfor = which,
            _ => return,
        }
        self.ld_lwpwait += 1;
        if let Waitfor::Lwp(target) = which {
            if let Some(t) = self.get_mut(target) {
                t.le_waiters += 1;
            }
        }
    }

    /// LWP `me` leaves `lwp_wait` (or stops inside it: it is not counted while stopped).
    pub fn wait_end(&mut self, me: LwpId) {
        let Some(e) = self.get_mut(me) else { return };
        let was = core::mem::replace(&mut e.le_waitfor, Waitfor::Nothing);
        if was == Waitfor::Nothing {
            return;
        }
        self.ld_lwpwait -= 1;
        if let Waitfor::Lwp(target) = was {
            if let Some(t) = self.get_mut(target) {
                t.le_waiters -= 1;
            }
        }
    }

    /// Empties the directory, giving the whole of it to the caller to drop once the
    /// lock is released: the process itself is becoming a zombie, and its zombie
    /// LWPs go with it.
    pub fn take(&mut self) -> LwpDir {
        core::mem::replace(self, LwpDir::new())
    }
}

/// The thread of LWP `id` of `p` (Solaris' `idtot`), if it is alive.
pub fn idtot(p: &Proc, id: LwpId) -> Option<&'static KThread> {
    p.p_lock.lock().p_lwpdir.live(id).map(|(t, _)| t)
}

/// The `Lwp` of LWP `id` of `p`, if it is alive.
pub fn idtolwp(p: &Proc, id: LwpId) -> Option<&'static Lwp> {
    p.p_lock.lock().p_lwpdir.live(id).map(|(_, l)| l)
}
