//! Converting one evaluated value into a typed one, each wrong value a located problem:
//! `Evaluated` (a block after evaluation), `Conv` (one attribute's conversions) and `Fields`
//! (a block's attributes by name).

use std::collections::BTreeMap;
use std::time::Duration;

use hcl::Value;

use crate::cloud::Tags;
use crate::load::diag::Problem;
use crate::load::marks::Marks;
use crate::load::parse::{RawAttr, RawBlock};
use crate::stack::{is_region_name, is_unknown, Quantity};

/// A block after evaluation: values of the attributes that evaluated, and nested blocks.
pub struct Evaluated<'b> {
    pub block: &'b RawBlock,
    pub attrs: BTreeMap<&'b str, (Value, &'b RawAttr)>,
    /// Which parts of the attributes' values are sensitive (absent: nothing).
    pub marks: BTreeMap<&'b str, Marks>,
    pub blocks: Vec<Evaluated<'b>>,
}

impl<'b> Evaluated<'b> {
    /// The marks of attribute `name`'s value.
    pub fn marks_of(&self, name: &str) -> Marks {
        self.marks.get(name).cloned().unwrap_or_default()
    }

    pub(crate) fn nested(&self, ident: &str) -> Option<&Evaluated<'b>> {
        self.blocks.iter().find(|b| b.block.ident == ident)
    }
}

/// Converts one attribute's value, reporting a problem at the attribute when it is of the
/// wrong shape.
pub struct Conv<'a> {
    attr: &'a RawAttr,
    problems: &'a mut Vec<Problem>,
    /// The value is (partly) sensitive: errors do not show it.
    sensitive: bool,
}

/// A value not known yet (a lookup in `validate`, a variable not given to `validate`):
/// typed conversions accept it, since the real value is checked when it is known.
pub(crate) fn is_unknown_value(v: &Value) -> bool {
    matches!(v, Value::String(s) if is_unknown(s))
}

/// What kind of value `v` is, without its content.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

fn describe(v: &Value) -> String {
    let s = match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("bool {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(o) => match (o.get("kind"), o.get("address")) {
            (Some(_), Some(Value::String(a))) => format!("a reference to {a}"),
            _ => "an object".to_string(),
        },
    };
    if s.len() > 60 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(57).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

impl<'a> Conv<'a> {
    pub fn new(attr: &'a RawAttr, problems: &'a mut Vec<Problem>) -> Self {
        Conv {
            attr,
            problems,
            sensitive: false,
        }
    }

    /// Whether the value is sensitive, so that errors describe only its kind.
    pub fn sensitive(mut self, sensitive: bool) -> Self {
        self.sensitive = sensitive;
        self
    }

    /// The attribute being converted.
    pub(crate) fn name(&self) -> &str {
        &self.attr.name
    }

    pub(crate) fn wrong(&mut self, expected: &str, v: &Value) {
        let found = match self.sensitive {
            true => format!("a sensitive {}", kind(v)),
            false => describe(v),
        };
        self.problems.push(
            Problem::new(format!(
                "`{}` must be {expected}, found {found}",
                self.attr.name
            ))
            .at(self.attr.value_loc.clone())
            .label(format!("expected {expected}")),
        );
    }

    pub(crate) fn invalid(&mut self, message: String, label: &str) {
        self.problems.push(
            Problem::new(message)
                .at(self.attr.value_loc.clone())
                .label(label.to_string()),
        );
    }

    pub fn string(&mut self, v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                self.wrong("a string", v);
                None
            }
        }
    }

    pub fn boolean(&mut self, v: &Value) -> Option<bool> {
        match v {
            v if is_unknown_value(v) => Some(false),
            Value::Bool(b) => Some(*b),
            Value::String(s) if s == "true" || s == "false" => Some(s == "true"),
            _ => {
                self.wrong("true or false", v);
                None
            }
        }
    }

    pub fn number(&mut self, v: &Value, min: u64, max: u64) -> Option<u64> {
        let n = match v {
            v if is_unknown_value(v) => Some(min),
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(n) => {
                self.invalid(
                    format!("`{}` is {n}, out of range", self.attr.name),
                    &format!("expected a whole number from {min} to {max}"),
                );
                None
            }
            None => {
                self.wrong("a whole number", v);
                None
            }
        }
    }

    pub fn one_of(&mut self, v: &Value, choices: &[&str]) -> Option<String> {
        let s = self.string(v)?;
        if is_unknown(&s) {
            return Some(choices[0].to_string());
        }
        if choices.contains(&s.as_str()) {
            Some(s)
        } else {
            let list = choices
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ");
            self.invalid(
                format!("`{}` cannot be {s:?}", self.attr.name),
                &format!("expected one of {list}"),
            );
            None
        }
    }

    pub fn string_list(&mut self, v: &Value) -> Option<Vec<String>> {
        if is_unknown_value(v) {
            return Some(vec![crate::stack::UNKNOWN_LOOKUP.to_string()]);
        }
        let Value::Array(items) = v else {
            self.wrong("a list of strings", v);
            return None;
        };
        items.iter().map(|i| self.string(i)).collect()
    }

    /// `regions = ["us-east-1", "eu-west-1"]`: at least one AWS region name, none twice.
    pub fn region_list(&mut self, v: &Value) -> Option<Vec<String>> {
        if is_unknown_value(v) {
            return None;
        }
        let list = self.string_list(v)?;
        if list.is_empty() {
            self.invalid(
                format!("`{}` is empty", self.attr.name),
                "expected at least one region, such as [\"us-east-1\"]",
            );
            return None;
        }
        let mut seen = std::collections::BTreeSet::new();
        for region in &list {
            if !is_region_name(region) {
                self.invalid(
                    format!("`{}`: {region:?} is not an AWS region name", self.attr.name),
                    "expected region names such as \"us-east-1\" or \"eu-west-1\"",
                );
                return None;
            }
            if !seen.insert(region.as_str()) {
                self.invalid(
                    format!("`{}` lists {region:?} twice", self.attr.name),
                    "list each region once",
                );
                return None;
            }
        }
        Some(list)
    }

    pub fn string_map(&mut self, v: &Value) -> Option<Tags> {
        if is_unknown_value(v) {
            return Some(Tags::new());
        }
        let Value::Object(map) = v else {
            self.wrong("a map of strings, such as { team = \"shop\" }", v);
            return None;
        };
        map.iter()
            .map(|(k, v)| self.string(v).map(|s| (k.clone(), s)))
            .collect()
    }

    /// `"30s"`, `"10m"`, `"1h30m"` or a number of seconds.
    /// A lock URL (`s3://bucket/prefix`); `null` is the local lock.
    pub fn lock(&mut self, v: &Value) -> Option<crate::lock::LockSetting> {
        use crate::lock::LockSetting;
        if v.is_null() {
            return Some(LockSetting::Local);
        }
        let s = self.string(v)?;
        if is_unknown(&s) {
            return Some(LockSetting::Unknown);
        }
        match crate::lock::LockUrl::parse(&s) {
            Ok(url) => Some(LockSetting::Shared(url)),
            Err(e) => {
                self.problems.push(
                    Problem::new(format!("`{}` is not a usable lock: {e}", self.attr.name))
                        .at(self.attr.value_loc.clone())
                        .label("expected s3://BUCKET/PREFIX")
                        .help(e.help()),
                );
                None
            }
        }
    }

    pub fn duration(&mut self, v: &Value) -> Option<Duration> {
        match v {
            v if is_unknown_value(v) => Some(Duration::ZERO),
            Value::Number(n) if n.as_u64().is_some() => Some(Duration::from_secs(n.as_u64()?)),
            Value::String(s) => match humantime::parse_duration(s) {
                Ok(d) => Some(d),
                Err(_) => {
                    self.invalid(
                        format!("`{}`: {s:?} is not a duration", self.attr.name),
                        "expected a duration such as \"30s\", \"10m\" or \"1h\"",
                    );
                    None
                }
            },
            _ => {
                self.wrong("a duration such as \"30s\"", v);
                None
            }
        }
    }

    /// `2` or `"25%"`.
    pub fn quantity(&mut self, v: &Value) -> Option<Quantity> {
        match v {
            v if is_unknown_value(v) => Some(Quantity::Count(1)),
            Value::Number(n) => match n.as_u64() {
                Some(n) if n <= u64::from(u32::MAX) => Some(Quantity::Count(n as u32)),
                _ => {
                    self.wrong("a count or a percentage", v);
                    None
                }
            },
            Value::String(s) => {
                let parsed = match s.strip_suffix('%') {
                    Some(p) => p
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|p| *p <= 100)
                        .map(Quantity::Percent),
                    None => s.trim().parse::<u32>().ok().map(Quantity::Count),
                };
                if parsed.is_none() {
                    self.invalid(
                        format!(
                            "`{}`: {s:?} is neither a count nor a percentage",
                            self.attr.name
                        ),
                        "expected a count such as 2, or a percentage such as \"25%\"",
                    );
                }
                parsed
            }
            _ => {
                self.wrong("a count or a percentage", v);
                None
            }
        }
    }

    /// A reference object of the given kind (`target_group.web`); returns its address.
    pub fn reference(&mut self, v: &Value, kind: &str) -> Option<String> {
        if let Value::Object(o) = v {
            if let (Some(Value::String(k)), Some(Value::String(a))) =
                (o.get("kind"), o.get("address"))
            {
                if k == kind {
                    return Some(a.clone());
                }
            }
        }
        self.wrong(&format!("a reference to a {kind}, such as {kind}.web"), v);
        None
    }

    /// `depends_on`: server group references, and module references standing for every
    /// server group in the module. A server group with `count` or `for_each` (a list or a
    /// map of references) stands for every copy.
    pub fn group_references(&mut self, v: &Value) -> Option<Vec<String>> {
        let Value::Array(items) = v else {
            return self.references(v, "server_group");
        };
        let copies = |item: &Value| match item {
            Value::Array(copies) => Some(copies.clone()),
            Value::Object(o) if !o.contains_key("kind") && !o.is_empty() => {
                Some(o.values().cloned().collect())
            }
            _ => None,
        };
        let items: Vec<Value> = items
            .iter()
            .flat_map(|item| copies(item).unwrap_or_else(|| vec![item.clone()]))
            .collect();
        let mut out = Vec::new();
        for item in &items {
            match item {
                Value::Object(o) if o.get("kind") == Some(&Value::from("module")) => {
                    let groups = o.get("server_groups").and_then(Value::as_array);
                    out.extend(
                        groups
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .map(String::from),
                    );
                }
                other => out.push(self.reference(other, "server_group")?),
            }
        }
        Some(out)
    }

    pub fn references(&mut self, v: &Value, kind: &str) -> Option<Vec<String>> {
        match v {
            Value::Array(items) => items.iter().map(|i| self.reference(i, kind)).collect(),
            _ => {
                self.wrong(
                    &format!("a list of {kind} references, such as [{kind}.web]"),
                    v,
                );
                None
            }
        }
    }
}

/// Pulls typed attributes out of an [`Evaluated`] block.
pub(crate) struct Fields<'e, 'b> {
    pub(crate) e: &'e Evaluated<'b>,
    pub(crate) problems: &'e mut Vec<Problem>,
    pub(crate) ok: bool,
}

impl<'e, 'b> Fields<'e, 'b> {
    pub(crate) fn new(e: &'e Evaluated<'b>, problems: &'e mut Vec<Problem>) -> Self {
        Fields {
            e,
            problems,
            ok: true,
        }
    }

    /// Converts attribute `name` with `f` when present; `None` when absent or invalid.
    pub(crate) fn get<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut Conv, &Value) -> Option<T>,
    ) -> Option<T> {
        let (v, attr) = self.e.attrs.get(name)?;
        let before = self.problems.len();
        let sensitive = self.e.marks.contains_key(name);
        let out = f(&mut Conv::new(attr, self.problems).sensitive(sensitive), v);
        if out.is_none() || self.problems.len() > before {
            self.ok = false;
        }
        out
    }

    /// Like [`Fields::get`], for required attributes: absence was reported by the parser.
    pub(crate) fn req<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut Conv, &Value) -> Option<T>,
    ) -> Option<T> {
        let out = self.get(name, f);
        if out.is_none() {
            self.ok = false;
        }
        out
    }

    pub(crate) fn nested(&self, ident: &str) -> Option<&'e Evaluated<'b>> {
        self.e.nested(ident)
    }
}
