#!/bin/sh
# The build to put on a board: one static (musl), stripped, non-PIE binary
# with the standard library rebuilt for size and panics that abort at once.
#
#   scripts/build-embedded.sh            -> target/embedded/udhcp
#   TARGET=aarch64-unknown-linux-musl scripts/build-embedded.sh
#   TARGET=armv7-unknown-linux-musleabihf OUT=target/embedded-armv7 scripts/build-embedded.sh
#
# Targets: x86_64-unknown-linux-musl, aarch64-unknown-linux-musl,
# armv7-unknown-linux-musleabihf (hard-float); the cross linkers and, for
# armv7, musl itself come from Debian packages (scripts/cross-env.sh says
# which). Every applet is in every build, with the same size settings.
#
# Why not plain `cargo build --release --target …-musl`? That works and is
# tested too, but it links the precompiled std, which carries the panic
# handler's backtrace symbolizer (gimli, addr2line, miniz: ~120 KiB) even
# with panic = "abort". Rebuilding std with the immediate-abort panic
# strategy drops it; -Zlocation-detail=none drops panic location strings;
# relocation-model=static drops the static-PIE relocations (~30 KiB).
# Measured on x86_64: 803,496 bytes plain, 423,648 bytes with this script.
#
# -Zbuild-std and the immediate-abort strategy are unstable cargo/rustc
# features. With a nightly toolchain they just work; on a stable toolchain
# RUSTC_BOOTSTRAP=1 unlocks them (what this script does). Needs the
# rust-src component and the musl target (installed here if missing).
# udhcp never panics on input by design (every parser returns errors), so
# losing panic messages costs nothing in the field.
set -eu
cd "$(dirname "$0")/.."

TARGET=${TARGET:-x86_64-unknown-linux-musl}
OUT=${OUT:-target/embedded}

rustup component list --installed 2>/dev/null | grep -q '^rust-src' ||
	rustup component add rust-src
# armv7 musl has no rust-std to install (see scripts/cross-env.sh); std
# comes from rust-src.
case "$TARGET" in
armv7-*musl*) ;;
*)
	rustup target list --installed 2>/dev/null | grep -qx "$TARGET" ||
		rustup target add "$TARGET"
	;;
esac

# Linker (and for armv7, the musl C library and start files): see
# scripts/cross-env.sh, which .ci/run's cross tests share.
# shellcheck disable=SC2034  # read by cross-env.sh
cross_triple=$TARGET
# shellcheck source=scripts/cross-env.sh
. scripts/cross-env.sh

CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/embedded-build} \
RUSTC_BOOTSTRAP=1 \
RUSTFLAGS="-C relocation-model=static -Zlocation-detail=none -Zunstable-options -Cpanic=immediate-abort $CROSS_RUSTFLAGS" \
	cargo build --locked --release --target "$TARGET" -Zbuild-std=std,panic_abort

mkdir -p "$OUT"
cp "${CARGO_TARGET_DIR:-target/embedded-build}/$TARGET/release/udhcp" "$OUT/udhcp"
size=$(wc -c <"$OUT/udhcp")
echo "build-embedded: $TARGET: $OUT/udhcp $size bytes ($(((size + 1023) / 1024)) KiB; limit 600 KiB)"
[ "$size" -le $((600 * 1024)) ] ||
	echo "build-embedded: WARNING: $TARGET binary is over 600 KiB" >&2
