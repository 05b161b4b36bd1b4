//! Block I/O: what the machine and the kernel say to each other about the machine's
//! disk, the swap device of S5 (the kernel's `swap` module is its only user).
//!
//! A transfer is a [`BlkRequest`]: read or write whole sectors of [`SECTOR_SIZE`]
//! bytes between the disk and a [`BlkBuf`]. The kernel hands the request to the
//! machine ([`crate::Machine::blk_submit`]), which owns it — buffer included — while
//! the device works on it; the device's completion interrupt calls the kernel's
//! [`crate::Upcalls::blk_intr`], and the kernel takes the finished request back,
//! buffer and result, with [`crate::Machine::blk_reap`]. Nothing is allocated on the
//! way: the buffer travels with the request, so a completion in an interrupt handler
//! needs no memory, and the kernel never lends the machine memory it may free.
//!
//! Two machines implement it: sparc64 drives the `virtio-blk-pci` disk QEMU's sun4u
//! emulates (`sparc64::virtio`), the host simulation a simulated disk with latency
//! in virtual time and injectable I/O errors (`sim::disk`).

use alloc::boxed::Box;
use core::fmt;

use crate::kmem::{self, AllocError};

/// The size of a sector, the unit of every transfer.
pub const SECTOR_SIZE: usize = 512;

/// Which way a transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlkOp {
    /// From the disk into the buffer.
    Read,
    /// From the buffer onto the disk.
    Write,
}

/// Why a transfer was refused or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlkError {
    /// The machine has no disk.
    NoDevice,
    /// The sectors are not all on the disk, or the buffer is not whole sectors.
    BadRange,
    /// The machine has as many transfers in flight as it can take.
    Busy,
    /// The device reported an error: a read's buffer holds nothing useful; a
    /// write may have written some of its sectors and not others.
    Io,
}

impl fmt::Display for BlkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlkError::NoDevice => "no disk",
            BlkError::BadRange => "sectors outside the disk",
            BlkError::Busy => "the disk's queue is full",
            BlkError::Io => "I/O error",
        })
    }
}

/// A buffer of whole sectors for transfers, 16-byte aligned (what DMA engines like).
/// While a transfer of it is in flight it belongs to the machine.
pub struct BlkBuf(Box<[u128]>);

impl BlkBuf {
    /// A zero-filled buffer of `sectors` sectors, or `AllocError`.
    pub fn try_new(sectors: usize) -> Result<BlkBuf, AllocError> {
        let words = sectors.checked_mul(SECTOR_SIZE / 16).ok_or(AllocError)?;
        kmem::try_zeroed_slice(words).map(BlkBuf)
    }

    /// Its length in sectors.
    pub fn sectors(&self) -> usize {
        self.0.len() * 16 / SECTOR_SIZE
    }

    /// Its bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the block is `len * 16` initialised bytes (u128s: no padding), any
        // byte pattern is a valid `u8`, and the slice borrows the box.
        unsafe { core::slice::from_raw_parts(self.0.as_ptr().cast::<u8>(), self.0.len() * 16) }
    }

    /// Its bytes, to write.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`; any bytes written make valid u128s, and the slice
        // borrows the box exclusively.
        unsafe {
            core::slice::from_raw_parts_mut(self.0.as_mut_ptr().cast::<u8>(), self.0.len() * 16)
        }
    }
}

impl fmt::Debug for BlkBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlkBuf({} sectors)", self.sectors())
    }
}

/// A transfer: `buf.sectors()` sectors from `sector` on.
#[derive(Debug)]
pub struct BlkRequest {
    /// A read or a write.
    pub op: BlkOp,
    /// The first sector.
    pub sector: u64,
    /// Where the data comes from or goes to: the machine's until the request
    /// comes back done.
    pub buf: BlkBuf,
    /// The kernel's name for it, given back with its completion.
    pub tag: u64,
}

impl BlkRequest {
    /// Whether the transfer lies on a disk of `sectors` sectors.
    pub fn fits(&self, sectors: u64) -> bool {
        let n = self.buf.sectors() as u64;
        n > 0 && self.sector.checked_add(n).is_some_and(|end| end <= sectors)
    }
}

/// A finished transfer: the request's tag, its buffer back, and how it went.
#[derive(Debug)]
pub struct BlkDone {
    /// The request's tag.
    pub tag: u64,
    /// The request's operation.
    pub op: BlkOp,
    /// The request's buffer, given back (filled, for a read that succeeded).
    pub buf: BlkBuf,
    /// How the transfer went.
    pub result: Result<(), BlkError>,
}

impl BlkDone {
    /// The completion of `req` with `result`.
    pub fn of(req: BlkRequest, result: Result<(), BlkError>) -> BlkDone {
        BlkDone { tag: req.tag, op: req.op, buf: req.buf, result }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_is_whole_zeroed_sectors() {
        let mut b = BlkBuf::try_new(3).expect("memory");
        assert_eq!((b.sectors(), b.bytes().len()), (3, 3 * SECTOR_SIZE));
        assert!(b.bytes().iter().all(|&x| x == 0));
        b.bytes_mut()[1000] = 7;
        assert_eq!(b.bytes()[1000], 7);
    }

    #[test]
    fn a_request_fits_only_inside_the_disk() {
        let req = |sector, n| BlkRequest {
            op: BlkOp::Read,
            sector,
            buf: BlkBuf::try_new(n).expect("memory"),
            tag: 0,
        };
        assert!(req(0, 8).fits(8));
        assert!(!req(1, 8).fits(8));
        assert!(!req(u64::MAX, 1).fits(u64::MAX));
        assert!(!req(0, 0).fits(8), "an empty transfer");
    }
}
