//! The integration tests: one crate, so the support code (the emulator, the recording and
//! fault-injecting proxy, the serve helpers) is compiled once. Each module is one area;
//! `cargo test --test it MODULE::` runs one (`cargo test --test it reliability:: safety::`
//! runs two). Every test starts its own emulator on a free port, so they run in parallel.

mod support;

mod auth;
mod aws_rules;
mod document;
mod domain;
mod drift;
mod hostile;
mod iam;
mod input;
mod interface;
mod lifecycle;
mod logs;
mod model;
mod openapi;
mod plan;
mod proxy;
mod quotas;
mod reliability;
mod rollback;
mod safety;
mod serve;
mod sharedstate;
mod stackfile;
mod structure;
