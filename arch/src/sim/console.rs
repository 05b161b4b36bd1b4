//! The console: captured per boot so that tests can read back what the kernel wrote,
//! and echoed to stderr on request (`SimConfig::echo_console` or `SIM_CONSOLE=1`).
//! Its input is a script: the bytes a test gives the boot ([`SimConfig::console_input`],
//! and [`feed`] while it runs), read one at a time as a terminal would type them.
//!
//! [`SimConfig::console_input`]: super::SimConfig::console_input
//!
//! The kernel may write from inside a clock interrupt, so the capture buffer is only
//! touched in a `Cpu::machine` section (interrupts off, no halt, not the kernel heap), and the echo is a
//! raw `write(2)`, not std's stderr lock.

use core::cell::RefCell;
use std::string::String;

use super::percpu::Cpu;

std::thread_local! {
    /// What the last boot run by this host thread wrote, for [`output`].
    static LAST: RefCell<String> = const { RefCell::new(String::new()) };
}

/// `Machine::console_write`.
pub(super) fn write(bytes: &[u8]) {
    match Cpu::here() {
        Some(cpu) => cpu.machine(|| {
            let boot = cpu.boot();
            boot.console.lock().extend_from_slice(bytes);
            if boot.echo {
                write_fd(2, bytes);
            }
        }),
        // Off the simulated CPUs (kernel code under a plain unit test) there is no
        // boot to capture into.
        None => write_fd(2, bytes),
    }
}

/// `Machine::console_read`: the next byte of the boot's scripted input.
pub(super) fn read() -> Option<u8> {
    let cpu = Cpu::here()?;
    cpu.machine(|| cpu.boot().input.lock().pop_front())
}

/// `sim::console_feed`: more scripted input for the boot of this simulated CPU.
pub(super) fn feed(bytes: &[u8]) {
    let cpu = Cpu::expect("console_feed");
    cpu.machine(|| cpu.boot().input.lock().extend(bytes.iter().copied()));
}

/// A message from the simulation itself: into the capture, and to stderr through
/// std, so that a test harness shows it with the output of the test that failed.
/// (std's stderr lock is safe here: interrupts are off, so no handler can run on this
/// host thread until it is released.)
pub(super) fn note(cpu: Cpu, msg: &str) {
    cpu.machine(|| {
        cpu.boot().console.lock().extend_from_slice(msg.as_bytes());
        std::eprint!("{msg}");
    });
}

/// `sim::console_output`.
pub(super) fn output() -> String {
    match Cpu::here() {
        Some(cpu) => {
            cpu.machine(|| String::from_utf8_lossy(&cpu.boot().console.lock()).into_owned())
        }
        None => LAST.with(|l| l.borrow().clone()),
    }
}

/// Records what a finished boot wrote, for [`output`] on the thread that ran it.
pub(super) fn set_last(text: &str) {
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        l.clear();
        l.push_str(text);
    });
}

/// Writes all of `bytes` to `fd`, retrying partial writes and interruptions; gives up
/// silently on errors (there is nowhere left to report them).
fn write_fd(fd: libc::c_int, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe the live slice `bytes`.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n > 0 {
            bytes = &bytes[n as usize..];
        } else if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {
            continue;
        } else {
            return;
        }
    }
}
