//! `qemu-harness`: boots the kernel image under `qemu-system-sparc64 -M sun4u`, streams
//! its console, and turns what the kernel printed and how QEMU exited into a verdict.
//!
//! ```text
//! qemu-harness [--timeout SECS] [--expect-fatal TEXT | --expect-hang] [--quiet]
//!              [--disk FILE | --no-disk] KERNEL [BOOTARG...] [-- QEMU-ARG...]
//! ```
//!
//! Every boot has a swap disk, QEMU's `virtio-blk-pci` on the board's second PCI
//! bus: an image of its own (two QEMUs cannot open one image for writing), made
//! here as a sparse file of [`DISK_MIB`] MiB — no `qemu-img` needed — and removed
//! when QEMU is gone; or `--disk FILE` (kept), or none with `--no-disk`.
//!
//! The kernel's protocol (see `kern_selftest`): one `test NAME ... ok` or
//! `test NAME ... FAILED: why` (or `... skipped: why`) line per test, then
//! `selftest: N passed, N failed, N skipped` and
//! `kernel verdict: PASS|FAIL`; a panic or a fatal trap prints a line starting
//! `*** KERNEL FATAL:`. QEMU exits 0 on the kernel's power-off, 1 through pvpanic. So
//! the harness tells apart: all passed; tests failed; the kernel crashed; and a hang
//! (no verdict within the time limit, QEMU killed).
//!
//! With `--expect-fatal TEXT` (repeatable) the run is one whose crash is the point (a self-test
//! that takes a fatal trap on purpose): it passes only if the kernel stops with
//! failure, through the fatal path, and printed TEXT. With `--expect-hang` it passes
//! only if the time limit had to stop the kernel (a self-test that hangs on purpose).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The size of the swap disk's image that the harness makes.
const DISK_MIB: u64 = 8;

/// Where the swap disk comes from.
enum Disk {
    /// An image made for this boot, removed afterwards.
    Fresh,
    /// This image, kept.
    File(String),
    None,
}

struct Options {
    timeout: Duration,
    disk: Disk,
    /// Texts a fatal stop must have printed (`--expect-fatal`, repeatable).
    expect_fatal: Vec<String>,
    expect_hang: bool,
    quiet: bool,
    kernel: String,
    bootargs: Vec<String>,
    qemu_args: Vec<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: qemu-harness [--timeout SECS] [--expect-fatal TEXT | --expect-hang] [--quiet] \
         [--disk FILE | --no-disk] KERNEL [BOOTARG...] [-- QEMU-ARG...]"
    );
    std::process::exit(2)
}

fn parse_args() -> Options {
    let mut args = std::env::args().skip(1);
    let mut o = Options {
        timeout: Duration::from_secs(120),
        disk: Disk::Fresh,
        expect_fatal: Vec::new(),
        expect_hang: false,
        quiet: false,
        kernel: String::new(),
        bootargs: Vec::new(),
        qemu_args: Vec::new(),
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--timeout" => {
                let secs = args.next().and_then(|s| s.parse().ok()).unwrap_or_else(|| usage());
                o.timeout = Duration::from_secs(secs);
            }
            "--expect-fatal" => o.expect_fatal.push(args.next().unwrap_or_else(|| usage())),
            "--expect-hang" => o.expect_hang = true,
            "--disk" => o.disk = Disk::File(args.next().unwrap_or_else(|| usage())),
            "--no-disk" => o.disk = Disk::None,
            "--quiet" => o.quiet = true,
            "--" => o.qemu_args.extend(args.by_ref()),
            _ if o.kernel.is_empty() => o.kernel = a,
            _ => o.bootargs.push(a),
        }
    }
    if o.kernel.is_empty() {
        usage();
    }
    o
}

/// What the console said, as far as the verdict is concerned.
#[derive(Default, Debug)]
struct Console {
    passed: Vec<String>,
    failed: Vec<String>,
    skipped: Vec<String>,
    /// The kernel's own count: passed, failed, skipped.
    counts: Option<(usize, usize, usize)>,
    verdict: Option<bool>,
    fatal: Option<String>,
    text: String,
}

impl Console {
    fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
        if let Some(rest) = line.strip_prefix("test ") {
            if let Some((name, outcome)) = rest.split_once(" ... ") {
                if outcome == "ok" {
                    self.passed.push(name.to_string());
                } else if outcome.starts_with("FAILED") {
                    self.failed.push(name.to_string());
                } else if outcome.starts_with("skipped") {
                    self.skipped.push(name.to_string());
                }
            }
        } else if let Some(rest) = line.strip_prefix("bench: ") {
            // A benchmark boot: each figure a pass, each benchmark that could not
            // measure what it claims a failure.
            let name = rest.split_whitespace().next().unwrap_or("").to_string();
            if rest.contains(" ERROR") {
                self.failed.push(name);
            } else if rest.contains(" ns/op") {
                self.passed.push(name);
            }
        } else if let Some(rest) = line.strip_prefix("selftest: ") {
            let nums: Vec<usize> =
                rest.split(|c: char| !c.is_ascii_digit()).filter_map(|w| w.parse().ok()).collect();
            if rest.contains(" passed, ") {
                match nums[..] {
                    [p, f] => self.counts = Some((p, f, 0)),
                    [p, f, s] => self.counts = Some((p, f, s)),
                    _ => {}
                }
            }
        } else if let Some(v) = line.strip_prefix("kernel verdict: ") {
            self.verdict = Some(v.trim() == "PASS");
        } else if let Some(why) = line.strip_prefix("*** KERNEL FATAL: ") {
            self.fatal = Some(why.to_string());
        }
    }
}

/// A swap image made for one boot: a sparse file, removed when dropped.
struct FreshImage(std::path::PathBuf);

impl FreshImage {
    fn make() -> std::io::Result<FreshImage> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("qemu-harness-swap-{}-{n}.img", std::process::id()));
        let f = std::fs::File::create(&path)?;
        f.set_len(DISK_MIB << 20)?;
        Ok(FreshImage(path))
    }
}

impl Drop for FreshImage {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn main() -> ExitCode {
    let o = parse_args();
    let qemu = std::env::var("QEMU").unwrap_or_else(|_| "qemu-system-sparc64".into());
    let mut cmd = Command::new(&qemu);
    cmd.args(["-M", "sun4u", "-nographic", "-vga", "none", "-m", "256", "-no-reboot"]).args([
        "-device",
        "pvpanic-pci,bus=pciB,addr=2",
        "-action",
        "panic=exit-failure",
    ]);
    let fresh = match &o.disk {
        Disk::Fresh => match FreshImage::make() {
            Ok(img) => Some(img),
            Err(e) => {
                eprintln!("qemu-harness: cannot make a swap image: {e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let image = match (&o.disk, &fresh) {
        (Disk::File(f), _) => Some(f.clone()),
        (_, Some(img)) => Some(img.0.display().to_string()),
        _ => None,
    };
    if let Some(image) = image {
        cmd.args(["-drive", &format!("if=none,id=swap,file={image},format=raw")])
            .args(["-device", "virtio-blk-pci,drive=swap,bus=pciB,addr=3"]);
    }
    cmd.args(["-kernel", &o.kernel])
        .args(["-append", &o.bootargs.join(" ")])
        .args(&o.qemu_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("qemu-harness: cannot start {qemu}: {e}");
            return ExitCode::from(2);
        }
    };
    let (tx, rx) = mpsc::channel::<String>();
    let out = child.stdout.take().expect("piped stdout");
    thread::spawn(move || {
        // Bytes, not `lines()`: a byte that is not UTF-8 (a user program may write
        // anything) must not end the reading; it shows as U+FFFD.
        let mut reader = BufReader::new(out);
        let mut buf = Vec::new();
        while matches!(reader.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
            let line = String::from_utf8_lossy(&buf);
            if tx.send(line.trim_end_matches(['\n', '\r']).to_string()).is_err() {
                break;
            }
            buf.clear();
        }
    });

    let start = Instant::now();
    let mut console = Console::default();
    let mut kernel_started = false;
    let mut hung = false;
    let echo = |line: &str, started: bool| {
        if !o.quiet || started {
            println!("{line}");
            let _ = std::io::stdout().flush();
        }
    };
    let status = loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                // --quiet hides OpenBIOS: everything before the kernel's first line.
                kernel_started |= line.starts_with("boot: ") || line.starts_with("LWP kernel:");
                echo(&line, kernel_started);
                console.line(&line);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // The console closed before QEMU exited: wait without spinning.
            Err(mpsc::RecvTimeoutError::Disconnected) => thread::sleep(Duration::from_millis(20)),
        }
        if let Ok(Some(status)) = child.try_wait() {
            // Drain what is left of the console: the reader ends at the pipe's EOF.
            for line in rx.iter() {
                echo(&line, true);
                console.line(&line);
            }
            break Some(status);
        }
        if start.elapsed() > o.timeout {
            let _ = child.kill();
            let _ = child.wait();
            hung = true;
            break None;
        }
    };
    let secs = start.elapsed().as_secs_f64();
    let code = status.and_then(|s| s.code());

    let expecting = !o.expect_fatal.is_empty() || o.expect_hang;
    let ok = match (o.expect_fatal.is_empty(), hung) {
        _ if o.expect_hang => {
            println!(
                "qemu-harness: expected a hang: {} (QEMU {})",
                if hung { "as expected" } else { "NOT as expected" },
                if hung {
                    "killed at the time limit".to_string()
                } else {
                    format!("exited {code:?}")
                }
            );
            hung
        }
        (_, true) => {
            println!(
                "qemu-harness: HANG: no verdict within {} s; QEMU killed",
                o.timeout.as_secs()
            );
            false
        }
        (false, false) => {
            let text = &o.expect_fatal;
            let ok = code == Some(1)
                && console.fatal.is_some()
                && text.iter().all(|t| console.text.contains(t.as_str()));
            println!(
                "qemu-harness: expected a fatal stop printing {text:?}: {} \
                 (exit {code:?}, fatal: {:?})",
                if ok { "as expected" } else { "NOT as expected" },
                console.fatal
            );
            ok
        }
        (true, false) => match (&console.fatal, console.verdict, code) {
            (Some(why), _, _) => {
                println!("qemu-harness: CRASH: the kernel stopped on a fatal error: {why}");
                false
            }
            (None, Some(true), Some(0)) => true,
            (None, Some(_), _) => {
                println!(
                    "qemu-harness: FAIL: {} failed: {}",
                    console.failed.len(),
                    console.failed.join(", ")
                );
                false
            }
            (None, None, _) => {
                println!("qemu-harness: CRASH: QEMU exited ({code:?}) without a verdict");
                false
            }
        },
    };
    // A fatal stop interrupts the test that caused it: count it as failed.
    let crashed = usize::from(console.fatal.is_some() || hung);
    let (passed, failed, skipped) = if expecting {
        (usize::from(ok), usize::from(!ok), 0)
    } else {
        let seen = (console.passed.len(), console.failed.len(), console.skipped.len());
        let (p, f, s) = console.counts.unwrap_or(seen);
        (p, f + crashed, s)
    };
    println!("qemu-harness: {:.1} s wall", secs);
    println!("qemu: {passed} passed, {failed} failed, {skipped} skipped");
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::Console;

    #[test]
    fn reads_tests_counts_verdict_and_fatal_lines() {
        let mut c = Console::default();
        for l in [
            "LWP kernel: 1 CPU(s)",
            "test clock_ticks ... ok",
            "test heap ... FAILED: 3 != 4",
            "test cross_call ... skipped: one CPU",
            "selftest: 1 passed, 1 failed, 1 skipped",
            "kernel verdict: FAIL",
        ] {
            c.line(l);
        }
        assert_eq!(c.passed, ["clock_ticks"]);
        assert_eq!(c.failed, ["heap"]);
        assert_eq!(c.skipped, ["cross_call"]);
        assert_eq!(c.counts, Some((1, 1, 1)));
        assert_eq!(c.verdict, Some(false));
        assert!(c.fatal.is_none());
        let mut b = Console::default();
        b.line("bench: null_syscall 139 ns/op (20000 ops)");
        b.line("bench: lwp_yield_switch ERROR: only 3 switches");
        assert_eq!(
            (b.passed.as_slice(), b.failed.as_slice()),
            (&["null_syscall".to_string()][..], &["lwp_yield_switch".to_string()][..])
        );
        c.line("*** KERNEL FATAL: unexpected trap 0x010");
        assert_eq!(c.fatal.as_deref(), Some("unexpected trap 0x010"));
    }
}
