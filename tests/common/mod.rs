//! Helpers shared by the integration tests (`mod common;`).

pub mod netns;
pub mod peers;
