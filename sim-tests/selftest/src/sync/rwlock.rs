//! Reader-writer locks (S8): readers inside together, writers not starved by them,
//! `try_read`/`try_write`, downgrade and upgrade.

use alloc::format;
use core::sync::atomic::Ordering::SeqCst;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize};

use arch::Machine;

use crate::{ensure, ensure_eq, spawn_ts, wait_for, TestResult};
use kern::sync::turnstile::blocked_on;
use kern::sync::{KRwLock, RwLock, RwMode, STATS};
use kern::{clock, sleepq, M};

use super::{measured, reset, sleep_until, spawn_sys, work, DONE, STOP};

static RW: RwLock<u64> = RwLock::new(0);
static RW_INSIDE: AtomicUsize = AtomicUsize::new(0);
static RW_MAX: AtomicUsize = AtomicUsize::new(0);
static RW_BAD: AtomicU64 = AtomicU64::new(0);
static RW_TRIED: AtomicBool = AtomicBool::new(false);

fn overlap_reader(_: usize) {
    let g = RW.read();
    let inside = RW_INSIDE.fetch_add(1, SeqCst) + 1;
    RW_MAX.fetch_max(inside, SeqCst);
    // Never yields: on one CPU another reader gets in only when this one is
    // preempted inside. Stays until two were seen inside and the test thread has
    // tried to write meanwhile.
    let deadline = M::now_ns() + 3_000_000_000;
    while (RW_MAX.load(SeqCst) < 2 || !RW_TRIED.load(SeqCst)) && M::now_ns() < deadline {
        work(50);
    }
    if *g != 7 {
        RW_BAD.fetch_add(1, SeqCst);
    }
    RW_INSIDE.fetch_sub(1, SeqCst);
    drop(g);
    DONE.fetch_add(1, SeqCst);
}

/// Readers hold the lock together: at least two are observed inside at once (on
/// several CPUs, side by side; on one, a reader preempted inside lets the next one
/// in). A writer is kept out while they are in, and gets in after.
pub(super) fn sync_rwlock_readers_overlap() -> TestResult {
    reset();
    RW_INSIDE.store(0, SeqCst);
    RW_MAX.store(0, SeqCst);
    RW_BAD.store(0, SeqCst);
    *RW.write() = 7;
    let n = M::ncpus().max(2) + 1;
    for _ in 0..n {
        spawn_ts("reader", overlap_reader, 0);
    }
    RW_TRIED.store(false, SeqCst);
    let r = wait_for("a reader inside", 5, || RW_INSIDE.load(SeqCst) > 0);
    let refused = RW.try_write().is_none();
    RW_TRIED.store(true, SeqCst);
    r?;
    wait_for("the readers", 10, || DONE.load(SeqCst) == n)?;
    measured!("up to {} readers inside at once", RW_MAX.load(SeqCst));
    ensure!(
        RW_MAX.load(SeqCst) >= 2,
        "readers never overlapped (at most {} inside)",
        RW_MAX.load(SeqCst)
    );
    ensure_eq!(RW_BAD.load(SeqCst), 0);
    ensure!(refused, "try_write succeeded while a reader was inside");
    ensure!(RW.try_write().is_some(), "try_write failed once the readers left");
    ensure!(!RW.raw().read_held() && RW.raw().writer().is_none(), "{:?} still held", RW.raw());
    Ok(())
}

static STREAM: KRwLock = KRwLock::new();
static STREAM_ENTRIES: AtomicU64 = AtomicU64::new(0);
static WRITES: AtomicU64 = AtomicU64::new(0);
static WRITER_SAW_READERS: AtomicU64 = AtomicU64::new(0);
static WRITE_WAIT_TICKS: AtomicU64 = AtomicU64::new(0);

/// Reads in overlapping relays: stays inside until another reader has entered
/// after it (or 3 ticks pass), so that without writer preference the lock would
/// never be free.
fn stream_reader(_: usize) {
    while !STOP.load(SeqCst) {
        STREAM.enter(RwMode::Read);
        let entered = STREAM_ENTRIES.fetch_add(1, SeqCst) + 1;
        RW_INSIDE.fetch_add(1, SeqCst);
        let t0 = clock::lbolt();
        while STREAM_ENTRIES.load(SeqCst) == entered && clock::lbolt() < t0 + 3 {
            sleepq::delay(1);
        }
        RW_INSIDE.fetch_sub(1, SeqCst);
        STREAM.exit();
    }
    DONE.fetch_add(1, SeqCst);
}

fn stream_writer(_: usize) {
    for round in 0..3 {
        let t0 = clock::lbolt();
        STREAM.enter(RwMode::Write);
        WRITE_WAIT_TICKS.fetch_max(clock::lbolt() - t0, SeqCst);
        if RW_INSIDE.load(SeqCst) != 0 {
            WRITER_SAW_READERS.fetch_add(1, SeqCst);
        }
        work(1000);
        WRITES.fetch_add(1, SeqCst);
        STREAM.exit();
        // Let the readers' stream build up again.
        let e = STREAM_ENTRIES.load(SeqCst);
        if round < 2 {
            sleep_until(|| STOP.load(SeqCst) || STREAM_ENTRIES.load(SeqCst) >= e + 4);
        }
    }
    DONE.fetch_add(1, SeqCst);
}

/// A writer is not starved by a stream of readers that always overlap (so the lock
/// is never free of readers by itself): once the writer waits, new readers block
/// behind it, the ones inside drain out, and the writer gets in, three times, each
/// within a few ticks; the readers stream on between the writes.
pub(super) fn sync_rwlock_writer_not_starved() -> TestResult {
    reset();
    RW_INSIDE.store(0, SeqCst);
    STREAM_ENTRIES.store(0, SeqCst);
    WRITES.store(0, SeqCst);
    WRITER_SAW_READERS.store(0, SeqCst);
    WRITE_WAIT_TICKS.store(0, SeqCst);
    let nr = M::ncpus() + 2;
    for _ in 0..nr {
        spawn_ts("stream_reader", stream_reader, 0);
    }
    wait_for("the reader stream", 5, || STREAM_ENTRIES.load(SeqCst) >= 2 * nr as u64)?;
    let s0 = STATS.snapshot();
    spawn_ts("writer", stream_writer, 0);
    let r = wait_for("three writes", 10, || WRITES.load(SeqCst) == 3);
    let entries_at_end = STREAM_ENTRIES.load(SeqCst);
    STOP.store(true, SeqCst);
    let finished = wait_for("the readers and the writer", 10, || DONE.load(SeqCst) == nr + 1);
    r.map_err(|e| {
        format!(
            "{e}: the writer starved ({} writes, {} reader entries)",
            WRITES.load(SeqCst),
            entries_at_end
        )
    })?;
    finished.map_err(|e| format!("{e}: {} of {} done, {:?}", DONE.load(SeqCst), nr + 1, STREAM))?;
    let s = STATS.snapshot().since(&s0);
    measured!(
        "3 writes among {} reader entries, the longest write wait {} ticks, \
         {} readers held off, the writer blocked {} times",
        entries_at_end,
        WRITE_WAIT_TICKS.load(SeqCst),
        s.rw_read_blocks,
        s.rw_write_blocks
    );
    ensure_eq!(WRITER_SAW_READERS.load(SeqCst), 0);
    ensure!(s.rw_read_blocks > 0, "no reader was held off by the waiting writer: {s:?}");
    ensure!(
        s.rw_write_blocks > 0,
        "the writer never had to wait: the readers did not overlap ({s:?})"
    );
    let w = WRITE_WAIT_TICKS.load(SeqCst);
    ensure!(w <= 30, "a write waited {w} ticks");
    Ok(())
}

static DG: RwLock<u64> = RwLock::new(0);
static DG_READER_IN: AtomicBool = AtomicBool::new(false);
static DG_WRITER_IN: AtomicBool = AtomicBool::new(false);
static DG_RESULT: AtomicU8 = AtomicU8::new(0);
static DG_MODE: AtomicU8 = AtomicU8::new(0);

/// Tries the lock from another thread: bit 0 try_read succeeded, bit 1 try_write did.
fn dg_try(_: usize) {
    let mut r = 0;
    if let Some(g) = DG.try_read() {
        drop(g);
        r |= 1;
    }
    if let Some(g) = DG.try_write() {
        drop(g);
        r |= 2;
    }
    DG_RESULT.store(r | 4, SeqCst);
    DONE.fetch_add(1, SeqCst);
}

fn dg_try_from_other() -> Result<u8, alloc::string::String> {
    let d = DONE.load(SeqCst);
    DG_RESULT.store(0, SeqCst);
    spawn_sys("try", dg_try, 0);
    wait_for("the try", 5, || DONE.load(SeqCst) > d)?;
    Ok(DG_RESULT.load(SeqCst) & 3)
}

fn dg_reader(_: usize) {
    let g = DG.read();
    DG_READER_IN.store(true, SeqCst);
    if *g != 1 {
        DG_RESULT.store(99, SeqCst);
    }
    sleep_until(|| STOP.load(SeqCst) || DG_MODE.load(SeqCst) == 1);
    drop(g);
    DG_READER_IN.store(false, SeqCst);
    DONE.fetch_add(1, SeqCst);
}

fn dg_writer(_: usize) {
    let mut g = DG.write();
    DG_WRITER_IN.store(true, SeqCst);
    *g += 1;
    drop(g);
    DONE.fetch_add(1, SeqCst);
}

/// `try_read`/`try_write` from another thread: refused by a writer; a reader lets
/// readers in and keeps writers out. A downgrade lets in the reader that was
/// blocked behind the write hold, not the writer queued after it. An upgrade
/// succeeds for the only reader and fails while another reader is inside.
pub(super) fn sync_rwlock_try_downgrade_upgrade() -> TestResult {
    reset();
    DG_MODE.store(0, SeqCst);
    DG_READER_IN.store(false, SeqCst);
    DG_WRITER_IN.store(false, SeqCst);
    *DG.write() = 0;
    // Write-held: both refused.
    let w = DG.write();
    ensure_eq!(dg_try_from_other()?, 0);
    drop(w);
    // Read-held: readers in, writers out.
    let r = DG.read();
    ensure_eq!(dg_try_from_other()?, 1);
    drop(r);
    ensure_eq!(dg_try_from_other()?, 3);

    // Downgrade with a reader and then a writer blocked behind the write hold.
    let d0 = DONE.load(SeqCst);
    let mut w = DG.write();
    *w = 1;
    let rt = spawn_sys("dg_reader", dg_reader, 0);
    wait_for("the reader to block", 5, || blocked_on(rt) == Some(DG.raw().addr()))?;
    let wt = spawn_sys("dg_writer", dg_writer, 0);
    wait_for("the writer to block", 5, || blocked_on(wt) == Some(DG.raw().addr()))?;
    let r = w.downgrade();
    wait_for("the blocked reader to get in beside the downgraded hold", 5, || {
        DG_READER_IN.load(SeqCst)
    })?;
    ensure!(*r == 1, "the downgraded hold reads {}", *r);
    ensure!(DG.raw().readers() == 2, "{:?}: expected two readers", DG.raw());
    ensure!(
        blocked_on(wt).is_some() && !DG_WRITER_IN.load(SeqCst),
        "the writer got in after a downgrade"
    );
    // Two readers inside (and a writer waiting): no upgrade.
    let r = match r.try_upgrade() {
        Ok(_) => return Err("try_upgrade succeeded with two readers inside".into()),
        Err(r) => r,
    };
    drop(r);
    DG_MODE.store(1, SeqCst);
    wait_for("the reader and the writer", 5, || DONE.load(SeqCst) == d0 + 2)?;
    ensure!(DG_WRITER_IN.load(SeqCst), "the writer never got in");
    ensure!(
        DG_RESULT.load(SeqCst) != 99,
        "the reader let in by the downgrade did not see the write"
    );

    // Upgrade as the only reader.
    let r = DG.read();
    let mut w = match r.try_upgrade() {
        Ok(w) => w,
        Err(_) => return Err("try_upgrade failed for the only reader".into()),
    };
    ensure!(DG.raw().write_held(), "upgraded, but not write-held by this thread");
    *w = 5;
    ensure_eq!(dg_try_from_other()?, 0);
    let r = w.downgrade();
    ensure_eq!(*r, 5);
    ensure_eq!(dg_try_from_other()?, 1);
    drop(r);
    ensure!(!DG.raw().read_held() && DG.raw().writer().is_none(), "{:?} still held", DG.raw());
    Ok(())
}
