//! `::kmastat`: the kernel's memory by cache — thread structures and their stacks,
//! LWP handles and `lwp` structures, process structures —, the heap, and the
//! limits (`rctl`) that bound what user programs can make the kernel hold.
//!
//! Each cache is a kind of structure the kernel never frees but keeps for reuse
//! (`kmem`): "in use" are the live ones, "total" all ever made, the difference
//! is cached; stacks and `lwp` structures are what the caches give back when
//! memory runs low.

use core::fmt::{self, Write};

use arch::Machine;

use super::thread::World;
use super::{l, r, row, Args, Col, Dcmd, Next};
use crate::lwp::{self, Lwp, LwpData};
use crate::proc::{self, Proc};
use crate::thread::{self, allthreads, KThread, ThreadState};
use crate::{rctl, swap, M};

pub(super) const DCMDS: &[Dcmd] = &[Dcmd {
    name: "kmastat",
    usage: "",
    help: "the kernel's caches, its heap and its limits",
    run: kmastat,
}];

/// The columns of `::kmastat`.
const COLS: &[Col] = &[l(20), r(8), r(8), r(8), r(10)];

/// A count, or `?` when the lock that guards it was held.
fn or_unknown(v: Option<usize>) -> super::thread::Opt<usize> {
    super::thread::Opt(v)
}

fn kmastat(_: &Args<'_>, out: &mut dyn Write) -> Result<Next, fmt::Error> {
    row(out, COLS, &[&"cache", &"buf size", &"in use", &"total", &"memory"])?;
    let kt = core::mem::size_of::<KThread>();
    let (tin, ttotal) = (thread::nthreads() as usize, thread::nthreads_allocated());
    row(out, COLS, &[&"kthread", &kt, &tin, &ttotal, &(ttotal * kt)])?;
    // Every stack there is: of threads in use and of cached ones that kept theirs.
    let (mut stacks, mut stacks_inuse, mut bytes) = (0, 0, 0);
    for t in allthreads() {
        let b = M::context_stack_bytes(t.context());
        if b != 0 {
            stacks += 1;
            bytes += b;
            stacks_inuse += usize::from(t.state() != ThreadState::Free);
        }
    }
    row(
        out,
        COLS,
        &[&"kthread stack", &thread::DEFAULT_STACKSIZE, &stacks_inuse, &stacks, &bytes],
    )?;
    let lw = core::mem::size_of::<Lwp>();
    let (lin, ltotal) = (lwp::cache::nlwps() as usize, lwp::cache::nallocated() as usize);
    row(out, COLS, &[&"lwp", &lw, &lin, &ltotal, &(ltotal * lw)])?;
    // Each live LWP has its lwp structure in memory unless it is swapped out (then
    // `::swapinfo` shows it); cached handles keep the last one's block for the next.
    let ld = core::mem::size_of::<LwpData>();
    let ldin = lin.saturating_sub(swap::lwps_out() as usize);
    let kept = lwp::cache::cache_peek().map(|(_, blocks)| blocks);
    let ldtotal = kept.map(|k| ldin + k);
    row(
        out,
        COLS,
        &[&"lwp structure", &ld, &ldin, &or_unknown(ldtotal), &or_unknown(ldtotal.map(|n| n * ld))],
    )?;
    let pr = core::mem::size_of::<Proc>();
    let pin = World::take().procs.map(|p| p.len());
    let ptotal = proc::nallocated() as usize;
    row(out, COLS, &[&"proc", &pr, &or_unknown(pin), &ptotal, &(ptotal * pr)])?;
    writeln!(
        out,
        "(cached: {} threads with {} bytes of stack, {} LWP handles)",
        or_unknown(thread::cache_peek().map(|(n, _)| n)),
        or_unknown(thread::cache_peek().map(|(_, b)| b)),
        or_unknown(lwp::cache::cache_peek().map(|(n, _)| n)),
    )?;
    let heap = M::heap_stats();
    writeln!(
        out,
        "heap: {} KiB, {} KiB in use, {} KiB free",
        heap.total / 1024,
        heap.used / 1024,
        heap.free() / 1024
    )?;
    let pages = M::page_stats();
    writeln!(
        out,
        "page pool: {} pages, {} in use, {} free; stack limit {} KiB",
        pages.total,
        pages.used(),
        pages.free,
        rctl::stack_max() / 1024
    )?;
    let lim = rctl::limits();
    writeln!(
        out,
        "limits (rctl): threads {} of {}, LWPs {} of {} ({} per process), processes {} of {}",
        tin,
        lim.max_threads,
        lin,
        lim.max_lwps,
        lim.lwps_per_proc,
        or_unknown(pin),
        lim.max_procs
    )?;
    Ok(Next::Stay)
}
