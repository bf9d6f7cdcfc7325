//! `count` and `for_each` on target groups, load balancers and server groups: one block,
//! several copies (one group per zone or shard). Each copy is a resource of its own, addressed
//! `server_group.web[2]` or `server_group.web["us-east-1a"]` and named `<stack>-web-2` or
//! `<stack>-web-us-east-1a` in AWS. Others see the block as a list (`count`) or a map
//! (`for_each`) of the copies' reference objects.

use hcl::{Map, Value};

use crate::load::diag::Problem;
use crate::load::limits::MAX_COPIES;
use crate::load::parse::{RawAttr, RawBlock};
use crate::names::Instance;
use crate::stack::UNKNOWN_APPLY;

use super::scope::{names_of, Copy, Evaluator, Scope};

/// Longest `for_each` key: it becomes part of AWS names.
const MAX_KEY_CHARS: usize = 64;

impl<'a> Evaluator<'a> {
    /// Evaluates a repeated block's `count` or `for_each`: its copies, and the list or map of
    /// their reference objects that other blocks see.
    pub(super) fn repeated(&mut self, scope: &mut Scope<'a>, block: &'a RawBlock) {
        let (ident, label) = (block.ident.as_str(), block.label());
        let copies = match (block.attr("count"), block.attr("for_each")) {
            (Some(_), Some(for_each)) => {
                self.problems.push(
                    Problem::new(format!(
                        "{ident} \"{label}\" sets both `count` and `for_each`"
                    ))
                    .at(for_each.loc.clone())
                    .label("`for_each` here")
                    .help("keep one: `count = N` for numbered copies, or `for_each` for copies named by the keys of a map or set"),
                );
                None
            }
            (Some(attr), None) => self.count(scope, ident, attr),
            (None, Some(attr)) => self.for_each(scope, ident, attr),
            (None, None) => Some(Vec::new()),
        };
        let Some(copies) = copies else {
            scope.fail(ident, label);
            return;
        };
        let refs = copies.iter().filter_map(|c| {
            let (key, address) = names_of(&scope.path, block, Some(&c.instance));
            Some((c, self.ref_object(ident, &key, &address)?))
        });
        let value = match block.attr("count") {
            Some(_) => Value::Array(refs.map(|(_, v)| v).collect()),
            None => Value::Object(
                refs.map(|(c, v)| (c.instance.key_suffix(), v))
                    .collect::<Map<_, _>>(),
            ),
        };
        scope.set(ident, label, value);
        scope.copies.insert((ident.into(), label.into()), copies);
    }

    fn count(&mut self, scope: &Scope, ident: &str, attr: &RawAttr) -> Option<Vec<Copy>> {
        let (v, _) = self.eval(scope, ident, attr)?;
        let n = match self.known_now(attr, &v)? {
            // A variable `validate` was not given: one copy, so that the body is checked.
            false => 1,
            true => self.conv(attr).number(&v, 0, MAX_COPIES)?,
        };
        Some(
            (0..n)
                .map(|i| Copy {
                    instance: Instance::Index(i),
                    value: Value::Null,
                })
                .collect(),
        )
    }

    fn for_each(&mut self, scope: &Scope, ident: &str, attr: &RawAttr) -> Option<Vec<Copy>> {
        let (v, _) = self.eval(scope, ident, attr)?;
        if !self.known_now(attr, &v)? {
            return Some(vec![Copy {
                instance: Instance::Key("unknown".into()),
                value: v,
            }]);
        }
        let size = match &v {
            Value::Object(map) => map.len(),
            Value::Array(items) => items.len(),
            _ => 0,
        };
        if size as u64 > MAX_COPIES {
            self.conv(attr).invalid(
                format!("`for_each` makes {size} copies, over the limit of {MAX_COPIES}"),
                "too many copies of one block",
            );
            return None;
        }
        let entries: Vec<(String, Value)> = match v {
            Value::Object(map) => map.into_iter().collect(),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut seen = std::collections::HashSet::new();
                for item in items {
                    match item {
                        Value::String(s) if !seen.insert(s.clone()) => {
                            self.conv(attr).invalid(
                                format!("`for_each` has the key \"{s}\" twice"),
                                "each key names one copy: keys must be unique",
                            );
                            return None;
                        }
                        Value::String(s) => out.push((s.clone(), Value::String(s))),
                        other => {
                            self.conv(attr).wrong(
                                "a map, or a set of strings such as toset([\"a\", \"b\"])",
                                &other,
                            );
                            return None;
                        }
                    }
                }
                out
            }
            other => {
                self.conv(attr).wrong(
                    "a map, or a set of strings such as toset([\"a\", \"b\"])",
                    &other,
                );
                return None;
            }
        };
        if let Some((key, _)) = entries.iter().find(|(key, _)| !is_copy_key(key)) {
            self.problems.push(
                Problem::new(format!("`for_each` key {key:?} cannot be part of an AWS name"))
                    .at(attr.value_loc.clone())
                    .label("expected letters, digits, `-` and `_`, at most 64")
                    .help(
                        "each key names its copy in AWS (`<stack>-<label>-<key>`): use keys \
                         such as \"us-east-1a\" or \"shard_2\", and put anything else in the values",
                    ),
            );
            return None;
        }
        Some(
            entries
                .into_iter()
                .map(|(key, value)| Copy {
                    instance: Instance::Key(key),
                    value,
                })
                .collect(),
        )
    }

    /// Whether a `count` or `for_each` value is known now (a map's keys: its values may be
    /// known later). `Some(false)`: a variable `validate` was not given. `None`: it depends
    /// on something apply creates (reported).
    fn known_now(&mut self, attr: &RawAttr, v: &Value) -> Option<bool> {
        let text = match v {
            Value::Object(map) => map.keys().cloned().collect::<Vec<_>>().join(" "),
            other => serde_json::to_string(other).unwrap_or_default(),
        };
        if text.contains(UNKNOWN_APPLY) {
            self.conv(attr).invalid(
                format!(
                    "`{}` depends on a value known only after apply: how many copies to make \
                     must be known when the stack is loaded",
                    attr.name
                ),
                "known only after apply",
            );
            return None;
        }
        Some(!crate::stack::is_unknown(&text))
    }
}

/// A `for_each` key becomes part of AWS names (`<stack>-web-<key>-v001`).
fn is_copy_key(key: &str) -> bool {
    !key.is_empty()
        && key.chars().count() <= MAX_KEY_CHARS
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
