//! kmdb on the host simulation, entered at boot (boot argument `kmdb`): the scripted
//! console input is read at its prompt, each command runs and is echoed, and
//! `::continue` lets the boot go on to the self-tests.

use std::time::Duration;

use arch::sim::SimConfig;

#[test]
fn kmdb_at_boot_reads_its_commands_from_the_console() {
    let mut config = SimConfig::new(2);
    config.boot_args = "kmdb test=clock_ticks";
    config.timeout = Some(Duration::from_secs(60));
    // A terminal's \r, a file's \r\n, a typo erased with backspace, an empty line.
    config.console_input = b"::ps\r\n::threadlizt\x08\x08st\r\r::bogus\r::continue\r".to_vec();
    let out = sim_tests::boot_with(config);
    let c = &out.console;
    println!("{c}");
    let stop = c.find("kmdb: kernel stopped at boot").expect("kmdb stopped at boot");
    let tests = c.find("selftest: running").expect("the self-tests ran");
    assert!(stop < tests, "kmdb stops before the self-tests run");
    for want in [
        "[0]> ::ps\nS    PID   PPID  NLWP NZOMB",
        "R      0      -     0     0",
        // Each backspace erases a character on the screen too.
        "[0]> ::threadlizt\x08 \x08\x08 \x08st\nTHREAD             TID   PID  LWP STATE",
        " idle ",
        "[0]> \n[0]> ::bogus\nkmdb: no command '::bogus'",
        "[0]> ::continue\nkmdb: resuming",
        "kernel verdict: PASS",
    ] {
        assert!(c.contains(want), "the console lacks {want:?}");
    }
    assert_eq!(c.matches("[0]> ").count(), 5, "one prompt per line (\\r\\n is one end)");
    assert!(out.success);
}
