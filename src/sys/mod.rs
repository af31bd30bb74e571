//! The OS layer: the only place with libc, nix, socket2 and `unsafe`.

pub mod net;
