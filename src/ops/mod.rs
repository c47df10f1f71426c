//! The operations: what deploy, plan, status and teardown do, given a loaded state and
//! clients. Generic over the kinds' registry: what a kind does is the kind's.

pub mod deploy;
pub mod discover;
pub mod plan;
pub mod status;
pub mod teardown;
