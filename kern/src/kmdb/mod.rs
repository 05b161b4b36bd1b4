//! kmdb: the kernel's debugger — an mdb-style console inside the running kernel, and
//! the dump it prints when the kernel dies.
//!
//! # Theory
//!
//! The debugger shows the LWP model as the kernel holds it: processes (`::ps`),
//! each one's LWPs (`::lwps`), every kernel thread with what it waits for
//! (`::threadlist`), a sleeping thread's kernel stack (`::findstack`), the caches
//! and limits (`::kmastat`), the callouts, the CPUs and their run queues, the
//! turnstiles (`::turnstile`), a process's signal state (`::sig`), the swap device
//! and the LWPs swapped out (`::swapinfo`). Its commands have Solaris' names and
//! print columns as mdb does; `::help` lists them. One file per group of commands:
//! `proc`, `thread`, `kmem`, `cpu`, `callout`, `sync`, `sig`, `swap`; this file
//! holds the entry points, the table of commands and the prompt. Of an LWP whose
//! `lwp` structure is swapped out it shows only what stays in memory (S6, and the
//! structure's place on the device): it never reads the structure, nor the disk.
//!
//! It is entered
//!
//! * at boot, with the boot argument `kmdb` (also: stop at every panic);
//! * by the break sequence typed on the console while the kernel runs —
//!   `<CR> ~ <Ctrl-B>`, Solaris' alternate break — which CPU 0's clock interrupt
//!   watches for ([`poll_break`]);
//! * by code that asks ([`enter`]: the showcase of `scripts/run showcase`);
//! * after a panic or a fatal trap ([`fatal`]), which first prints the dump:
//!   `::threadlist` and the panicking thread's `::findstack`; with `kmdb` given,
//!   the console then stays open on the dead kernel.
//!
//! While it runs, its CPU has interrupts off: on that CPU the kernel is stopped,
//! and `::continue` lets it go on (not after a panic). On the host simulation the
//! other CPUs go on running, and the console reads the test's scripted input.
//!
//! **Looking without waiting.** The debugger may have stopped the kernel anywhere:
//! inside a lock, in the middle of a panic. So it never waits for a lock. It reads
//! what is atomic directly, and takes every lock with [`peek`], which gives up
//! after a bounded spin: what it could not see is shown as `?`. It allocates only
//! outside the locks (a listing collects what it shows with the lock taken
//! briefly, into room made before), and prints straight to the console device.
//! What it prints is therefore a snapshot taken piece by piece, exact when the
//! kernel is stopped (one CPU), and the same commands work on the dump of a dead
//! kernel as on a live one.

mod callout;
mod cpu;
mod kmem;
mod line;
mod proc;
mod sig;
mod swap;
pub mod sym;
mod sync;
mod thread;

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use arch::{Machine, WalkFrom};

pub(crate) use crate::displock::peek;
use crate::thread::{allthreads, curthread, KThread, ThreadState};
use crate::M;

pub use line::poll_break;

/// Why the debugger was entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// At boot: the boot argument `kmdb`.
    Boot,
    /// The break sequence on the console.
    Break,
    /// Code asked for it ([`enter`]).
    Request,
    /// A panic: the kernel cannot go on.
    Panic,
    /// A trap nobody expected: the kernel cannot go on.
    Trap,
}

impl Why {
    fn fatal(self) -> bool {
        matches!(self, Why::Panic | Why::Trap)
    }

    fn says(self) -> &'static str {
        match self {
            Why::Boot => "at boot (boot argument kmdb)",
            Why::Break => "on the break sequence",
            Why::Request => "on request",
            Why::Panic => "after a panic",
            Why::Trap => "after a fatal trap",
        }
    }
}

/// Times the debugger was entered, by [`Why`] (for tests, which check that a way
/// in really led in).
static ENTRIES: [AtomicU32; 5] = [const { AtomicU32::new(0) }; 5];
/// Set while the debugger has the console: the clock's watch for the break
/// sequence then leaves the input alone.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Set from the start of a boot that is to stop in the debugger (`kmdb`) until it
/// does: what was typed meanwhile is for the boot's prompt, and the clock, which
/// runs before the prompt does, leaves it alone too.
static BOOT_PROMPT: AtomicBool = AtomicBool::new(false);
/// Set once the kernel has died (a panic, a fatal trap): `::continue` is refused,
/// and `::poweroff` stops with failure.
static DEAD: AtomicBool = AtomicBool::new(false);
/// Set while the dump of a dying kernel is printed: a panic inside it stops there.
static DUMPING: AtomicBool = AtomicBool::new(false);

/// How many times the debugger was entered for `why`.
pub fn entries(why: Why) -> u32 {
    ENTRIES[why as usize].load(Ordering::SeqCst)
}

/// Whether the boot arguments ask for the debugger (the word `kmdb`).
pub fn requested(bootargs: &str) -> bool {
    bootargs.split_whitespace().any(|w| w == "kmdb")
}

/// Keeps the console's input for the prompt the boot stops at (see
/// `BOOT_PROMPT`): called before the clock starts, by a boot that will enter the
/// debugger.
pub fn keep_input_for_boot() {
    BOOT_PROMPT.store(true, Ordering::SeqCst);
}

/// Whether the console's input is the debugger's now: it has the console, or the
/// boot is on its way to its prompt.
fn owns_input() -> bool {
    ACTIVE.load(Ordering::Relaxed) || BOOT_PROMPT.load(Ordering::Relaxed)
}

/// What the loop does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Prompt for the next command.
    Stay,
    /// Leave the debugger: the kernel goes on (`::continue`).
    Continue,
}

/// The arguments of a command line: `[ADDR]::name [WORD...]` (mdb's form; an
/// address may also come after the name). Addresses are hexadecimal, with or
/// without `0x`; process ids are decimal, as `::ps` prints them.
pub struct Args<'a> {
    /// The address before `::`, if any.
    pub addr: Option<usize>,
    words: &'a str,
}

impl<'a> Args<'a> {
    /// The words after the command's name.
    pub fn words(&self) -> impl Iterator<Item = &'a str> {
        self.words.split_whitespace()
    }

    /// Whether flag `f` (`-v`) was given.
    pub fn flag(&self, f: &str) -> bool {
        self.words().any(|w| w == f)
    }

    /// The words that are not flags.
    fn operands(&self) -> impl Iterator<Item = &'a str> {
        self.words().filter(|w| !w.starts_with('-'))
    }

    /// The address the command applies to: before `::`, or its first operand;
    /// `Err` with the word if that is no number.
    pub fn address(&self) -> Result<Option<usize>, &'a str> {
        match (self.addr, self.operands().next()) {
            (Some(a), _) => Ok(Some(a)),
            (None, Some(w)) => parse_hex(w).map(Some).ok_or(w),
            (None, None) => Ok(None),
        }
    }
}

/// A hexadecimal number, with or without `0x`.
fn parse_hex(w: &str) -> Option<usize> {
    let digits = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")).unwrap_or(w);
    usize::from_str_radix(digits, 16).ok()
}

/// A debugger command (mdb's "dcmd").
pub struct Dcmd {
    /// What the user types after `::` to run it.
    pub name: &'static str,
    /// What it takes, as `::help` shows it.
    pub usage: &'static str,
    /// One line saying what it does, as `::help` shows it.
    pub help: &'static str,
    /// Runs it with the command line's arguments, writing what it shows to the
    /// writer; says whether the debugger prompts again or lets the kernel go on.
    pub run: fn(&Args<'_>, &mut dyn Write) -> Result<Next, fmt::Error>,
}

/// Every command, group by group.
const DCMDS: &[&[Dcmd]] = &[
    proc::DCMDS,
    sig::DCMDS,
    thread::DCMDS,
    sync::DCMDS,
    cpu::DCMDS,
    callout::DCMDS,
    kmem::DCMDS,
    swap::DCMDS,
    CONTROL,
];

/// The commands that steer the debugger itself.
const CONTROL: &[Dcmd] = &[
    Dcmd { name: "help", usage: "", help: "list the commands", run: help },
    Dcmd {
        name: "continue",
        usage: "",
        help: "leave the debugger; the kernel goes on (not after a panic)",
        run: continue_,
    },
    Dcmd { name: "reboot", usage: "", help: "reset the machine", run: reboot },
    Dcmd {
        name: "poweroff",
        usage: "",
        help: "stop the machine (with failure if the kernel died)",
        run: poweroff,
    },
];

fn help(_: &Args<'_>, out: &mut dyn Write) -> Result<Next, fmt::Error> {
    for d in DCMDS.iter().flat_map(|g| g.iter()) {
        let call = alloc::format!("::{} {}", d.name, d.usage);
        writeln!(out, "{call:<28} {}", d.help)?;
    }
    writeln!(out, "addresses are hexadecimal (ADDR::cmd or ::cmd ADDR); pids are decimal")?;
    Ok(Next::Stay)
}

fn continue_(_: &Args<'_>, out: &mut dyn Write) -> Result<Next, fmt::Error> {
    if DEAD.load(Ordering::SeqCst) {
        writeln!(out, "kmdb: the kernel died: it cannot go on; ::reboot or ::poweroff")?;
        return Ok(Next::Stay);
    }
    Ok(Next::Continue)
}

fn reboot(_: &Args<'_>, out: &mut dyn Write) -> Result<Next, fmt::Error> {
    writeln!(out, "kmdb: rebooting")?;
    M::reboot()
}

fn poweroff(_: &Args<'_>, out: &mut dyn Write) -> Result<Next, fmt::Error> {
    writeln!(out, "kmdb: powering off")?;
    M::halt(!DEAD.load(Ordering::SeqCst))
}

/// Runs one command line, printing to `out`: what the prompt does with each line,
/// and what tests call. An empty line does nothing.
pub fn exec(line: &str, out: &mut dyn Write) -> Next {
    let line = line.trim();
    if line.is_empty() {
        return Next::Stay;
    }
    let Some((before, rest)) = line.split_once("::") else {
        let _ = writeln!(out, "kmdb: commands start with '::' (::help lists them)");
        return Next::Stay;
    };
    let addr = match before.trim() {
        "" => None,
        a => match parse_hex(a) {
            Some(a) => Some(a),
            None => {
                let _ = writeln!(out, "kmdb: '{a}' is not an address");
                return Next::Stay;
            }
        },
    };
    let (name, words) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let Some(d) = DCMDS.iter().flat_map(|g| g.iter()).find(|d| d.name == name) else {
        let _ = writeln!(out, "kmdb: no command '::{name}' (::help lists them)");
        return Next::Stay;
    };
    (d.run)(&Args { addr, words }, out).unwrap_or(Next::Stay)
}

/// A column of a listing: its width, and whether its cells are right-aligned
/// (numbers, as mdb prints them) or left-aligned (names, addresses).
pub(crate) struct Col(usize, bool);

/// A left-aligned column of `width`.
pub(crate) const fn l(width: usize) -> Col {
    Col(width, false)
}

/// A right-aligned column of `width`.
pub(crate) const fn r(width: usize) -> Col {
    Col(width, true)
}

/// Writes one line of a listing, its header as its rows: each cell padded to its
/// column, a blank between them; cells beyond the columns (a name, notes) as they
/// are; no blank at the end.
pub(crate) fn row(out: &mut dyn Write, cols: &[Col], cells: &[&dyn fmt::Display]) -> fmt::Result {
    let mut line = alloc::string::String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        match cols.get(i) {
            Some(&Col(w, true)) => write!(line, "{cell:>w$}")?,
            Some(&Col(w, false)) => write!(line, "{cell:<w$}")?,
            None => write!(line, "{cell}")?,
        }
    }
    writeln!(out, "{}", line.trim_end())
}

/// The console device, written directly: the debugger may have stopped the
/// kernel inside its console lock.
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        M::console_write(s.as_bytes());
        Ok(())
    }
}

/// Opens the debugger's console on this CPU and runs commands until one lets the
/// kernel go on (`::continue`; never, when the kernel died). Interrupts are off
/// meanwhile: this CPU's kernel is stopped.
pub fn enter(why: Why) {
    let was = M::intr_disable();
    ENTRIES[why as usize].fetch_add(1, Ordering::SeqCst);
    if why.fatal() {
        DEAD.store(true, Ordering::SeqCst);
    }
    let nested = ACTIVE.swap(true, Ordering::SeqCst);
    BOOT_PROMPT.store(false, Ordering::SeqCst);
    let out = &mut Console;
    let _ = writeln!(out, "\nkmdb: kernel stopped {} on cpu {}", why.says(), M::cpu_id());
    let next = if DEAD.load(Ordering::SeqCst) {
        "the kernel died: ::reboot or ::poweroff ends it"
    } else {
        "::continue resumes"
    };
    let _ = writeln!(out, "kmdb: ::help lists the commands; {next}");
    let mut buf = [0u8; line::MAX];
    loop {
        let _ = write!(out, "[{}]> ", M::cpu_id());
        let line = line::read(&mut buf);
        if exec(line, out) == Next::Continue {
            break;
        }
    }
    let _ = writeln!(out, "kmdb: resuming");
    ACTIVE.store(nested, Ordering::SeqCst);
    M::intr_restore(was);
}

/// At a panic or a fatal trap, after the machine's report: prints the dump —
/// every thread (`::threadlist`) and the dying thread's stack (from `stack`: its
/// own frame, or the trapped one) — then, with the boot argument `kmdb`, keeps
/// the console open on the dead kernel. Returns when the caller should stop the
/// machine. A panic inside the dump ends the dump.
pub fn fatal(why: Why, stack: WalkFrom) {
    M::intr_disable();
    DEAD.store(true, Ordering::SeqCst);
    if DUMPING.swap(true, Ordering::SeqCst) {
        let _ = writeln!(Console, "*** kmdb: the dump itself failed; stopping");
        return;
    }
    let out = &mut Console;
    let what = if why == Why::Trap { "trap" } else { "panic" };
    let _ = writeln!(out, "*** kmdb: the threads at the {what}:");
    let _ = exec("::threadlist", out);
    let _ = writeln!(out, "*** kmdb: the stack of the thread of the {what}:");
    let _ = thread::findstack(curthread(), Some(stack), out);
    if requested(M::boot_args()) {
        enter(why);
    }
}

/// The machine's `fatal_trap` upcall: a trap nobody expected, at `pc` with the
/// trapped stack at `sp`.
pub fn fatal_trap(pc: usize, sp: usize) {
    fatal(Why::Trap, WalkFrom::Trap { pc, sp })
}

/// The thread structure at `addr`, if one is there (a number typed at the prompt
/// is only ever compared, never followed).
pub fn thread_at(addr: usize) -> Option<&'static KThread> {
    allthreads().find(|t| *t as *const KThread as usize == addr)
}

/// Threads in use, for listings: all but the cached ones (a CPU's idle thread is
/// in use from its making, though it is `Free` until it first runs).
fn live_threads() -> impl Iterator<Item = &'static KThread> {
    allthreads().filter(|t| t.state() != ThreadState::Free || is_idle_thread(t))
}

/// Whether `t` is some CPU's idle thread.
fn is_idle_thread(t: &KThread) -> bool {
    crate::cpu::cpus().iter().any(|c| c.is_idle(t))
}
