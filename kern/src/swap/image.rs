//! The image of an `lwp` structure on the swap device: position-independent bytes
//! (no pointers), a header that names the LWP and the swap-out, and a checksum.
//!
//! Layout, big-endian: the header — [`MAGIC`], the swap-out's sequence number, the
//! thread's unique id, the LWP's id, the payload's length, the frame image's length,
//! the payload's checksum (64-bit FNV-1a) — then the payload: every field of
//! [`LwpData`] but the two links (S5.1–S5.6), then the frame's image (the registers,
//! the count of system calls, the machine's part: sparc64's window buffer). The
//! links (S5.7, S5.8) are made anew from the thread on the way in.
//!
//! [`encode`] takes the structure apart field by field with a destructuring `let`:
//! a field added to `LwpData` does not compile here until the image carries it.
//! [`decode`] refuses what it did not write: another magic, another LWP or swap-out
//! (a stale slot), a checksum that does not match (a torn or damaged one), a
//! length that does not add up.

use alloc::boxed::Box;

use arch::kmem;
use arch::{FrameImageError, UserFrame};

use crate::errno::Errno;
use crate::lwp::data::{
    Eosys, ITimerVal, Link, LwpData, LwpRusage, SigAltStack, SwapRef, MAXSYSARGS, NITIMER,
};
use crate::proc::Proc;
use crate::signal::{SigInfo, SigSet};
use crate::thread::KThread;

/// The first word of every image.
pub const MAGIC: u64 = u64::from_be_bytes(*b"LWPSWAP1");
/// Bytes of the header.
pub const HEADER: usize = 48;
/// The most bytes an image takes: the header, the fields, the frame.
pub const IMAGE_MAX: usize = HEADER + FIELDS_MAX + UserFrame::IMAGE_MAX;
/// The most bytes the fields take (checked by `encode`'s writer).
const FIELDS_MAX: usize = 512;

/// The 64-bit FNV-1a hash of `bytes`: one changed bit changes it.
pub fn checksum(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Writes big-endian words into a buffer.
struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.buf[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }

    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }

    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }

    fn i32(&mut self, v: i32) {
        self.bytes(&v.to_be_bytes());
    }
}

/// Reads what [`Writer`] wrote; `None` past the end.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let b = self.buf.get(self.at..self.at + N)?.try_into().ok()?;
        self.at += N;
        Some(b)
    }

    fn u64(&mut self) -> Option<u64> {
        self.bytes().map(u64::from_be_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.bytes().map(u32::from_be_bytes)
    }

    fn u8(&mut self) -> Option<u8> {
        self.bytes::<1>().map(|b| b[0])
    }

    fn i32(&mut self) -> Option<i32> {
        self.bytes().map(i32::from_be_bytes)
    }
}

/// Who an image is for: the thread (its unique id) and the LWP's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The thread's unique id (`KThread::id`).
    pub tid: u64,
    /// The LWP's id in its process.
    pub lwpid: u32,
}

/// What `encode` wrote: the image's length and the payload's checksum.
pub struct Encoded {
    /// The image's length in bytes, the header's included.
    pub len: u32,
    /// The payload's checksum ([`checksum`]).
    pub sum: u64,
}

/// Writes the image of `d` (owned by `owner`, swap-out number `seq`) into `out`
/// (at least [`IMAGE_MAX`] bytes). `None` if the registers are shared with another
/// handle (the machine's must be taken back first): they could change meanwhile.
pub fn encode(d: &mut LwpData, owner: Owner, seq: u64, out: &mut [u8]) -> Option<Encoded> {
    let LwpData {
        lwp_regs,
        lwp_sysnum,
        lwp_arg,
        lwp_rval,
        lwp_errno,
        lwp_eosys,
        lwp_sigaltstack,
        lwp_cursig,
        lwp_curinfo,
        lwp_sigoldmask,
        lwp_ru,
        lwp_oweupc,
        lwp_itimer,
        lwp_utime,
        lwp_stime,
        lwp_thread: _,
        lwp_procp: _,
    } = d;
    let (header, body) = out.split_at_mut(HEADER);
    let mut w = Writer { buf: body, at: 0 };
    w.u32(*lwp_sysnum);
    lwp_arg.iter().for_each(|&a| w.u64(a));
    lwp_rval.iter().for_each(|&r| w.u64(r));
    w.i32(lwp_errno.map_or(0, Errno::code));
    w.u8(match lwp_eosys {
        Eosys::Normal => 0,
        Eosys::JustReturn => 1,
    });
    let SigAltStack { ss_sp, ss_size, ss_flags } = *lwp_sigaltstack;
    w.u64(ss_sp);
    w.u64(ss_size);
    w.u32(ss_flags);
    w.u8(*lwp_cursig);
    match *lwp_curinfo {
        None => w.u8(0),
        Some(SigInfo { si_signo, si_code, si_errno, si_pid, si_addr, si_value }) => {
            w.u8(1);
            w.u8(si_signo);
            w.i32(si_code);
            w.i32(si_errno);
            w.u32(si_pid);
            w.u64(si_addr);
            w.u64(si_value);
        }
    }
    match *lwp_sigoldmask {
        None => w.u8(0),
        Some(set) => {
            w.u8(1);
            set.words().iter().for_each(|&x| w.u32(x));
        }
    }
    for v in lwp_ru.counts() {
        w.u64(v);
    }
    w.u64(*lwp_oweupc);
    for ITimerVal { it_interval, it_value } in *lwp_itimer {
        w.u64(it_interval);
        w.u64(it_value);
    }
    w.u64(*lwp_utime);
    w.u64(*lwp_stime);
    debug_assert!(w.at <= FIELDS_MAX, "the fields outgrew FIELDS_MAX");
    let fields = w.at;
    let frame_len = lwp_regs.save_image(&mut body[fields..])?;
    let payload = fields + frame_len;
    let sum = checksum(&body[..payload]);
    let mut h = Writer { buf: header, at: 0 };
    h.u64(MAGIC);
    h.u64(seq);
    h.u64(owner.tid);
    h.u32(owner.lwpid);
    h.u32(payload as u32);
    h.u32(frame_len as u32);
    h.u32(0);
    h.u64(sum);
    Some(Encoded { len: (HEADER + payload) as u32, sum })
}

/// Why an image read back was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not an image, or another LWP's or another swap-out's: a stale slot.
    Stale,
    /// The checksum does not match: a torn or damaged slot.
    Damaged,
    /// It says what cannot be.
    Malformed,
    /// No memory for the structure.
    NoMemory,
    /// The disk could not read it.
    Unreadable,
}

/// The `lwp` structure in `image`, which must be the one `r` describes for
/// `owner`, rebuilt for the LWP of `p` on thread `t`.
pub fn decode(
    image: &[u8],
    r: &SwapRef,
    owner: Owner,
    t: &'static KThread,
    p: &'static Proc,
) -> Result<Box<LwpData>, Refused> {
    let mut h = Reader { buf: image, at: 0 };
    let head = (|| Some((h.u64()?, h.u64()?, h.u64()?, h.u32()?, h.u32()?, h.u32()?, h.u32()?)))();
    let sum = h.u64();
    let (Some((magic, seq, tid, lwpid, payload, frame_len, _)), Some(sum)) = (head, sum) else {
        return Err(Refused::Malformed);
    };
    if magic != MAGIC || seq != r.seq || tid != owner.tid || lwpid != owner.lwpid {
        return Err(Refused::Stale);
    }
    let (payload, frame_len) = (payload as usize, frame_len as usize);
    let body = image.get(HEADER..HEADER + payload).ok_or(Refused::Malformed)?;
    if HEADER + payload != r.len as usize || sum != r.sum || checksum(body) != sum {
        return Err(Refused::Damaged);
    }
    let fields = payload.checked_sub(frame_len).ok_or(Refused::Malformed)?;
    let frame = UserFrame::from_image(&body[fields..]).map_err(|e| match e {
        FrameImageError::Malformed => Refused::Malformed,
        FrameImageError::NoMemory => Refused::NoMemory,
    })?;
    let mut rd = Reader { buf: &body[..fields], at: 0 };
    let d = read_fields(&mut rd, frame, t, p).ok_or(Refused::Malformed)?;
    if rd.at != fields {
        return Err(Refused::Malformed);
    }
    kmem::try_box(d).map_err(|_| Refused::NoMemory)
}

/// The fields, in [`encode`]'s order, with the registers `frame` and the links to
/// `t` and `p`.
fn read_fields(
    r: &mut Reader<'_>,
    frame: UserFrame,
    t: &'static KThread,
    p: &'static Proc,
) -> Option<LwpData> {
    let lwp_sysnum = r.u32()?;
    let mut lwp_arg = [0; MAXSYSARGS];
    for a in &mut lwp_arg {
        *a = r.u64()?;
    }
    let lwp_rval = [r.u64()?, r.u64()?];
    let lwp_errno = match r.i32()? {
        0 => None,
        code => Some(Errno::from_code(code)?),
    };
    let lwp_eosys = match r.u8()? {
        0 => Eosys::Normal,
        1 => Eosys::JustReturn,
        _ => return None,
    };
    let lwp_sigaltstack = SigAltStack { ss_sp: r.u64()?, ss_size: r.u64()?, ss_flags: r.u32()? };
    let lwp_cursig = r.u8()?;
    let lwp_curinfo = match r.u8()? {
        0 => None,
        1 => Some(SigInfo {
            si_signo: r.u8()?,
            si_code: r.i32()?,
            si_errno: r.i32()?,
            si_pid: r.u32()?,
            si_addr: r.u64()?,
            si_value: r.u64()?,
        }),
        _ => return None,
    };
    let lwp_sigoldmask = match r.u8()? {
        0 => None,
        1 => Some(SigSet::from_words([r.u32()?, r.u32()?, r.u32()?, r.u32()?])),
        _ => return None,
    };
    let mut counts = [0; 11];
    for c in &mut counts {
        *c = r.u64()?;
    }
    let lwp_ru = LwpRusage::from_counts(counts);
    let lwp_oweupc = r.u64()?;
    let mut lwp_itimer = [ITimerVal::default(); NITIMER];
    for it in &mut lwp_itimer {
        *it = ITimerVal { it_interval: r.u64()?, it_value: r.u64()? };
    }
    Some(LwpData {
        lwp_regs: frame,
        lwp_sysnum,
        lwp_arg,
        lwp_rval,
        lwp_errno,
        lwp_eosys,
        lwp_sigaltstack,
        lwp_cursig,
        lwp_curinfo,
        lwp_sigoldmask,
        lwp_ru,
        lwp_oweupc,
        lwp_itimer,
        lwp_utime: r.u64()?,
        lwp_stime: r.u64()?,
        lwp_thread: Link(t),
        lwp_procp: Link(p),
    })
}
