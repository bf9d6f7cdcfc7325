//! Which values of a stack are derived from sensitive ones, and their redaction.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::tags::Tags;

/// The address [`Sensitive::tags`] files the `stack` block's tags under.
pub const STACK_TAGS: &str = "stack";

/// What in a stack is derived from a sensitive value, so that every output shows
/// `(sensitive)` in its place. Sensitive values are allowed only in these places (the loader
/// refuses them elsewhere, with the attribute's location); hook environments and output values
/// are sensitive by their own flags (`Output::sensitive`; a hook's `env` is never shown).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sensitive {
    /// Tag keys whose values are sensitive, by the address of the block that sets them
    /// ([`STACK_TAGS`] for the stack block's).
    pub tags: BTreeMap<String, BTreeSet<String>>,
    /// Server groups (by address) whose user data is sensitive.
    pub user_data: BTreeSet<String>,
}

/// What outputs show in place of a sensitive value.
pub const REDACTED: &str = "(sensitive)";

impl Sensitive {
    /// Records the sensitive tag keys of the block at `address`.
    pub fn set_tags(&mut self, address: &str, keys: BTreeSet<String>) {
        if !keys.is_empty() {
            self.tags.insert(address.to_string(), keys);
        }
    }

    /// The tag keys whose values are sensitive on what `addresses` tag together (a server
    /// group's instances carry the stack's tags and the group's).
    pub fn tag_keys<'a>(&'a self, addresses: &[&str]) -> BTreeSet<&'a str> {
        addresses
            .iter()
            .filter_map(|a| self.tags.get(*a))
            .flatten()
            .map(String::as_str)
            .collect()
    }

    /// `tags` with the values of sensitive keys replaced by [`REDACTED`].
    pub fn redact_tags(&self, addresses: &[&str], tags: &Tags) -> Tags {
        let keys = self.tag_keys(addresses);
        tags.iter()
            .map(|(k, v)| {
                let v = match keys.contains(k.as_str()) {
                    true => REDACTED.to_string(),
                    false => v.clone(),
                };
                (k.clone(), v)
            })
            .collect()
    }
}
