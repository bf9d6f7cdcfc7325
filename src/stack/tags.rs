//! Tags, as AWS stores them and as the stack declares them.

use std::collections::BTreeMap;

/// Tags as AWS stores them.
pub type Tags = BTreeMap<String, String>;
