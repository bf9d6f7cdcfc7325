//! String functions: `lower`, `upper`, `trimspace`, `startswith`, `endswith`, `trimprefix`,
//! `trimsuffix`, `split`, `replace`, `substr`, `join`.

use hcl::eval::FuncArgs;
use hcl::Value;

use super::super::limits;
use super::{str2_fn, str_fn, strings, Args, FnResult};

pub(super) fn lower(a: FuncArgs) -> FnResult {
    str_fn(&a, str::to_lowercase)
}

pub(super) fn upper(a: FuncArgs) -> FnResult {
    str_fn(&a, str::to_uppercase)
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
        return Err(format!(
            "regular expression patterns such as {from:?} are not supported; pass a plain substring"
        ));
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
