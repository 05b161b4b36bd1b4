//! Suites on the seeded simulation (`arch::sim::Schedule::Seeded`), one boot per
//! child process, over many seeds and CPU counts: each test binary that sweeps
//! describes its sweep in a [`Sweep`] (`dispatch_seeds.rs`: the DISP and LWP suites;
//! `fuzz_seeded.rs`: the fuzzer; `user_signal_seeds.rs`: the user programs' and
//! signals' suites; `swap_seeds.rs`: the swapping races on a disk that fails by
//! chance).
//!
//! Kernel statics live once per process, so every boot needs a fresh one: the parent
//! test re-executes its own binary (`std::env::current_exe()`) with `--exact
//! seeded_child --ignored` and `SIM_CHILD=seed:ncpus` in an otherwise empty environment and with
//! address-space randomisation off (the kernel hashes some addresses: sleep queues by
//! wait channel), so that a child is the same process every time; the child test
//! boots once, prints the console between markers, and fails unless the kernel
//! passed. Two children of one seed print the same console byte for byte.
//!
//! Environment of the parent test:
//!
//! * `SIM_SEED` — the seeds to run: `1234`, `1,5,9` or `0..40` (default: the sweep's);
//!   set it to replay a failure: every child's console is then printed.
//! * `SIM_NCPUS` — the CPU counts: `4` or `1,2,8` (default: the sweep's).
//! * `SIM_BOOTARGS` — boot arguments for the kernel (`test=disp_sleeper*`), after the
//!   sweep's own; a different selection is a different run, so a replay must use the same.
//! * `SIM_CONSOLE=1` — the children echo their console as it is written.

use std::collections::VecDeque;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use arch::sim::{DiskConfig, Schedule, SimConfig};
use kern::swap;
use kern_selftest::{Suite, TestResult};

/// The name of the child test.
const CHILD: &str = "seeded_child";
/// The parent kills a child still running after this long.
const CHILD_KILL: Duration = Duration::from_secs(120);

const CONSOLE_BEGIN: &str = "=== seeded console ===";
const CONSOLE_END: &str = "=== end of seeded console ===";

/// A sweep: what each seeded boot of a test binary runs, and over what.
pub struct Sweep {
    /// The test binary that holds the child test, as `cargo test --test` names it.
    pub binary: &'static str,
    /// The suites a boot runs.
    pub suites: &'static [Suite],
    /// Seeds run by default (`1..=seeds`), on each of the CPU counts `ncpus`.
    pub seeds: u64,
    pub ncpus: &'static [usize],
    /// The boot arguments of the boot of a seed (`SIM_BOOTARGS` comes after them).
    pub boot_args: fn(u64) -> String,
    /// The simulated kernel heap (`SimConfig::heap_bytes`).
    pub heap_bytes: usize,
    /// A boot whose virtual clock reaches this fails, with its seed (deterministic:
    /// it replays).
    pub virtual_timeout: Duration,
    /// A boot that has not halted after this long (wall time) fails, with its seed:
    /// for code that computes forever without a machine call.
    pub timeout: Duration,
    /// The machine of a seed's boot, from the seeded one this sweep describes (a
    /// disk that fails by chance, say).
    pub machine: fn(SimConfig) -> SimConfig,
}

impl Sweep {
    /// The command that replays `seed` on `ncpus` CPUs.
    pub fn replay_command(&self, seed: u64, ncpus: usize) -> String {
        let args = std::env::var("SIM_BOOTARGS")
            .map(|a| format!("SIM_BOOTARGS='{a}' "))
            .unwrap_or_default();
        format!(
            "{args}SIM_SEED={seed} SIM_NCPUS={ncpus} \
             cargo test -p sim-tests --test {} -- --nocapture",
            self.binary
        )
    }

    /// The child: boots once if `SIM_CHILD` says so, and does nothing otherwise.
    pub fn child(&self) {
        let Ok(spec) = std::env::var("SIM_CHILD") else { return };
        let (seed, ncpus) = spec
            .split_once(':')
            .and_then(|(s, n)| Some((s.parse::<u64>().ok()?, n.parse::<usize>().ok()?)))
            .unwrap_or_else(|| panic!("SIM_CHILD={spec}: expected seed:ncpus"));
        let extra = std::env::var("SIM_BOOTARGS").unwrap_or_default();
        let bootargs = format!("{} {extra}", (self.boot_args)(seed));
        let config = (self.machine)(SimConfig {
            boot_args: Box::leak(bootargs.trim().to_string().into_boxed_str()),
            timeout: Some(self.timeout),
            virtual_timeout: Some(self.virtual_timeout),
            schedule: Schedule::Seeded(seed),
            heap_bytes: self.heap_bytes,
            ..SimConfig::new(ncpus)
        });
        let out = sim_tests::boot_suites(config, self.suites);
        println!("{CONSOLE_BEGIN}\n{}{CONSOLE_END}", out.console);
        let how = if out.timed_out { "timed out" } else { "failed" };
        assert!(
            out.success && out.console.contains("kernel verdict: PASS"),
            "seed {seed} on {ncpus} CPU(s) {how}; replay: {}",
            self.replay_command(seed, ncpus)
        );
    }
}

/// The machine of a sweep that swaps (`fuzz_swap_seeded.rs`, `user_signal_seeds.rs`,
/// `user_swap_seeded.rs`): the seeded one with a sound swap disk.
#[allow(dead_code)] // The other sweeps' machines have no disk, or a failing one.
pub fn with_swap_disk(config: SimConfig) -> SimConfig {
    SimConfig { disk: Some(DiskConfig::new(sim_tests::SWAP_DISK_SECTORS)), ..config }
}

/// The self-test a `swap=force` sweep runs after its suite: swapping really
/// happened meanwhile, and lost nothing.
#[allow(dead_code)] // As `with_swap_disk`.
pub fn swapped_meanwhile() -> TestResult {
    let s = swap::stats();
    kern::kprintln!("  measured: {} swap-outs, {} swap-ins", s.swapouts, s.swapins);
    if s.swapouts == 0 || s.swapins == 0 {
        return Err(format!("{} swap-outs and {} swap-ins", s.swapouts, s.swapins));
    }
    if s.lost != 0 || s.write_errors != 0 || s.read_errors != 0 {
        return Err(format!("{s:?} on a sound disk"));
    }
    Ok(())
}

/// How one child run went.
pub struct Run {
    pub seed: u64,
    pub ncpus: usize,
    pub passed: bool,
    /// Everything the child printed.
    pub output: String,
}

impl Run {
    /// What the kernel wrote to the console, as the child printed it.
    pub fn console(&self) -> Option<&str> {
        let start = self.output.find(CONSOLE_BEGIN)? + CONSOLE_BEGIN.len() + 1;
        let end = self.output[start..].find(CONSOLE_END)? + start;
        Some(&self.output[start..end])
    }

    /// The line `sim: seeded schedule: ...` (seed, steps, trace), if the boot ended.
    pub fn schedule(&self) -> Option<&str> {
        self.console()?.lines().find(|l| l.starts_with("sim: seeded schedule:"))
    }
}

/// Boots `seed` on `ncpus` CPUs in a child process.
fn run_child(seed: u64, ncpus: usize) -> Run {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", CHILD, "--ignored", "--nocapture", "--test-threads", "1"])
        // Nothing of the parent's environment reaches the kernel: a replay sees the
        // same process as the original run.
        .env_clear()
        .env("SIM_CHILD", format!("{seed}:{ncpus}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in ["SIM_BOOTARGS", "SIM_CONSOLE", "RUST_BACKTRACE"] {
        if let Ok(v) = std::env::var(var) {
            cmd.env(var, v);
        }
    }
    // A replay must see the same addresses as the original run (they decide, say,
    // which sleep queue a channel hashes to).
    arch::sim::fixed_addresses(&mut cmd);
    let mut child = cmd.spawn().expect("cannot run the test binary as a child");
    // Drain both pipes meanwhile, so that a chatty child cannot block on a full one.
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + CHILD_KILL;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut output = out_reader.join().unwrap_or_default();
    output.push_str(&err_reader.join().unwrap_or_default());
    if status.is_none() {
        output.push_str(&format!("\n(the child was killed after {CHILD_KILL:?})\n"));
    }
    let passed = status.is_some_and(|s| s.success()) && output.contains("kernel verdict: PASS");
    Run { seed, ncpus, passed, output }
}

/// Runs every (seed, CPU count) pair in child processes, as many at once as the host
/// has CPUs; returns the runs in the order of `jobs`.
pub fn run_all(jobs: &[(u64, usize)]) -> Vec<Run> {
    let queue = Mutex::new(jobs.iter().copied().enumerate().collect::<VecDeque<_>>());
    let done = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let Some((i, (seed, ncpus))) = queue.lock().unwrap().pop_front() else { break };
                let run = run_child(seed, ncpus);
                done.lock().unwrap().push((i, run));
            });
        }
    });
    let mut done = done.into_inner().unwrap();
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Boots `seed` on `ncpus` CPUs twice, in two fresh processes: both pass and write
/// the same console, byte for byte. Returns the first run.
#[allow(dead_code)] // For the sweeps that prove their replays with one seed.
pub fn boots_twice_alike(seed: u64, ncpus: usize) -> Run {
    let mut runs = run_all(&[(seed, ncpus), (seed, ncpus)]);
    for r in &runs {
        assert!(r.passed, "seed {seed} on {ncpus} CPU(s) failed:\n{}", r.output);
    }
    let (a, b) = (runs[0].console(), runs[1].console());
    assert!(a.is_some(), "no console:\n{}", runs[0].output);
    assert_eq!(a, b, "seed {seed} on {ncpus} CPU(s) wrote two consoles");
    runs.swap_remove(0)
}

/// `SIM_SEED`: a number, a list, or a range `a..b` / `a..=b`.
fn parse_seeds(spec: &str) -> Vec<u64> {
    let bad = || panic!("SIM_SEED={spec}: expected N, N,M,... or A..B");
    if let Some((a, b)) = spec.split_once("..") {
        let a: u64 = a.trim().parse().unwrap_or_else(|_| bad());
        let (b, inclusive) = match b.strip_prefix('=') {
            Some(b) => (b, true),
            None => (b, false),
        };
        let b: u64 = b.trim().parse().unwrap_or_else(|_| bad());
        return if inclusive { (a..=b).collect() } else { (a..b).collect() };
    }
    spec.split(',').map(|s| s.trim().parse().unwrap_or_else(|_| bad())).collect()
}

/// The sweep: the suites for every seed on every CPU count. A failure prints the
/// seed, its console, and the command that replays it.
pub fn sweep(sw: &Sweep) {
    let explicit = std::env::var("SIM_SEED").ok();
    let seeds = explicit.as_deref().map_or_else(|| (1..=sw.seeds).collect(), parse_seeds);
    let ncpus: Vec<usize> = std::env::var("SIM_NCPUS").map_or_else(
        |_| sw.ncpus.to_vec(),
        |s| {
            s.split(',')
                .map(|n| n.trim().parse().expect("SIM_NCPUS: expected N or N,M,..."))
                .collect()
        },
    );
    let jobs: Vec<(u64, usize)> =
        ncpus.iter().flat_map(|&n| seeds.iter().map(move |&s| (s, n))).collect();
    let start = Instant::now();
    let runs = run_all(&jobs);
    let failed: Vec<&Run> = runs.iter().filter(|r| !r.passed).collect();
    for r in &runs {
        if explicit.is_some() || !r.passed {
            println!(
                "---- seed {} on {} CPU(s): {}",
                r.seed,
                r.ncpus,
                if r.passed { "passed" } else { "FAILED" }
            );
            println!("{}", r.output.trim_end());
        }
    }
    println!(
        "seeded: {} runs ({} seeds x CPUs {:?}) in {:.1} s: {} failed",
        runs.len(),
        seeds.len(),
        ncpus,
        start.elapsed().as_secs_f64(),
        failed.len()
    );
    if !failed.is_empty() {
        println!("To replay a failure exactly (a replay ends with the same schedule line):");
        for r in &failed {
            println!("    {}", sw.replay_command(r.seed, r.ncpus));
            println!("      {}", r.schedule().unwrap_or("(the boot did not end)"));
        }
        panic!(
            "{} of {} seeded runs failed: {}",
            failed.len(),
            runs.len(),
            failed
                .iter()
                .map(|r| format!("seed {} on {} CPU(s)", r.seed, r.ncpus))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}
