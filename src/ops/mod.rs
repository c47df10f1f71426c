//! The operations: what deploy, status and teardown do, given a loaded state and clients.

pub mod deploy;
pub mod discover;
pub mod status;
pub mod teardown;
