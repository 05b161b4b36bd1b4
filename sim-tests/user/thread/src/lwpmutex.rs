//! LWP mutexes, the user side (S8, S9 for LWPs): the lock an LWP holds — not a
//! thread: the library's own queue and pool locks, and programs that run LWPs
//! without threads. The word and its kernel calls are the ABI's
//! (`lwp_abi::LwpMutex`, `lwp_mutex_timedlock`, `lwp_mutex_unlock`).
//!
//! Taking a free mutex is one compare-and-swap of 0 to the caller's LWP id, and
//! leaving it one back to 0; the kernel is entered only for a busy one, as its
//! kind says (S9):
//!
//! * [`SyncKind::Spin`]: busy-waits and never sleeps; while the owner's LWP is off
//!   its CPU (`schedctl`'s `sc_state`) the waiter yields its own, so that on one
//!   CPU the owner gets to run and let the mutex go.
//! * [`SyncKind::Block`]: sleeps in the kernel at once, which hands the mutex over
//!   when its owner leaves it.
//! * [`SyncKind::Adaptive`]: spins while the owner's LWP is on a CPU, and sleeps in
//!   the kernel as soon as it is not.
//!
//! It is written against [`LwpSys`] — the word's address, the LWP's system calls
//! and its view of the schedctl pages — so that the host simulation runs this very
//! code, in its user programs, on several CPUs: on QEMU's one CPU an owner is never
//! on a CPU while another LWP runs, and adaptive spinning never happens there.

use lwp_abi::{Errno, LWP_MUTEX_DEAD, LWP_MUTEX_MAGIC, LWP_MUTEX_MAGIC_OFFSET, LWP_MUTEX_WAITERS};

/// What a thread or LWP does when the object it wants is busy (S9), chosen when
/// the object is initialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SyncKind {
    /// Spin while the owner runs on a CPU, else block. The default.
    Adaptive = 0,
    /// Busy-wait until it is released; never sleep.
    Spin = 1,
    /// Sleep until it is released.
    Block = 2,
}

/// An error number as the calls return it.
pub type Error = u64;

/// `errno` of an [`Errno`], as a call returns it.
pub const fn err(e: Errno) -> Error {
    e as u64
}

/// What LWP mutexes need of the machine and the kernel: the word is reached by its
/// user address.
pub trait LwpSys {
    /// The calling LWP's id.
    fn lwp_self() -> u32;
    /// Compare-and-swap of the 32-bit word at `addr`: what it held.
    fn cas(addr: u64, old: u32, new: u32) -> u32;
    /// The 32-bit word at `addr`.
    fn load(addr: u64) -> u32;
    /// Stores the 32-bit word at `addr`.
    fn store(addr: u64, v: u32);
    /// Whether LWP `id` of this process is running on a CPU (its `sc_state`).
    fn on_cpu(id: u32) -> bool;
    /// `lwp_mutex_timedlock(addr, none)`.
    fn timedlock(addr: u64) -> Result<(), Error>;
    /// `lwp_mutex_unlock(addr)`.
    fn unlock(addr: u64) -> Result<(), Error>;
    /// Gives the CPU to another LWP (`yield`).
    fn yield_lwp();
    /// A moment of a spin-wait loop.
    fn pause();
}

/// How a lock went: what its kind made the caller do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Took {
    /// Rounds spun while the mutex was busy.
    pub spins: u32,
    /// It slept in the kernel, which handed it the mutex.
    pub slept: bool,
}

fn owner(w: u32) -> u32 {
    w & !LWP_MUTEX_WAITERS
}

/// `EINVAL` unless the object at `addr` is an initialized, undestroyed LWP mutex.
fn check<S: LwpSys>(addr: u64) -> Result<(), Error> {
    if S::load(addr + LWP_MUTEX_MAGIC_OFFSET) != LWP_MUTEX_MAGIC {
        return Err(err(Errno::EINVAL));
    }
    Ok(())
}

/// Takes the LWP mutex at `addr` for the calling LWP, waiting as `kind` says.
/// Errors: `EINVAL` (not an initialized LWP mutex), `EDEADLK` (the caller holds
/// it), and those of `lwp_mutex_timedlock` (but EINTR: it waits again).
pub fn lock<S: LwpSys>(addr: u64, kind: SyncKind) -> Result<Took, Error> {
    check::<S>(addr)?;
    let me = S::lwp_self();
    let mut took = Took::default();
    loop {
        let w = S::cas(addr, 0, me);
        if w == 0 {
            return Ok(took);
        }
        let o = owner(w);
        if o == me {
            return Err(err(Errno::EDEADLK));
        }
        match kind {
            SyncKind::Block => break,
            SyncKind::Adaptive if !S::on_cpu(o) => break,
            SyncKind::Adaptive => S::pause(),
            SyncKind::Spin if S::on_cpu(o) => S::pause(),
            // The owner's LWP waits for a CPU: give it ours.
            SyncKind::Spin => S::yield_lwp(),
        }
        took.spins += 1;
    }
    // A signal the LWP catches ends the kernel's wait (EINTR) once its handler has
    // run: a mutex is not given up for that, the LWP waits again.
    loop {
        match S::timedlock(addr) {
            Err(e) if e == err(Errno::EINTR) => continue,
            r => r?,
        }
        took.slept = true;
        return Ok(took);
    }
}

/// Takes the LWP mutex at `addr` if it is free: false if busy.
pub fn try_lock<S: LwpSys>(addr: u64) -> Result<bool, Error> {
    check::<S>(addr)?;
    let me = S::lwp_self();
    match S::cas(addr, 0, me) {
        0 => Ok(true),
        w if owner(w) == me => Err(err(Errno::EDEADLK)),
        _ => Ok(false),
    }
}

/// Leaves the LWP mutex at `addr`, through the kernel if LWPs sleep for it.
/// Errors: `EINVAL`, `EPERM` (the caller does not hold it).
pub fn unlock<S: LwpSys>(addr: u64) -> Result<(), Error> {
    check::<S>(addr)?;
    let me = S::lwp_self();
    match S::cas(addr, me, 0) {
        w if w == me => Ok(()),
        w if owner(w) != me => Err(err(Errno::EPERM)),
        _ => S::unlock(addr),
    }
}

/// Destroys the free LWP mutex at `addr`: later calls on it get `EINVAL`.
/// `EBUSY` if it is held.
pub fn destroy<S: LwpSys>(addr: u64) -> Result<(), Error> {
    check::<S>(addr)?;
    if S::load(addr) != 0 {
        return Err(err(Errno::EBUSY));
    }
    S::store(addr + LWP_MUTEX_MAGIC_OFFSET, LWP_MUTEX_DEAD);
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The protocol against a model of the kernel's two calls, one LWP at a time:
    //! the kinds' choices, the errors, and that the kernel is entered only when the
    //! mutex is busy. (Several LWPs on several CPUs: the host simulation's user
    //! programs, `sim-tests/host/tests/user_sim`.)
    use super::*;
    use core::cell::Cell;
    extern crate std;
    use std::thread_local;

    thread_local! {
        static MEM: Cell<[u32; 2]> = const { Cell::new([0, LWP_MUTEX_MAGIC]) };
        static ME: Cell<u32> = const { Cell::new(1) };
        static ON_CPU: Cell<bool> = const { Cell::new(false) };
        static LOG: Cell<[u32; 4]> = const { Cell::new([0; 4]) };
    }

    /// Counts: timedlocks, unlocks, yields, pauses.
    fn log(i: usize) {
        LOG.with(|l| {
            let mut v = l.get();
            v[i] += 1;
            l.set(v)
        })
    }

    struct Model;
    impl LwpSys for Model {
        fn lwp_self() -> u32 {
            ME.with(Cell::get)
        }
        fn cas(addr: u64, old: u32, new: u32) -> u32 {
            MEM.with(|m| {
                let mut v = m.get();
                let was = v[addr as usize / 4];
                if was == old {
                    v[addr as usize / 4] = new;
                    m.set(v);
                }
                was
            })
        }
        fn load(addr: u64) -> u32 {
            MEM.with(|m| m.get()[addr as usize / 4])
        }
        fn store(addr: u64, v: u32) {
            MEM.with(|m| {
                let mut w = m.get();
                w[addr as usize / 4] = v;
                m.set(w)
            })
        }
        fn on_cpu(_: u32) -> bool {
            ON_CPU.with(Cell::get)
        }
        /// The owner (LWP 2) leaves the mutex; the kernel hands it to the caller.
        fn timedlock(_: u64) -> Result<(), Error> {
            log(0);
            Self::store(0, Self::lwp_self());
            Ok(())
        }
        fn unlock(_: u64) -> Result<(), Error> {
            log(1);
            Self::store(0, 0);
            Ok(())
        }
        /// Yielding lets the owner run and leave the mutex.
        fn yield_lwp() {
            log(2);
            Self::store(0, 0);
        }
        /// Spinning: the owner, on its CPU, leaves after a few rounds.
        fn pause() {
            log(3);
            if LOG.with(Cell::get)[3] == 3 {
                Self::store(0, 0);
            }
        }
    }

    fn held_by_2(on_cpu: bool) {
        MEM.with(|m| m.set([2, LWP_MUTEX_MAGIC]));
        ON_CPU.with(|c| c.set(on_cpu));
        LOG.with(|l| l.set([0; 4]));
    }

    fn log_now() -> [u32; 4] {
        LOG.with(Cell::get)
    }

    #[test]
    fn free_mutexes_never_enter_the_kernel() {
        held_by_2(false);
        Model::store(0, 0);
        for kind in [SyncKind::Adaptive, SyncKind::Spin, SyncKind::Block] {
            assert_eq!(lock::<Model>(0, kind), Ok(Took::default()));
            assert_eq!(lock::<Model>(0, kind), Err(err(Errno::EDEADLK)));
            assert_eq!(unlock::<Model>(0), Ok(()));
        }
        assert_eq!(log_now(), [0; 4]);
    }

    #[test]
    fn each_kind_waits_its_way() {
        // Adaptive: spins while the owner runs, then takes it.
        held_by_2(true);
        assert_eq!(lock::<Model>(0, SyncKind::Adaptive), Ok(Took { spins: 3, slept: false }));
        // Adaptive, owner off its CPU: straight to the kernel.
        held_by_2(false);
        assert_eq!(lock::<Model>(0, SyncKind::Adaptive), Ok(Took { spins: 0, slept: true }));
        assert_eq!(log_now(), [1, 0, 0, 0]);
        // Block: the kernel, even with the owner running.
        held_by_2(true);
        assert_eq!(lock::<Model>(0, SyncKind::Block), Ok(Took { spins: 0, slept: true }));
        // Spin, owner off its CPU: yields, never sleeps.
        held_by_2(false);
        assert_eq!(lock::<Model>(0, SyncKind::Spin), Ok(Took { spins: 1, slept: false }));
        assert_eq!(log_now(), [0, 0, 1, 0]);
    }

    #[test]
    fn errors_for_misuse() {
        held_by_2(false);
        assert_eq!(unlock::<Model>(0), Err(err(Errno::EPERM)), "not the owner");
        assert_eq!(destroy::<Model>(0), Err(err(Errno::EBUSY)), "held");
        Model::store(0, 1 | LWP_MUTEX_WAITERS);
        assert_eq!(unlock::<Model>(0), Ok(()));
        assert_eq!(log_now()[1], 1, "waiters: the kernel's unlock");
        assert_eq!(try_lock::<Model>(0), Ok(true));
        assert_eq!(unlock::<Model>(0), Ok(()));
        assert_eq!(destroy::<Model>(0), Ok(()));
        for r in [lock::<Model>(0, SyncKind::Block).map(drop), unlock::<Model>(0)] {
            assert_eq!(r, Err(err(Errno::EINVAL)), "destroyed");
        }
        Model::store(4, 0);
        assert_eq!(try_lock::<Model>(0), Err(err(Errno::EINVAL)), "never initialized");
    }
}
