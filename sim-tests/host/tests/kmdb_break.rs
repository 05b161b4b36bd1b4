//! kmdb on the host simulation, entered by the break sequence typed while the
//! kernel runs: a self-test "types" `<CR> ~ <Ctrl-B>` and a few commands
//! (`arch::sim::console_feed`); CPU 0's clock finds the sequence and stops the
//! kernel in the debugger, which runs the commands and lets it go on.

use std::time::Duration;

use arch::sim::{self, SimConfig};
use kern::kmdb::{self, Why};
use kern_selftest::{wait_for, Suite, Test, TestResult};

fn break_while_running() -> TestResult {
    let before = kmdb::entries(Why::Break);
    sim::console_feed(b"\r~\x02::cpuinfo\r::continue\r");
    wait_for("the break sequence to stop the kernel", 10, || kmdb::entries(Why::Break) > before)?;
    // Not a break: bytes that only look like one do nothing.
    sim::console_feed(b"~\x02\r~x\x02");
    kern::sleepq::delay(5);
    if kmdb::entries(Why::Break) != before + 1 {
        return Err("a broken sequence entered the debugger".into());
    }
    Ok(())
}

static TESTS: &[Test] = &[Test::new("kmdb_break_while_running", break_while_running)];
static SUITES: &[Suite] = &[("kmdb", TESTS)];

#[test]
fn the_break_sequence_stops_the_running_kernel_in_kmdb() {
    let mut config = SimConfig::new(2);
    config.timeout = Some(Duration::from_secs(60));
    let out = sim_tests::boot_suites(config, SUITES);
    let c = &out.console;
    println!("{c}");
    assert!(c.contains("kmdb: kernel stopped on the break sequence on cpu 0"), "kmdb entered");
    assert!(c.contains("[0]> ::cpuinfo\n ID THREAD"), "::cpuinfo ran");
    assert!(c.contains("[0]> ::continue\nkmdb: resuming"), "::continue resumed");
    assert!(c.contains("test kmdb_break_while_running ... ok"));
    assert!(out.success);
}
