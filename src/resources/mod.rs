//! One AWS resource per file: create, read (with its owner tag) and delete. These functions
//! make exactly the calls they name, return data, and never print; the retries, waits and
//! bookkeeping live in `ops`.

pub mod access;
pub mod api;
pub mod domain;
pub mod function;
pub mod log_group;
pub mod role;
pub mod table;

use crate::stack::OWNER_TAG;

/// Who a resource belongs to, by its owner tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// Tagged with this stack.
    Us,
    /// Tagged with another stack.
    Other(String),
    /// No owner tag: made by hand or by another tool.
    Untagged,
    /// The tags could not be read (Lambda's GetFunction leaves them out, with a TagsError,
    /// when the caller may not `lambda:ListTags`): never taken as untagged.
    Unknown(String),
}

impl Owner {
    /// `owner` is the stack's identity as its owner tag writes it ([`crate::stack::owner_id`]):
    /// `project/stack`, or the bare stack name of a stack from before projects (the built-in
    /// tutorial stack, a state an earlier release wrote). Only an exact match is ours.
    pub fn from_tag(tag: Option<&str>, owner: &str) -> Owner {
        match tag {
            Some(t) if t == owner => Owner::Us,
            Some(t) => Owner::Other(t.to_string()),
            None => Owner::Untagged,
        }
    }

    /// Finds the owner tag among key/value pairs.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        stack: &str,
    ) -> Owner {
        let tag = pairs
            .into_iter()
            .find(|(k, _)| *k == OWNER_TAG)
            .map(|(_, v)| v);
        Owner::from_tag(tag, stack)
    }

    pub fn describe(&self) -> String {
        match self {
            Owner::Us => "this stack".to_string(),
            Owner::Other(s) => match s.split_once('/') {
                Some((project, stack)) => format!(
                    "stack '{}' of project '{}' ({OWNER_TAG}={})",
                    stack,
                    project,
                    s
                ),
                None => format!(
                    "stack '{}' of no named project (the built-in stack, or one an earlier release deployed; {OWNER_TAG}={})",
                    s,
                    s
                ),
            },
            Owner::Untagged => format!("nobody known to serverless-cli (no {OWNER_TAG} tag)"),
            Owner::Unknown(why) => format!(
                "an owner that cannot be told: its tags could not be read ({why}); allow lambda:ListTags to the deploying identity (serverless-cli iam-policy)"
            ),
        }
    }
}
