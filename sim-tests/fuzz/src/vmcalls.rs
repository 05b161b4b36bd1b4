//! The memory calls' arguments — `mmap`, `munmap`, `mprotect` (S1, S16) — and what
//! they may answer.
//!
//! A process of the fuzzer must keep its own memory (text, data, stacks, the
//! buffers its pointers come from) and must keep unmapped what its bad pointers
//! count on being unmapped. So the calls change memory only where the fuzzer owns
//! it, and elsewhere only ask for what must be refused:
//!
//! * `mmap` without `MAP_FIXED` goes where the kernel chooses (below the stack's
//!   room, far from all of the above); a mapping made so is the LWP's own
//!   ([`Maps`]): it checks that it is page-aligned, inside the user address space
//!   and, if readable, zero-filled, and only it unmaps or protects it later;
//! * `MAP_FIXED` is given only inside [`ARENA`], a range nobody else uses, which
//!   every LWP maps, unmaps and protects at will; or over the program's text, or
//!   past the end of the address space, which must be refused;
//! * `munmap` and `mprotect` are made of an own mapping, of the arena, of the hole
//!   where nothing is mapped (`munmap` of nothing succeeds, `mprotect` of it is
//!   `ENOMEM`), of the text (refused; the simulation, which keeps the text apart
//!   from the process's segments, may take a `munmap` of it as one of nothing), or
//!   of ranges that are no ranges (misaligned, empty, past the end);
//! * flags, rights, descriptors and offsets are drawn so that every check of the
//!   ABI is reached: unknown flags, a type that is not private (`MAP_SHARED` is
//!   `ENOTSUP`), a file mapping (`ENODEV` for the console, `EBADF` for a descriptor
//!   that is not open), rights beyond read, write and execute, a misaligned offset.
//!
//! Any of them may find the memory gone (`ENOMEM`): the pool is shared with the
//! other processes, some runs have little, and a process has a bounded number of
//! segments.

use core::ops::Range;

use lwp_abi::*;

use crate::call::{Call, Expect};
use crate::pools;
use crate::rng::Rng;
use crate::{Env, Layout, LIMIT};

const PAGE: u64 = 8192;

/// Where every LWP of a run may map with `MAP_FIXED`, unmap and protect at will:
/// 32 pages that nothing else of either machine's layout uses.
pub const ARENA: Range<u64> = 0x10_0000_0000..0x10_0000_0000 + 32 * PAGE;

/// The mappings an LWP made where the kernel chose: only it unmaps or protects
/// them (the oldest is forgotten when there is no room for another; the process's
/// end frees it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Maps {
    at: [(u64, u64); 4],
    n: usize,
}

impl Maps {
    fn add(&mut self, start: u64, len: u64) {
        if self.n == self.at.len() {
            self.at.copy_within(1.., 0);
            self.n -= 1;
        }
        self.at[self.n] = (start, len);
        self.n += 1;
    }

    fn pick(&self, rng: &mut Rng) -> Option<(usize, (u64, u64))> {
        (self.n > 0).then(|| {
            let i = rng.below(self.n as u64) as usize;
            (i, self.at[i])
        })
    }

    fn remove(&mut self, i: usize) {
        self.at.copy_within(i + 1..self.n, i);
        self.n -= 1;
    }
}

/// What an LWP's memory call is about, for [`check`] once it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Nothing to note.
    Other,
    /// A new mapping where the kernel chooses, of these rights.
    New { prot: u64 },
    /// The LWP's own mapping `i` of [`Maps`], unmapped whole.
    Unmap(usize),
}

/// Rights: any of read, write and execute, or bits beyond them (`EINVAL`).
fn prot(rng: &mut Rng) -> u64 {
    if rng.chance(7, 8) {
        rng.below(8)
    } else {
        rng.pick(&[8, 0x10, 1 << 32 | PROT_READ, u64::MAX])
    }
}

fn valid_prot(prot: u64) -> bool {
    prot & !(PROT_READ | PROT_WRITE | PROT_EXEC) == 0
}

/// A range of the arena: whole pages, or (one time in eight) misaligned (`EINVAL`).
fn arena_range(rng: &mut Rng) -> (u64, u64, bool) {
    let pages = (ARENA.end - ARENA.start) / PAGE;
    let first = rng.below(pages);
    let len = PAGE * (1 + rng.below((pages - first).min(4)));
    let misaligned = rng.chance(1, 8);
    (ARENA.start + first * PAGE + if misaligned { 8 } else { 0 }, len, misaligned)
}

/// A range that is no range: misaligned, empty, or running past the end of the
/// user address space; and the error `munmap` (`EINVAL` for all) and `mprotect`
/// (`ENOMEM` past the end) give it.
fn bad_range(rng: &mut Rng, l: &Layout) -> (u64, u64, Errno) {
    match rng.below(4) {
        0 => (l.unmapped + 1 + rng.below(PAGE - 1), PAGE, Errno::EINVAL),
        1 => (l.unmapped, 0, Errno::EINVAL),
        2 => (LIMIT - PAGE, 2 * PAGE, Errno::ENOMEM),
        _ => (LIMIT, !(PAGE - 1), Errno::ENOMEM),
    }
}

/// Draws the arguments of `call` (one of the three) into `args`: what it may
/// answer, and what it is about.
pub fn args(
    maps: &Maps,
    rng: &mut Rng,
    l: &Layout,
    call: Call,
    args: &mut [u64; 6],
) -> (Expect, Target) {
    let none = Expect::default().may(Errno::ENOMEM);
    match call {
        Call::Mmap => mmap_args(rng, l, args),
        Call::Munmap => {
            let (e, target) = match (rng.below(8), maps.pick(rng)) {
                (0..=2, Some((i, (start, len)))) => {
                    args[..2].copy_from_slice(&[start, len]);
                    (none, Target::Unmap(i))
                }
                (3 | 4, _) => {
                    let (start, len, misaligned) = arena_range(rng);
                    args[..2].copy_from_slice(&[start, len]);
                    (none.fails(Errno::EINVAL, misaligned), Target::Other)
                }
                (5, _) => {
                    args[..2].copy_from_slice(&[l.unmapped, PAGE * (1 + rng.below(4))]);
                    (none, Target::Other)
                }
                (6, _) => {
                    args[..2].copy_from_slice(&[l.text & !(PAGE - 1), PAGE]);
                    (none.may(Errno::EINVAL), Target::Other)
                }
                _ => {
                    let (start, len, _) = bad_range(rng, l);
                    args[..2].copy_from_slice(&[start, len]);
                    (none.fails(Errno::EINVAL, true), Target::Other)
                }
            };
            (e, target)
        }
        _ => {
            let p = prot(rng);
            let bad_prot = !valid_prot(p);
            let e = match (rng.below(8), maps.pick(rng)) {
                (0..=2, Some((_, (start, len)))) => {
                    args[..2].copy_from_slice(&[start, len]);
                    none
                }
                (3 | 4, _) => {
                    let (start, len, misaligned) = arena_range(rng);
                    args[..2].copy_from_slice(&[start, len]);
                    // Another LWP may have unmapped some of it.
                    none.fails(Errno::EINVAL, misaligned)
                }
                (5, _) => {
                    args[..2].copy_from_slice(&[l.unmapped, PAGE]);
                    none.fails(Errno::ENOMEM, true)
                }
                (6, _) => {
                    // sparc64 refuses the program's segment as such (EINVAL); the
                    // simulation finds no anonymous memory there (ENOMEM).
                    args[..2].copy_from_slice(&[l.text & !(PAGE - 1), PAGE]);
                    none.fails(Errno::EINVAL, true).fails(Errno::ENOMEM, true)
                }
                _ => {
                    let (start, len, e) = bad_range(rng, l);
                    args[..2].copy_from_slice(&[start, len]);
                    none.fails(e, true)
                }
            };
            args[2] = p;
            (e.fails(Errno::EINVAL, bad_prot), Target::Other)
        }
    }
}

/// `mmap`'s arguments: mostly an anonymous private mapping where the kernel
/// chooses, of a few pages; a fixed one in the arena or where it must be refused;
/// and every other check of the ABI reached now and then.
fn mmap_args(rng: &mut Rng, l: &Layout, args: &mut [u64; 6]) -> (Expect, Target) {
    let p = prot(rng);
    let mut flags = match rng.below(16) {
        0..=8 => MAP_PRIVATE | MAP_ANON,
        9 => MAP_PRIVATE | MAP_ANON | MAP_NORESERVE,
        10 => MAP_SHARED | MAP_ANON,
        11 => MAP_PRIVATE,
        12 => rng.next_u64() & !MAP_FIXED,
        _ => MAP_PRIVATE | MAP_ANON | MAP_FIXED,
    };
    if rng.chance(1, 16) {
        flags |= MAP_NEW;
    }
    let fd = if rng.chance(1, 2) { u64::MAX } else { pools::fd(rng) };
    let off = if rng.chance(1, 12) { 1 + rng.below(PAGE - 1) } else { 0 };
    let fixed = flags & MAP_FIXED != 0;
    let (addr, len, e) = if fixed {
        match rng.below(8) {
            0..=5 => {
                let (start, len, misaligned) = arena_range(rng);
                (start, len, Expect::default().fails(Errno::EINVAL, misaligned))
            }
            6 => (l.text & !(PAGE - 1), PAGE, Expect::default().fails(Errno::EINVAL, true)),
            _ => (LIMIT - PAGE, 2 * PAGE, Expect::default().fails(Errno::ENOMEM, true)),
        }
    } else {
        let len = match rng.below(12) {
            0 => 0,
            1 => 1 << 41,
            2 => u64::MAX - rng.below(PAGE),
            _ => rng.pick(&[1, PAGE - 1, PAGE, PAGE + 1, 3 * PAGE, 8 * PAGE]),
        };
        let huge = len > 1 << 40;
        // The address is no hint without MAP_FIXED: anything at all.
        (rng.next_u64(), len, Expect::default().fails(Errno::ENOMEM, huge))
    };
    args.copy_from_slice(&[addr, len, p, flags, fd, off]);
    let flags = flags & !MAP_NEW;
    let unknown = flags & !(MAP_TYPE | MAP_FIXED | MAP_NORESERVE | MAP_ANON) != 0;
    let file = flags & MAP_ANON == 0;
    let e = e
        .fails(Errno::EINVAL, unknown)
        .fails(if fd <= 2 { Errno::ENODEV } else { Errno::EBADF }, file)
        .fails(Errno::ENOTSUP, flags & MAP_TYPE == MAP_SHARED)
        .fails(Errno::EINVAL, !matches!(flags & MAP_TYPE, MAP_PRIVATE | MAP_SHARED))
        .fails(Errno::EINVAL, !valid_prot(p) || off != 0 || len == 0)
        .may(Errno::ENOMEM);
    (e, if fixed { Target::Other } else { Target::New { prot: p } })
}

/// Checks what a memory call that succeeded did, and notes the LWP's own mappings:
/// what was wrong with it, if anything.
pub fn check<E: Env>(
    env: &E,
    maps: &mut Maps,
    target: Target,
    args: &[u64; 6],
    r0: u64,
) -> Option<&'static str> {
    match target {
        Target::New { prot } => {
            let len = args[1].next_multiple_of(PAGE);
            if !r0.is_multiple_of(PAGE)
                || r0 < PAGE
                || r0.checked_add(len).is_none_or(|e| e > LIMIT)
            {
                return Some("a mapping outside the user address space");
            }
            if ARENA.start < r0 + len && r0 < ARENA.end {
                return Some("a mapping in the arena, where the kernel may not choose");
            }
            if prot & PROT_READ != 0 && (env.peek(r0) != 0 || env.peek(r0 + len - 8) != 0) {
                return Some("a new mapping not zero-filled");
            }
            maps.add(r0, len);
            env.add(crate::word::MAPPED, 1);
            None
        }
        Target::Unmap(i) => {
            maps.remove(i);
            None
        }
        Target::Other => None,
    }
}
