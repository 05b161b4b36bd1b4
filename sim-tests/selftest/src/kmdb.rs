//! The debugger's self-tests: every console command runs against the showcase
//! (`showcase`: processes, LWPs and threads whose states, wait channels and
//! owners are known), and its output is read back column by column.
//!
//! Listings are snapshots of a kernel that goes on running (on the host
//! simulation, other CPUs change things meanwhile; a timed wait ends, a spinner is
//! preempted): a check that finds the world moved waits for the showcase to
//! settle again and looks once more, up to three times.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use arch::Machine;

use crate::showcase::{self, Arrangement, ALARM, GATE, LOCK, SEM};
use crate::{ensure, ensure_eq, skip, wait_for, Test, TestResult};
use kern::cpu::cpus;
use kern::kmdb::{self, sym};
use kern::proc::{prfind, Pid};
use kern::swap;
use kern::sync::{CondVar, Sema};
use kern::thread::{allthreads, KThread, ThreadState};
use kern::{rctl, M};

/// The debugger suite, in the order it runs.
pub static KMDB: &[Test] = &[
    Test::new("kmdb_ps", kmdb_ps),
    Test::new("kmdb_lwps", kmdb_lwps),
    Test::new("kmdb_threadlist", kmdb_threadlist),
    Test::new("kmdb_threadlist_verbose", kmdb_threadlist_verbose),
    Test::new("kmdb_findstack", kmdb_findstack),
    Test::new("kmdb_turnstile", kmdb_turnstile),
    Test::new("kmdb_callout", kmdb_callout),
    Test::new("kmdb_cpuinfo", kmdb_cpuinfo),
    Test::new("kmdb_kmastat", kmdb_kmastat),
    Test::new("kmdb_swapinfo", kmdb_swapinfo),
    Test::new("kmdb_commands_and_errors", kmdb_commands_and_errors),
    Test::new("kmdb_symbols", kmdb_symbols),
    Test::explicit("kmdb_break_sequence", kmdb_break_sequence),
];

/// What a command prints.
fn run(cmd: &str) -> String {
    let mut out = String::new();
    kmdb::exec(cmd, &mut out);
    out
}

/// The fields of the line of `out` whose field `col` is `key`.
fn row<'a>(out: &'a str, col: usize, key: &str) -> Result<Vec<&'a str>, String> {
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(col) == Some(&key))
        .ok_or_else(|| format!("no line with {key} in column {col} in:\n{out}"))
}

fn addr(t: &KThread) -> String {
    Arrangement::addr(t)
}

fn hex(a: usize) -> String {
    format!("{a:016x}")
}

/// Runs `check` in the showcase; if the world moved under it, settles and looks
/// again (three times at most).
fn in_showcase(check: fn(&Arrangement) -> TestResult) -> TestResult {
    showcase::with_tries(check, 3)
}

fn kmdb_ps() -> TestResult {
    in_showcase(|a| {
        let out = run("::ps");
        ensure!(out.starts_with("S    PID   PPID  NLWP NZOMB"), "header:\n{out}");
        let me = a.showcase.0.to_string();
        let pid = |p: Pid| p.0.to_string();
        let n = M::ncpus() + 1;
        for (p, s, ppid, nlwp, nzomb, name) in [
            (pid(a.showcase), "R", "0", 5, 1, "showcase"),
            (pid(a.sleepers), "R", me.as_str(), 3, 0, "sleepers"),
            (pid(a.spinners), "R", me.as_str(), n, 0, "spinners"),
            (pid(a.zombie), "Z", me.as_str(), 0, 0, "zombie"),
        ] {
            let f = row(&out, 1, &p)?;
            let want = [s, &p, ppid, &nlwp.to_string(), &nzomb.to_string()];
            ensure_eq!(f[..5], want);
            ensure_eq!(f[8], name);
            let proc_addr =
                prfind(Pid(p.parse().unwrap_or(0))).map(|pr| hex(pr as *const _ as usize));
            ensure_eq!(Some(f[7].to_string()), proc_addr);
        }
        ensure_eq!(row(&out, 1, "0")?[8], "sched");
        Ok(())
    })
}

/// Where the showcase's LWP 5 has its `lwp` structure: out, if the machine has a
/// swap device to put it on.
fn out_if_swap() -> &'static str {
    if kern::swap::has_device() {
        "out"
    } else {
        "in"
    }
}

fn kmdb_lwps() -> TestResult {
    in_showcase(|a| {
        let out = run(&format!("::lwps {}", a.showcase.0));
        ensure!(out.starts_with(" LWP THREAD"), "header:\n{out}");
        let lock = hex(LOCK.addr());
        // LWP, THREAD, STATE, CLS, PRI, WCHAN, SOBJ, LWPD, then notes.
        for (id, t, state, cls, pri, wchan, sobj, lwpd) in [
            ("1", a.lister, "onproc", "TS", None, "-", "-", "in"),
            ("2", a.holder, "stopped", "TS", Some("100*"), "-", "-", "in"),
            ("3", a.blocker, "sleep", "RT", Some("100"), lock.as_str(), "mutex", "in"),
            ("4", a.waiter, "sleep", "TS", None, "", "event", "in"),
            ("5", a.swapped, "stopped", "TS", None, "-", "-", out_if_swap()),
        ] {
            let f = row(&out, 0, id)?;
            let thread = addr(t);
            ensure_eq!(f[1..4], [thread.as_str(), state, cls]);
            if let Some(pri) = pri {
                ensure_eq!(f[4], pri);
            }
            if !wchan.is_empty() {
                ensure_eq!(f[5], wchan);
            }
            ensure_eq!(f[6..8], [sobj, lwpd]);
        }
        let line = |id: &str| out.lines().find(|l| l.split_whitespace().next() == Some(id));
        ensure!(line("2").is_some_and(|l| l.ends_with("held")), "LWP 2 is held:\n{out}");
        ensure!(line("3").is_some_and(|l| l.ends_with("1 waiting for it")), "LWP 4 waits:\n{out}");
        ensure!(line("4").is_some_and(|l| l.ends_with("in lwp_wait(3)")), "in lwp_wait:\n{out}");
        // Its times and switches are known while it is out: they stay in memory
        // with its slot (it never ran: none).
        ensure_eq!(row(&out, 0, "5")?[8..12], ["0", "0", "0", "0"]);
        // The LWPs asleep on the mutex and in `lwp_wait` switched away to sleep.
        for id in ["3", "4"] {
            let vcsw = row(&out, 0, id)?[10].parse::<u64>().map_err(|e| format!("{e}"))?;
            ensure!(vcsw >= 1, "LWP {id} slept without a voluntary switch:\n{out}");
        }
        ensure_eq!(row(&out, 0, "6")?[1..3], ["-", "zombie"]);
        ensure!(run("::lwps 0").contains("pid 0 has no LWPs"), "pid 0");
        ensure!(run("::lwps 987654").contains("no process 987654"), "an unknown pid");
        ensure!(run("::lwps x").contains("::lwps PID"), "usage");
        Ok(())
    })
}

/// The threadlist line of `t` (THREAD TID PID LWP STATE CLS PRI CPU WCHAN SOBJ OWNER
/// LWPD NAME), checked against what the showcase says of it.
#[allow(clippy::too_many_arguments)]
fn thread_row(
    out: &str,
    t: &KThread,
    pid: &str,
    lwp: &str,
    state: &str,
    pri: &str,
    wchan: &str,
    sobj: &str,
    owner: &str,
    lwpd: &str,
) -> TestResult {
    let f = row(out, 0, &addr(t))?;
    ensure_eq!(f[1], t.id().to_string());
    ensure_eq!(f[2..5], [pid, lwp, state]);
    if !pri.is_empty() {
        ensure_eq!(f[6], pri);
    }
    if !wchan.is_empty() {
        ensure_eq!(f[8], wchan);
    }
    ensure_eq!(f[9..12], [sobj, owner, lwpd]);
    Ok(())
}

fn kmdb_threadlist() -> TestResult {
    in_showcase(|a| {
        let out = run("::threadlist");
        ensure!(out.starts_with("THREAD             TID   PID  LWP STATE"), "header:\n{out}");
        let sc = a.showcase.0.to_string();
        let sl = a.sleepers.0.to_string();
        let holder_tid = a.holder.id().to_string();
        let lock = hex(LOCK.addr());
        let gate = hex(&GATE as *const CondVar as usize);
        let sem = hex(&SEM as *const Sema as usize);
        let alarm = hex(&ALARM as *const CondVar as usize);
        thread_row(&out, a.lister, &sc, "1", "onproc", "", "-", "-", "-", "in")?;
        thread_row(&out, a.holder, &sc, "2", "stopped", "100*", "-", "-", "-", "in")?;
        thread_row(&out, a.blocker, &sc, "3", "sleep", "100", &lock, "mutex", &holder_tid, "in")?;
        thread_row(&out, a.waiter, &sc, "4", "sleep", "", "", "event", "-", "in")?;
        thread_row(&out, a.swapped, &sc, "5", "stopped", "", "-", "-", "-", out_if_swap())?;
        thread_row(&out, a.on_cv, &sl, "1", "sleep", "", &gate, "cv", "-", "in")?;
        thread_row(&out, a.on_sema, &sl, "2", "sleep", "", &sem, "sema", "-", "in")?;
        thread_row(&out, a.timed, &sl, "3", "sleep", "", &alarm, "cv", "-", "in")?;
        // The thread that made the showcase is a kernel thread (S2) in proc_wait.
        thread_row(&out, a.maker, "-", "-", "sleep", "", "", "event", "-", "-")?;
        let states: Vec<&str> = a
            .spinning
            .iter()
            .map(|t| row(&out, 0, &addr(t)).map(|f| f[4]))
            .collect::<Result<_, _>>()?;
        ensure!(states.iter().all(|s| *s == "run" || *s == "onproc"), "spinners: {states:?}");
        ensure!(states.contains(&"run"), "one spinner waits on a run queue: {states:?}");
        ensure_eq!(row(&out, 12, "reaper")?[4], "sleep");
        // An LWP's thread goes by its process's name.
        ensure_eq!(row(&out, 0, &addr(a.lister))?[12], "showcase");
        ensure_eq!(row(&out, 0, &addr(a.on_cv))?[12], "sleepers");
        // Every thread in use is listed (a CPU's idle thread too), once, and none else.
        let idle = |t: &KThread| cpus().iter().any(|c| c.is_idle(t));
        for t in allthreads() {
            let want = usize::from(t.state() != ThreadState::Free || idle(t));
            let lines = out.lines().filter(|l| l.starts_with(&addr(t))).count();
            ensure_eq!((addr(t), lines), (addr(t), want));
        }
        Ok(())
    })
}

fn kmdb_threadlist_verbose() -> TestResult {
    in_showcase(|a| {
        let out = run("::threadlist -v");
        // A thread's line and the detail lines under it, up to the next thread's.
        let after = |t: &KThread| {
            let at = out.find(&format!("\n{}", addr(t))).map_or(out.len(), |i| i + 1);
            let end = out[at..].find("\n0").map_or(out.len(), |e| at + e);
            String::from(&out[at..end])
        };
        let blocked = after(a.blocker);
        let owner = format!("owned by tid {} (pid {} lwp 2)", a.holder.id(), a.showcase.0);
        ensure!(blocked.contains(&format!("turnstile of mutex {:#x}", LOCK.addr())), "{blocked}");
        ensure!(blocked.contains(&owner), "{blocked}");
        let held = after(a.holder);
        ensure!(held.contains("runs at inherited priority 100"), "{held}");
        ensure!(held.contains("HOLDLWP"), "{held}");
        let waiting = after(a.waiter);
        ensure!(waiting.contains(&format!("event p_lwpexit of pid {}", a.showcase.0)), "{waiting}");
        ensure!(after(a.on_cv).contains("asleep on condition variable"), "{}", after(a.on_cv));
        ensure!(after(a.maker).contains("event p_childexit of pid 0"), "{}", after(a.maker));
        Ok(())
    })
}

fn kmdb_findstack() -> TestResult {
    in_showcase(|a| {
        let out = run(&format!("::findstack {}", addr(a.on_cv)));
        let who = format!(
            "stack of thread {}, tid {} (pid {} lwp 1) (sleep):",
            addr(a.on_cv),
            a.on_cv.id(),
            a.sleepers.0
        );
        ensure!(out.starts_with(&who), "header:\n{out}");
        ensure!(run("::findstack 12345").contains("no thread at 0000000000012345"), "no thread");
        ensure!(run("::findstack 0xnope").contains("'0xnope' is not an address"), "bad address");
        if out.contains("(no stack walk on this machine)") {
            skip!("this machine cannot walk its stacks");
        }
        // Innermost first: the switch in the sleep, then the condition variable, then
        // the LWP's own function.
        let frames: Vec<&str> =
            out.lines().skip(1).filter_map(|l| l.split_whitespace().nth(1)).collect();
        let at = |name: &str| frames.iter().position(|f| f.starts_with(name));
        let (sleep, cv, body) = (
            at("kern::sleepq::sleep"),
            at("<kern::sync::condvar::CondVar>::"),
            at("kern_selftest::showcase::on_gate"),
        );
        ensure!(sleep.is_some() && cv.is_some() && body.is_some(), "frames: {frames:?}");
        ensure!(sleep < cv && cv < body, "frames out of order: {frames:?}");
        // The current thread: from the command's own caller down (its own frames left out).
        let mine = run("::findstack");
        ensure!(mine.contains("kern_selftest::kmdb::"), "the current stack:\n{mine}");
        ensure!(!mine.contains("kern::kmdb::thread::"), "the debugger's own frames:\n{mine}");
        // Never run: nothing to walk.
        ensure!(
            run(&format!("::findstack {}", addr(a.swapped))).contains("has not run yet"),
            "LWP 5"
        );
        Ok(())
    })
}

fn kmdb_turnstile() -> TestResult {
    in_showcase(|a| {
        let lock = hex(LOCK.addr());
        let out = run(&format!("{lock}::turnstile"));
        let owner = format!(
            ": owner {}, tid {} (pid {} lwp 2), at priority 100 (inherited)",
            addr(a.holder),
            a.holder.id(),
            a.showcase.0
        );
        ensure!(out.starts_with(&format!("lock {lock}")) && out.contains(&owner), "{out}");
        ensure!(out.contains("1 waiting, highest priority first:"), "{out}");
        let f = row(&out, 0, &addr(a.blocker))?;
        ensure_eq!(f[1..4], ["mutex", "pri", "100"]);
        ensure!(run("::turnstile").contains(&owner), "every turnstile");
        ensure!(run("::turnstile 10").contains("nobody is blocked on it"), "no turnstile");
        Ok(())
    })
}

fn kmdb_callout() -> TestResult {
    in_showcase(|a| {
        let out = run("::callout");
        ensure!(out.contains("CALLOUT              EXPIRE   DUE IN ACTION"), "header:\n{out}");
        let wake = format!("end the timed sleep of {}, tid {}", addr(a.timed), a.timed.id());
        let line =
            out.lines().find(|l| l.contains(&wake)).ok_or_else(|| format!("{wake}:\n{out}"))?;
        let f: Vec<&str> = line.split_whitespace().collect();
        let (expire, due) =
            (f[1].parse::<u64>().unwrap_or(0), f[2].parse::<u64>().unwrap_or(u64::MAX));
        let hz = u64::from(kern::clock::hz());
        ensure!(due <= 10 * hz && expire >= kern::clock::lbolt(), "a wait of 10 s: {line}");
        ensure!(f[0].len() == 16 && usize::from_str_radix(f[0], 16).is_ok(), "{line}");
        Ok(())
    })
}

fn kmdb_cpuinfo() -> TestResult {
    in_showcase(|a| {
        let out = run("::cpuinfo -v");
        ensure!(out.starts_with(" ID THREAD"), "header:\n{out}");
        for c in 0..M::ncpus() {
            row(&out, 0, &c.to_string())?;
        }
        // This LWP runs on its CPU, at its priority.
        let f = row(&out, 1, &addr(a.lister))?;
        ensure_eq!(f[0], a.lister.cpu().to_string());
        ensure_eq!(f[2], a.lister.pri().to_string());
        // With one spinner more than CPUs, one waits on some run queue: the queues'
        // lines start with the thread (a CPU's line, with its id).
        let queued = |t: &&KThread| out.lines().any(|l| l.starts_with(&addr(t)));
        ensure!(a.spinning.iter().any(queued), "no spinner queued:\n{out}");
        Ok(())
    })
}

fn kmdb_kmastat() -> TestResult {
    in_showcase(|a| {
        let out = run("::kmastat");
        ensure!(
            out.starts_with("cache                buf size   in use    total     memory"),
            "{out}"
        );
        let num = |f: &[&str], i: usize| f[i].parse::<usize>().unwrap_or(0);
        let threads = row(&out, 0, "kthread")?;
        ensure_eq!(num(&threads, 1), core::mem::size_of::<KThread>());
        ensure_eq!(num(&threads, 2), kern::thread::nthreads() as usize);
        let lwps = row(&out, 0, "lwp")?;
        ensure!(num(&lwps, 2) >= 5 + 3 + a.spinning.len(), "the showcase's LWPs:\n{out}");
        let procs = row(&out, 0, "proc")?;
        ensure!(num(&procs, 2) >= 4, "its processes:\n{out}");
        ensure!(num(&procs, 3) >= num(&procs, 2), "in use within the total:\n{out}");
        let l = rctl::limits();
        let limits = format!("threads {} of {}", kern::thread::nthreads(), l.max_threads);
        ensure!(out.contains(&limits), "{limits}:\n{out}");
        ensure!(out.contains(&format!("processes {} of {}", num(&procs, 2), l.max_procs)), "{out}");
        ensure!(out.contains("heap: ") && out.contains("KiB free"), "{out}");
        Ok(())
    })
}

/// `::swapinfo` against the showcase, whose LWP 5 is swapped out: the device's
/// slots and every count as `swap::stats` has them, and LWP 5 listed with its
/// thread, its image's size and its CPU times — read from what stays in memory.
fn kmdb_swapinfo() -> TestResult {
    if !swap::has_device() {
        let out = run("::swapinfo");
        ensure!(out.contains("swap: no swap device"), "{out}");
        return Ok(());
    }
    in_showcase(|a| {
        let out = run("::swapinfo");
        let s = swap::stats();
        ensure!(out.starts_with("device: "), "{out}");
        let slots = format!("{} slots of {} KiB", s.slots, swap::SLOT_SIZE / 1024);
        ensure!(out.lines().next().is_some_and(|l| l.ends_with(&slots)), "{slots}:\n{out}");
        let used = format!("slots: {} used, {} free", s.slots_used, s.slots - s.slots_used);
        ensure!(out.contains(&used), "{used}:\n{out}");
        let swapper = swap::swapper_thread().ok_or("no swapper")?;
        ensure!(out.contains(&format!("swapper: thread {}, mode Off", addr(swapper))), "{out}");
        let counts =
            format!("LWPs out: {}; swap-outs {}, swap-ins {};", s.lwps_out, s.swapouts, s.swapins);
        ensure!(out.contains(&counts), "{counts}:\n{out}");
        let io = format!(
            "I/O: {} writes, {} reads; errors: {} on writes, {} on reads; {} LWPs lost",
            s.writes, s.reads, s.write_errors, s.read_errors, s.lost
        );
        ensure!(out.contains(&io), "{io}:\n{out}");
        // PID LWP THREAD SLOT BYTES UTIME STIME: LWP 5 never ran.
        let f = row(&out, 2, &addr(a.swapped))?;
        let pid = a.showcase.0.to_string();
        ensure_eq!(f[..2], [pid.as_str(), "5"]);
        ensure_eq!(f[5..7], ["0", "0"]);
        let bytes = f[4].parse::<usize>().unwrap_or(0);
        ensure!(bytes > 0 && bytes <= swap::SLOT_SIZE, "an image of {bytes} bytes");
        ensure!(f[3].parse::<u32>().is_ok_and(|slot| slot < s.slots), "slot {}", f[3]);
        let listed = format!("({} out, 0 being written)", s.lwps_out);
        ensure!(out.contains(&listed), "{listed}:\n{out}");
        Ok(())
    })
}

fn kmdb_commands_and_errors() -> TestResult {
    let help = run("::help");
    for cmd in [
        "ps",
        "lwps",
        "sig",
        "threadlist",
        "findstack",
        "kmastat",
        "callout",
        "cpuinfo",
        "turnstile",
        "swapinfo",
        "continue",
        "reboot",
        "poweroff",
    ] {
        ensure!(help.contains(&format!("::{cmd} ")), "::help lacks ::{cmd}:\n{help}");
    }
    ensure!(run("::nonesuch").contains("no command '::nonesuch'"), "an unknown command");
    ensure!(run("ps").contains("commands start with '::'"), "no ::");
    ensure!(run("zz::findstack").contains("'zz' is not an address"), "a bad address");
    ensure_eq!(run("   "), "");
    ensure_eq!(kmdb::exec("::continue", &mut String::new()), kmdb::Next::Continue);
    ensure_eq!(kmdb::exec("::ps", &mut String::new()), kmdb::Next::Stay);
    Ok(())
}

fn kmdb_symbols() -> TestResult {
    if !sym::available() {
        skip!("the kernel image of this machine carries no symbol table");
    }
    let main = kern::boot::main as *const () as usize;
    let s = sym::by_name("kern::boot::main").ok_or("kern::boot::main is not in the table")?;
    ensure_eq!(s.addr, main);
    ensure_eq!(format!("{}", sym::Addr(main + 4)), "kern::boot::main+0x4");
    let proc0 = &kern::proc::PROC0 as *const _ as usize;
    ensure_eq!(format!("{}", sym::Addr(proc0)), "kern::proc::PROC0");
    ensure_eq!(sym::lookup(8), None);
    Ok(())
}

/// Run by `scripts/test` (and a host test) with input: waits, up to a minute, for
/// the break sequence on the console to stop the kernel in the debugger, and for
/// the debugger to let it go on.
fn kmdb_break_sequence() -> TestResult {
    let before = kmdb::entries(kmdb::Why::Break);
    kern::kprintln!("kmdb_break_sequence: waiting for the break sequence");
    wait_for("the break sequence", 60, || kmdb::entries(kmdb::Why::Break) > before)?;
    Ok(())
}
