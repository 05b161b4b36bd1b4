//! Builds what the kernel image needs besides its own code: it links with the
//! kernel's linker script, and it carries the user programs of `sim-tests/user`
//! and of its thread library (`sim-tests/user/thread`, feature `programs`), which
//! this script builds first (`src/programs.rs` includes them).
//!
//! The programs are built by a nested cargo, for the same target, with the `user`
//! profile and a target directory of their own (`target/user`): the outer cargo
//! holds the lock of `target/`, and the programs need `core` built with other
//! settings than the kernel's. Their directory reaches `programs.rs` as
//! `LWP_USER_BIN_DIR`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.join("../..").canonicalize().expect("the workspace root");

    // The kernel's own layout (the user programs have theirs).
    let script = root.join("arch/src/sparc64/kernel.ld");
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    rerun_if_changed(&script);

    build_user_programs(&root);
}

fn build_user_programs(root: &Path) {
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let target_dir = root.join("target/user");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--quiet", "-p", "lwp-user", "-p", "lwp-thread"])
        .args(["--features", "lwp-thread/programs", "--profile", "user", "--target", &target])
        .args(["-Zbuild-std=core", "-Zbuild-std-features=compiler-builtins-mem", "--target-dir"])
        .arg(&target_dir)
        // The outer cargo's flags for the kernel would override the nested build's
        // own configuration; build-std needs the unstable flags allowed. Under
        // `cargo clippy` the outer cargo runs clippy-driver as a wrapper, which
        // turns MIR optimizations off: programs built so are slower (and the next
        // build of the image would carry them into the benchmarks). They are
        // linted on their own (`scripts/test`), so the nested build is plain rustc.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env("RUSTC_BOOTSTRAP", "1")
        .status()
        .expect("running cargo for the user programs");
    assert!(status.success(), "building the user programs (sim-tests/user) failed");

    println!(
        "cargo:rustc-env=LWP_USER_BIN_DIR={}",
        target_dir.join(&target).join("user").display()
    );
    for input in
        ["sim-tests/user", "sim-tests/fuzz", "kern/abi", ".cargo/config.toml", "Cargo.toml"]
    {
        rerun_if_changed(&root.join(input));
    }
}

fn rerun_if_changed(path: &Path) {
    println!("cargo:rerun-if-changed={}", path.display());
}
