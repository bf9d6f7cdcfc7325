//! What the functions of the stack language share: their result type, the checks of their
//! arguments (each error names the argument, counting from 1, what was expected and what was
//! given) and the conversions Terraform applies to arguments.

use std::borrow::Cow;

use hcl::{Map, Number, Value};

pub(super) type FnResult = Result<Value, String>;

/// Short description of a value for error messages: its type and a compact rendering.
pub(super) fn describe(v: &Value) -> String {
    let kind = match v {
        Value::Null => return "null".into(),
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    };
    let shown = json(v);
    if shown.chars().count() > 40 {
        format!("{kind} {}...", shown.chars().take(37).collect::<String>())
    } else {
        format!("{kind} {shown}")
    }
}

pub(super) fn json(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Terraform's decimal rendering of a number (never in exponent form).
pub(super) fn num_str(n: &Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() => f.to_string(),
        _ => n.to_string(),
    }
}

/// Strings as they are; numbers and bools converted to strings, as Terraform does.
pub(super) fn as_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(num_str(n))),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        _ => None,
    }
}

/// Numbers as they are; numeric strings parsed.
pub(super) fn to_number(v: &Value) -> Option<Number> {
    match v {
        Value::Number(n) => Some(*n),
        Value::String(s) => s
            .parse::<i64>()
            .map(Number::from)
            .ok()
            .or_else(|| s.parse::<f64>().ok().and_then(Number::from_f64)),
        _ => None,
    }
}

pub(super) fn to_int(v: &Value) -> Option<i64> {
    to_number(v)?.as_i64()
}

pub(super) fn strings<'a>(list: &'a [Value], what: &str) -> Result<Vec<Cow<'a, str>>, String> {
    let convert = |(i, v)| {
        as_text(v).ok_or_else(|| format!("{what} {i}: expected a string, got {}", describe(v)))
    };
    list.iter().enumerate().map(convert).collect()
}

pub(super) trait Args {
    fn want<'a, T>(
        &'a self,
        i: usize,
        what: &str,
        f: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<T, String>;
    fn at_most(&self, n: usize) -> Result<(), String>;

    fn text(&self, i: usize) -> Result<Cow<'_, str>, String> {
        self.want(i, "a string", as_text)
    }
    fn list(&self, i: usize) -> Result<&[Value], String> {
        self.want(i, "a list", |v| v.as_array().map(Vec::as_slice))
    }
    fn map(&self, i: usize) -> Result<&Map<String, Value>, String> {
        self.want(i, "an object", Value::as_object)
    }
    fn num(&self, i: usize) -> Result<Number, String> {
        self.want(i, "a number", to_number)
    }
    fn int(&self, i: usize) -> Result<i64, String> {
        self.want(i, "a whole number", to_int)
    }
    fn index(&self, i: usize) -> Result<usize, String> {
        self.want(i, "a non-negative whole number", |v| {
            usize::try_from(to_int(v)?).ok()
        })
    }
}

impl Args for [Value] {
    fn want<'a, T>(
        &'a self,
        i: usize,
        what: &str,
        f: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<T, String> {
        let v = self.get(i).unwrap_or(&Value::Null);
        f(v).ok_or_else(|| format!("argument {}: expected {what}, got {}", i + 1, describe(v)))
    }

    fn at_most(&self, n: usize) -> Result<(), String> {
        match self.len() {
            len if len > n => Err(format!("expected at most {n} arguments, got {len}")),
            _ => Ok(()),
        }
    }
}

pub(super) fn all<'a, T>(
    a: &'a [Value],
    f: impl Fn(&'a [Value], usize) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    (0..a.len()).map(|i| f(a, i)).collect()
}

pub(super) fn str_fn(a: &[Value], f: impl FnOnce(&str) -> String) -> FnResult {
    Ok(Value::from(f(&a.text(0)?)))
}

pub(super) fn str2_fn(a: &[Value], f: impl FnOnce(&str, &str) -> Value) -> FnResult {
    Ok(f(&a.text(0)?, &a.text(1)?))
}

pub(super) fn list_fn(a: &[Value], f: impl FnOnce(Vec<Value>) -> Vec<Value>) -> FnResult {
    Ok(Value::Array(f(a.list(0)?.to_vec())))
}
