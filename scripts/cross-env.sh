# shellcheck shell=sh disable=SC2034,SC2154
# (cross_triple is set by the caller; CROSS_* are read by the caller.)
# Sourced (POSIX sh) by build-embedded.sh and .ci/run: the toolchain
# settings for one target triple, all from Debian packages that .ci/run
# installs. Usage: `cross_triple=TRIPLE; . scripts/cross-env.sh` (POSIX
# `.` takes no arguments). Sets and exports
# CARGO_TARGET_<TRIPLE>_LINKER and, when the host cannot run the target's
# code, CARGO_TARGET_<TRIPLE>_RUNNER (qemu-user-static: no binfmt
# registration needed, cargo prefixes every test binary with it). Sets
# CROSS_RUSTFLAGS (extra rustc flags) and CROSS_BUILD_STD=1 when rustup
# serves no std for the target, so std must be built from rust-src.
#
# - x86_64-unknown-linux-musl: rustup's std, host linker.
# - aarch64-unknown-linux-musl: rustup's std and its self-contained musl
#   (crt1.o, libc.a); gcc-aarch64-linux-gnu only drives ld.
# - armv7-unknown-linux-musleabihf: rustup serves no std for it (404), so
#   no self-contained musl either. std is built from rust-src, and the C
#   side is Debian's musl-dev:armhf (multiarch). gcc must not add glibc's
#   start files, so musl's crt1/crti/crtn are named around gcc's own
#   crtbeginT/crtend, and the `unwind` crate's static libunwind is gcc's
#   libgcc_eh (the ARM EHABI unwinder), linked under that name. Why not a
#   static armv7-unknown-linux-gnueabihf build: it works, but measured
#   821,316 bytes against the 600 KiB allowed (musl: ~370 KB).
# - mipsel-unknown-linux-musl: not supported. Tried the armv7 way with
#   Debian's gcc-mipsel-linux-gnu and musl-dev:mipsel: std builds, but the
#   link fails (gcc's libgcc_eh for mipsel calls glibc's _dl_find_object)
#   and Debian's musl for mipsel is hard-float while Rust's target is
#   soft-float, an ABI mismatch.

CROSS_RUSTFLAGS=
CROSS_BUILD_STD=
cross_env_var=$(echo "$cross_triple" | tr 'a-z-' 'A-Z_')
case "$cross_triple" in
x86_64-*) ;;
aarch64-unknown-linux-musl)
	eval ": \"\${CARGO_TARGET_${cross_env_var}_LINKER:=aarch64-linux-gnu-gcc}\""
	eval ": \"\${CARGO_TARGET_${cross_env_var}_RUNNER:=qemu-aarch64-static}\""
	;;
armv7-unknown-linux-musleabihf)
	cross_musl=/usr/lib/arm-linux-musleabihf
	cross_gcc=arm-linux-gnueabihf-gcc
	cross_qemu=qemu-arm-static
	cross_deb=musl-dev:armhf
	cross_gcclib=$(dirname "$($cross_gcc -print-libgcc-file-name)")
	if [ ! -f "$cross_musl/libc.a" ]; then
		echo "cross-env: needs $cross_deb (dpkg --add-architecture ${cross_deb#*:})" >&2
		return 1
	fi
	cross_shim=$PWD/target/$cross_triple-link
	mkdir -p "$cross_shim"
	ln -sf "$cross_gcclib/libgcc_eh.a" "$cross_shim/libunwind.a"
	eval ": \"\${CARGO_TARGET_${cross_env_var}_LINKER:=$cross_gcc}\""
	eval ": \"\${CARGO_TARGET_${cross_env_var}_RUNNER:=$cross_qemu}\""
	CROSS_RUSTFLAGS="-Ctarget-feature=+crt-static -Clink-self-contained=no -L$cross_musl -L$cross_shim \
-Zpre-link-arg=-nostartfiles -Zpre-link-arg=$cross_musl/crt1.o \
-Zpre-link-arg=$cross_musl/crti.o -Zpre-link-arg=$cross_gcclib/crtbeginT.o \
-Clink-arg=$cross_gcclib/crtend.o -Clink-arg=$cross_musl/crtn.o"
	CROSS_BUILD_STD=1
	;;
*)
	echo "cross-env: no settings for $cross_triple" >&2
	return 1
	;;
esac
eval "export CARGO_TARGET_${cross_env_var}_LINKER CARGO_TARGET_${cross_env_var}_RUNNER" 2>/dev/null || true
