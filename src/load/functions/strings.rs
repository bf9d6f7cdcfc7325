//! String functions: `lower`, `upper`, `title`, `trimspace`, `trim`, `chomp`, `startswith`,
//! `endswith`, `trimprefix`, `trimsuffix`, `split`, `replace` (with `/regex/` patterns),
//! `regex`, `regexall`, `substr`, `join`, `indent`, `strrev`.
//!
//! Case mapping is per character and simple, as Go's `unicode.ToUpper`: `upper("straße")` is
//! `STRAßE`, not `STRASSE`.

use hcl::eval::FuncArgs;
use hcl::Value;

use super::args::{str2_fn, str_fn, strings, Args, FnResult};
use crate::load::limits;

/// Go's simple lower-case mapping of one character: Rust's full mapping when it is one
/// character; for the few with a longer full mapping (`İ`), its first character.
fn lower_char(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// Go's simple upper-case mapping: characters whose full mapping is longer (`ß` → `SS`) keep
/// their case.
fn upper_char(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Go's `unicode.ToTitle`: the upper case, except for the digraphs with a title case of
/// their own (`ǆ` → `ǅ`).
fn title_char(c: char) -> char {
    match c {
        'Ǆ' | 'ǅ' | 'ǆ' => 'ǅ',
        'Ǉ' | 'ǈ' | 'ǉ' => 'ǈ',
        'Ǌ' | 'ǋ' | 'ǌ' => 'ǋ',
        'Ǳ' | 'ǲ' | 'ǳ' => 'ǲ',
        c => upper_char(c),
    }
}

pub(super) fn lower(a: FuncArgs) -> FnResult {
    str_fn(&a, |s| s.chars().map(lower_char).collect())
}

pub(super) fn upper(a: FuncArgs) -> FnResult {
    str_fn(&a, |s| s.chars().map(upper_char).collect())
}

/// Go's `strings.Title`: the first letter of every word upper-cased; a word starts after a
/// space, or an ASCII character that is not a letter, digit or `_`.
pub(super) fn title(a: FuncArgs) -> FnResult {
    str_fn(&a, |s| {
        let separator = |c: char| match c {
            c if c.is_ascii() => !(c.is_ascii_alphanumeric() || c == '_'),
            c if c.is_alphanumeric() => false,
            c => c.is_whitespace(),
        };
        let mut prev = ' ';
        s.chars()
            .map(|c| {
                let out = if separator(prev) { title_char(c) } else { c };
                prev = c;
                out
            })
            .collect()
    })
}

pub(super) fn chomp(a: FuncArgs) -> FnResult {
    str_fn(&a, |s| s.trim_end_matches(['\r', '\n']).into())
}

pub(super) fn trim(a: FuncArgs) -> FnResult {
    str2_fn(&a, |s, cut| {
        Value::from(s.trim_matches(|c| cut.contains(c)))
    })
}

pub(super) fn indent(a: FuncArgs) -> FnResult {
    let spaces = a.index(0)?;
    let s = a.text(1)?;
    let lines = s.matches('\n').count();
    limits::check_string(s.len().saturating_add(lines.saturating_mul(spaces)))?;
    Ok(Value::from(
        s.replace('\n', &format!("\n{}", " ".repeat(spaces))),
    ))
}

/// Characters that belong to the one before them in a user-perceived character: combining
/// marks, variation selectors, joiners and what a joiner joins, skin tones.
fn extends(c: char, prev: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05BD | 0x0610..=0x061A | 0x064B..=0x065F
        | 0x0900..=0x0903 | 0x093A..=0x094F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x200C | 0x200D
        | 0x20D0..=0x20FF | 0xFE00..=0xFE0F | 0xFE20..=0xFE2F | 0x1F3FB..=0x1F3FF | 0xE0020..=0xE007F)
        || prev == '\u{200D}'
}

/// Reverses the user-perceived characters of a string (a letter and its combining accents stay
/// together, as Terraform's grapheme clusters).
pub(super) fn strrev(a: FuncArgs) -> FnResult {
    str_fn(&a, |s| {
        let mut clusters: Vec<String> = Vec::new();
        let mut prev = '\0';
        for c in s.chars() {
            match clusters.last_mut() {
                Some(last) if extends(c, prev) || (c == '\n' && prev == '\r') => last.push(c),
                _ => clusters.push(c.to_string()),
            }
            prev = c;
        }
        clusters.reverse();
        clusters.concat()
    })
}

/// A pattern in Go's RE2 syntax, which Rust's `regex` shares for everything Terraform
/// documents.
fn compile(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| format!("invalid regular expression: {e}"))
}

/// One match as Terraform's `regex` returns it: the matched text without capture groups, a map
/// of named groups, or a list of unnamed ones (a group that took no part is null).
fn captures(re: &regex::Regex, caps: &regex::Captures) -> Result<Value, String> {
    let names: Vec<Option<&str>> = re.capture_names().skip(1).collect();
    let group = |i: usize| caps.get(i).map_or(Value::Null, |m| Value::from(m.as_str()));
    match (
        names.iter().any(Option::is_some),
        names.iter().any(Option::is_none),
    ) {
        (false, false) => Ok(group(0)),
        (true, true) => Err(
            "invalid regular expression: named and unnamed capture groups cannot be mixed".into(),
        ),
        (true, false) => Ok(Value::Object(
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.unwrap_or_default().to_string(), group(i + 1)))
                .collect(),
        )),
        (false, true) => Ok(Value::Array((1..=names.len()).map(group).collect())),
    }
}

pub(super) fn regex(a: FuncArgs) -> FnResult {
    let (pattern, s) = (a.text(0)?, a.text(1)?);
    let re = compile(&pattern)?;
    match re.captures(&s) {
        Some(caps) => captures(&re, &caps),
        None => Err("pattern did not match any part of the given string".into()),
    }
}

pub(super) fn regexall(a: FuncArgs) -> FnResult {
    let (pattern, s) = (a.text(0)?, a.text(1)?);
    let re = compile(&pattern)?;
    let mut out = Vec::new();
    for caps in re.captures_iter(&s) {
        out.push(captures(&re, &caps)?);
        limits::check_elements(out.len())?;
    }
    Ok(Value::Array(out))
}

pub(super) fn trimspace(a: FuncArgs) -> FnResult {
    str_fn(&a, |s| s.trim().into())
}

pub(super) fn startswith(a: FuncArgs) -> FnResult {
    str2_fn(&a, |s, p| Value::Bool(s.starts_with(p)))
}

pub(super) fn endswith(a: FuncArgs) -> FnResult {
    str2_fn(&a, |s, p| Value::Bool(s.ends_with(p)))
}

pub(super) fn trimprefix(a: FuncArgs) -> FnResult {
    str2_fn(&a, |s, p| Value::from(s.strip_prefix(p).unwrap_or(s)))
}

pub(super) fn trimsuffix(a: FuncArgs) -> FnResult {
    str2_fn(&a, |s, p| Value::from(s.strip_suffix(p).unwrap_or(s)))
}

pub(super) fn split(a: FuncArgs) -> FnResult {
    let (sep, s) = (a.text(0)?, a.text(1)?);
    let parts = match sep.as_ref() {
        "" => s.chars().count(),
        sep => s.matches(sep).count() + 1,
    };
    limits::check_elements(parts)?;
    Ok(match sep.as_ref() {
        "" => s.chars().map(|c| Value::from(c.to_string())).collect(),
        sep => s.split(sep).map(Value::from).collect(),
    })
}

pub(super) fn replace(a: FuncArgs) -> FnResult {
    let (s, from, to) = (a.text(0)?, a.text(1)?, a.text(2)?);
    if from.len() > 1 && from.starts_with('/') && from.ends_with('/') {
        let re = compile(&from[1..from.len() - 1])?;
        let mut out = String::new();
        let mut last = 0;
        for caps in re.captures_iter(&s) {
            let m = caps.get(0).expect("group 0 is the match");
            out.push_str(&s[last..m.start()]);
            caps.expand(&to, &mut out);
            last = m.end();
            limits::check_string(out.len())?;
        }
        out.push_str(&s[last..]);
        return Ok(Value::from(out));
    }
    // Rust, like Go, puts `to` between every character when `from` is empty.
    let matches = match from.as_ref() {
        "" => s.chars().count() + 1,
        from => s.matches(from).count(),
    };
    let len = (s.len() - matches * from.len()).saturating_add(matches.saturating_mul(to.len()));
    limits::check_string(len)?;
    Ok(Value::from(s.replace(from.as_ref(), &to)))
}

pub(super) fn substr(a: FuncArgs) -> FnResult {
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

pub(super) fn join(a: FuncArgs) -> FnResult {
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
    let len = parts.iter().map(|p| p.len()).sum::<usize>()
        + sep.len().saturating_mul(parts.len().saturating_sub(1));
    limits::check_string(len)?;
    Ok(Value::from(parts.join(&*sep)))
}

#[cfg(test)]
mod tests {
    use super::super::testing::check;

    const STRINGS: &str = r#"
        upper("abc")                      => "ABC"
        lower("AbC")                      => "abc"
        upper(5)                          => "5"
        trimspace("  a b \n")             => "a b"
        replace("a-b-c", "-", "+")        => "a+b+c"
        replace("abc", "/b/", "x")        => "axc"
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
        replace("aaa", "", "-")           => "-a-a-a-"
        replace("abab", "ab", "x")        => "xx"
        length(replace(format("%10000s", ""), " ", format("%10000s", ""))) => !a string of 100000000 bytes is longer than the limit of 16 MiB
        length(replace(format("%5000s", ""), "", "ab")) => 15002
        length(join(",", [for i in range(1000): format("%10000s", "")], [for i in range(1000): format("%10000s", "")])) => !a string of 20001999 bytes is longer
        length(split("", format("%10000s", "")))  => 10000
        split("", "ab")                   => ["a","b"]
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
}
