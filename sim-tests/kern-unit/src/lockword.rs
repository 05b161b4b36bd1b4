//! Model checks of the lock-word protocols (`kern::sync::lockword`) with `loom`:
//! every interleaving of a few threads (up to loom's preemption bound) is run,
//! against the same functions the kernel calls. Run with
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p kern-unit --release --lib loom
//! ```
//!
//! The turnstile is modelled by a loom mutex around a FIFO of waiting threads, and
//! blocking by parking until a per-thread "handed the lock" flag is set (the waker
//! sets it, then unparks): the kernel's sleep and `setrun` do the same job. What is
//! checked: mutual exclusion (a non-atomic counter incremented in the critical
//! sections is exact, occupancy never exceeds one writer or zero writers plus
//! readers), no lost wakeup (every thread finishes: a waiter that is never handed
//! the lock would spin forever, which loom reports), and the hand-off invariants
//! the protocol functions assert.

// The model's protected data is a loom `UnsafeCell`, loom's instrument for
// finding data races; reading it needs `unsafe`, here and nowhere else in this crate.
#![allow(unsafe_code)]

use core::sync::atomic::Ordering::{self, Acquire, Relaxed, Release};

use kern::sync::lockword::*;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// The threads of a model; their addresses are what the lock word records.
#[repr(align(8))]
struct Owner(usize);

static OWNERS: [Owner; 4] = [Owner(0), Owner(1), Owner(2), Owner(3)];

/// A lock word on a loom atomic: references are encoded as indices into `OWNERS`.
struct LoomWord(AtomicUsize);

impl LoomWord {
    fn new() -> Self {
        LoomWord(AtomicUsize::new(0))
    }
    fn enc(v: Tagged<Owner>) -> usize {
        match v {
            Tagged::Ref(o, f) => (o.0 + 1) << 3 | f << 1 | 1,
            Tagged::Num(n, f) => n << 3 | f << 1,
        }
    }
    fn dec(w: usize) -> Tagged<Owner> {
        let f = (w >> 1) & 3;
        if w & 1 != 0 {
            Tagged::Ref(&OWNERS[(w >> 3) - 1], f)
        } else {
            Tagged::Num(w >> 3, f)
        }
    }
}

impl Word for LoomWord {
    type Owner = Owner;
    fn load(&self, o: Ordering) -> Tagged<Owner> {
        Self::dec(self.0.load(o))
    }
    fn store(&self, v: Tagged<Owner>, o: Ordering) {
        self.0.store(Self::enc(v), o)
    }
    fn compare_exchange(
        &self,
        c: Tagged<Owner>,
        n: Tagged<Owner>,
        s: Ordering,
        f: Ordering,
    ) -> Result<Tagged<Owner>, Tagged<Owner>> {
        self.0.compare_exchange(Self::enc(c), Self::enc(n), s, f).map(Self::dec).map_err(Self::dec)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Want {
    Mutex,
    Read,
    Write,
}

/// A lock, its turnstile, and what the critical sections observe.
struct Model {
    word: LoomWord,
    /// The turnstile: waiting threads in arrival order (one priority).
    ts: Mutex<Vec<(usize, Want)>>,
    granted: [AtomicBool; 4],
    /// Each thread of the model, to unpark it.
    threads: Mutex<Vec<Option<thread::Thread>>>,
    /// The data the lock protects: loom reports any two accesses not ordered by
    /// the lock's acquire and release (a data race), and the count checks that no
    /// increment was lost.
    counter: UnsafeCell<usize>,
    readers_in: AtomicUsize,
    writers_in: AtomicUsize,
}

impl Model {
    fn new() -> Arc<Model> {
        Arc::new(Model {
            word: LoomWord::new(),
            ts: Mutex::new(Vec::new()),
            granted: [
                AtomicBool::new(false),
                AtomicBool::new(false),
                AtomicBool::new(false),
                AtomicBool::new(false),
            ],
            threads: Mutex::new(vec![None, None, None, None]),
            counter: UnsafeCell::new(0),
            readers_in: AtomicUsize::new(0),
            writers_in: AtomicUsize::new(0),
        })
    }

    /// Makes the current thread model thread `me`.
    fn register(&self, me: usize) {
        self.threads.lock().unwrap()[me] = Some(thread::current());
    }

    /// Blocks: queued under the turnstile lock `q` (already marked), waits to be handed the lock.
    fn block(&self, mut q: loom::sync::MutexGuard<'_, Vec<(usize, Want)>>, me: usize, want: Want) {
        q.push((me, want));
        drop(q);
        while !self.granted[me].load(Acquire) {
            thread::park();
        }
        self.granted[me].store(false, Relaxed);
    }

    fn grant(&self, who: usize) {
        self.granted[who].store(true, Release);
        self.threads.lock().unwrap()[who].as_ref().expect("registered").unpark();
    }

    // -------- mutex, as KMutex::enter / exit do it

    fn mutex_enter(&self, me: usize) {
        let o = &OWNERS[me];
        loop {
            if mutex_try_enter(&self.word, o).is_ok() {
                return;
            }
            let q = self.ts.lock().unwrap();
            match mutex_mark_waiters(&self.word) {
                None => continue,
                Some(owner) => {
                    assert_ne!(owner.0, me, "recursive enter");
                    self.block(q, me, Want::Mutex);
                    assert!(is_writer(self.word.load(Relaxed), o), "woken without the mutex");
                    return;
                }
            }
        }
    }

    fn mutex_exit(&self, me: usize) {
        let o = &OWNERS[me];
        if let Err(v) = mutex_exit_fast(&self.word, o) {
            assert!(is_writer(v, o), "exit by a non-owner: {v:?}");
            let mut q = self.ts.lock().unwrap();
            let next = if q.is_empty() { None } else { Some(q.remove(0).0) };
            mutex_handoff(&self.word, o, next.map(|n| &OWNERS[n]), !q.is_empty());
            if let Some(n) = next {
                self.grant(n);
            }
        }
    }

    // -------- rwlock, as KRwLock does it

    fn rw_enter(&self, me: usize, want: Want) {
        let o = &OWNERS[me];
        let fast = match want {
            Want::Write => rw_try_write(&self.word, o),
            _ => rw_try_read(&self.word),
        };
        if fast.is_ok() {
            return;
        }
        let q = self.ts.lock().unwrap();
        let marked = match want {
            Want::Write => rw_mark_writer(&self.word, o),
            _ => rw_mark_reader(&self.word),
        };
        match marked {
            Marked::Entered => {}
            Marked::Wait(_) => self.block(q, me, want),
        }
    }

    fn rw_handoff_locked(&self, q: &mut Vec<(usize, Want)>, from: Tagged<Owner>, keep: usize) {
        let first_writer = match q.first() {
            Some(&(w, Want::Write)) => Some(&OWNERS[w]),
            _ => None,
        };
        let readers = q.iter().take_while(|(_, w)| *w == Want::Read).count();
        let to = rw_grant(first_writer, readers, q.len(), keep);
        rw_handoff(&self.word, from, to);
        match to {
            Tagged::Ref(w, _) => {
                let (who, _) = q.remove(0);
                assert_eq!(who, w.0);
                self.grant(who);
            }
            Tagged::Num(n, _) => {
                for _ in keep..n {
                    let (who, want) = q.remove(0);
                    assert_eq!(want, Want::Read);
                    self.grant(who);
                }
            }
        }
    }

    fn rw_exit(&self, me: usize) {
        let o = &OWNERS[me];
        let seen = self.word.load(Relaxed);
        match seen {
            Tagged::Ref(..) => {
                if let Err(v) = rw_exit_write_fast(&self.word, o) {
                    assert!(is_writer(v, o));
                    let mut q = self.ts.lock().unwrap();
                    let from = self.word.load(Relaxed);
                    self.rw_handoff_locked(&mut q, from, 0);
                }
            }
            Tagged::Num(..) => {
                if rw_exit_read_fast(&self.word, seen).is_err() {
                    let mut q = self.ts.lock().unwrap();
                    if rw_exit_read_slow(&self.word) {
                        let from = self.word.load(Relaxed);
                        self.rw_handoff_locked(&mut q, from, 0);
                    }
                }
            }
        }
    }

    fn rw_downgrade(&self, me: usize) {
        let o = &OWNERS[me];
        if rw_downgrade_fast(&self.word, o).is_err() {
            let mut q = self.ts.lock().unwrap();
            let from = self.word.load(Relaxed);
            assert!(is_writer(from, o));
            self.rw_handoff_locked(&mut q, from, 1);
        }
    }

    // -------- critical sections

    fn count(&self) -> usize {
        // SAFETY: (a loom model) every thread has been joined.
        self.counter.with(|c| unsafe { *c })
    }

    /// A writer's (or a mutex holder's) critical section. The occupancy counts are
    /// relaxed: they must not order the sections themselves, which is the lock's job.
    fn write_section(&self) {
        assert_eq!(self.writers_in.fetch_add(1, Relaxed), 0, "two writers inside");
        assert_eq!(self.readers_in.load(Relaxed), 0, "a writer inside with readers");
        // SAFETY: (a loom model) loom checks that this access is ordered after every
        // other one by the lock, and fails the model before it happens otherwise.
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
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

#[test]
fn loom_mutex_three_threads_exclusive_and_no_lost_wakeup() {
    model(|| {
        let m = Model::new();
        m.register(0);
        let ts: Vec<_> = (1..3)
            .map(|me| {
                let m = m.clone();
                thread::spawn(move || {
                    m.register(me);
                    m.mutex_enter(me);
                    m.write_section();
                    m.mutex_exit(me);
                })
            })
            .collect();
        m.mutex_enter(0);
        m.write_section();
        m.mutex_exit(0);
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(m.count(), 3);
        assert_eq!(m.word.load(Relaxed), free(), "the mutex is free at the end");
        assert!(m.ts.lock().unwrap().is_empty());
    });
}

#[test]
fn loom_mutex_two_threads_twice() {
    model(|| {
        let m = Model::new();
        m.register(0);
        let t = {
            let m = m.clone();
            thread::spawn(move || {
                m.register(1);
                for _ in 0..2 {
                    m.mutex_enter(1);
                    m.write_section();
                    m.mutex_exit(1);
                }
            })
        };
        for _ in 0..2 {
            m.mutex_enter(0);
            m.write_section();
            m.mutex_exit(0);
        }
        t.join().unwrap();
        assert_eq!(m.count(), 4);
        assert_eq!(m.word.load(Relaxed), free());
    });
}

#[test]
fn loom_rwlock_two_readers_one_writer() {
    model(|| {
        let m = Model::new();
        m.register(0);
        let readers: Vec<_> = (1..3)
            .map(|me| {
                let m = m.clone();
                thread::spawn(move || {
                    m.register(me);
                    m.rw_enter(me, Want::Read);
                    m.read_section();
                    m.rw_exit(me);
                })
            })
            .collect();
        m.rw_enter(0, Want::Write);
        m.write_section();
        m.rw_exit(0);
        for t in readers {
            t.join().unwrap();
        }
        assert_eq!(m.count(), 1);
        assert_eq!(m.word.load(Relaxed), free());
        assert!(m.ts.lock().unwrap().is_empty());
    });
}

#[test]
fn loom_rwlock_two_writers_one_reader() {
    model(|| {
        let m = Model::new();
        m.register(0);
        let others: Vec<_> = [(1, Want::Write), (2, Want::Read)]
            .into_iter()
            .map(|(me, want)| {
                let m = m.clone();
                thread::spawn(move || {
                    m.register(me);
                    m.rw_enter(me, want);
                    if want == Want::Write {
                        m.write_section();
                    } else {
                        m.read_section();
                    }
                    m.rw_exit(me);
                })
            })
            .collect();
        m.rw_enter(0, Want::Write);
        m.write_section();
        m.rw_exit(0);
        for t in others {
            t.join().unwrap();
        }
        assert_eq!(m.count(), 2);
        assert_eq!(m.word.load(Relaxed), free());
    });
}

#[test]
fn loom_rwlock_downgrade_and_upgrade() {
    model(|| {
        let m = Model::new();
        m.register(0);
        let others: Vec<_> = [(1, Want::Read), (2, Want::Write)]
            .into_iter()
            .map(|(me, want)| {
                let m = m.clone();
                thread::spawn(move || {
                    m.register(me);
                    m.rw_enter(me, want);
                    if want == Want::Write {
                        m.write_section();
                    } else {
                        m.read_section();
                    }
                    m.rw_exit(me);
                })
            })
            .collect();
        // Write, downgrade to read, read, then try to upgrade back.
        m.rw_enter(0, Want::Write);
        m.write_section();
        m.rw_downgrade(0);
        m.read_section();
        if rw_try_upgrade(&m.word, &OWNERS[0]) {
            m.write_section();
        }
        m.rw_exit(0);
        for t in others {
            t.join().unwrap();
        }
        assert!(m.count() >= 2);
        assert_eq!(m.word.load(Relaxed), free());
        assert!(m.ts.lock().unwrap().is_empty());
    });
}
