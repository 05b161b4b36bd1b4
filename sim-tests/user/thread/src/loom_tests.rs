//! Model checks with `loom` of the library's protocols, against the functions the
//! runtime calls (`lockword`, `wait`): every interleaving of a few threads, up to
//! loom's preemption bound. Run with
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p lwp-thread --release loom
//! ```
//!
//! The pool's lock, under which the runtime's slow paths queue and wake threads
//! (`sched::Held`), is a loom mutex around the sleep queue; a thread waits as the
//! runtime's do, by the `wait` protocol: a *bound* thread queues itself
//! `WAITING` and parks until its waker marks it `WOKEN` and unparks it; an
//! *unbound* one commits to switch away (`BLOCKED`) under the lock, and its waker
//! makes it runnable (`RUNNING`, then an unpark) under the lock. What is
//! checked: mutual exclusion (a non-atomic counter in the critical sections,
//! which loom watches for data races, and occupancy counts), hand-offs (a woken
//! waiter owns the lock), no lost wakeup (every thread finishes: one never woken
//! would park for ever, which loom reports), and a semaphore that never admits
//! more than it holds.

extern crate std;

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::vec::Vec;

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize};
use loom::sync::{Arc, Mutex, MutexGuard};
use loom::thread;

use crate::lockword::*;
use crate::wait::{self, Wake};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Want {
    Mutex,
    Read,
    Write,
    Unit,
}

/// Thread `me`'s name in a lock word: an 8-aligned "address".
fn addr(me: usize) -> u64 {
    (me as u64 + 1) * 64
}

type Queue = Vec<(usize, Want)>;

/// One lock (or semaphore), the pool's lock with its sleep queue, and what the
/// critical sections observe.
struct Model {
    bound: bool,
    word: AtomicU64,
    q: Mutex<Queue>,
    state: [AtomicU32; 3],
    threads: Mutex<Vec<Option<thread::Thread>>>,
    waiters: AtomicU64,
    counter: UnsafeCell<usize>,
    readers_in: AtomicUsize,
    writers_in: AtomicUsize,
}

impl Model {
    fn new(bound: bool, word: u64) -> Arc<Model> {
        Arc::new(Model {
            bound,
            word: AtomicU64::new(word),
            q: Mutex::new(Vec::new()),
            state: [AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)],
            threads: Mutex::new(std::vec![None, None, None]),
            waiters: AtomicU64::new(0),
            counter: UnsafeCell::new(0),
            readers_in: AtomicUsize::new(0),
            writers_in: AtomicUsize::new(0),
        })
    }

    fn register(&self, me: usize) {
        self.threads.lock().unwrap()[me] = Some(thread::current());
    }

    fn unpark(&self, t: usize) {
        self.threads.lock().unwrap()[t].as_ref().expect("registered").unpark();
    }

    /// `Held::sleep`: queued under the lock `q`, waits until woken.
    fn sleep(&self, mut q: MutexGuard<'_, Queue>, me: usize, want: Want) {
        q.push((me, want));
        wait::prepare(&self.state[me]);
        if self.bound {
            drop(q);
            while wait::still_waiting(&self.state[me]) {
                thread::park();
            }
        } else {
            let switch = wait::commit(&self.state[me]);
            drop(q);
            if switch {
                // Switched away: runs again once a waker has made it runnable
                // (`Pool::runnable`: `RUNNING` again, and on the run queue).
                while self.state[me].load(Acquire) == wait::BLOCKED {
                    thread::park();
                }
            }
        }
    }

    /// `Held::wake`, under the lock: `t` was taken off the queue. The unpark
    /// comes once the lock is left, as the runtime gives it.
    fn wake(&self, _q: &MutexGuard<'_, Queue>, t: usize) -> Option<usize> {
        match wait::wake(&self.state[t]) {
            Wake::Told if self.bound => Some(t),
            Wake::Told => None,
            Wake::Requeue => {
                self.state[t].store(wait::RUNNING, Release);
                Some(t)
            }
        }
    }

    // -------- mutex, as `sync::Mutex` does it

    fn mutex_lock(&self, me: usize) {
        loop {
            if mutex_try_lock(&self.word, addr(me)).is_ok() {
                return;
            }
            let q = self.q.lock().unwrap();
            if mutex_mark(&self.word) == Marked::Free {
                continue;
            }
            self.sleep(q, me, Want::Mutex);
            assert_eq!(owner(self.word.load(Relaxed)), addr(me), "woken without the mutex");
            return;
        }
    }

    fn mutex_unlock(&self, me: usize) {
        if mutex_unlock_fast(&self.word, addr(me)).is_ok() {
            return;
        }
        let mut q = self.q.lock().unwrap();
        let next = (!q.is_empty()).then(|| q.remove(0).0);
        let more = !q.is_empty();
        mutex_handoff(&self.word, addr(me), next.map_or(0, addr), more).expect("the owner's exit");
        let unpark = next.and_then(|n| self.wake(&q, n));
        drop(q);
        if let Some(t) = unpark {
            self.unpark(t);
        }
    }

    // -------- rwlock, as `sync::RwLock` does it

    fn rw_enter(&self, me: usize, want: Want) {
        let fast = match want {
            Want::Write => rw_try_write(&self.word, addr(me)),
            _ => rw_try_read(&self.word),
        };
        if fast.is_ok() {
            return;
        }
        let q = self.q.lock().unwrap();
        let marked = match want {
            Want::Write => rw_mark_writer(&self.word, addr(me)),
            _ => rw_mark_reader(&self.word),
        };
        if marked == Marked::Free {
            return;
        }
        self.sleep(q, me, want);
    }

    /// A writer that spins instead of queuing (a spin rwlock), wanting the lock.
    fn rw_spin_write(&self, me: usize) {
        while rw_try_write(&self.word, addr(me)).is_err() {
            rw_want_write(&self.word);
            thread::yield_now();
        }
    }

    fn rw_exit(&self, me: usize) {
        let w = self.word.load(Relaxed);
        let reader = writer(w).is_none();
        let fast = if reader {
            rw_exit_read_fast(&self.word)
        } else {
            rw_exit_write_fast(&self.word, addr(me))
        };
        if fast.is_ok() {
            return;
        }
        let mut q = self.q.lock().unwrap();
        let from = if reader {
            if !rw_exit_read_slow(&self.word).expect("read-held") {
                return;
            }
            READER
        } else {
            addr(me) | WRITER
        };
        let first_writer = match q.first() {
            Some(&(w, Want::Write)) => Some(addr(w)),
            _ => None,
        };
        let readers = q.iter().take_while(|(_, w)| *w == Want::Read).count();
        let to = rw_grant(first_writer, readers as u64, q.len() as u64, 0);
        rw_handoff(&self.word, from, to).expect("the holder's exit");
        let granted = if first_writer.is_some() { 1 } else { readers };
        let woken: Vec<_> = (0..granted).map(|_| q.remove(0).0).collect();
        let unparks: Vec<_> = woken.iter().filter_map(|&t| self.wake(&q, t)).collect();
        drop(q);
        for t in unparks {
            self.unpark(t);
        }
    }

    // -------- semaphore, as `sync::Sema` does it

    fn sema_wait(&self, me: usize) {
        if sema_try_p(&self.word) {
            return;
        }
        let q = self.q.lock().unwrap();
        if sema_wait_or_count(&self.word, &self.waiters) {
            return;
        }
        // `post` takes the unit for it and hands it over.
        self.sleep(q, me, Want::Unit);
    }

    fn sema_post(&self) {
        if !sema_v(&self.word, &self.waiters) {
            return;
        }
        let mut q = self.q.lock().unwrap();
        let mut unparks = Vec::new();
        while !q.is_empty() && sema_try_p(&self.word) {
            let (t, _) = q.remove(0);
            self.waiters.fetch_sub(1, SeqCst);
            unparks.extend(self.wake(&q, t));
        }
        drop(q);
        for t in unparks {
            self.unpark(t);
        }
    }

    // -------- critical sections

    fn write_section(&self) {
        assert_eq!(self.writers_in.fetch_add(1, Relaxed), 0, "two writers inside");
        assert_eq!(self.readers_in.load(Relaxed), 0, "a writer inside with readers");
        // SAFETY: (a loom model) loom checks that this access is ordered after every
        // other one by the lock, and fails the model otherwise.
        self.counter.with_mut(|c| unsafe { *c += 1 });
        self.writers_in.fetch_sub(1, Relaxed);
    }

    fn read_section(&self) {
        self.readers_in.fetch_add(1, Relaxed);
        assert_eq!(self.writers_in.load(Relaxed), 0, "a reader inside with a writer");
        // SAFETY: (a loom model) as in `write_section`; readers only read.
        let _ = self.counter.with(|c| unsafe { *c });
        self.readers_in.fetch_sub(1, Relaxed);
    }

    fn count(&self) -> usize {
        // SAFETY: (a loom model) every thread has been joined.
        self.counter.with(|c| unsafe { *c })
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

/// Runs `body(model, me)` in threads 1 and 2 and in the model's main thread (0).
fn three(m: &Arc<Model>, body: fn(&Model, usize)) {
    m.register(0);
    let ts: Vec<_> = (1..3)
        .map(|me| {
            let m = m.clone();
            thread::spawn(move || {
                m.register(me);
                body(&m, me);
            })
        })
        .collect();
    body(m, 0);
    for t in ts {
        t.join().unwrap();
    }
}

fn mutex_round(m: &Model, me: usize) {
    m.mutex_lock(me);
    m.write_section();
    m.mutex_unlock(me);
}

/// Checks `body` in three threads (`three`) on a free lock of `bound` threads or
/// unbound ones: `writes` write sections done and the lock free at the end; then
/// `also` checks what else the test wants of the model.
fn three_on_a_lock(bound: bool, body: fn(&Model, usize), writes: usize, also: fn(&Model)) {
    model(move || {
        let m = Model::new(bound, 0);
        three(&m, body);
        assert_eq!(m.count(), writes);
        assert_eq!(m.word.load(Relaxed), 0, "the lock is free at the end");
        also(&m);
    });
}

/// Takes the rwlock to write (by spinning where `spin`) or to read, runs the
/// section it allows, and leaves.
fn rw_round(m: &Model, me: usize, write: bool, spin: bool) {
    if write && spin {
        m.rw_spin_write(me);
    } else {
        m.rw_enter(me, if write { Want::Write } else { Want::Read });
    }
    if write {
        m.write_section();
    } else {
        m.read_section();
    }
    m.rw_exit(me);
}

#[test]
fn loom_mutex_handoff_bound_threads() {
    three_on_a_lock(true, mutex_round, 3, |_| {});
}

#[test]
fn loom_mutex_handoff_unbound_threads() {
    three_on_a_lock(false, mutex_round, 3, |m| assert!(m.q.lock().unwrap().is_empty()));
}

#[test]
fn loom_rwlock_two_readers_one_writer() {
    three_on_a_lock(true, |m, me| rw_round(m, me, me == 0, false), 1, |_| {});
}

#[test]
fn loom_rwlock_two_writers_one_reader_unbound() {
    three_on_a_lock(false, |m, me| rw_round(m, me, me != 2, false), 2, |_| {});
}

#[test]
fn loom_rwlock_spinning_writer_gets_in() {
    three_on_a_lock(true, |m, me| rw_round(m, me, me == 0, true), 1, |_| {});
}

#[test]
fn loom_semaphore_never_over_admits() {
    for bound in [true, false] {
        model(move || {
            // One unit, three threads: one inside at a time, every one gets in.
            let m = Model::new(bound, 1);
            three(&m, |m, me| {
                m.sema_wait(me);
                m.write_section();
                m.sema_post();
            });
            assert_eq!(m.count(), 3);
            assert_eq!(m.word.load(Relaxed), 1, "the unit is back");
            assert_eq!(m.waiters.load(Relaxed), 0);
        });
    }
}

#[test]
fn loom_wait_protocol_one_side_acts() {
    // The protocol alone, prepare and commit apart: the waker may come before,
    // between or after them. The waiter goes on exactly once.
    model(|| {
        let m = Model::new(false, 0);
        m.register(0);
        let waker = {
            let m = m.clone();
            thread::spawn(move || {
                m.register(1);
                // Takes it off "its queue" only once it is on it.
                while m.waiters.load(Acquire) == 0 {
                    thread::yield_now();
                }
                let q = m.q.lock().unwrap();
                let unpark = m.wake(&q, 0);
                drop(q);
                if let Some(t) = unpark {
                    m.unpark(t);
                }
            })
        };
        wait::prepare(&m.state[0]);
        m.waiters.store(1, Release);
        let q = m.q.lock().unwrap();
        let switch = wait::commit(&m.state[0]);
        drop(q);
        if switch {
            while m.state[0].load(Acquire) == wait::BLOCKED {
                thread::park();
            }
        }
        waker.join().unwrap();
        // Woken first: it never switched; else the waker made it runnable. Either
        // way it runs on, once.
        assert_eq!(m.state[0].load(Relaxed), wait::RUNNING);
    });
}
