//! The simulated disk: the block device of the host simulation (`crate::blk`), with
//! a latency per transfer and I/O errors injected by chance.
//!
//! A boot has a disk when [`super::SimConfig::disk`] says so: `sectors` of host
//! memory (not the simulated kernel heap's), zeroed at boot. A transfer submitted
//! now completes `latency` later — virtual time in the seeded mode, host time in the
//! parallel one — when its data moves and CPU 0 takes the disk's interrupt
//! (`Upcalls::blk_intr`): at a scheduling point of the seeded mode (`det`), from the
//! clock thread in the parallel one (`intr`). Latencies and faults are drawn from a
//! PRNG seeded with the run's seed (seeded mode) or [`DiskConfig::seed`]: in the
//! seeded mode they are part of the run, and replay with it.
//!
//! Faults ([`DiskFaults`], chances out of 1000 per transfer) are those the kernel's
//! swap layer must survive: a read that fails; a read that succeeds with one byte
//! changed (what a checksum must catch); a write that fails after writing only some
//! of its sectors (a torn slot); and a write reported done that never reached the
//! disk (a stale slot).
//!
//! Nothing is allocated once the disk is made: the queues have room for
//! [`QUEUE_DEPTH`] transfers, and a submit beyond that is refused (`Busy`). The
//! queues are behind a host lock, taken with the CPU's interrupts off (or from the
//! clock thread), never across a scheduling point.

use std::collections::VecDeque;
use std::vec::Vec;

use crate::blk::{BlkDone, BlkError, BlkOp, BlkRequest, SECTOR_SIZE};

/// Transfers the disk holds at once, in flight or finished and not yet reaped.
pub const QUEUE_DEPTH: usize = 16;

/// Chances, out of 1000 per transfer, of each kind of fault.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskFaults {
    /// A read fails (`BlkError::Io`).
    pub read_error: u32,
    /// A read succeeds with one byte of its buffer changed.
    pub read_corrupt: u32,
    /// A write fails after writing only its first sectors (none, if it has one).
    pub write_torn: u32,
    /// A write is reported done and never reaches the disk.
    pub write_lost: u32,
}

/// A simulated disk, as [`super::SimConfig::disk`] asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskConfig {
    /// Its size in sectors of `SECTOR_SIZE` bytes.
    pub sectors: u64,
    /// The shortest and longest time a transfer takes, in nanoseconds.
    pub latency_ns: (u64, u64),
    /// How often it fails, by kind (none by default).
    pub faults: DiskFaults,
    /// The PRNG's seed in the parallel mode (the seeded mode uses the run's).
    pub seed: u64,
}

impl DiskConfig {
    /// A disk of `sectors` sectors, 50 to 200 µs a transfer, no faults.
    pub fn new(sectors: u64) -> DiskConfig {
        DiskConfig {
            sectors,
            latency_ns: (50_000, 200_000),
            faults: DiskFaults::default(),
            seed: 1,
        }
    }
}

/// What the disk did: for tests and reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Transfers completed, by direction.
    pub reads: u64,
    /// See `reads`.
    pub writes: u64,
    /// Faults injected, of every kind.
    pub faults: u64,
}

/// What becomes of one transfer, drawn when it is submitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Done,
    ReadError,
    ReadCorrupt(usize),
    WriteTorn,
    WriteLost,
}

struct Queued {
    due: u64,
    req: BlkRequest,
    fate: Fate,
}

struct State {
    data: Vec<u8>,
    rng: u64,
    /// In flight, in the order submitted.
    inflight: Vec<Queued>,
    done: VecDeque<BlkDone>,
    stats: DiskStats,
}

/// A boot's disk.
pub(super) struct Disk {
    config: DiskConfig,
    state: spin::Mutex<State>,
}

impl Disk {
    /// The disk `config` describes; `seed` is the PRNG's.
    pub(super) fn new(config: DiskConfig, seed: u64) -> Disk {
        let bytes = usize::try_from(config.sectors)
            .ok()
            .and_then(|n| n.checked_mul(SECTOR_SIZE))
            .expect("sim: a disk too big for the host");
        let mut s = seed;
        Disk {
            config,
            state: spin::Mutex::new(State {
                data: std::vec![0; bytes],
                rng: super::det::splitmix(&mut s).max(1),
                inflight: Vec::with_capacity(QUEUE_DEPTH),
                done: VecDeque::with_capacity(QUEUE_DEPTH),
                stats: DiskStats::default(),
            }),
        }
    }

    pub(super) fn sectors(&self) -> u64 {
        self.config.sectors
    }

    /// Starts `req` at time `now`; refused if it does not fit or the queue is full.
    /// Call with the CPU's interrupts off.
    pub(super) fn submit(&self, req: BlkRequest, now: u64) -> Result<(), (BlkRequest, BlkError)> {
        if !req.fits(self.config.sectors) {
            return Err((req, BlkError::BadRange));
        }
        let mut st = self.state.lock();
        if st.inflight.len() + st.done.len() >= QUEUE_DEPTH {
            return Err((req, BlkError::Busy));
        }
        let (lo, hi) = self.config.latency_ns;
        let due = now + lo + st.below(hi.saturating_sub(lo) + 1);
        let f = self.config.faults;
        let roll = st.below(1000) as u32;
        let fate = match req.op {
            BlkOp::Read if roll < f.read_error => Fate::ReadError,
            BlkOp::Read if roll < f.read_error + f.read_corrupt => {
                Fate::ReadCorrupt(st.below(req.buf.bytes().len() as u64) as usize)
            }
            BlkOp::Write if roll < f.write_torn => Fate::WriteTorn,
            BlkOp::Write if roll < f.write_torn + f.write_lost => Fate::WriteLost,
            _ => Fate::Done,
        };
        st.inflight.push(Queued { due, req, fate });
        Ok(())
    }

    /// When the next transfer in flight is due, if any.
    pub(super) fn next_due(&self) -> Option<u64> {
        self.state.lock().inflight.iter().map(|q| q.due).min()
    }

    /// Completes every transfer due by `now` (its data moves); returns whether any
    /// was, so that the caller raises the disk's interrupt.
    pub(super) fn complete_due(&self, now: u64) -> bool {
        let mut st = self.state.lock();
        let mut any = false;
        while let Some(i) = st.inflight.iter().position(|q| q.due <= now) {
            let q = st.inflight.remove(i);
            let done = st.transfer(q);
            st.done.push_back(done);
            any = true;
        }
        any
    }

    /// A finished transfer, if any.
    pub(super) fn reap(&self) -> Option<BlkDone> {
        self.state.lock().done.pop_front()
    }

    pub(super) fn stats(&self) -> DiskStats {
        self.state.lock().stats
    }
}

impl State {
    /// xorshift64*.
    fn next(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` not 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Moves a due transfer's data, as its fate says.
    fn transfer(&mut self, q: Queued) -> BlkDone {
        let Queued { mut req, fate, .. } = q;
        let at = req.sector as usize * SECTOR_SIZE;
        let len = req.buf.bytes().len();
        let disk = &mut self.data[at..at + len];
        if fate != Fate::Done {
            self.stats.faults += 1;
        }
        let result = match (req.op, fate) {
            (BlkOp::Read, Fate::ReadError) => Err(BlkError::Io),
            (BlkOp::Read, _) => {
                req.buf.bytes_mut().copy_from_slice(disk);
                if let Fate::ReadCorrupt(i) = fate {
                    req.buf.bytes_mut()[i] ^= 0x20;
                }
                Ok(())
            }
            (BlkOp::Write, Fate::WriteLost) => Ok(()),
            (BlkOp::Write, Fate::WriteTorn) => {
                let kept = (len / SECTOR_SIZE / 2) * SECTOR_SIZE;
                disk[..kept].copy_from_slice(&req.buf.bytes()[..kept]);
                Err(BlkError::Io)
            }
            (BlkOp::Write, _) => {
                disk.copy_from_slice(req.buf.bytes());
                Ok(())
            }
        };
        match req.op {
            BlkOp::Read => self.stats.reads += 1,
            BlkOp::Write => self.stats.writes += 1,
        }
        BlkDone::of(req, result)
    }
}
