//! String functions: `lower`, `upper`, `trimspace`, `startswith`, `endswith`, `trimprefix`,
//! `trimsuffix`, `split`, `replace`, `substr`, `join`.

use hcl::eval::FuncArgs;
use hcl::Value;

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
    str2_fn(&a, |sep, s| match sep {
        "" => s.chars().map(|c| Value::from(c.to_string())).collect(),
        _ => s.split(sep).map(Value::from).collect(),
    })
}

pub(super) fn replace(a: FuncArgs) -> FnResult {
    let (s, from, to) = (a.text(0)?, a.text(1)?, a.text(2)?);
    if from.len() > 1 && from.starts_with('/') && from.ends_with('/') {
        return Err(format!(
            "regular expression patterns such as {from:?} are not supported; pass a plain substring"
        ));
    }
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
