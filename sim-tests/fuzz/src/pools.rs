//! The argument pools: where every register and every field of a structure the
//! kernel reads comes from, and the ABI's rules that say which of the values drawn
//! are refused (`valid_*`), so that a call's answer can be predicted (`calls`).
//!
//! Pointers come in three kinds: *bad* ones, of which the kernel cannot read (or
//! write) all the bytes it needs — null, unmapped, the kernel's own memory,
//! straddling the end of mapped memory, just below and above 2^43, near 2^64, the
//! text for what the kernel writes; *own* ones, into the LWP's staging area (the
//! structures it stages, an id it reads back); and *garbage* ones into the
//! process's buffer of garbage, misaligned or not, for what the kernel writes.

use lwp_abi::{
    LWP_DETACHED, LWP_SUSPENDED, NSIG, SC_POOL, SC_WAITING, SIGCANCEL, SIGCHLD, SIGCONT, SIGINFO,
    SIGJVM1, SIGJVM2, SIGKILL, SIGLWP, SIGPWR, SIGURG, SIGWAITING, SIGWINCH,
};

use crate::rng::Rng;
use crate::{Layout, KERNEL, LIMIT};

/// The LWP ids a pool draws from: the caller's, and the highest made so far.
#[derive(Debug, Clone, Copy)]
pub struct Ids {
    pub me: u32,
    pub max: u32,
}

/// A value for a register the call ignores: anything from the other pools, or
/// anything at all.
pub fn any(rng: &mut Rng, l: &Layout, ids: Ids) -> u64 {
    match rng.below(12) {
        0 => 0,
        1 => u64::MAX,
        2 => 1 + rng.below(16),
        3 => KERNEL.start + rng.below(KERNEL.end - KERNEL.start),
        4 => l.unmapped + rng.below(1 << 20),
        5 => garbage(rng, l, 8),
        6 => LIMIT - 1 - rng.below(64),
        7 => LIMIT + rng.below(64),
        8 => u64::MAX - rng.below(64),
        9 => id(rng, ids),
        10 => rng.next_u64() as u32 as u64,
        _ => rng.next_u64(),
    }
}

/// A pointer at which the kernel cannot read `len` bytes (`len` ≥ 1).
pub fn bad_in(rng: &mut Rng, l: &Layout, len: u64) -> u64 {
    match rng.below(8) {
        7 if len >= 2 => l.data_end - 1 - rng.below(len - 1),
        n => bad(rng, l, len, n),
    }
}

/// A pointer at which the kernel cannot write `len` bytes (`len` ≥ 1).
pub fn bad_out(rng: &mut Rng, l: &Layout, len: u64) -> u64 {
    match rng.below(9) {
        7 if len >= 2 => l.top - 1 - rng.below(len.min(8) - 1),
        8 => l.text + 8 * rng.below(64),
        n => bad(rng, l, len, n),
    }
}

/// The bad pointers that are bad for reading and for writing alike.
fn bad(rng: &mut Rng, l: &Layout, len: u64, which: u64) -> u64 {
    match which {
        0 => 0,
        1 => l.unmapped + rng.below(1 << 20),
        2 => KERNEL.start + rng.below(KERNEL.end - KERNEL.start - len),
        // Below 2^43 but running up to it or past it (the last page is unmapped).
        3 => LIMIT - 1 - rng.below(len),
        4 => LIMIT - 8192 + rng.below(8192 - len),
        5 => LIMIT + rng.below(1 << 16),
        _ => u64::MAX - rng.below(64),
    }
}

/// A pointer into the buffer of garbage with room for `len` bytes, misaligned one
/// time in four.
pub fn garbage(rng: &mut Rng, l: &Layout, len: u64) -> u64 {
    let at = l.outbuf + rng.below(l.outbuf_len - len);
    if rng.chance(3, 4) {
        at & !7
    } else {
        at
    }
}

/// An LWP id: the caller's, the main LWP's, one of those made, nobody's, or one
/// that is not 32 bits (`0` is "any" where a call has it).
pub fn id(rng: &mut Rng, ids: Ids) -> u64 {
    match rng.below(10) {
        0 => u64::from(ids.me),
        1 => 1,
        2..=5 => 1 + rng.below(u64::from(ids.max) + 2),
        6 => 0,
        // Its own id with a high bit: a kernel that truncates finds itself.
        7 => 1 << 32 | u64::from(ids.me),
        8 => u64::from(u32::MAX),
        _ => rng.next_u64(),
    }
}

/// Whether `id` can name an LWP at all (32 bits, not 0).
pub fn valid_id(id: u64) -> bool {
    id != 0 && id <= u64::from(u32::MAX)
}

/// Signals whose default action is to be ignored (Solaris' `signal.h(3HEAD)`),
/// and 0 (only checks the LWP).
const IGNORED: [u64; 12] = [
    0, SIGCHLD, SIGPWR, SIGWINCH, SIGURG, SIGCONT, SIGWAITING, SIGLWP, SIGCANCEL, SIGJVM1, SIGJVM2,
    SIGINFO,
];
/// Numbers that are no signals, some of them a deadly one with high bits.
const NOT_SIGNALS: [u64; 6] = [NSIG, 100, 255, 1 << 32 | SIGKILL, 1 << 63 | SIGKILL, u64::MAX];

/// A signal for `_lwp_kill`: one that does nothing by default, or no signal.
pub fn sig(rng: &mut Rng) -> u64 {
    if rng.chance(3, 4) {
        rng.pick(&IGNORED)
    } else {
        rng.pick(&NOT_SIGNALS)
    }
}

pub fn valid_sig(sig: u64) -> bool {
    sig < NSIG
}

/// `_lwp_create` flags, and some that are not.
pub fn flags(rng: &mut Rng) -> u64 {
    const GOOD: [u64; 4] = [0, LWP_SUSPENDED, LWP_DETACHED, LWP_SUSPENDED | LWP_DETACHED];
    const BAD: [u64; 5] = [1, 0x100, 1 << 32 | LWP_SUSPENDED, LWP_DETACHED | 4, u64::MAX];
    if rng.chance(4, 5) {
        rng.pick(&GOOD)
    } else {
        rng.pick(&BAD)
    }
}

pub fn valid_flags(flags: u64) -> bool {
    flags & !(LWP_SUSPENDED | LWP_DETACHED) == 0
}

/// A new LWP's pc: the stub, or one the kernel must refuse (misaligned, at or past
/// 2^43). Never another one it would accept: the LWP would run there.
pub fn pc(rng: &mut Rng, l: &Layout) -> u64 {
    match rng.below(8) {
        0 => l.stub_pc + 1 + rng.below(3),
        1 => LIMIT,
        2 => LIMIT + 4 * rng.below(1 << 20),
        3 => u64::MAX - 3,
        _ => l.stub_pc,
    }
}

pub fn valid_pc(pc: u64) -> bool {
    pc.is_multiple_of(4) && pc < LIMIT
}

/// A new LWP's stack top: the stub stack's, or one the kernel must refuse (0,
/// misaligned, past 2^43).
pub fn stack_top(rng: &mut Rng, l: &Layout) -> u64 {
    match rng.below(8) {
        0 => 0,
        1 => l.stub_stack_top - 8,
        2 => l.stub_stack_top + 1 + rng.below(15),
        3 => LIMIT + 16,
        4 => !15,
        _ => l.stub_stack_top,
    }
}

pub fn valid_stack_top(top: u64) -> bool {
    top.is_multiple_of(16) && top != 0 && top <= LIMIT
}

/// A `Timespec`'s fields: at most 3 ms when valid, or out of range.
pub fn timespec(rng: &mut Rng) -> [u64; 2] {
    let sec: i64 = match rng.below(12) {
        0 => -1,
        1 => i64::MIN,
        _ => 0,
    };
    let nsec: i64 = match rng.below(12) {
        0 => 1_000_000_000,
        1 => -1,
        2 => i64::MAX,
        3 => 0,
        4 => 1,
        _ => rng.below(3_000_000) as i64,
    };
    [sec as u64, nsec as u64]
}

pub fn valid_timespec([sec, nsec]: [u64; 2]) -> bool {
    (sec as i64) >= 0 && (0..1_000_000_000).contains(&(nsec as i64))
}

/// `schedctl` flags, and some that are not.
pub fn sc_flags(rng: &mut Rng) -> u64 {
    const GOOD: [u64; 4] = [0, SC_POOL, SC_WAITING, SC_POOL | SC_WAITING];
    const BAD: [u64; 4] = [4, 1 << 32 | SC_POOL, 1 << 63, u64::MAX];
    if rng.chance(4, 5) {
        rng.pick(&GOOD)
    } else {
        rng.pick(&BAD)
    }
}

pub fn valid_sc_flags(flags: u64) -> bool {
    flags & !(SC_POOL | SC_WAITING) == 0
}

/// A file descriptor for `write`: the console's (1, 2) mostly, or one that is not.
pub fn fd(rng: &mut Rng) -> u64 {
    const OTHERS: [u64; 6] = [0, 3, 255, u64::MAX, 1 << 32 | 1, 1 << 32 | 2];
    if rng.chance(2, 3) {
        1 + rng.below(2)
    } else {
        rng.pick(&OTHERS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            text: 0x10_0000,
            data_end: 0x12_0000,
            top: LIMIT - 8192,
            unmapped: 0x4000_0000,
            outbuf: 0x11_0000,
            outbuf_len: 512,
            line: 0x10_8000,
            line_len: 20,
            stub_pc: 0x10_1000,
            sleeper_pc: 0x10_1010,
            stub_stack_top: 0x11_2000,
            huge_ts: 0x10_9000,
            mailbox: LIMIT - 8192 - 256 * 1024,
        }
    }

    /// What a pool promises: a pc or stack the kernel accepts is the stub's; bad
    /// pointers never reach into the buffers; garbage stays in its buffer.
    #[test]
    fn pools_keep_their_promises() {
        let l = layout();
        let mut r = Rng::new(3, 0);
        let mine = |p: u64| (l.outbuf..l.outbuf + l.outbuf_len).contains(&p);
        for _ in 0..20_000 {
            let pc = pc(&mut r, &l);
            assert!(!valid_pc(pc) || pc == l.stub_pc, "{pc:#x}");
            let top = stack_top(&mut r, &l);
            assert!(!valid_stack_top(top) || top == l.stub_stack_top, "{top:#x}");
            let len = 1 + r.below(64);
            let (i, o) = (bad_in(&mut r, &l, len), bad_out(&mut r, &l, len));
            assert!(!mine(i) && !mine(o), "{i:#x} {o:#x}");
            if (l.data_end - 64..l.data_end).contains(&i) {
                assert!(i + len > l.data_end, "a straddling in-pointer {i:#x} + {len}");
            }
            if (l.top - 64..l.top).contains(&o) {
                assert!(
                    o + len > l.top && l.top - o < 8,
                    "a straddling out-pointer {o:#x} + {len}"
                );
            }
            let g = garbage(&mut r, &l, len);
            assert!(mine(g) && g + len <= l.outbuf + l.outbuf_len);
            let ts = timespec(&mut r);
            assert!(!valid_timespec(ts) || (ts[0] == 0 && ts[1] < 3_000_000), "{ts:?}");
            assert!(sig(&mut r) != SIGKILL);
        }
    }
}
