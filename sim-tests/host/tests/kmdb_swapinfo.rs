//! kmdb's `::swapinfo` on the host simulation, typed at the console while LWPs are
//! swapped out: the showcase stands (its LWP 5 out) and the three LWPs of its
//! `sleepers` go out too; then the break sequence stops the kernel and the
//! debugger lists the device and the four LWPs out, and `::threadlist` and `::ps`
//! show them without touching what is on the disk (S5, S6).

use std::time::Duration;

use arch::sim::{self, DiskConfig, SimConfig};
use kern::kmdb::{self, Why};
use kern::proc::prfind;
use kern::swap;
use kern_selftest::showcase::{self, Arrangement};
use kern_selftest::{wait_for, Suite, Test, TestResult};

fn swapinfo_while_out(a: &Arrangement) -> TestResult {
    let sleepers = prfind(a.sleepers).ok_or("no sleepers")?;
    let n = swap::swapout_proc(sleepers);
    if n != 3 {
        return Err(format!("{n} of the sleepers' 3 LWPs went out"));
    }
    let before = kmdb::entries(Why::Break);
    sim::console_feed(b"\r~\x02::swapinfo\r::threadlist\r::ps\r::continue\r");
    wait_for("the break sequence to stop the kernel", 10, || kmdb::entries(Why::Break) > before)
}

fn swapinfo() -> TestResult {
    showcase::with(swapinfo_while_out)
}

static TESTS: &[Test] = &[Test::new("kmdb_swapinfo_while_out", swapinfo)];
static SUITES: &[Suite] = &[("kmdb", TESTS)];

#[test]
fn swapinfo_lists_the_lwps_swapped_out() {
    let mut config = SimConfig::new(2);
    config.timeout = Some(Duration::from_secs(60));
    config.disk = Some(DiskConfig::new(sim_tests::SWAP_DISK_SECTORS));
    let out = sim_tests::boot_suites(config, SUITES);
    let c = &out.console;
    println!("{c}");
    let info = c.find("[0]> ::swapinfo\n").expect("::swapinfo ran");
    let info = &c[info..c[info..].find("[0]> ::threadlist").map_or(c.len(), |e| info + e)];
    for want in [
        "device: 8192 KiB (16384 sectors), 2048 slots of 4 KiB",
        "slots: 4 used, 2044 free",
        "mode Off",
        "LWPs out: 4;",
        "errors: 0 on writes, 0 on reads; 0 LWPs lost",
        "    PID   LWP THREAD             SLOT  BYTES   UTIME   STIME",
        "(4 out, 0 being written)",
    ] {
        assert!(info.contains(want), "::swapinfo lacks {want:?}");
    }
    // Rows of LWP 5 of showcase (pid 1) and of LWPs 1 to 3 of sleepers (pid 2).
    let rows: Vec<(&str, &str)> = info
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 7 && f[0].parse::<u32>().is_ok()).then(|| (f[0], f[1]))
        })
        .collect();
    assert_eq!(rows, [("1", "5"), ("2", "1"), ("2", "2"), ("2", "3")], "{info}");
    // The listings of threads and processes say where each structure is.
    let threads = c.find("[0]> ::threadlist\n").expect("::threadlist ran");
    let outs = c[threads..]
        .lines()
        .take_while(|l| !l.starts_with("[0]> ::ps"))
        .filter(|l| l.split_whitespace().nth(11) == Some("out"))
        .count();
    assert_eq!(outs, 4, "four threads whose lwp structure is out");
    assert!(c.contains("[0]> ::continue\nkmdb: resuming"), "::continue resumed");
    assert!(c.contains("test kmdb_swapinfo_while_out ... ok"));
    assert!(out.success);
}
