//! The dispatcher's data (S6, S7): a CPU's dispatch queue (`kern::dispq`) and the
//! scheduling classes (`kern::class`).

use kern::class::{
    ts_dptbl, ts_dptbl_default, ts_dptbl_set, SchedClass, TsDpEnt, NPRI, TS_MAXPRI, TS_NLEVELS,
};
use kern::dispq::DispQ;
use kern::errno::Errno;
use kern::thread::KThread;

/// A thread structure that is only queued, never run, at priority `pri` of `class`.
fn thread(class: SchedClass, pri: u8) -> &'static KThread {
    let t: &'static KThread = Box::leak(Box::new(KThread::boot("q")));
    t.set_class(class, pri);
    t
}

/// Thread structures that are only queued, never run.
fn threads(pris: &[u8]) -> Vec<&'static KThread> {
    pris.iter().map(|&p| thread(SchedClass::Ts, p)).collect()
}

fn drain(q: &mut DispQ) -> Vec<u8> {
    core::iter::from_fn(|| q.take_best()).map(|t| t.pri()).collect()
}

#[test]
fn highest_priority_first_fifo_within_a_priority() {
    let ts = threads(&[10, 50, 10, 0, 50, 59]);
    let mut q = DispQ::new();
    for t in &ts {
        q.push(t, false);
    }
    assert_eq!(q.maxpri(), Some(59));
    let order: Vec<_> = core::iter::from_fn(|| q.take_best()).collect();
    let expect = [5, 1, 4, 0, 2, 3];
    for (got, want) in order.iter().zip(expect) {
        assert!(core::ptr::eq(*got, ts[want]), "wrong order");
    }
    assert_eq!(q.len(), 0);
    assert_eq!(q.maxpri(), None);
    // Each thread taken is marked off every queue: it can be queued again (one
    // still marked cannot: `a_thread_cannot_be_queued_twice`).
    for t in &ts {
        q.push(t, false);
    }
    assert_eq!(q.len(), ts.len());
}

#[test]
fn maxpri_from_answers_only_at_or_above_its_floor() {
    let mut q = DispQ::new();
    assert_eq!(q.maxpri_from(0), None, "an empty queue has nothing at any floor");
    for t in threads(&[0, 30]) {
        q.push(t, false);
    }
    assert_eq!(q.maxpri_from(0), Some(30));
    assert_eq!(q.maxpri_from(30), Some(30), "a floor at the best priority takes it");
    assert_eq!(q.maxpri_from(31), None, "a floor above the best priority does not");
    q.take_best();
    assert_eq!(q.maxpri_from(1), None, "priority 0 waits below a floor of 1");
    assert_eq!(q.maxpri_from(0), Some(0));
}

#[test]
fn front_insertion_and_removal_keep_lists_and_bitmap_right() {
    let ts = threads(&[20, 20, 20, 40]);
    let mut q = DispQ::new();
    q.push(ts[0], false);
    q.push(ts[1], false);
    q.push(ts[2], true); // preempted: back to the front
    q.push(ts[3], false);
    assert!(q.remove(ts[0]), "the middle of a list");
    assert!(!q.remove(ts[0]), "removed twice");
    assert!(q.remove(ts[3]), "the only one of its priority");
    assert_eq!(q.maxpri(), Some(20), "bitmap bit of priority 40 cleared");
    let first = q.take_best().unwrap();
    assert!(core::ptr::eq(first, ts[2]));
    assert!(core::ptr::eq(q.take_best().unwrap(), ts[1]));
    assert_eq!(drain(&mut q), Vec::<u8>::new());
}

#[test]
fn take_by_predicate_and_priority_changes_while_queued() {
    let ts = threads(&[5, 30, 30]);
    let mut q = DispQ::new();
    for t in &ts {
        q.push(t, false);
    }
    ts[1].set_bound(Some(3));
    let stolen = q.take(|t| t.bound_cpu().is_none()).unwrap();
    assert!(core::ptr::eq(stolen, ts[2]), "skips the bound thread, best first");
    // A priority that changes while queued (an inherited one): the thread is
    // still found.
    ts[1].set_epri_raw(Some(55));
    assert_eq!(ts[1].pri(), 55);
    assert!(q.remove(ts[1]));
    assert_eq!(drain(&mut q), vec![5]);
}

/// The highest priority queued is found whatever the bitmap holds: whenever the
/// highest list empties, the queue finds the next one from the highest bit set in
/// a word of its bitmap (`highest_bit`: SPARC V9 has no instruction for it).
#[test]
fn the_highest_priority_is_found_in_any_bitmap() {
    // One thread at every priority, in the class that has it.
    let classes = [SchedClass::Ts, SchedClass::Sys, SchedClass::Rt];
    let at: Vec<&'static KThread> = (0..NPRI as u8)
        .map(|p| thread(*classes.iter().find(|c| c.range().contains(&p)).unwrap(), p))
        .collect();
    let mut q = DispQ::new();
    // Queues the priorities of `set` (bit `p % 64` of word `p / 64`) and takes them
    // back: each must be the highest then.
    let mut check = |set: [u64; 3]| {
        let pris: Vec<usize> = (0..NPRI).filter(|&p| set[p / 64] >> (p % 64) & 1 != 0).collect();
        for &p in &pris {
            q.push(at[p], false);
        }
        for &p in pris.iter().rev() {
            assert_eq!(q.maxpri(), Some(p as u8), "{set:x?}");
            assert_eq!(q.take_best().map(|t| t.pri()), Some(p as u8), "{set:x?}");
        }
        assert_eq!(q.maxpri(), None);
    };
    let top = NPRI - 1;
    for b in 0..top {
        // Once the top is taken: `b` alone in its word, then every bit up to `b`.
        let mut alone = [0u64; 3];
        let mut below = [0u64; 3];
        for p in [b, top] {
            alone[p / 64] |= 1 << (p % 64);
        }
        for p in (0..=b).chain([top]) {
            below[p / 64] |= 1 << (p % 64);
        }
        check(alone);
        check(below);
    }
    // Bitmaps at random, sparse to dense (a xorshift generator: the same every run).
    let mut w = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        w ^= w << 13;
        w ^= w >> 7;
        w ^= w << 17;
        w
    };
    for _ in 0..2_000 {
        let mut set = [next(), next(), next() & ((1 << (NPRI - 128)) - 1)];
        for word in &mut set {
            for _ in 0..next() % 4 {
                *word &= next();
            }
        }
        check(set);
    }
}

#[test]
#[should_panic(expected = "already on a queue")]
fn a_thread_cannot_be_queued_twice() {
    let ts = threads(&[1]);
    let mut q = DispQ::new();
    q.push(ts[0], false);
    q.push(ts[0], false);
}

// The scheduling classes (`kern::class`).

#[test]
fn ts_table_sinks_cpu_hogs_and_raises_sleepers() {
    for pri in 0..=TS_MAXPRI {
        let e = ts_dptbl(pri);
        assert!(e.tqexp <= pri, "quantum expiry never raises ({pri})");
        assert!(e.slpret >= pri && e.slpret <= TS_MAXPRI, "sleep return raises within TS ({pri})");
        assert!(e.quantum >= 2 && e.quantum <= 20);
        if pri > 0 {
            assert!(ts_dptbl(pri - 1).quantum >= e.quantum, "lower priorities get longer quanta");
        }
    }
    assert_eq!(ts_dptbl(59).tqexp, 49);
    assert_eq!(ts_dptbl(0).slpret, 50);
}

/// The table starts as Solaris' default `ts_dptbl` (the rows `ts_dptbl(4)`
/// documents, at the edges of its bands).
#[test]
fn ts_table_is_solaris_default() {
    let row = |pri| {
        let e = ts_dptbl_default(pri);
        (e.quantum, e.tqexp, e.slpret, e.maxwait, e.lwait)
    };
    assert_eq!(row(0), (20, 0, 50, 0, 50));
    assert_eq!(row(9), (20, 0, 50, 0, 50));
    assert_eq!(row(10), (16, 0, 51, 0, 51));
    assert_eq!(row(19), (16, 9, 51, 0, 51));
    assert_eq!(row(20), (12, 10, 52, 0, 52));
    assert_eq!(row(30), (8, 20, 53, 0, 53));
    assert_eq!(row(35), (8, 25, 54, 0, 54));
    assert_eq!(row(40), (4, 30, 55, 0, 55));
    assert_eq!(row(45), (4, 35, 56, 0, 56));
    assert_eq!(row(46), (4, 36, 57, 0, 57));
    assert_eq!(row(47), (4, 37, 58, 0, 58));
    assert_eq!(row(48), (4, 38, 58, 0, 58));
    assert_eq!(row(49), (4, 39, 58, 0, 59));
    assert_eq!(row(58), (4, 48, 58, 0, 59));
    assert_eq!(row(59), (2, 49, 59, 32000, 59));
    for pri in 0..=TS_MAXPRI {
        assert_eq!(ts_dptbl(pri), ts_dptbl_default(pri), "row {pri} in use");
    }
}

/// A table with one bad row is refused whole, and nothing of it is used.
#[test]
fn ts_table_refuses_bad_rows() {
    let good: [TsDpEnt; TS_NLEVELS] = core::array::from_fn(|p| ts_dptbl_default(p as u8));
    let bad_rows = [
        TsDpEnt { quantum: 0, ..good[3] },
        TsDpEnt { quantum: -1, ..good[3] },
        TsDpEnt { quantum: TsDpEnt::MAX + 1, ..good[3] },
        TsDpEnt { tqexp: TS_MAXPRI + 1, ..good[3] },
        TsDpEnt { slpret: TS_MAXPRI + 1, ..good[3] },
        TsDpEnt { lwait: u8::MAX, ..good[3] },
        TsDpEnt { maxwait: u16::MAX, ..good[3] },
    ];
    for bad in bad_rows {
        let mut tbl = good;
        tbl[3] = bad;
        assert_eq!(ts_dptbl_set(&tbl), Err(Errno::EINVAL), "{bad:?}");
        assert_eq!(ts_dptbl(3), good[3]);
    }
    // The default table itself is good (setting it changes nothing).
    assert_eq!(ts_dptbl_set(&good), Ok(()));
}

#[test]
fn class_bands_do_not_overlap() {
    let (s, t, r) = (SchedClass::Sys.range(), SchedClass::Ts.range(), SchedClass::Rt.range());
    assert!(t.end() < s.start() && s.end() < r.start());
    assert_eq!(*r.end() as usize, NPRI - 1);
}
