# Shared by the scripts: paths, the cross-build command, and the one-time set-up.
# Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET=sparc64-unknown-linux-gnu
# There is no prebuilt sparc64 standard library: core and alloc are built from
# source, which needs unstable cargo flags; RUSTC_BOOTSTRAP allows them on stable.
export RUSTC_BOOTSTRAP=1

say() { printf '%s\n' "$*" >&2; }

# Installs whatever is missing: Debian's QEMU with OpenBIOS, the sparc64 binutils
# (objdump for the %g7 check), and rust-src for -Zbuild-std. Quiet when all is there.
setup() {
    local pkgs=()
    command -v qemu-system-sparc64 >/dev/null || pkgs+=(qemu-system-sparc)
    command -v sparc64-linux-gnu-objdump >/dev/null || pkgs+=(binutils-sparc64-linux-gnu)
    [ "${1:-}" = gdb ] && ! command -v gdb-multiarch >/dev/null && pkgs+=(gdb-multiarch)
    if [ ${#pkgs[@]} -gt 0 ]; then
        say "setup: installing ${pkgs[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    fi
    if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
        say "setup: adding rust-src"
        rustup component add rust-src >/dev/null
    fi
}

# Builds the kernel image; PROFILE=release for an optimized one (Cargo's `kernel`
# profile: release with link-time optimization). Prints its path.
# The image then gets its own symbol table written into it (ksymtab, for kmdb).
build_kernel() {
    local profile="${PROFILE:-dev}" dir=debug
    [ "$profile" = release ] && profile=kernel dir=kernel
    (cd "$ROOT" && cargo build --quiet -p lwp-kernel --target "$TARGET" --profile "$profile" \
        -Zbuild-std=core,alloc -Zbuild-std-features=compiler-builtins-mem) >&2 || return 1
    local kernel="$ROOT/target/$TARGET/$dir/lwp-kernel"
    (cd "$ROOT" && cargo build --quiet --release -p ksymtab) >&2 || return 1
    "$ROOT/target/release/ksymtab" "$kernel" >/dev/null || return 1
    echo "$kernel"
}

# Builds the host harness. Prints its path.
build_harness() {
    (cd "$ROOT" && cargo build --quiet --release -p qemu-harness) >&2 || return 1
    echo "$ROOT/target/release/qemu-harness"
}

# Makes a fresh, sparse swap image of $1 MiB (default 8) for one QEMU run (two QEMUs
# cannot open one image for writing) and prints its path. truncate, not qemu-img:
# a fresh machine may not have qemu-img. (qemu-harness makes its own the same way.)
swap_image() {
    local img
    img=$(mktemp "${TMPDIR:-/tmp}/lwp-swap.XXXXXX.img")
    truncate -s "${1:-8}M" "$img"
    echo "$img"
}
