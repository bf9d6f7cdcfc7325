//! The function library of the stack language.
//!
//! Names, argument order and result types follow Terraform's functions of the same name. Every
//! parameter is declared as `any` and checked here, so that type errors name the argument
//! (counting from 1), what was expected and what was given.
//!
//! Relative paths given to `file`, `filebase64`, `fileexists`, `templatefile` and `abspath`
//! resolve against the base directory installed with [`with_base_dir`], or against the working
//! directory of the process when none is set. Absolute paths are used as they are.

use std::borrow::Cow;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hcl::eval::{Context, Evaluate, Func, FuncArgs, FuncDef, ParamType};
use hcl::{Identifier, Map, Number, Template, Value};
use sha2::{Digest, Sha256};

use super::snapshot::Entry;

type FnResult = Result<Value, String>;

/// Every function: name, number of positional parameters, whether more arguments may follow.
const FUNCTIONS: &[(&str, usize, bool, Func)] = &[
    ("abspath", 1, false, abspath),
    ("base64decode", 1, false, base64decode),
    ("base64encode", 1, false, base64encode),
    ("basename", 1, false, basename),
    ("coalesce", 0, true, coalesce),
    ("compact", 1, false, compact),
    ("concat", 0, true, concat),
    ("contains", 2, false, contains),
    ("dirname", 1, false, dirname),
    ("distinct", 1, false, distinct),
    ("element", 2, false, element),
    ("endswith", 2, false, endswith),
    ("file", 1, false, file),
    ("filebase64", 1, false, filebase64),
    ("fileexists", 1, false, fileexists),
    ("flatten", 1, false, flatten),
    ("format", 1, true, format),
    ("formatlist", 1, true, formatlist),
    ("index", 2, false, index),
    ("join", 1, true, join),
    ("jsondecode", 1, false, jsondecode),
    ("jsonencode", 1, false, jsonencode),
    ("keys", 1, false, keys),
    ("length", 1, false, length),
    ("lookup", 2, true, lookup),
    ("lower", 1, false, lower),
    ("max", 0, true, max),
    ("merge", 0, true, merge),
    ("min", 0, true, min),
    ("range", 1, true, range),
    ("replace", 3, false, replace),
    ("reverse", 1, false, reverse),
    ("sha256", 1, false, sha256),
    ("slice", 3, false, slice),
    ("sort", 1, false, sort),
    ("split", 2, false, split),
    ("startswith", 2, false, startswith),
    ("substr", 3, false, substr),
    ("templatefile", 2, false, templatefile),
    ("tolist", 1, false, tolist),
    ("tonumber", 1, false, tonumber),
    ("toset", 1, false, toset),
    ("tostring", 1, false, tostring),
    ("trimprefix", 2, false, trimprefix),
    ("trimspace", 1, false, trimspace),
    ("trimsuffix", 2, false, trimsuffix),
    ("upper", 1, false, upper),
    ("values", 1, false, values),
    ("zipmap", 2, false, zipmap),
];

/// Declares every function of the stack language in `ctx`.
pub fn declare_all(ctx: &mut Context<'_>) {
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

thread_local! {
    static BASE_DIR: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

/// Runs `f` with `dir` as the directory that relative paths in file functions resolve against.
///
/// The previous base directory is restored when `f` returns or panics, so calls nest.
pub fn with_base_dir<R>(dir: &Path, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<PathBuf>);
    impl Drop for Restore {
        fn drop(&mut self) {
            BASE_DIR.set(self.0.take());
        }
    }
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let _restore = Restore(BASE_DIR.replace(Some(dir)));
    f()
}

fn resolve(raw: &str) -> PathBuf {
    let path = Path::new(raw);
    if path.is_absolute() {
        return path.to_path_buf();
    }
    BASE_DIR
        .with_borrow(Clone::clone)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default()
        .join(path)
}

// ---------------------------------------------------------------------------------------------
// Argument helpers

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

// ---------------------------------------------------------------------------------------------
// Files and paths

/// The path argument of a file function: resolved, and remembered as given for error messages.
struct PathArg<'a> {
    func: &'static str,
    raw: Cow<'a, str>,
    path: PathBuf,
}

impl<'a> PathArg<'a> {
    fn new(func: &'static str, a: &'a [Value]) -> Result<Self, String> {
        let raw = a.text(0)?;
        let path = resolve(&raw);
        Ok(PathArg { func, raw, path })
    }

    fn fail<T>(&self, msg: impl std::fmt::Display) -> Result<T, String> {
        Err(format!("{}({:?}): {msg}", self.func, self.raw))
    }

    /// The file's bytes as this load first read them (see [`super::snapshot`]).
    fn read(&self) -> Result<Vec<u8>, String> {
        let shown = self.path.display();
        match super::snapshot::read(&self.path) {
            Entry::File(bytes) => Ok(bytes.to_vec()),
            Entry::Missing => self.fail(format_args!("no such file: {shown}")),
            Entry::Directory => self.fail(format_args!("{shown} is a directory, not a file")),
            Entry::Error(e) => self.fail(format_args!("cannot read {shown}: {e}")),
        }
    }

    fn read_text(&self) -> Result<String, String> {
        let shown = self.path.display();
        String::from_utf8(self.read()?).or_else(|_| {
            self.fail(format_args!(
                "{shown} is not valid UTF-8 text; use filebase64 for binary files"
            ))
        })
    }
}

fn file(a: FuncArgs) -> FnResult {
    PathArg::new("file", &a)?.read_text().map(Value::from)
}

fn filebase64(a: FuncArgs) -> FnResult {
    let bytes = PathArg::new("filebase64", &a)?.read()?;
    Ok(Value::from(BASE64.encode(bytes)))
}

fn fileexists(a: FuncArgs) -> FnResult {
    let arg = PathArg::new("fileexists", &a)?;
    let shown = arg.path.display();
    match super::snapshot::read(&arg.path) {
        Entry::File(_) => Ok(Value::Bool(true)),
        Entry::Directory => arg.fail(format_args!("{shown} exists but is not a regular file")),
        Entry::Missing => Ok(Value::Bool(false)),
        Entry::Error(e) => arg.fail(format_args!("cannot access {shown}: {e}")),
    }
}

fn templatefile(a: FuncArgs) -> FnResult {
    let arg = PathArg::new("templatefile", &a)?;
    let vars = a.map(1)?;
    let template = Template::from_str(&arg.read_text()?).or_else(|e| {
        arg.fail(format_args!(
            "invalid template syntax in {}:\n{e}",
            arg.path.display()
        ))
    })?;
    let mut ctx = Context::new();
    declare_all(&mut ctx);
    let no_recursion = FuncDef::builder()
        .variadic_param(ParamType::Any)
        .build(|_| Err("cannot recursively call templatefile from inside a template".into()));
    ctx.declare_func("templatefile", no_recursion);
    for (name, value) in vars {
        let ident = Identifier::new(name.as_str())
            .or_else(|_| arg.fail(format_args!("invalid template variable name {name:?}")))?;
        ctx.declare_var(ident, value.clone());
    }
    template
        .evaluate(&ctx)
        .map(Value::from)
        .or_else(|e| arg.fail(e))
}

/// Go's `path.Clean`: lexical normalisation of `.`, `..` and repeated slashes.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|last| *last != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            _ => parts.push(part),
        }
    }
    match (rooted, parts.join("/")) {
        (true, body) => format!("/{body}"),
        (false, body) if body.is_empty() => ".".into(),
        (false, body) => body,
    }
}

fn abspath(a: FuncArgs) -> FnResult {
    str_fn(&a, |p| clean(&resolve(p).to_string_lossy()))
}

fn basename(a: FuncArgs) -> FnResult {
    str_fn(&a, |p| match p.trim_end_matches('/') {
        "" if p.is_empty() => ".".into(),
        "" => "/".into(),
        trimmed => trimmed.rsplit('/').next().unwrap_or(trimmed).into(),
    })
}

fn dirname(a: FuncArgs) -> FnResult {
    str_fn(&a, |p| clean(p.rfind('/').map_or("", |i| &p[..=i])))
}

// ---------------------------------------------------------------------------------------------
// Strings

fn lower(a: FuncArgs) -> FnResult {
    str_fn(&a, str::to_lowercase)
}

fn upper(a: FuncArgs) -> FnResult {
    str_fn(&a, str::to_uppercase)
}

fn trimspace(a: FuncArgs) -> FnResult {
    str_fn(&a, |s| s.trim().into())
}

fn startswith(a: FuncArgs) -> FnResult {
    str2_fn(&a, |s, p| Value::Bool(s.starts_with(p)))
}

fn endswith(a: FuncArgs) -> FnResult {
    str2_fn(&a, |s, p| Value::Bool(s.ends_with(p)))
}

fn trimprefix(a: FuncArgs) -> FnResult {
    str2_fn(&a, |s, p| Value::from(s.strip_prefix(p).unwrap_or(s)))
}

fn trimsuffix(a: FuncArgs) -> FnResult {
    str2_fn(&a, |s, p| Value::from(s.strip_suffix(p).unwrap_or(s)))
}

fn split(a: FuncArgs) -> FnResult {
    str2_fn(&a, |sep, s| match sep {
        "" => s.chars().map(|c| Value::from(c.to_string())).collect(),
        _ => s.split(sep).map(Value::from).collect(),
    })
}

fn replace(a: FuncArgs) -> FnResult {
    let (s, from, to) = (a.text(0)?, a.text(1)?, a.text(2)?);
    if from.len() > 1 && from.starts_with('/') && from.ends_with('/') {
        return Err(format!(
            "regular expression patterns such as {from:?} are not supported; pass a plain substring"
        ));
    }
    Ok(Value::from(s.replace(from.as_ref(), &to)))
}

fn substr(a: FuncArgs) -> FnResult {
    let (s, offset, length) = (a.text(0)?, a.int(1)?, a.int(2)?);
    let total = i64::try_from(s.chars().count()).unwrap_or(i64::MAX);
    let start = if offset < 0 {
        (total + offset).max(0)
    } else {
        offset
    };
    let take = usize::try_from(length).unwrap_or(usize::MAX);
    let start = usize::try_from(start).unwrap_or(usize::MAX);
    Ok(Value::from(
        s.chars().skip(start).take(take).collect::<String>(),
    ))
}

fn join(a: FuncArgs) -> FnResult {
    if a.len() < 2 {
        return Err("at least one list is required after the separator".into());
    }
    let sep = a.text(0)?;
    let mut parts = Vec::new();
    for i in 1..a.len() {
        parts.extend(strings(
            a.list(i)?,
            &format!("argument {}: element", i + 1),
        )?);
    }
    Ok(Value::from(parts.join(&*sep)))
}

fn base64encode(a: FuncArgs) -> FnResult {
    str_fn(&a, |s| BASE64.encode(s))
}

fn base64decode(a: FuncArgs) -> FnResult {
    let bytes = BASE64
        .decode(a.text(0)?.as_bytes())
        .map_err(|e| format!("argument 1: invalid base64: {e}"))?;
    String::from_utf8(bytes)
        .map(Value::from)
        .map_err(|_| "the decoded bytes are not valid UTF-8 text".into())
}

fn sha256(a: FuncArgs) -> FnResult {
    str_fn(&a, |s| hex::encode(Sha256::digest(s.as_bytes())))
}

fn jsonencode(a: FuncArgs) -> FnResult {
    Ok(Value::from(json(&a[0])))
}

fn jsondecode(a: FuncArgs) -> FnResult {
    serde_json::from_str(&a.text(0)?).map_err(|e| format!("invalid JSON: {e}"))
}

// ---------------------------------------------------------------------------------------------
// format and formatlist

#[derive(Default)]
struct Verb {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

fn digits(chars: &mut Chars<'_>) -> Option<usize> {
    let mut n = None;
    while let Some((_, d)) = chars.next_if(|(_, c)| c.is_ascii_digit()) {
        n = Some(n.unwrap_or(0) * 10 + d.to_digit(10).unwrap_or(0) as usize);
    }
    n
}

/// An explicit argument index such as `[2]`, returned zero-based.
fn arg_index(chars: &mut Chars<'_>) -> Result<Option<usize>, String> {
    if chars.next_if(|(_, c)| *c == '[').is_none() {
        return Ok(None);
    }
    match (digits(chars), chars.next()) {
        (Some(n), Some((_, ']'))) if n > 0 => Ok(Some(n - 1)),
        _ => Err("invalid argument index; expected [n] with n counting from 1".into()),
    }
}

/// Go's `fmt`-style formatting as done by Terraform's `format` function.
fn sprintf(spec: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = spec.char_indices().peekable();
    let (mut next, mut used) = (0, 0);
    while let Some((start, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut v = Verb::default();
        while let Some((_, flag)) = chars.next_if(|(_, c)| "-+# 0".contains(*c)) {
            let set = match flag {
                '-' => &mut v.minus,
                '+' => &mut v.plus,
                '#' => &mut v.sharp,
                ' ' => &mut v.space,
                _ => &mut v.zero,
            };
            *set = true;
        }
        let at_offset = |msg: String| format!("error in format string at offset {start}: {msg}");
        next = arg_index(&mut chars).map_err(at_offset)?.unwrap_or(next);
        v.width = digits(&mut chars);
        if chars.next_if(|(_, c)| *c == '.').is_some() {
            v.precision = Some(digits(&mut chars).unwrap_or(0));
        }
        next = arg_index(&mut chars).map_err(at_offset)?.unwrap_or(next);
        let Some((end, verb)) = chars.next() else {
            return Err(at_offset("incomplete verb at end of format string".into()));
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let raw = &spec[start..end + verb.len_utf8()];
        let arg = args.get(next).ok_or_else(|| {
            format!(
                "not enough arguments for {raw:?} at offset {start}: need argument {} but {} given",
                next + 1,
                args.len()
            )
        })?;
        let (prefix, body) = render(verb, &v, arg)
            .map_err(|e| format!("unsupported value for {raw:?} at offset {start}: {e}"))?;
        pad(&mut out, &v, &prefix, &body);
        next += 1;
        used = used.max(next);
    }
    match used < args.len() {
        true => Err(format!(
            "too many arguments; only {used} used by the format string"
        )),
        false => Ok(out),
    }
}

fn pad(out: &mut String, v: &Verb, prefix: &str, body: &str) {
    let len = prefix.chars().count() + body.chars().count();
    let fill = v.width.unwrap_or(0).saturating_sub(len);
    match (v.minus, v.zero) {
        (true, _) => out.extend(
            [prefix, body]
                .into_iter()
                .chain(std::iter::repeat_n(" ", fill)),
        ),
        (false, true) => out.extend(
            std::iter::once(prefix)
                .chain(std::iter::repeat_n("0", fill))
                .chain([body]),
        ),
        (false, false) => out.extend(std::iter::repeat_n(" ", fill).chain([prefix, body])),
    }
}

/// Renders one argument, split into a sign/base prefix and the rest (zero padding goes between).
fn render(verb: char, v: &Verb, arg: &Value) -> Result<(String, String), String> {
    let sign = |negative: bool| match (negative, v.plus, v.space) {
        (true, _, _) => "-",
        (false, true, _) => "+",
        (false, false, true) => " ",
        _ => "",
    };
    let body = match verb {
        'v' if v.sharp => json(arg),
        'v' => match arg {
            Value::Array(_) | Value::Object(_) => json(arg),
            Value::Null => "null".into(),
            _ => as_text(arg).unwrap_or_default().into_owned(),
        },
        's' | 'q' => {
            let s =
                as_text(arg).ok_or_else(|| format!("string required, got {}", describe(arg)))?;
            let s: String = s.chars().take(v.precision.unwrap_or(usize::MAX)).collect();
            match verb {
                'q' => serde_json::to_string(&s).unwrap_or_default(),
                _ => s,
            }
        }
        't' => match arg {
            Value::Bool(b) => b.to_string(),
            Value::String(s) if s == "true" || s == "false" => s.clone(),
            _ => return Err(format!("bool required, got {}", describe(arg))),
        },
        'd' | 'b' | 'o' | 'x' | 'X' => {
            let n = to_int(arg)
                .ok_or_else(|| format!("whole number required, got {}", describe(arg)))?;
            let m = n.unsigned_abs();
            let (alt, digits) = match verb {
                'b' => ("0b", format!("{m:b}")),
                'o' => ("0", format!("{m:o}")),
                'x' => ("0x", format!("{m:x}")),
                'X' => ("0X", format!("{m:X}")),
                _ => ("", m.to_string()),
            };
            let alt = if v.sharp { alt } else { "" };
            let zeros = "0".repeat(v.precision.unwrap_or(0).saturating_sub(digits.len()));
            return Ok((format!("{}{alt}", sign(n < 0)), zeros + &digits));
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
            let n =
                to_number(arg).ok_or_else(|| format!("number required, got {}", describe(arg)))?;
            let f = n.as_f64().unwrap_or_default();
            let m = f.abs();
            let body = match verb {
                'e' | 'E' => exp_form(&format!("{:.*e}", v.precision.unwrap_or(6), m)),
                'g' | 'G' => general_form(m, v.precision),
                _ => format!("{:.*}", v.precision.unwrap_or(6), m),
            };
            let body = if verb.is_ascii_uppercase() {
                body.to_uppercase()
            } else {
                body
            };
            return Ok((sign(f.is_sign_negative() && f != 0.0).into(), body));
        }
        other => return Err(format!("unrecognized format verb '{other}'")),
    };
    Ok((String::new(), body))
}

/// Rewrites Rust's `1.5e3` exponent notation as Go's `1.5e+03`.
fn exp_form(rust: &str) -> String {
    match rust.split_once('e') {
        Some((mantissa, exp)) => {
            let exp: i32 = exp.parse().unwrap_or(0);
            format!(
                "{mantissa}e{}{:02}",
                if exp < 0 { '-' } else { '+' },
                exp.abs()
            )
        }
        None => rust.into(),
    }
}

/// Go's `%g`: exponent form for large or small exponents, plain decimals otherwise.
fn general_form(m: f64, precision: Option<usize>) -> String {
    let sci = match precision {
        Some(p) => format!("{:.*e}", p.max(1) - 1, m),
        None => format!("{m:e}"),
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits = mantissa.replace('.', "");
    let digits = match digits.trim_end_matches('0') {
        "" => "0",
        d => d,
    };
    let nd = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let eprec = match precision {
        None => 6,
        Some(p) => {
            let p = i32::try_from(p.max(1)).unwrap_or(i32::MAX);
            if p > nd && nd > exp {
                nd
            } else {
                p
            }
        }
    };
    if exp < -4 || exp >= eprec {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        exp_form(&format!("{first}{dot}{rest}e{exp}"))
    } else {
        format!("{:.*}", usize::try_from(nd - exp - 1).unwrap_or(0), m)
    }
}

fn format(a: FuncArgs) -> FnResult {
    sprintf(&a.text(0)?, &a[1..]).map(Value::from)
}

fn formatlist(a: FuncArgs) -> FnResult {
    let spec = a.text(0)?;
    let rest = &a[1..];
    let mut len: Option<(usize, usize)> = None;
    for (i, v) in rest.iter().enumerate() {
        match (v, len) {
            (Value::Array(l), None) => len = Some((l.len(), i)),
            (Value::Array(l), Some((n, j))) if l.len() != n => {
                return Err(format!(
                    "argument {} has length {}, which is inconsistent with argument {} of length {n}",
                    i + 2,
                    l.len(),
                    j + 2
                ));
            }
            _ => {}
        }
    }
    let row = |k: usize| -> Vec<Value> {
        let pick = |v: &Value| v.as_array().map_or_else(|| v.clone(), |l| l[k].clone());
        rest.iter().map(pick).collect()
    };
    let rows = 0..len.map_or(1, |(n, _)| n);
    rows.map(|k| sprintf(&spec, &row(k)).map(Value::from))
        .collect::<Result<_, _>>()
        .map(Value::Array)
}

// ---------------------------------------------------------------------------------------------
// Collections

fn length(a: FuncArgs) -> FnResult {
    a.want(0, "a string, list or object", |v| match v {
        Value::String(s) => Some(s.chars().count()),
        Value::Array(l) => Some(l.len()),
        Value::Object(m) => Some(m.len()),
        _ => None,
    })
    .map(Value::from)
}

fn merge(a: FuncArgs) -> FnResult {
    let mut out = Map::new();
    for i in (0..a.len()).filter(|&i| !a[i].is_null()) {
        out.extend(a.map(i)?.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    Ok(Value::Object(out))
}

fn lookup(a: FuncArgs) -> FnResult {
    a.at_most(3)?;
    let (map, key) = (a.map(0)?, a.text(1)?);
    match (map.get(key.as_ref()), a.get(2)) {
        (Some(v), _) | (None, Some(v)) => Ok(v.clone()),
        (None, None) => Err(format!("lookup failed to find key {key:?}")),
    }
}

fn concat(a: FuncArgs) -> FnResult {
    Ok(Value::Array(all(&a, <[Value]>::list)?.concat()))
}

fn element(a: FuncArgs) -> FnResult {
    let (list, i) = (a.list(0)?, a.index(1)?);
    match list.len() {
        0 => Err("cannot use element function with an empty list".into()),
        n => Ok(list[i % n].clone()),
    }
}

fn contains(a: FuncArgs) -> FnResult {
    Ok(Value::Bool(a.list(0)?.contains(&a[1])))
}

fn index(a: FuncArgs) -> FnResult {
    let found = a.list(0)?.iter().position(|v| *v == a[1]);
    found
        .map(Value::from)
        .ok_or_else(|| format!("item not found: {}", describe(&a[1])))
}

fn sorted_entries(a: &[Value]) -> Result<Vec<(&String, &Value)>, String> {
    let mut entries: Vec<_> = a.map(0)?.iter().collect();
    entries.sort_by(|x, y| x.0.cmp(y.0));
    Ok(entries)
}

fn keys(a: FuncArgs) -> FnResult {
    Ok(sorted_entries(&a)?
        .into_iter()
        .map(|(k, _)| Value::from(k.as_str()))
        .collect())
}

fn values(a: FuncArgs) -> FnResult {
    Ok(Value::Array(
        sorted_entries(&a)?
            .into_iter()
            .map(|(_, v)| v.clone())
            .collect(),
    ))
}

fn zipmap(a: FuncArgs) -> FnResult {
    let (keys, values) = (strings(a.list(0)?, "key")?, a.list(1)?);
    if keys.len() != values.len() {
        return Err(format!(
            "number of keys ({}) does not match number of values ({})",
            keys.len(),
            values.len()
        ));
    }
    Ok(keys
        .into_iter()
        .map(Cow::into_owned)
        .zip(values.iter().cloned())
        .collect())
}

fn dedup(list: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(list.len());
    for v in list {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

fn distinct(a: FuncArgs) -> FnResult {
    list_fn(&a, dedup)
}

fn flatten_into(out: &mut Vec<Value>, list: Vec<Value>) {
    for v in list {
        match v {
            Value::Array(inner) => flatten_into(out, inner),
            other => out.push(other),
        }
    }
}

fn flatten(a: FuncArgs) -> FnResult {
    list_fn(&a, |list| {
        let mut out = Vec::new();
        flatten_into(&mut out, list);
        out
    })
}

fn reverse(a: FuncArgs) -> FnResult {
    list_fn(&a, |list| list.into_iter().rev().collect())
}

fn compact(a: FuncArgs) -> FnResult {
    let non_null: Vec<Value> = a
        .list(0)?
        .iter()
        .filter(|v| !v.is_null())
        .cloned()
        .collect();
    let kept = strings(&non_null, "element")?
        .into_iter()
        .filter(|s| !s.is_empty());
    Ok(kept.map(Value::from).collect())
}

fn sort(a: FuncArgs) -> FnResult {
    let mut items = strings(a.list(0)?, "element")?;
    items.sort();
    Ok(items.into_iter().map(Value::from).collect())
}

fn order(x: &Value, y: &Value) -> Ordering {
    let rank = |v: &Value| match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    };
    match (x, y) {
        (Value::Number(m), Value::Number(n)) => m.partial_cmp(n).unwrap_or(Ordering::Equal),
        (Value::String(s), Value::String(t)) => s.cmp(t),
        _ => rank(x).cmp(&rank(y)).then_with(|| json(x).cmp(&json(y))),
    }
}

fn toset(a: FuncArgs) -> FnResult {
    let list = a.list(0)?;
    let mixed = list.iter().any(Value::is_string) && list.iter().all(|v| as_text(v).is_some());
    let mut items: Vec<Value> = match mixed {
        true => strings(list, "element")?
            .into_iter()
            .map(Value::from)
            .collect(),
        false => list.to_vec(),
    };
    items.sort_by(order);
    items.dedup();
    Ok(Value::Array(items))
}

fn slice(a: FuncArgs) -> FnResult {
    let (list, start, end) = (a.list(0)?, a.index(1)?, a.index(2)?);
    match (start > end, end > list.len()) {
        (true, _) => Err(format!(
            "start index {start} is greater than end index {end}"
        )),
        (_, true) => Err(format!(
            "end index {end} is beyond the list length {}",
            list.len()
        )),
        _ => Ok(Value::from(&list[start..end])),
    }
}

fn coalesce(a: FuncArgs) -> FnResult {
    let found = a.iter().find(|v| !v.is_null() && v.as_str() != Some(""));
    found
        .cloned()
        .ok_or_else(|| "no non-null, non-empty-string arguments".into())
}

// ---------------------------------------------------------------------------------------------
// Numbers and conversions

fn extreme(a: &[Value], pick: Ordering) -> FnResult {
    let nums = all(a, <[Value]>::num)?;
    let better = |best: Number, n: Number| match n.partial_cmp(&best) {
        Some(o) if o == pick => n,
        _ => best,
    };
    let first = nums
        .first()
        .copied()
        .ok_or("at least one number is required")?;
    Ok(Value::Number(nums.into_iter().fold(first, better)))
}

fn min(a: FuncArgs) -> FnResult {
    extreme(&a, Ordering::Less)
}

fn max(a: FuncArgs) -> FnResult {
    extreme(&a, Ordering::Greater)
}

fn range(a: FuncArgs) -> FnResult {
    a.at_most(3)?;
    let nums: Vec<f64> = all(&a, <[Value]>::num)?
        .iter()
        .map(|n| n.as_f64().unwrap_or_default())
        .collect();
    let (start, limit, step) = match *nums.as_slice() {
        [limit] => (0.0, limit, 1.0),
        [start, limit] => (start, limit, if start > limit { -1.0 } else { 1.0 }),
        [start, limit, step, ..] => (start, limit, step),
        [] => return Err("expected at least 1 argument".into()),
    };
    if step == 0.0 {
        return Err("step must not be zero".into());
    }
    let mut out = Vec::new();
    let mut x = start;
    while (step > 0.0 && x < limit) || (step < 0.0 && x > limit) {
        if out.len() >= 1024 {
            return Err(
                "more than 1024 values were generated; use a larger step or a smaller range".into(),
            );
        }
        out.push(Value::from(x));
        x = start + step * out.len() as f64;
    }
    Ok(Value::Array(out))
}

/// A conversion function: null stays null, anything else goes through `f`.
fn convert(a: &[Value], what: &str, f: impl FnOnce(&Value) -> Option<Value>) -> FnResult {
    a.want(
        0,
        what,
        |v| if v.is_null() { Some(Value::Null) } else { f(v) },
    )
}

fn tostring(a: FuncArgs) -> FnResult {
    convert(&a, "a string, number or bool", |v| {
        as_text(v).map(Value::from)
    })
}

fn tonumber(a: FuncArgs) -> FnResult {
    convert(&a, "a number or a string holding a number", |v| {
        to_number(v).map(Value::Number)
    })
}

fn tolist(a: FuncArgs) -> FnResult {
    convert(&a, "a list", |v| v.is_array().then(|| v.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `expr` as an HCL expression, evaluates it with every function declared and renders
    /// the result as compact JSON.
    fn eval(expr: &str) -> Result<String, String> {
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
    fn check(dir: &str, table: &str) {
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

    const STRINGS: &str = r#"
        upper("abc")                      => "ABC"
        lower("AbC")                      => "abc"
        upper(5)                          => "5"
        trimspace("  a b \n")             => "a b"
        replace("a-b-c", "-", "+")        => "a+b+c"
        replace("abc", "/b/", "x")        => !regular expression patterns
        substr("hello world", 1, 4)       => "ello"
        substr("hello", -3, -1)           => "llo"
        substr("héllo", 1, 1)             => "é"
        substr("hello", 10, 2)            => ""
        substr("hello", 1.5, 2)           => !argument 2: expected a whole number, got number 1.5
        startswith("hello", "he")         => true
        endswith("hello", "x")            => false
        trimprefix("helloworld", "hello") => "world"
        trimsuffix("helloworld", "world") => "hello"
        trimsuffix("hello", "x")          => "hello"
        split(",", "a,b,,c")              => ["a","b","","c"]
        split(",", "")                    => [""]
        join("-", ["a", "b"], ["c"])      => "a-b-c"
        join(",", [1, true])              => "1,true"
        join(",", "x")                    => !argument 2: expected a list, got string "x"
        join(",", [[1]])                  => !argument 2: element 0: expected a string, got list [1]
        join(",")                         => !at least one list is required
        length("héllo")                   => 5
        upper()                           => !error calling function `upper`: expected 1 positional arguments, got 0
        upper("a", "b")                   => !expected 1 positional arguments, got 2
        upper([1])                        => !error calling function `upper`: argument 1: expected a string, got list [1]
        lower(null)                       => !argument 1: expected a string, got null
        nosuch(1)                         => !undefined function `nosuch`
    "#;

    #[test]
    fn strings() {
        check("", STRINGS);
    }

    const FORMAT_VERBS: &str = r#"
        format("Hello, %s!", "Ander")                        => "Hello, Ander!"
        format("%d items", 3)                                => "3 items"
        format("%5d|%-5d|%05d", 42, 42, -42)                 => "   42|42   |-0042"
        format("%.2f|%f|%8.3f", 3.14159, 1, 2.5)             => "3.14|1.000000|   2.500"
        format("%q", "hi")                                   => "\"hi\""
        format("%v %v %v %v", "s", 1.5, true, null)          => "s 1.5 true null"
        format("%v|%#v", [1], "a")                           => "[1]|\"a\""
        format("%x %X %o %b %#x", 255, 255, 8, 5, 255)       => "ff FF 10 101 0xff"
        format("%e|%.2E", 123456.789, 0.000123)              => "1.234568e+05|1.23E-04"
        format("%.3g|%.3g|%.2g", 1234.5678, 0.5, 100)        => "1.23e+03|0.5|1e+02"
        format("%#v", {a = [1, null]})                       => "{\"a\":[1,null]}"
        format("%g %g %g %g", 0.5, 1000000, 123456, 0.00001) => "0.5 1e+06 123456 1e-05"
        format("%%d %s", "x")                                => "%d x"
        format("%[2]s-%[1]s", "a", "b")                      => "b-a"
        format("%.3s|%6s|%-4s|", "abcdef", "ab", "x")        => "abc|    ab|x   |"
        format("%+d % d %t", 5, 5, true)                     => "+5  5 true"
        format("%d", "12")                                   => "12"
        format("%d", "x")                                    => !unsupported value for "%d" at offset 0: whole number required, got string "x"
        format("%d", 1.5)                                    => !whole number required
        format("%s %s", "a")                                 => !not enough arguments for "%s" at offset 3: need argument 2 but 1 given
        format("%s", "a", "b")                               => !too many arguments; only 1 used by the format string
        format("%s", [1])                                    => !string required, got list [1]
        format("%z", 1)                                      => !unrecognized format verb 'z'
        format("abc %")                                      => !incomplete verb
        formatlist("%s=%d", ["a", "b"], [1, 2])              => ["a=1","b=2"]
        formatlist("%s-%s", ["a", "b"], "x")                 => ["a-x","b-x"]
        formatlist("%s", ["a"], ["b", "c"])                  => !argument 3 has length 2, which is inconsistent with argument 2 of length 1
    "#;

    #[test]
    fn format_verbs() {
        check("", FORMAT_VERBS);
    }

    const COLLECTIONS: &str = r#"
        length([1, 2])                        => 2
        length({a = 1})                       => 1
        length(5)                             => !argument 1: expected a string, list or object, got number 5
        merge({a = 1, b = 2}, {b = 3, c = 4}) => {"a":1,"b":3,"c":4}
        merge({a = 1}, null)                  => {"a":1}
        merge()                               => {}
        merge({a = 1}, [1])                   => !argument 2: expected an object, got list [1]
        lookup({a = "x"}, "a")                => "x"
        lookup({a = "x"}, "b", "d")           => "d"
        lookup({a = "x"}, "b")                => !lookup failed to find key "b"
        lookup({}, "a", 1, 2)                 => !expected at most 3 arguments, got 4
        concat([1], [2, 3], [])               => [1,2,3]
        concat([[1], [2]]...)                 => [1,2]
        concat([1], 2)                        => !argument 2: expected a list, got number 2
        element(["a", "b", "c"], 4)           => "b"
        element([], 0)                        => !empty list
        element(["a"], -1)                    => !argument 2: expected a non-negative whole number, got number -1
        contains(["a", "b"], "b")             => true
        contains([1, 2], 3)                   => false
        keys({b = 1, a = 2})                  => ["a","b"]
        values({b = 1, a = 2})                => [2,1]
        keys([1])                             => !argument 1: expected an object
        distinct([1, 2, 1, "a", "a"])         => [1,2,"a"]
        flatten([[1, [2]], 3, []])            => [1,2,3]
        compact(["a", "", null, "b"])         => ["a","b"]
        coalesce(null, "", "x", "y")          => "x"
        coalesce(null, 2)                     => 2
        coalesce(null, "")                    => !no non-null, non-empty-string arguments
        zipmap(["a", "b"], [1, 2])            => {"a":1,"b":2}
        zipmap(["a"], [1, 2])                 => !number of keys (1) does not match number of values (2)
        index(["a", "b"], "b")                => 1
        index(["a"], "z")                     => !item not found: string "z"
        slice(["a", "b", "c", "d"], 1, 3)     => ["b","c"]
        slice([1], 0, 2)                      => !end index 2 is beyond the list length 1
        slice([1, 2], 2, 1)                   => !start index 2 is greater than end index 1
        reverse([1, 2, 3])                    => [3,2,1]
        sort(["b", "a", "c"])                 => ["a","b","c"]
        sort([10, 9])                         => ["10","9"]
        toset(["b", "a", "b"])                => ["a","b"]
        toset([3, 1, 3])                      => [1,3]
        toset(["a", 1])                       => ["1","a"]
        tolist([1])                           => [1]
        tolist("a")                           => !argument 1: expected a list, got string "a"
    "#;

    #[test]
    fn collections() {
        check("", COLLECTIONS);
    }

    const NUMBERS_AND_CONVERSIONS: &str = r#"
        min(3, 1.5, 2)    => 1.5
        max(3, 10, 2)     => 10
        min([3, 1, 2]...) => 1
        max()             => !at least one number is required
        min(1, "a")       => !argument 2: expected a number, got string "a"
        range(3)          => [0,1,2]
        range(1, 4)       => [1,2,3]
        range(3, 0)       => [3,2,1]
        range(5, 1, -2)   => [5,3]
        range(0, 1, 0.25) => [0,0.25,0.5,0.75]
        range(0, 3, -1)   => []
        range(0, 1, 0)    => !step must not be zero
        range(0, 2000)    => !more than 1024 values
        range(1, 2, 3, 4) => !expected at most 3 arguments, got 4
        tostring(5)       => "5"
        tostring(true)    => "true"
        tostring(null)    => null
        tostring([1])     => !argument 1: expected a string, number or bool, got list [1]
        tonumber("42")    => 42
        tonumber("1.5")   => 1.5
        tonumber("x")     => !expected a number or a string holding a number
    "#;

    #[test]
    fn numbers_and_conversions() {
        check("", NUMBERS_AND_CONVERSIONS);
    }

    const ENCODINGS: &str = r#"
        base64encode("hello")                          => "aGVsbG8="
        base64decode("aGVsbG8=")                       => "hello"
        base64decode("!!")                             => !argument 1: invalid base64
        base64decode("/w==")                           => !not valid UTF-8
        jsonencode({b = 1, a = [true, null], c = "x"}) => "{\"b\":1,\"a\":[true,null],\"c\":\"x\"}"
        jsondecode("{\"z\": 1, \"a\": [1.5, \"x\"]}")  => {"z":1,"a":[1.5,"x"]}
        jsondecode("{")                                => !invalid JSON
        sha256("hello")                                => "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    "#;

    #[test]
    fn encodings() {
        check("", ENCODINGS);
    }

    const PATHS: &str = r#"
        basename("a/b/c.txt")   => "c.txt"
        basename("a/b/")        => "b"
        basename("/")           => "/"
        basename("")            => "."
        dirname("a/b/c.txt")    => "a/b"
        dirname("c.txt")        => "."
        dirname("/c")           => "/"
        abspath("/a/./b/../c/") => "/a/c"
    "#;

    #[test]
    fn paths() {
        check("", PATHS);
    }

    const FILES: &str = r##"
        file("cloud-init/web.yaml")                              => "#cloud-config\n"
        file("{dir}/cloud-init/web.yaml")                        => "#cloud-config\n"
        file("missing.txt")                                      => !file("missing.txt"): no such file: {dir}/missing.txt
        file("cloud-init")                                       => !file("cloud-init"): {dir}/cloud-init is a directory
        file("bin.dat")                                          => !bin.dat is not valid UTF-8 text; use filebase64
        file(["x"])                                              => !argument 1: expected a string
        filebase64("bin.dat")                                    => "/w=="
        fileexists("cloud-init/web.yaml")                        => true
        fileexists("nope")                                       => false
        fileexists("cloud-init")                                 => !{dir}/cloud-init exists but is not a regular file
        templatefile("t.tpl", {name = "web", ports = [80, 443]}) => "Hello WEB!\nport 80\nport 443\n"
        templatefile("if.tpl", {on = false})                     => "no"
        templatefile("t.tpl", {})                                => !undefined variable `name`
        templatefile("missing.tpl", {})                          => !no such file: {dir}/missing.tpl
        templatefile("t.tpl", "x")                               => !argument 2: expected an object, got string "x"
        templatefile("if.tpl", {"no way" = true})                => !templatefile("if.tpl"): invalid template variable name "no way"
        templatefile("rec.tpl", {})                              => !cannot recursively call templatefile
        templatefile("bad.tpl", {})                              => !templatefile("bad.tpl"): invalid template syntax in {dir}/bad.tpl
        abspath("x/../y")                                        => "{dir}/y"
    "##;

    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, contents: &[u8]| {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        };
        write("cloud-init/web.yaml", b"#cloud-config\n");
        write("bin.dat", b"\xff");
        write(
            "t.tpl",
            b"Hello ${upper(name)}!\n%{ for p in ports ~}\nport ${p}\n%{ endfor ~}\n",
        );
        write("if.tpl", b"%{ if on }yes%{ else }no%{ endif }");
        write("rec.tpl", b"${templatefile(\"t.tpl\", {})}");
        write("bad.tpl", b"${");
        dir
    }

    #[test]
    fn files() {
        let dir = fixture();
        with_base_dir(dir.path(), || check(dir.path().to_str().unwrap(), FILES));
    }

    #[test]
    fn base_dir_nests_and_restores() {
        let (outer, inner) = (fixture(), tempfile::tempdir().unwrap());
        std::fs::write(inner.path().join("t.tpl"), "inner").unwrap();
        let read = || eval(r#"file("t.tpl")"#);
        with_base_dir(outer.path(), || {
            assert_eq!(with_base_dir(inner.path(), read), Ok(r#""inner""#.into()));
            assert!(read().unwrap().starts_with(r#""Hello"#));
            let panicked =
                std::panic::catch_unwind(|| with_base_dir(inner.path(), || panic!("boom")));
            assert!(panicked.is_err());
            assert!(read().unwrap().starts_with(r#""Hello"#));
        });
        let cwd = std::env::current_dir().unwrap().join("t.tpl");
        assert!(read()
            .unwrap_err()
            .contains(&format!("no such file: {}", cwd.display())));
    }
}
