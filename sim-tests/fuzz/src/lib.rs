//! `lwp-fuzz`: the system-call fuzzer (issue #9), one program for both machines: the
//! sparc64 user program `fuzz` (`sim-tests/user`) and the host simulation's fuzzing
//! program (`sim-tests/host/tests/fuzz_sim`) run this code, each through its own
//! [`Env`] (how to make a system call, reach the process's memory and start an LWP).
//!
//! A run is a process that makes pseudo-random system calls from a seed (S16: bad
//! parameters get an error code, never a kernel crash), on several LWPs at once
//! (S3), with LWP ids of its own, of nobody and out of range (S15), and ends the way
//! the run's [`Fate`] says, which may be a deliberate death (S13: a bad call number is
//! SIGSYS). What each call may answer is known ([`calls`]): any other answer ends the
//! process with a code naming the call, so the kernel's test sees an unexpected wait
//! status and the console says which call, with its arguments.
//!
//! # What a run avoids, and how it ends
//!
//! A process ends early only by design. Calls that would end it, or stop it for
//! good, are made only where the run means them to:
//!
//! * a bad call number (SIGSYS), `exit`, `_lwp_kill` with a signal whose default
//!   action ends the process, and an LWP created to run where it faults are the
//!   fates that strike ([`Fate::strikes`]): by whichever LWP makes the call that
//!   reaches a point drawn from the seed (and the next one, if the process still
//!   runs: two at once), while the others are busy in theirs;
//!   `_lwp_exit` of the last LWP is the fate [`Fate::LastLwpExit`]; every other call
//!   number is a valid one, and `_lwp_kill`, `kill` and `sigqueue` send only
//!   signals that are ignored by default, or that are no signals (`EINVAL`); no
//!   handler is ever installed and no timer ever runs out ([`sigcalls`]);
//! * a new LWP only ever runs the stub ([`Layout::stub_pc`]), which exits at once and
//!   never reads its stack, on the stub stack; contexts are otherwise refused ones
//!   (a misaligned or out-of-range pc or stack). Its id is known to the LWP that made
//!   it whenever it was made suspended;
//! * stopped LWPs never stay stopped: the *keeper*, an LWP of its own, continues
//!   every id up to the highest made (and a few beyond) each round, and nobody
//!   suspends the keeper; so an LWP may suspend itself, or the main LWP. An LWP
//!   that another is suspending is continued only one round in four (each LWP
//!   says whom it suspends): a continue before the suspender has seen it stopped
//!   cancels the request, which the suspender makes again, and a keeper that
//!   always came first would keep it suspending for ever (as seen on one busy
//!   CPU of the seeded simulation);
//! * waits end: nobody waits for the keeper, and workers do not wait for the main
//!   LWP, which waits for them at the end; a wait for any LWP gets a zombie, since
//!   the keeper gives one when no call has been made for a few rounds: a stub it
//!   keeps suspended in reserve (made while there is memory), or a new one;
//! * `nanosleep` sleeps at most a few milliseconds, except the one deliberate
//!   sleeper of every run that ends by a process exit: an LWP asleep for `i64::MAX`
//!   seconds while the main LWP and the keeper continue and suspend it over and over
//!   (that once overflowed the tick arithmetic and grew the callout list);
//! * `write` writes to the console only the runtime's line, or nothing (length 0,
//!   or a buffer whose first byte is unreadable); descriptors other than the
//!   console's (0, 1, 2) are `EBADF`; `read` of the console finds the end of the
//!   file, and `close` is made only of descriptors that are not open;
//! * memory is mapped, unmapped and protected only where the process owns it (its
//!   own mappings, an arena of its own) and elsewhere only where the call must be
//!   refused, so its own memory and its holes stay as they are ([`vmcalls`]).
//!
//! Each call is made a random number of frames deep (up to 15), each frame holding
//! a value across it that must come back intact: on SPARC, the register windows
//! spilled and filled around the calls (S17).
//!
//! Pointers come from [`pools`]: null, unmapped, kernel, straddling the end of what
//! is mapped, just below and above 2^43, near 2^64, misaligned, and the process's
//! own buffers; a structure the kernel reads is staged in the LWP's own memory with
//! fields drawn for it; what the kernel writes lands in a buffer of garbage.

#![no_std]

pub mod call;
pub mod calls;
pub mod pools;
pub mod rng;
mod run;
pub mod sigcalls;
pub mod vmcalls;

pub use run::{lwp_start, start};

use core::fmt;

use lwp_abi::{SIGKILL, SIGSEGV};

/// The top of the user address space (`arch::USER_LIMIT`): 2^43.
pub const LIMIT: u64 = 1 << 43;
/// Where the kernel's own memory starts, and ends (the locked kernel window of the
/// sparc64 machine; nothing user mode may reach on either machine).
pub const KERNEL: core::ops::Range<u64> = 0x40_4000..0x100_0000;

/// How a process of the fuzzer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Every LWP is made to stop and is waited for, then `main` returns: exit 0.
    Return,
    /// `exit(EXIT_CODE)` from some LWP, while the others are busy (with random
    /// high bits: the status is the low byte).
    Exit,
    /// A call number that is none (0, beyond the table, or with high bits set):
    /// SIGSYS (S13).
    BadCall,
    /// `_lwp_kill(an LWP of its own, SIGKILL)`.
    Kill,
    /// Every LWP leaves by `_lwp_exit`; the last one out ends the process: exit 0.
    /// The main LWP leaves last, or (one run in two) first, the others still busy.
    LastLwpExit,
    /// An LWP is created to start at a kernel address: it faults at once, SIGSEGV.
    Fault,
}

/// The exit code of [`Fate::Exit`].
pub const EXIT_CODE: u8 = 77;

/// The exit codes of a process whose check failed (its line on the console says
/// more): a call answered wrongly ends it with `call::Call::code` (10 and up).
pub mod code {
    /// Its argument names no role.
    pub const BAD_ARG: u8 = 1;
    /// The keeper or a worker could not be made (other than at a limit).
    pub const SPAWN: u8 = 2;
    /// Workers or the keeper did not end when told to.
    pub const JOIN: u8 = 3;
    /// The fate's call did not end the process.
    pub const STRIKE: u8 = 4;
    /// The sleeper's endless sleep ended.
    pub const SLEEPER: u8 = 5;
    /// A system call changed registers it must not (where the machine checks).
    pub const REGISTERS: u8 = 6;
    /// A frame's value changed across a system call made deeper down.
    pub const FRAMES: u8 = 7;
    /// The guard found something changed (50 and up).
    pub const GUARD: u8 = 50;
}

/// How a process ended, as its parent's wait status says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Exited(u8),
    Killed(u8),
}

impl Fate {
    /// The fates the suites give the seeds they run, in turn (`of_seed`): half of
    /// the runs end by a deliberate death.
    pub const ROTATION: [Fate; 8] = [
        Fate::Return,
        Fate::Exit,
        Fate::Return,
        Fate::BadCall,
        Fate::LastLwpExit,
        Fate::Kill,
        Fate::Return,
        Fate::Fault,
    ];

    pub fn of_seed(seed: u32) -> Fate {
        Fate::ROTATION[seed as usize % Fate::ROTATION.len()]
    }

    /// Whether the fate is a call that ends the process, made once during the run.
    pub fn strikes(self) -> bool {
        matches!(self, Fate::Exit | Fate::BadCall | Fate::Kill | Fate::Fault)
    }

    /// The wait status a process with this fate must end with.
    pub fn ending(self) -> Ending {
        match self {
            Fate::Return | Fate::LastLwpExit => Ending::Exited(0),
            Fate::Exit => Ending::Exited(EXIT_CODE),
            Fate::BadCall => Ending::Killed(lwp_abi::SIGSYS as u8),
            Fate::Kill => Ending::Killed(SIGKILL as u8),
            Fate::Fault => Ending::Killed(SIGSEGV as u8),
        }
    }

    fn from_u8(n: u8) -> Option<Fate> {
        Fate::ROTATION.into_iter().find(|&f| f as u8 == n)
    }
}

/// What a process of the fuzzer is asked to do: its argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A run: `calls` calls in all (its LWPs together) from `seed`, ending by `fate`.
    Fuzz { seed: u32, calls: u32, fate: Fate },
    /// The guard: a sibling process that must stay intact while runs go on beside
    /// it. It keeps a secret and three LWPs asleep, checks them every few
    /// milliseconds, and exits 0 once the word at [`Layout::mailbox`] is nonzero
    /// (the kernel's test writes it).
    Guard,
}

/// The most calls a run can be given (24 bits of its argument).
pub const MAX_CALLS: u32 = (1 << 24) - 1;
const GUARD_ARG: u64 = 0xff << 56;

impl Role {
    /// The program's argument: the seed in bits 0..32, the calls in 32..56, the fate
    /// in 56..64 (0xff: the guard).
    pub fn arg(self) -> u64 {
        match self {
            Role::Fuzz { seed, calls, fate } => {
                u64::from(seed) | u64::from(calls.min(MAX_CALLS)) << 32 | (fate as u64) << 56
            }
            Role::Guard => GUARD_ARG,
        }
    }

    pub fn from_arg(arg: u64) -> Option<Role> {
        if arg == GUARD_ARG {
            return Some(Role::Guard);
        }
        let fate = Fate::from_u8((arg >> 56) as u8)?;
        Some(Role::Fuzz { seed: arg as u32, calls: (arg >> 32) as u32 & MAX_CALLS, fate })
    }

    /// A run of seed `seed` with `calls` calls and the fate of its seed.
    pub fn run(seed: u32, calls: u32) -> Role {
        Role::Fuzz { seed, calls, fate: Fate::of_seed(seed) }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Fuzz { seed, calls, fate } => write!(f, "seed {seed}, {calls} calls, {fate:?}"),
            Role::Guard => write!(f, "guard"),
        }
    }
}

/// The address space as the fuzzer uses it: user addresses of the process's own
/// memory, and of places chosen for what is (not) there.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// The program's text: readable, never writable (an out-pointer there is
    /// `EFAULT`); its contents are never handed to the kernel as a structure.
    pub text: u64,
    /// The first byte past the data: readable below, unmapped from here on (an
    /// in-pointer that starts below and runs past it is `EFAULT`).
    pub data_end: u64,
    /// The first byte past a writable page whose last bytes nobody reads, unmapped
    /// from here on (an out-pointer that starts below and runs past it is `EFAULT`,
    /// and may write those bytes first).
    pub top: u64,
    /// A megabyte with nothing mapped in it.
    pub unmapped: u64,
    /// A buffer of garbage, `outbuf_len` bytes, where what the kernel writes lands.
    pub outbuf: u64,
    pub outbuf_len: u64,
    /// A line of printable text, `line_len` bytes, ending in a newline: the one
    /// thing written to the console.
    pub line: u64,
    pub line_len: u64,
    /// Code that makes `_lwp_exit` at once, touching no memory.
    pub stub_pc: u64,
    /// Code that makes `nanosleep(%o0)`, then `_lwp_exit`, touching no memory.
    pub sleeper_pc: u64,
    /// The top of a stack for stubs and the sleeper, 16-byte aligned, writable,
    /// whose contents are nobody's.
    pub stub_stack_top: u64,
    /// A `Timespec` of `i64::MAX` seconds and 999,999,999 nanoseconds.
    pub huge_ts: u64,
    /// The guard's mailbox: a word of its own memory that the kernel's test writes.
    pub mailbox: u64,
}

/// The process's shared words ([`Env::get`]): what its LWPs tell each other.
pub mod word {
    /// The run's argument.
    pub const ROLE: usize = 0;
    /// Calls made so far, by every LWP.
    pub const MADE: usize = 1;
    /// The call count at which the fate strikes.
    pub const DEATH_AT: usize = 2;
    /// Nonzero once some LWP has begun to strike.
    pub const STRUCK: usize = 3;
    /// Nonzero: workers (and the guard's LWPs) end.
    pub const STOP: usize = 4;
    /// Nonzero: the keeper ends.
    pub const KEEPER_STOP: usize = 5;
    /// `getpid()`, as the main LWP saw it first.
    pub const PID: usize = 6;
    /// The keeper's id, and the sleeper's.
    pub const KEEPER: usize = 7;
    pub const SLEEPER: usize = 8;
    /// Figures for the last line: LWPs made, storms, storms ended by `EAGAIN` (a
    /// limit) and by `ENOMEM` (no memory).
    pub const MADE_LWPS: usize = 9;
    pub const STORMS: usize = 10;
    pub const STORMS_EAGAIN: usize = 11;
    pub const STORMS_ENOMEM: usize = 14;
    /// The guard's secret.
    pub const SECRET: usize = 12;
    /// The keeper's reserve: a stub it keeps suspended (0: none).
    pub const RESERVE: usize = 13;
    /// Nonzero: the main LWP has left first ([`super::Fate::LastLwpExit`]).
    pub const MAIN_GONE: usize = 15;
    /// Figures for the last line: mappings made where the kernel chose.
    pub const MAPPED: usize = 16;
    /// Per slot (0: the main LWP, 1: the keeper, 2..: workers), the id of the LWP
    /// in it (0: free), and the highest LWP id it has made or seen made.
    pub const OWNER: usize = 17;
    pub const MAXID: usize = OWNER + super::NSLOTS;
    /// Per slot of the guard: rounds its LWP has made.
    pub const ROUNDS: usize = MAXID + super::NSLOTS;
    /// Per slot, the LWP it is suspending (0: none; not itself).
    pub const SUSPENDING: usize = ROUNDS + super::NSLOTS;
    /// How many there are.
    pub const N: usize = SUSPENDING + super::NSLOTS;
}

/// LWPs with a slot of their own (a stack, a staging area): the main LWP, the
/// keeper and up to six workers at a time.
pub const NSLOTS: usize = 8;
/// Bytes of each LWP's staging area ([`Env::stage`]).
pub const STAGE_LEN: u64 = 64;

/// What the fuzzer needs of the machine it runs on, for one LWP.
pub trait Env {
    /// The system call `num` with arguments `args`: `%o0`/`%o1`, or the error number.
    fn syscall(&mut self, num: u64, args: [u64; 6]) -> Result<(u64, u64), u64>;
    /// Shared word `w` of the process (see [`word`]).
    fn get(&self, w: usize) -> u64;
    fn set(&self, w: usize, v: u64);
    /// Adds `n` to word `w` and returns the sum. Atomic where user memory has
    /// atomics (sparc64's `casx`); a load and a store on the simulation, where it is
    /// a count that may miss one now and then (used only for counts).
    fn add(&self, w: usize, n: u64) -> u64;
    /// Puts `words` (at most [`STAGE_LEN`] / 8), each big-endian as the ABI's
    /// structures are, at the start of this LWP's own staging area, and returns its
    /// user address (8-byte aligned; nobody else writes there).
    fn stage(&mut self, words: &[u64]) -> u64;
    /// The 64-bit word at user address `at` of the process's memory (8-aligned).
    fn peek(&self, at: u64) -> u64;
    fn layout(&self) -> &Layout;
    /// Creates an LWP with `flags` that runs [`lwp_start`] with `arg` on the stack of
    /// slot `slot` (1..NSLOTS), which nobody else uses until it is gone: its id.
    fn spawn(&mut self, slot: usize, arg: u64, flags: u64) -> Result<u32, u64>;
    /// Writes a line to the console.
    fn say(&mut self, line: fmt::Arguments);
    /// Solaris' software trap `ta which` other than a system call (0x24 gethrtime,
    /// 0x25 gethrvtime, 3 flush windows): its `%o0`; `None` where the machine has none.
    fn soft_trap(&mut self, which: u64) -> Option<u64> {
        let _ = which;
        None
    }
}
