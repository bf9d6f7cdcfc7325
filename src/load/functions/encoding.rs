//! Encoding functions: `base64encode`, `base64decode`, `base64gzip`, `jsonencode`,
//! `jsondecode`, `yamlencode`, `yamldecode`, `urlencode`, `md5`, `sha1`, `sha256`.
//!
//! `jsonencode` writes what Terraform writes: object keys sorted, `<`, `>`, `&`, U+2028 and
//! U+2029 escaped as Go's encoder does, numbers in decimal without an exponent.

use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hcl::eval::FuncArgs;
use hcl::{Number, Value};
use sha2::{Digest, Sha256};

use super::args::{num_str, str_fn, Args, FnResult};
use crate::load::limits;

pub(super) fn base64encode(a: FuncArgs) -> FnResult {
    str_fn(&a, |s| BASE64.encode(s))
}

pub(super) fn base64decode(a: FuncArgs) -> FnResult {
    let bytes = BASE64
        .decode(a.text(0)?.as_bytes())
        .map_err(|e| format!("argument 1: invalid base64: {e}"))?;
    String::from_utf8(bytes)
        .map(Value::from)
        .map_err(|_| "the decoded bytes are not valid UTF-8 text".into())
}

pub(super) fn sha256(a: FuncArgs) -> FnResult {
    str_fn(&a, |s| hex::encode(Sha256::digest(s.as_bytes())))
}

pub(super) fn jsonencode(a: FuncArgs) -> FnResult {
    let mut out = String::new();
    json_value(&a[0], &mut out);
    Ok(Value::from(out))
}

/// A JSON string as Go's `encoding/json` writes it (HTML-safe).
fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&num_str(n)),
        Value::String(s) => json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(k, out);
                out.push(':');
                json_value(&map[k], out);
            }
            out.push('}');
        }
    }
}

pub(super) fn md5(a: FuncArgs) -> FnResult {
    str_fn(&a, |s| hex::encode(md5::Md5::digest(s.as_bytes())))
}

pub(super) fn sha1(a: FuncArgs) -> FnResult {
    str_fn(&a, |s| hex::encode(sha1::Sha1::digest(s.as_bytes())))
}

/// Go's `url.QueryEscape`: letters, digits and `-_.~` kept, spaces as `+`, the rest as `%XX`.
pub(super) fn urlencode(a: FuncArgs) -> FnResult {
    str_fn(&a, |s| {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                b => {
                    let _ = write!(out, "%{b:02X}");
                }
            }
        }
        out
    })
}

/// The string gzip-compressed, in base64. The compressed bytes may differ from Terraform's
/// (another deflate implementation); they decompress to the same text.
pub(super) fn base64gzip(a: FuncArgs) -> FnResult {
    use std::io::Write as _;
    let s = a.text(0)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(s.as_bytes())
        .and_then(|()| gz.finish())
        .map(|bytes| Value::from(BASE64.encode(bytes)))
        .map_err(|e| format!("cannot compress: {e}"))
}

/// YAML as Terraform's `yamlencode` writes it: keys sorted and quoted, strings double-quoted
/// (folded at 80 columns) or, when they hold line breaks, as literal blocks; lists of a map
/// at the map's indentation.
pub(super) fn yamlencode(a: FuncArgs) -> FnResult {
    let mut out = String::new();
    yaml_node(&a[0], 0, &mut out);
    // A document that is one plain scalar ends with an explicit end marker, as the emitter's.
    if matches!(&a[0], Value::Null | Value::Bool(_) | Value::Number(_)) {
        out.push_str("...\n");
    }
    Ok(Value::from(out))
}

fn yaml_scalar(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&num_str(n)),
        Value::String(s) => yaml_string(s, indent, out),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        _ => false,
    }
}

/// A value at the start of a line indented by `indent` (or after `- `).
fn yaml_node(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Array(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&pad);
                }
                out.push_str("- ");
                match is_block(item) {
                    true => yaml_node(item, indent + 2, out),
                    false => {
                        yaml_scalar(item, indent + 2, out);
                        out.push('\n');
                    }
                }
            }
        }
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(&pad);
                }
                yaml_quoted(k, usize::MAX, 0, out);
                out.push(':');
                let value = &map[k];
                match value {
                    Value::Array(items) if !items.is_empty() => {
                        out.push('\n');
                        out.push_str(&pad);
                        yaml_node(value, indent, out);
                    }
                    Value::Object(m) if !m.is_empty() => {
                        out.push('\n');
                        out.push_str(&pad);
                        out.push_str("  ");
                        yaml_node(value, indent + 2, out);
                    }
                    _ => {
                        out.push(' ');
                        yaml_scalar(value, indent + 2, out);
                        out.push('\n');
                    }
                }
            }
        }
        scalar => {
            yaml_scalar(scalar, indent, out);
            out.push('\n');
        }
    }
}

/// A string as a literal block (`|`, `|-`, `|+`) when it has line breaks and nothing a block
/// cannot hold, else double-quoted.
fn yaml_string(s: &str, indent: usize, out: &mut String) {
    let printable = |c: char| c == '\n' || !(c.is_control() || c == '\u{feff}');
    let block = s.contains('\n')
        && s.chars().all(printable)
        && !s.split('\n').any(|l| l.ends_with(' ') || l.ends_with('\t'))
        && !s.starts_with([' ', '\t', '\n']);
    if !block {
        return yaml_quoted(s, 80, indent, out);
    }
    let body = s.trim_end_matches('\n');
    let chomp = match s.len() - body.len() {
        0 => "-",
        1 => "",
        _ => "+",
    };
    out.push('|');
    out.push_str(chomp);
    let pad = " ".repeat(indent.max(2));
    let lines: Vec<&str> = match chomp {
        "+" => s[..s.len() - 1].split('\n').collect(),
        _ => body.split('\n').collect(),
    };
    for line in lines {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
}

/// A double-quoted YAML string with the escapes of the YAML emitter, folded at spaces once a
/// line passes `width` columns.
fn yaml_quoted(s: &str, width: usize, indent: usize, out: &mut String) {
    let line_start = out.rfind('\n').map_or(0, |i| i + 1);
    let mut column = out[line_start..].chars().count();
    out.push('"');
    column += 1;
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' && column > width && i > 0 && chars.get(i + 1).is_some_and(|n| *n != ' ') {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            column = indent;
            continue;
        }
        let escaped = match c {
            '"' => "\\\"".to_string(),
            '\\' => "\\\\".to_string(),
            '\0' => "\\0".to_string(),
            '\u{7}' => "\\a".to_string(),
            '\u{8}' => "\\b".to_string(),
            '\t' => "\\t".to_string(),
            '\n' => "\\n".to_string(),
            '\u{b}' => "\\v".to_string(),
            '\u{c}' => "\\f".to_string(),
            '\r' => "\\r".to_string(),
            '\u{1b}' => "\\e".to_string(),
            '\u{85}' => "\\N".to_string(),
            '\u{a0}' => "\\_".to_string(),
            '\u{2028}' => "\\L".to_string(),
            '\u{2029}' => "\\P".to_string(),
            c if (c as u32) < 0x20 || c as u32 == 0x7f || (0x80..0xa0).contains(&(c as u32)) => {
                format!("\\x{:02X}", c as u32)
            }
            '\u{feff}' => "\\uFEFF".to_string(),
            c => c.to_string(),
        };
        column += escaped.chars().count();
        out.push_str(&escaped);
    }
    out.push('"');
}

/// YAML as Terraform's `yamldecode` reads it: one document; plain scalars resolved as YAML 1.1
/// does (`yes`, `on` are true; `~` is null; `0x1F`, `017` are numbers), quoted ones strings.
pub(super) fn yamldecode(a: FuncArgs) -> FnResult {
    use yaml_rust2::parser::Parser;
    let text = a.text(0)?;
    let mut builder = YamlBuilder::default();
    Parser::new_from_str(&text)
        .load(&mut builder, true)
        .map_err(|e| {
            format!(
                "invalid YAML on line {}, column {}: {}",
                e.marker().line(),
                e.marker().col() + 1,
                e.info()
            )
        })?;
    if let Some(e) = builder.error {
        return Err(e);
    }
    let mut docs = builder.docs.into_iter();
    match (docs.next(), docs.next()) {
        (None, _) => Err("the YAML text holds no document".into()),
        (Some(doc), None) => Ok(doc),
        _ => Err("the YAML text holds more than one document; yamldecode reads one".into()),
    }
}

enum YamlNode {
    Seq(Vec<Value>, usize),
    Map(hcl::Map<String, Value>, Option<String>, usize),
}

#[derive(Default)]
struct YamlBuilder {
    stack: Vec<YamlNode>,
    docs: Vec<Value>,
    anchors: std::collections::HashMap<usize, Value>,
    elements: usize,
    error: Option<String>,
}

impl YamlBuilder {
    fn insert(&mut self, v: Value, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, v.clone());
        }
        self.elements += 1;
        if let Err(e) = limits::check_elements(self.elements) {
            self.error.get_or_insert(e);
            return;
        }
        match self.stack.last_mut() {
            None => self.docs.push(v),
            Some(YamlNode::Seq(items, _)) => items.push(v),
            Some(YamlNode::Map(map, key, _)) => match key.take() {
                Some(k) => {
                    map.insert(k, v);
                }
                None => match super::args::as_text(&v) {
                    Some(k) if !v.is_null() => *key = Some(k.into_owned()),
                    _ => {
                        self.error.get_or_insert(
                            "a YAML map key must be a string, number or bool".into(),
                        );
                    }
                },
            },
        }
    }
}

impl yaml_rust2::parser::MarkedEventReceiver for YamlBuilder {
    fn on_event(&mut self, ev: yaml_rust2::Event, _: yaml_rust2::scanner::Marker) {
        use yaml_rust2::Event;
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == yaml_rust2::scanner::TScalarStyle::Plain;
                let value = match tag {
                    Some(t) if t.suffix == "str" => Ok(Value::from(text)),
                    _ if !plain => Ok(Value::from(text)),
                    _ => resolve_plain(&text),
                };
                match value {
                    Ok(v) => self.insert(v, anchor),
                    Err(e) => {
                        self.error.get_or_insert(e);
                    }
                }
            }
            Event::SequenceStart(anchor, _) => self.stack.push(YamlNode::Seq(Vec::new(), anchor)),
            Event::MappingStart(anchor, _) => {
                self.stack
                    .push(YamlNode::Map(hcl::Map::new(), None, anchor))
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(YamlNode::Seq(items, anchor)) => self.insert(Value::Array(items), anchor),
                Some(YamlNode::Map(map, _, anchor)) => self.insert(Value::Object(map), anchor),
                None => {}
            },
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(v) => self.insert(v, 0),
                None => {
                    self.error.get_or_insert("an alias names no anchor".into());
                }
            },
            _ => {}
        }
    }
}

/// A plain YAML scalar as Terraform's YAML library resolves it: YAML 1.1's booleans and nulls,
/// decimal, `0x` and `0o` integers, floats, dates as RFC 3339 timestamps; anything else a
/// string.
fn resolve_plain(s: &str) -> FnResult {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            return Ok(Value::Bool(true))
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Ok(Value::Bool(false))
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => {
            return Err(format!("the YAML number {s} cannot be represented"))
        }
        _ => {}
    }
    if !s.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.')) {
        return Ok(Value::from(s));
    }
    if s.len() == 10 && super::time::is_date(s) {
        return Ok(Value::from(format!("{s}T00:00:00Z")));
    }
    let plain = s;
    let (negative, body) = match plain.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, plain.strip_prefix('+').unwrap_or(plain)),
    };
    let radix = |digits: &str, base: u32| i64::from_str_radix(digits, base).ok();
    let signed = plain.starts_with(['-', '+']);
    let int = if let Some(h) = body.strip_prefix("0x").filter(|_| !signed) {
        radix(h, 16)
    } else if let Some(o) = body.strip_prefix("0o").filter(|_| !signed) {
        radix(o, 8)
    } else if body.chars().all(|c| c.is_ascii_digit()) {
        radix(body, 10)
    } else {
        None
    };
    if let Some(i) = int {
        return Ok(Value::from(if negative { -i } else { i }));
    }
    let float = body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && body
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.');
    match float
        .then(|| plain.parse::<f64>().ok())
        .flatten()
        .and_then(Number::from_f64)
    {
        Some(n) => Ok(Value::Number(n)),
        None => Ok(Value::from(s)),
    }
}

pub(super) fn jsondecode(a: FuncArgs) -> FnResult {
    serde_json::from_str(&a.text(0)?).map_err(|e| format!("invalid JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::super::testing::check;

    const ENCODINGS: &str = r#"
        base64encode("hello")                          => "aGVsbG8="
        base64decode("aGVsbG8=")                       => "hello"
        base64decode("!!")                             => !argument 1: invalid base64
        base64decode("/w==")                           => !not valid UTF-8
        jsonencode({b = 1, a = [true, null], c = "x"}) => "{\"a\":[true,null],\"b\":1,\"c\":\"x\"}"
        jsondecode("{\"z\": 1, \"a\": [1.5, \"x\"]}")  => {"z":1,"a":[1.5,"x"]}
        jsondecode("{")                                => !invalid JSON
        sha256("hello")                                => "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    "#;

    #[test]
    fn encodings() {
        check("", ENCODINGS);
    }
}
