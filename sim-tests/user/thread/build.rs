//! Links the programs (feature `programs`, built for sparc64 only) with the user
//! runtime's linker script (`../user.ld`), as the runtime's own programs are.

fn main() {
    if std::env::var_os("CARGO_FEATURE_PROGRAMS").is_none() {
        return;
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/../user.ld");
    println!("cargo:rustc-link-arg-bins=-zmax-page-size=8192");
    println!("cargo:rerun-if-changed=../user.ld");
}
