//! Links every program with this crate's own linker script (`user.ld`), which lays
//! out the two segments the kernel's ELF loader expects.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/user.ld");
    println!("cargo:rustc-link-arg-bins=-zmax-page-size=8192");
    println!("cargo:rerun-if-changed=user.ld");
}
