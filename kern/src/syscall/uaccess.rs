//! How a system call reaches its caller (S16): what it gives back ([`SysResult`]),
//! the copies to and from the calling LWP's memory — `EFAULT` for what it cannot
//! reach, the main stack grown for what lies just below it — and the arguments
//! that name an LWP or a duration. Below the calls that use them; `syscall` above
//! dispatches them.

use arch::{Fault, Machine};

use crate::clock;
use crate::errno::Errno;
use crate::lwp::handle::LwpId;
use crate::vm;
use crate::M;

/// What a system call gives back: `%o0`/`%o1`, or an error number.
pub(crate) type SysResult = Result<(u64, u64), Errno>;

/// The LWP id a system-call argument gives: ids are 32 bits and start at 1;
/// anything else names no LWP (`ESRCH`).
pub fn lwp_id(a: u64) -> Result<LwpId, Errno> {
    match u32::try_from(a) {
        Ok(id) if id != 0 => Ok(LwpId(id)),
        _ => Err(Errno::ESRCH),
    }
}

/// Makes `access` (a copy to or from user memory) and, if its fault was below the
/// main stack and grew it as the LWP's own load or store would (`vm`), makes it
/// once more; `EFAULT` if it still faults.
#[inline(always)]
fn grown_or_efault<R>(mut access: impl FnMut() -> Result<R, Fault>) -> Result<R, Errno> {
    match access() {
        Ok(r) => Ok(r),
        Err(f) => grown_again(f, access),
    }
}

/// `grown_or_efault` after a fault: out of the way of every copy that does not
/// fault (a second copy inlined beside the first costs a signal's round trip more
/// than the copy itself, in register windows).
#[cold]
#[inline(never)]
fn grown_again<R>(f: Fault, mut access: impl FnMut() -> Result<R, Fault>) -> Result<R, Errno> {
    if vm::user_fault(f) {
        access().map_err(|_| Errno::EFAULT)
    } else {
        Err(Errno::EFAULT)
    }
}

/// Copies `buf.len()` bytes in from user address `uaddr`; `EFAULT` if any of them
/// is not readable by the calling LWP. A read below the main stack grows it.
#[inline]
pub fn copyin(uaddr: u64, buf: &mut [u8]) -> Result<(), Errno> {
    grown_or_efault(|| M::copyin(uaddr, buf))
}

/// Copies `bytes` out to user address `uaddr`; `EFAULT` if any byte of the range
/// is not writable by the calling LWP. A write below the main stack grows it.
#[inline]
pub fn copyout(uaddr: u64, bytes: &[u8]) -> Result<(), Errno> {
    grown_or_efault(|| M::copyout(uaddr, bytes))
}

/// Copies in a small structure of `N` 64-bit words (see `lwp_abi`: big-endian, a
/// pair of 4-byte fields in one word); `EFAULT` as `copyin`, and a read below the
/// main stack grows it.
#[inline]
pub(crate) fn copyin_words<const N: usize>(uaddr: u64) -> Result<[u64; N], Errno> {
    grown_or_efault(|| M::copyin_words(uaddr, |w: &[u64; N]| *w))
}

/// Copies in a structure of `N` 64-bit words and gives them to `f` where they are
/// (a big one is not moved); `EFAULT` if it cannot be read. It is read where it
/// is: a fault below the main stack does not grow it (the structures read so — a
/// `ucontext_t`, its windows and FP registers, a scheduling class's parameters —
/// are ones a program made, in memory it has; a second try would need `f` again,
/// and keeping it costs every signal's return a sixth more).
#[inline]
pub(crate) fn with_copyin_words<const N: usize, R>(
    uaddr: u64,
    f: impl FnOnce(&[u64; N]) -> R,
) -> Result<R, Errno> {
    M::copyin_words(uaddr, f).map_err(|_| Errno::EFAULT)
}

/// Copies out a structure of 64-bit words; `EFAULT` as `copyout` (which grows the
/// stack the same way: a signal frame below a deep stack).
#[inline]
pub(crate) fn copyout_words(uaddr: u64, words: &[u64]) -> Result<(), Errno> {
    grown_or_efault(|| M::copyout_words(uaddr, words))
}

/// The clock ticks of the relative `Timespec` at `tsp`, rounded up: `EFAULT` if it
/// cannot be read, `EINVAL` if it is no duration (negative, or nanoseconds out of
/// range).
pub(crate) fn timespec_ticks(tsp: u64) -> Result<u64, Errno> {
    let [sec, nsec] = copyin_words::<2>(tsp)?;
    let (sec, nsec) = (sec as i64, nsec as i64);
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(Errno::EINVAL);
    }
    let hz = u128::from(clock::hz());
    let ns = sec as u128 * 1_000_000_000 + nsec as u128;
    Ok(u64::try_from((ns * hz).div_ceil(1_000_000_000)).unwrap_or(u64::MAX))
}
