//! One AWS resource per file: create, read (with its owner tag) and delete. These functions
//! make exactly the calls they name, return data, and never print; the retries, waits and
//! bookkeeping live in `ops`.

pub mod api;
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
    pub fn from_tag(tag: Option<&str>, stack: &str) -> Owner {
        match tag {
            Some(t) if t == stack => Owner::Us,
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
            Owner::Other(s) => format!("stack '{s}' ({OWNER_TAG}={s})"),
            Owner::Untagged => format!("nobody known to serverless-cli (no {OWNER_TAG} tag)"),
            Owner::Unknown(why) => format!(
                "an owner that cannot be told: its tags could not be read ({why}); allow lambda:ListTags to the deploying identity (serverless-cli iam-policy)"
            ),
        }
    }
}
