//! The function library of the stack language, one module per family: [`strings`],
//! [`format`] (`format`, `formatlist`), [`collections`], [`numbers`] (and conversions),
//! [`encoding`], [`files`] (file reading and paths), [`net`] (CIDR arithmetic) and [`time`]
//! (timestamps); `try` and `can`, whose arguments the evaluator evaluates one at a time
//! (vendor/hcl-rs/PATCHED.md), are declared here.
//!
//! Names, argument order and result types follow Terraform's functions of the same name. Every
//! parameter is declared as `any` and checked here, so that type errors name the argument
//! (counting from 1), what was expected and what was given.
//!
//! Relative paths given to `file`, `filebase64`, `fileexists`, `templatefile` and `abspath`
//! resolve against the base directory installed with [`with_base_dir`], or against the working
//! directory of the process when none is set. Absolute paths are used as they are.

mod collections;
mod encoding;
mod files;
mod format;
mod net;
mod numbers;
mod strings;
mod time;

use std::borrow::Cow;

use hcl::eval::{Context, Func, FuncArgs, FuncDef, ParamType};
use hcl::{Map, Number, Value};

pub use files::with_base_dir;

type FnResult = Result<Value, String>;

/// Every function: name, number of positional parameters, whether more arguments may follow.
/// Each is wrapped so that its result is measured against the loading limits.
macro_rules! functions {
    ($(($name:literal, $arity:literal, $variadic:literal, $f:path)),* $(,)?) => {
        const FUNCTIONS: &[(&str, usize, bool, Func)] = &[$((
            $name,
            $arity,
            $variadic,
            {
                fn measured(a: FuncArgs) -> FnResult {
                    let v = $f(a)?;
                    super::limits::produced(&v)?;
                    Ok(v)
                }
                measured
            },
        )),*];
    };
}

/// `try(a, b, …)`: the evaluator hands over the first argument that evaluated without error.
fn try_(a: FuncArgs) -> FnResult {
    Ok(a.first().cloned().unwrap_or(Value::Null))
}

/// `can(expr)`: the evaluator hands over whether the argument evaluated without error.
fn can(a: FuncArgs) -> FnResult {
    Ok(a.first().cloned().unwrap_or(Value::Bool(false)))
}

functions![
    ("abs", 1, false, numbers::abs),
    ("abspath", 1, false, files::abspath),
    ("alltrue", 1, false, collections::alltrue),
    ("anytrue", 1, false, collections::anytrue),
    ("base64gzip", 1, false, encoding::base64gzip),
    ("can", 1, false, can),
    ("ceil", 1, false, numbers::ceil),
    ("chomp", 1, false, strings::chomp),
    ("chunklist", 2, false, collections::chunklist),
    ("cidrhost", 2, false, net::cidrhost),
    ("cidrsubnet", 3, false, net::cidrsubnet),
    ("coalescelist", 0, true, collections::coalescelist),
    ("filesha256", 1, false, files::filesha256),
    ("fileset", 2, false, files::fileset),
    ("floor", 1, false, numbers::floor),
    ("formatdate", 2, false, time::formatdate),
    ("indent", 2, false, strings::indent),
    ("md5", 1, false, encoding::md5),
    ("one", 1, false, collections::one),
    ("parseint", 2, false, numbers::parseint),
    ("regex", 2, false, strings::regex),
    ("regexall", 2, false, strings::regexall),
    ("setintersection", 1, true, collections::setintersection),
    ("setsubtract", 2, false, collections::setsubtract),
    ("setunion", 1, true, collections::setunion),
    ("sha1", 1, false, encoding::sha1),
    ("strrev", 1, false, strings::strrev),
    ("sum", 1, false, numbers::sum),
    ("templatestring", 2, false, files::templatestring),
    ("timeadd", 2, false, time::timeadd),
    ("title", 1, false, strings::title),
    ("tomap", 1, false, collections::tomap),
    ("transpose", 1, false, collections::transpose),
    ("trim", 2, false, strings::trim),
    ("try", 0, true, try_),
    ("urlencode", 1, false, encoding::urlencode),
    ("yamldecode", 1, false, encoding::yamldecode),
    ("yamlencode", 1, false, encoding::yamlencode),
    ("base64decode", 1, false, encoding::base64decode),
    ("base64encode", 1, false, encoding::base64encode),
    ("basename", 1, false, files::basename),
    ("coalesce", 0, true, collections::coalesce),
    ("compact", 1, false, collections::compact),
    ("concat", 0, true, collections::concat),
    ("contains", 2, false, collections::contains),
    ("dirname", 1, false, files::dirname),
    ("distinct", 1, false, collections::distinct),
    ("element", 2, false, collections::element),
    ("endswith", 2, false, strings::endswith),
    ("file", 1, false, files::file),
    ("filebase64", 1, false, files::filebase64),
    ("fileexists", 1, false, files::fileexists),
    ("flatten", 1, false, collections::flatten),
    ("format", 1, true, format::format),
    ("formatlist", 1, true, format::formatlist),
    ("index", 2, false, collections::index),
    ("join", 1, true, strings::join),
    ("jsondecode", 1, false, encoding::jsondecode),
    ("jsonencode", 1, false, encoding::jsonencode),
    ("keys", 1, false, collections::keys),
    ("length", 1, false, collections::length),
    ("lookup", 2, true, collections::lookup),
    ("lower", 1, false, strings::lower),
    ("max", 0, true, numbers::max),
    ("merge", 0, true, collections::merge),
    ("min", 0, true, numbers::min),
    ("range", 1, true, numbers::range),
    ("replace", 3, false, strings::replace),
    ("reverse", 1, false, collections::reverse),
    ("sha256", 1, false, encoding::sha256),
    ("slice", 3, false, collections::slice),
    ("sort", 1, false, collections::sort),
    ("split", 2, false, strings::split),
    ("startswith", 2, false, strings::startswith),
    ("substr", 3, false, strings::substr),
    ("templatefile", 2, false, files::templatefile),
    ("tolist", 1, false, numbers::tolist),
    ("tonumber", 1, false, numbers::tonumber),
    ("toset", 1, false, collections::toset),
    ("tostring", 1, false, numbers::tostring),
    ("trimprefix", 2, false, strings::trimprefix),
    ("trimspace", 1, false, strings::trimspace),
    ("trimsuffix", 2, false, strings::trimsuffix),
    ("upper", 1, false, strings::upper),
    ("values", 1, false, collections::values),
    ("zipmap", 2, false, collections::zipmap),
];

/// Declares every function of the stack language in `ctx`.
pub fn declare_all(ctx: &mut Context<'_>) {
    // First: hcl-rs looks functions up in order, and these run once per `for` element.
    super::limits::declare(ctx);
    for &(name, arity, variadic, func) in FUNCTIONS {
        let builder = FuncDef::builder().params(std::iter::repeat_n(ParamType::Any, arity));
        let builder = if variadic {
            builder.variadic_param(ParamType::Any)
        } else {
            builder
        };
        ctx.declare_func(name, builder.build(func));
    }
}

/// Short description of a value for error messages: its type and a compact rendering.
fn describe(v: &Value) -> String {
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

fn json(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Terraform's decimal rendering of a number (never in exponent form).
fn num_str(n: &Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() => f.to_string(),
        _ => n.to_string(),
    }
}

/// Strings as they are; numbers and bools converted to strings, as Terraform does.
fn as_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(num_str(n))),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        _ => None,
    }
}

/// Numbers as they are; numeric strings parsed.
fn to_number(v: &Value) -> Option<Number> {
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

fn to_int(v: &Value) -> Option<i64> {
    to_number(v)?.as_i64()
}

fn strings<'a>(list: &'a [Value], what: &str) -> Result<Vec<Cow<'a, str>>, String> {
    let convert = |(i, v)| {
        as_text(v).ok_or_else(|| format!("{what} {i}: expected a string, got {}", describe(v)))
    };
    list.iter().enumerate().map(convert).collect()
}

trait Args {
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

fn all<'a, T>(
    a: &'a [Value],
    f: impl Fn(&'a [Value], usize) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    (0..a.len()).map(|i| f(a, i)).collect()
}

fn str_fn(a: &[Value], f: impl FnOnce(&str) -> String) -> FnResult {
    Ok(Value::from(f(&a.text(0)?)))
}

fn str2_fn(a: &[Value], f: impl FnOnce(&str, &str) -> Value) -> FnResult {
    Ok(f(&a.text(0)?, &a.text(1)?))
}

fn list_fn(a: &[Value], f: impl FnOnce(Vec<Value>) -> Vec<Value>) -> FnResult {
    Ok(Value::Array(f(a.list(0)?.to_vec())))
}

#[cfg(test)]
mod testing {
    use hcl::eval::{Context, Evaluate};

    use super::{declare_all, json};

    /// Parses `expr` as an HCL expression, evaluates it with every function declared and renders
    /// the result as compact JSON.
    pub(super) fn eval(expr: &str) -> Result<String, String> {
        let body = hcl::parse(&format!("x = {expr}\n")).map_err(|e| format!("parse error: {e}"))?;
        let attr = body.attributes().next().ok_or("no attribute")?;
        let mut ctx = Context::new();
        declare_all(&mut ctx);
        let value = attr.expr().evaluate(&ctx).map_err(|e| e.to_string())?;
        Ok(json(&value))
    }

    /// Checks a table with one case per line: `expression => expected JSON`, or
    /// `expression => !text` where the text must occur in the error message. `{dir}` is replaced
    /// by `dir` on both sides.
    pub(super) fn check(dir: &str, table: &str) {
        let mut failures = Vec::new();
        for line in table.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let line = line.replace("{dir}", dir);
            let (input, want) = line
                .split_once(" => ")
                .expect("a case is `input => expected`");
            let (input, want) = (input.trim_end(), want.trim());
            let got = eval(input);
            let ok = match (want.strip_prefix('!'), &got) {
                (Some(needle), Err(e)) => e.contains(needle),
                (None, Ok(v)) => v == want,
                _ => false,
            };
            if !ok {
                failures.push(format!("{input}\n    want {want}\n    got  {got:?}"));
            }
        }
        assert!(
            failures.is_empty(),
            "{} failing:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
