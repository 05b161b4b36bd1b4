//! kmdb's `::sig` on the host simulation: a process of two kernel LWPs with
//! dispositions of its own (S10), a mask per LWP (S11), a signal pending on the
//! process because both mask it (S14) and one pending on LWP 1 alone; `::sig`
//! shows each where the kernel keeps it, called directly and typed on the console
//! after the break sequence.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use arch::sim::{self, SimConfig};
use kern::kmdb::{self, Why};
use kern::lwp::{lwp_create, LwpFlags, LwpId};
use kern::proc::life::proc_create;
use kern::proc::Pid;
use kern::signal::{self, Sig, SigAct, SigDisp, SigSet};
use kern::thread::curproc;
use kern_selftest::{reap, wait_for, Suite, Test, TestResult};
use lwp_abi::{
    SA_RESTART, SA_SIGINFO, SIGHUP, SIGINT, SIGKILL, SIGTERM, SIGUSR1, SIGUSR2, SIG_BLOCK,
    SIG_SETMASK,
};

/// LWPs of the process that have set their state up.
static READY: AtomicU32 = AtomicU32::new(0);
/// Nonzero: the process's LWPs may end.
static DONE: AtomicU64 = AtomicU64::new(0);

fn set(sigs: &[u64]) -> SigSet {
    sigs.iter().fold(SigSet::EMPTY, |s, &n| s.with(Sig::new(n).expect("a signal")))
}

/// Sleeps (not interruptibly: nothing it masks wakes it) until the test is done.
fn idle() {
    READY.fetch_add(1, Ordering::SeqCst);
    while DONE.load(Ordering::SeqCst) == 0 {
        kern::sleepq::delay(1);
    }
}

/// LWP 2: masks SIGHUP and SIGUSR2.
fn second(_: usize) {
    let _ = signal::sigprocmask(SIG_SETMASK, Some(set(&[SIGHUP, SIGUSR2])));
    idle();
}

/// LWP 1: the dispositions, its mask (SIGTERM and SIGUSR2), LWP 2, and the
/// signals that stay pending.
fn first(_: usize) {
    let catch = SigAct {
        disp: SigDisp::Catch(0x4000),
        flags: SA_RESTART | SA_SIGINFO,
        mask: set(&[SIGTERM]),
    };
    let ignore = SigAct { disp: SigDisp::Ignore, ..SigAct::DEFAULT };
    let (Ok(_), Ok(_), Ok(_)) = (
        signal::sigaction(SIGINT, Some(catch)),
        signal::sigaction(SIGUSR1, Some(ignore)),
        signal::sigprocmask(SIG_BLOCK, Some(set(&[SIGTERM, SIGUSR2]))),
    ) else {
        return;
    };
    let Some(p) = curproc() else { return };
    if lwp_create(p, second, 0, LwpFlags::empty()).is_err() {
        return;
    }
    while READY.load(Ordering::SeqCst) == 0 {
        kern::sleepq::delay(1);
    }
    // Both mask SIGUSR2: it stays on the process; SIGTERM stays on LWP 1.
    let pid = u64::from(p.pid().0);
    if signal::kill(pid, SIGUSR2).is_ok() && signal::lwp_kill(LwpId(1), SIGTERM).is_ok() {
        idle();
    }
}

/// The fields of the line of `out` whose first field is `key`.
fn fields<'a>(out: &'a str, key: &str) -> Result<Vec<&'a str>, String> {
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.first() == Some(&key))
        .ok_or_else(|| format!("no line for {key} in:\n{out}"))
}

fn check(pid: Pid) -> TestResult {
    let mut out = String::new();
    kmdb::exec(&format!("::sig {}", pid.0), &mut out);
    let head = format!("process {} (sig-test): pending SIGUSR2", pid.0);
    if !out.starts_with(&head) {
        return Err(format!("the first line is not {head:?}:\n{out}"));
    }
    let want: [(&str, &[&str]); 5] = [
        ("SIGINT", &["SIGINT", "catch", "0x4000", "RESTART|SIGINFO", "SIGTERM"]),
        ("SIGUSR1", &["SIGUSR1", "ignore", "-", "-"]),
        ("LWP", &["LWP", "THREAD", "MASK", "PENDING", "CURSIG", "ALTSTACK"]),
        ("1", &["SIGTERM,SIGUSR2", "SIGTERM", "-", "-"]),
        ("2", &["SIGHUP,SIGUSR2", "-", "-", "-"]),
    ];
    for (key, cells) in want {
        let f = fields(&out, key)?;
        // The LWP rows: their thread's address is left out.
        let f = if key == "1" || key == "2" { &f[2..] } else { &f[..] };
        if f != cells {
            return Err(format!("the line of {key} is {f:?}, not {cells:?}:\n{out}"));
        }
    }
    if out.lines().count() != 7 {
        return Err(format!("other dispositions than SIGINT's and SIGUSR1's:\n{out}"));
    }
    for (cmd, says) in [
        ("::sig", "::sig PID"),
        ("::sig 0", "pid 0 takes no signals"),
        ("::sig 4000000", "no process 4000000"),
    ] {
        let mut o = String::new();
        kmdb::exec(cmd, &mut o);
        if !o.contains(says) {
            return Err(format!("{cmd} printed {o:?}, not {says:?}"));
        }
    }
    Ok(())
}

fn sig_shows_the_signal_state() -> TestResult {
    let pid = proc_create(first, 0).map_err(|e| format!("proc_create: {e}"))?;
    if let Some(p) = kern::proc::prfind(pid) {
        p.set_comm("sig-test");
    }
    wait_for("both LWPs set up", 10, || READY.load(Ordering::SeqCst) == 2)?;
    let checked = check(pid);
    // The same typed on the console, while the kernel runs.
    let before = kmdb::entries(Why::Break);
    sim::console_feed(format!("\r~\x02::sig {}\r::continue\r", pid.0).as_bytes());
    let entered = wait_for("the break sequence", 10, || kmdb::entries(Why::Break) > before);
    DONE.store(1, Ordering::SeqCst);
    signal::kill(u64::from(pid.0), SIGKILL).map_err(|e| format!("kill: {e}"))?;
    reap(pid)?;
    checked.and(entered)
}

static TESTS: &[Test] = &[Test::new("kmdb_sig", sig_shows_the_signal_state)];
static SUITES: &[Suite] = &[("kmdb", TESTS)];

#[test]
fn kmdb_sig_shows_dispositions_pending_signals_and_masks() {
    let mut config = SimConfig::new(2);
    config.timeout = Some(Duration::from_secs(60));
    let out = sim_tests::boot_suites(config, SUITES);
    let c = &out.console;
    println!("{c}");
    assert!(c.contains("test kmdb_sig ... ok"), "the test passed");
    let typed = c.find("]> ::sig ").expect("::sig typed on the console");
    let shown = c[typed..].find("(sig-test): pending SIGUSR2").expect("::sig's answer");
    // The other CPU runs on while the debugger has CPU 0: its lines may fall
    // between the echo of `::continue` and the debugger's "resuming".
    let resumed = c[typed..].find("]> ::continue\n").expect("::continue");
    assert!(shown < resumed);
    assert!(c[typed + resumed..].contains("kmdb: resuming"), "the debugger resumed");
    assert!(out.success);
}
