//! `qemu-harness`: boots the kernel image under `qemu-system-sparc64 -M sun4u`, streams
//! its console, and turns what the kernel printed and how QEMU exited into a verdict.
//!
//! ```text
//! qemu-harness [--timeout SECS] [--expect-fatal TEXT | --expect-hang] [--quiet]
//!              [--send-on TEXT BYTES]... [--expect TEXT]... [--interactive]
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
//!
//! With `--send-on TEXT BYTES` (repeatable, in order) the harness types on the
//! console: once TEXT appears in the output (a prompt need not end its line), it
//! writes BYTES to QEMU's standard input, which is the console's; the next one
//! waits for its TEXT after that point. BYTES may hold `\r`, `\n`, `\t`, `\\` and
//! `\xNN`. With `--expect TEXT` (repeatable) the run passes only if the console
//! printed TEXT too.

use std::io::{Read, Write};
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
    /// What to type on the console, and when (`--send-on`).
    sends: Vec<(String, Vec<u8>)>,
    /// Texts the console must print (`--expect`).
    expect: Vec<String>,
    /// QEMU reads the harness's standard input (`--interactive`).
    interactive: bool,
    quiet: bool,
    kernel: String,
    bootargs: Vec<String>,
    qemu_args: Vec<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: qemu-harness [--timeout SECS] [--expect-fatal TEXT | --expect-hang] [--quiet] \
         [--send-on TEXT BYTES]... [--expect TEXT]... [--interactive] \
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
        sends: Vec::new(),
        expect: Vec::new(),
        interactive: false,
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
            "--send-on" => {
                let text = args.next().unwrap_or_else(|| usage());
                let bytes = args.next().and_then(|b| unescape(&b)).unwrap_or_else(|| usage());
                o.sends.push((text, bytes));
            }
            "--expect" => o.expect.push(args.next().unwrap_or_else(|| usage())),
            "--interactive" => o.interactive = true,
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

/// `BYTES` of `--send-on`: `\r`, `\n`, `\t`, `\\` and `\xNN` stand for their
/// bytes; `None` for a bad escape.
fn unescape(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        out.push(match bytes.next()? {
            b'r' => b'\r',
            b'n' => b'\n',
            b't' => b'\t',
            b'\\' => b'\\',
            b'x' => {
                let hex = [bytes.next()?, bytes.next()?];
                u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?
            }
            _ => return None,
        });
    }
    Some(out)
}

/// The console's bytes, split into lines. Bytes, not `lines()`: a byte that is not
/// UTF-8 (a user program may write anything) must not end the reading; it shows as
/// U+FFFD.
#[derive(Default)]
struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// Takes more output; returns the lines it completes, without their ends.
    fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.partial.extend_from_slice(chunk);
        let mut done = Vec::new();
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            done.push(Self::text(&line));
        }
        done
    }

    /// The last line, if the output did not end it.
    fn finish(&mut self) -> Option<String> {
        let line = core::mem::take(&mut self.partial);
        (!line.is_empty()).then(|| Self::text(&line))
    }

    fn text(line: &[u8]) -> String {
        String::from_utf8_lossy(line).trim_end_matches(['\n', '\r']).to_string()
    }
}

/// Types on the console (`--send-on`): each text to wait for, in order, and what to
/// write once it has appeared.
struct Typist {
    sends: std::vec::IntoIter<(String, Vec<u8>)>,
    next: Option<(String, Vec<u8>)>,
    /// All the console printed, partial lines included, lossily decoded.
    seen: String,
    /// Where in `seen` the next text is looked for: after the last one found.
    from: usize,
}

impl Typist {
    fn new(sends: Vec<(String, Vec<u8>)>) -> Typist {
        let mut sends = sends.into_iter();
        let next = sends.next();
        Typist { sends, next, seen: String::new(), from: 0 }
    }

    /// Takes more output; returns the bytes to type now, if any.
    fn output(&mut self, text: &str) -> Vec<u8> {
        self.seen.push_str(text);
        let mut typed = Vec::new();
        while let Some((want, bytes)) = &self.next {
            match self.seen[self.from..].find(want.as_str()) {
                Some(at) => {
                    self.from += at + want.len();
                    typed.extend_from_slice(bytes);
                    self.next = self.sends.next();
                }
                None => break,
            }
        }
        typed
    }
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
        .stdin(match (o.sends.is_empty(), o.interactive) {
            (false, _) => Stdio::piped(),
            (true, true) => Stdio::inherit(),
            (true, false) => Stdio::null(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("qemu-harness: cannot start {qemu}: {e}");
            return ExitCode::from(2);
        }
    };
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let mut out = child.stdout.take().expect("piped stdout");
    let mut stdin = child.stdin.take();
    thread::spawn(move || {
        // What arrives, as it arrives: a prompt does not end its line.
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = out.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut typist = Typist::new(o.sends.clone());
    let mut lines = Lines::default();

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
            Ok(chunk) => {
                let typed = typist.output(&String::from_utf8_lossy(&chunk));
                if let (false, Some(input)) = (typed.is_empty(), stdin.as_mut()) {
                    let _ = input.write_all(&typed).and_then(|()| input.flush());
                }
                for line in lines.push(&chunk) {
                    // --quiet hides OpenBIOS: everything before the kernel's first line.
                    kernel_started |= line.starts_with("boot: ") || line.starts_with("LWP kernel:");
                    echo(&line, kernel_started);
                    console.line(&line);
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // The console closed before QEMU exited: wait without spinning.
            Err(mpsc::RecvTimeoutError::Disconnected) => thread::sleep(Duration::from_millis(20)),
        }
        if let Ok(Some(status)) = child.try_wait() {
            // Drain what is left of the console: the reader ends at the pipe's EOF.
            let rest: Vec<u8> = rx.iter().flatten().collect();
            for line in lines.push(&rest).into_iter().chain(lines.finish()) {
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
    let missing: Vec<&String> =
        o.expect.iter().filter(|t| !console.text.contains(t.as_str())).collect();
    if !missing.is_empty() {
        println!("qemu-harness: the console never printed {missing:?}");
    }
    let unsent = typist.next.as_ref().map(|(want, _)| want);
    if let Some(want) = unsent {
        println!("qemu-harness: never saw {want:?}, so typed nothing after it");
    }
    let ok = ok && missing.is_empty() && unsent.is_none();
    let expecting = expecting || !o.expect.is_empty() || !o.sends.is_empty();
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
    use super::{unescape, Console, Lines, Typist};

    #[test]
    fn types_each_text_once_after_its_prompt_appears_even_mid_line() {
        let sends =
            vec![("[0]> ".to_string(), b"a".to_vec()), ("[0]> ".to_string(), b"b".to_vec())];
        let mut t = Typist::new(sends);
        assert_eq!(t.output("boot\n[0"), b"");
        assert_eq!(t.output("]> "), b"a", "a prompt split across reads");
        assert_eq!(t.output("a\nout"), b"", "the next waits for a prompt after the first");
        assert_eq!(t.output("put\n[0]> "), b"b");
        assert_eq!(t.output("[0]> "), b"", "nothing left to type");
        assert!(t.next.is_none());
    }

    #[test]
    fn escapes_and_lines() {
        assert_eq!(unescape(r"\r~\x02::ps\n\\").unwrap(), b"\r~\x02::ps\n\\");
        assert!(unescape(r"\q").is_none() && unescape(r"\x4").is_none());
        let mut l = Lines::default();
        assert_eq!(l.push(b"one\r\ntw"), ["one"]);
        assert_eq!(l.push(b"o\n\xff\n"), ["two", "\u{fffd}"]);
        assert_eq!(l.push(b"[0]> "), Vec::<String>::new());
        assert_eq!(l.finish().as_deref(), Some("[0]> "));
        assert_eq!(l.finish(), None);
    }

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
