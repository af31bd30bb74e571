################################################################################
#
# udhcp
#
################################################################################

# An example package for a BR2_EXTERNAL tree: copy this directory to
# $(BR2_EXTERNAL)/package/udhcp, source its Config.in from the external
# Config.in, and point UDHCP_SITE at a release tarball or, as here, a
# local checkout (make UDHCP_OVERRIDE_SRCDIR=... works too).
UDHCP_VERSION = 0.1.0
UDHCP_SITE = $(BR2_EXTERNAL_UDHCP_PATH)/../udhcp
UDHCP_SITE_METHOD = local
UDHCP_LICENSE = MIT or Apache-2.0

# Installed after BusyBox, so our links replace its udhcpc/udhcpd/dumpleases.
UDHCP_DEPENDENCIES = $(if $(BR2_PACKAGE_BUSYBOX),busybox)

# The same size settings as scripts/build-embedded.sh's plain part (the
# [profile.release] in Cargo.toml: opt-level z, LTO, abort on panic,
# stripped); Buildroot's own Rust toolchain builds std for the target.
UDHCP_CARGO_BUILD_OPTS = --bin udhcp

define UDHCP_INSTALL_TARGET_CMDS
	$(@D)/scripts/install.sh $(TARGET_DIR) \
		$(@D)/target/$(RUSTC_TARGET_NAME)/release/udhcp
endef

$(eval $(cargo-package))
