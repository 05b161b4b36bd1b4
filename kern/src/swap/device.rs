//! The swap device: the machine's disk (`arch::blk`) cut into slots, the map of
//! free slots, and transfers of one slot at a time.
//!
//! A slot is [`SLOT_SECTORS`] sectors, room for one `lwp` structure's image. The
//! map is a bitmap made at boot, under a `DispLock`: taking or freeing a slot
//! allocates nothing and never sleeps. Transfers go through one buffer, also made at
//! boot, and one at a time (the `IO` mutex, a blocking lock: its holder sleeps while
//! the disk works): swapping needs no memory for its I/O, which matters most when
//! memory is short. A transfer is handed to the machine and the caller sleeps until
//! the disk's interrupt (`blk_intr`) says a transfer finished; a timed sleep, so that
//! a lost interrupt costs time, never a hang.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use arch::{BlkBuf, BlkError, BlkOp, BlkRequest, Machine, SECTOR_SIZE};

use super::image;
use crate::displock::DispLock;
use crate::sync::Mutex;
use crate::{sleepq, M};

/// Sectors of a slot.
pub const SLOT_SECTORS: usize = 8;
/// Bytes of a slot.
pub const SLOT_SIZE: usize = SLOT_SECTORS * SECTOR_SIZE;
const _: () = assert!(image::IMAGE_MAX <= SLOT_SIZE, "an lwp structure's image outgrew its slot");

/// Slots at most, whatever the disk's size (the map stays small).
const MAX_SLOTS: u64 = 1 << 16;

/// The free slots: bit `i` of the map set means slot `i` is in use.
struct SlotMap {
    map: Vec<u64>,
    nslots: u32,
    used: u32,
    /// Where the last search stopped: the next one starts there.
    hint: usize,
}

static SLOTS: DispLock<SlotMap> =
    DispLock::new(SlotMap { map: Vec::new(), nslots: 0, used: 0, hint: 0 });

/// The one transfer buffer, and the right to use the disk.
static IO: Mutex<Option<BlkBuf>> = Mutex::new(None);

/// Disk interrupts taken: a waiter for a transfer sleeps until this moves.
static IO_DONE: AtomicU64 = AtomicU64::new(0);
/// Transfers made, by direction.
pub(super) static READS: AtomicU64 = AtomicU64::new(0);
pub(super) static WRITES: AtomicU64 = AtomicU64::new(0);

/// Slots the map hands out at most, and transfers still to fail as if the disk
/// had failed them: what the self-tests of a full device and of I/O errors set
/// (`swap::limit_slots`, `swap::inject_io_errors`) on disks that never fill or fail.
pub(super) static SLOT_LIMIT: AtomicU32 = AtomicU32::new(u32::MAX);
pub(super) static FAIL_WRITES: AtomicU32 = AtomicU32::new(0);
pub(super) static FAIL_READS: AtomicU32 = AtomicU32::new(0);

/// How long a waiter for a transfer sleeps before it looks again anyway.
const IO_POLL_TICKS: u64 = 10;

/// Makes the device of the machine's disk, if it has one; returns its slots.
/// At boot, before any swapping.
pub(super) fn init() -> Option<u32> {
    let sectors = M::blk_sectors()?;
    let nslots = (sectors / SLOT_SECTORS as u64).min(MAX_SLOTS) as u32;
    if nslots == 0 {
        return None;
    }
    let words = (nslots as usize).div_ceil(64);
    let mut map = Vec::new();
    map.try_reserve_exact(words).ok()?;
    map.resize(words, 0);
    let buf = BlkBuf::try_new(SLOT_SECTORS).ok()?;
    let old = core::mem::replace(&mut *SLOTS.lock(), SlotMap { map, nslots, used: 0, hint: 0 });
    drop(old);
    *IO.lock() = Some(buf);
    Some(nslots)
}

/// A free slot, taken; `None` if the device is full (or there is none).
pub(super) fn slot_alloc() -> Option<u32> {
    let mut s = SLOTS.lock();
    if s.used >= SLOT_LIMIT.load(Ordering::Relaxed) {
        return None;
    }
    let words = s.map.len();
    for k in 0..words {
        let i = (s.hint + k) % words;
        let w = s.map[i];
        if w == u64::MAX {
            continue;
        }
        let bit = (!w).trailing_zeros() as usize;
        let slot = (i * 64 + bit) as u32;
        if slot >= s.nslots {
            continue;
        }
        s.map[i] |= 1 << bit;
        s.used += 1;
        s.hint = i;
        return Some(slot);
    }
    None
}

/// Gives slot `slot` back.
pub(super) fn slot_free(slot: u32) {
    let mut s = SLOTS.lock();
    let (i, bit) = (slot as usize / 64, slot % 64);
    if let Some(w) = s.map.get_mut(i) {
        if *w & (1 << bit) != 0 {
            *w &= !(1 << bit);
            s.used -= 1;
        }
    }
}

/// (slots in use, slots).
pub(super) fn slots() -> (u32, u32) {
    let s = SLOTS.lock();
    (s.used, s.nslots)
}

/// For the debugger, which must not wait for a lock: [`slots`], `None` if the map
/// is locked.
pub(super) fn peek_slots() -> Option<(u32, u32)> {
    let s = crate::displock::peek(&SLOTS)?;
    Some((s.used, s.nslots))
}

/// The disk's interrupt: a transfer finished; its waiter looks.
pub(super) fn io_done() {
    IO_DONE.fetch_add(1, Ordering::SeqCst);
    sleepq::wakeup(io_chan());
}

fn io_chan() -> usize {
    &IO_DONE as *const AtomicU64 as usize
}

/// The disk, for one caller at a time, with the transfer buffer.
pub(super) struct Io<'a> {
    buf: crate::sync::MutexGuard<'a, Option<BlkBuf>>,
}

/// Runs `f` with the disk; `None` if there is no swap device.
pub(super) fn with_io<R>(f: impl FnOnce(&mut Io<'_>) -> R) -> Option<R> {
    let buf = IO.lock();
    buf.is_some().then(|| f(&mut Io { buf }))
}

impl Io<'_> {
    /// The transfer buffer: one slot.
    pub(super) fn buf(&mut self) -> &mut [u8] {
        match self.buf.as_mut() {
            Some(b) => b.bytes_mut(),
            None => &mut [],
        }
    }

    /// Reads or writes slot `slot` from or to the buffer, sleeping until the disk
    /// is done. This module is the kernel's one user of the disk, one transfer at a
    /// time: the transfer the machine hands back is this one.
    pub(super) fn transfer(&mut self, op: BlkOp, slot: u32) -> Result<(), BlkError> {
        let injected = match op {
            BlkOp::Read => &FAIL_READS,
            BlkOp::Write => &FAIL_WRITES,
        };
        if injected.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok()
        {
            return Err(BlkError::Io);
        }
        let buf = self.buf.take().ok_or(BlkError::NoDevice)?;
        let sector = u64::from(slot) * SLOT_SECTORS as u64;
        if let Err((req, e)) = M::blk_submit(BlkRequest { op, sector, buf, tag: u64::from(slot) }) {
            *self.buf = Some(req.buf);
            return Err(e);
        }
        match op {
            BlkOp::Read => READS.fetch_add(1, Ordering::Relaxed),
            BlkOp::Write => WRITES.fetch_add(1, Ordering::Relaxed),
        };
        loop {
            let seen = IO_DONE.load(Ordering::SeqCst);
            if let Some(done) = M::blk_reap() {
                debug_assert_eq!(done.tag, u64::from(slot), "another transfer's completion");
                *self.buf = Some(done.buf);
                return done.result;
            }
            sleepq::sleep_timed(
                io_chan(),
                || IO_DONE.load(Ordering::SeqCst) != seen,
                IO_POLL_TICKS,
            );
        }
    }
}
