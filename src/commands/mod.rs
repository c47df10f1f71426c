//! Commands: each parses its options, checks the input, opens a session (`crate::session`),
//! runs one operation, and renders the outcome.
//!
//! Every check of the user's input happens before the first AWS call, so bad input changes
//! nothing.

pub mod api_key;
pub mod deploy;
pub mod iam_policy;
pub mod init;
pub mod logs;
pub mod openapi;
pub mod plan;
pub mod rollback;
pub mod serve;
pub mod state;
pub mod status;
pub mod teardown;
pub mod try_it;
