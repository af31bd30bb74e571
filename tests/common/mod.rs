//! Helpers shared by the integration tests (`mod common;`). Each test crate
//! uses a subset, hence the dead-code allowance.
#![allow(dead_code)]

pub mod dhcpd;
pub mod netns;
pub mod peers;
pub mod powerfs;
pub mod tempdir;
