#!/bin/sh
# The build to put on a board: one static (musl), stripped, non-PIE binary
# with the standard library rebuilt for size and panics that abort at once.
#
#   scripts/build-embedded.sh            -> target/embedded/udhcp
#   TARGET=aarch64-unknown-linux-musl scripts/build-embedded.sh
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
# armv7 musl has no rust-std to install (see below); std comes from rust-src.
[ "$TARGET" = armv7-unknown-linux-musleabihf ] ||
	rustup target list --installed 2>/dev/null | grep -qx "$TARGET" ||
	rustup target add "$TARGET"

# Cross linkers: Debian's gcc-<triplet> packages (.ci/run installs them).
# rustc links musl targets "self-contained" (its own crt1.o and libc.a from
# the target's rust-std), so the gcc only needs to drive ld.
case "$TARGET" in
aarch64-unknown-linux-musl)
	: "${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER:=aarch64-linux-gnu-gcc}"
	export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER ;;
armv7-unknown-linux-musleabihf)
	# rustup serves no rust-std for this target (404), so there is no
	# self-contained musl either: std is rebuilt from rust-src anyway, and
	# the C side is Debian's musl-dev:armhf (multiarch). gcc must not pull
	# in glibc's start files, so they are named explicitly: musl's crt1,
	# crti, crtn around gcc's own crtbeginT/crtend. The `unwind` crate
	# wants a static libunwind; gcc's libgcc_eh is that ABI (ARM EHABI),
	# linked under the name rustc asks for. Why not a static glibc build:
	# it works, but measured 821,316 bytes against 600 KiB allowed.
	musl=/usr/lib/arm-linux-musleabihf
	gcclib=$(dirname "$(arm-linux-gnueabihf-gcc -print-libgcc-file-name)")
	[ -f "$musl/libc.a" ] || {
		echo "build-embedded: needs musl-dev:armhf (dpkg --add-architecture armhf)" >&2
		exit 1
	}
	shim=$PWD/target/armv7-musl-link
	mkdir -p "$shim"
	ln -sf "$gcclib/libgcc_eh.a" "$shim/libunwind.a"
	: "${CARGO_TARGET_ARMV7_UNKNOWN_LINUX_MUSLEABIHF_LINKER:=arm-linux-gnueabihf-gcc}"
	export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_MUSLEABIHF_LINKER
	EXTRA_RUSTFLAGS="-Clink-self-contained=no -L$musl -L$shim \
-Zpre-link-arg=-nostartfiles -Zpre-link-arg=$musl/crt1.o -Zpre-link-arg=$musl/crti.o \
-Zpre-link-arg=$gcclib/crtbeginT.o -Clink-arg=$gcclib/crtend.o -Clink-arg=$musl/crtn.o" ;;
esac

CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/embedded-build} \
RUSTC_BOOTSTRAP=1 \
RUSTFLAGS="-C relocation-model=static -Zlocation-detail=none -Zunstable-options -Cpanic=immediate-abort ${EXTRA_RUSTFLAGS:-}" \
	cargo build --locked --release --target "$TARGET" -Zbuild-std=std,panic_abort

mkdir -p "$OUT"
cp "${CARGO_TARGET_DIR:-target/embedded-build}/$TARGET/release/udhcp" "$OUT/udhcp"
ls -l "$OUT/udhcp"
