//! Numbers and conversions: `min`, `max`, `sum`, `abs`, `ceil`, `floor`, `parseint`, `range`,
//! `tostring`, `tonumber`, `tolist`.

use std::cmp::Ordering;

use hcl::eval::FuncArgs;
use hcl::{Number, Value};

use super::args::{all, as_text, to_number, Args, FnResult};

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

pub(super) fn min(a: FuncArgs) -> FnResult {
    extreme(&a, Ordering::Less)
}

pub(super) fn max(a: FuncArgs) -> FnResult {
    extreme(&a, Ordering::Greater)
}

pub(super) fn range(a: FuncArgs) -> FnResult {
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
    if (step < 0.0 && start < limit) || (step > 0.0 && start > limit) {
        return Err(format!(
            "a step of {step} never gets from {start} to {limit}: use a {} step",
            if step < 0.0 { "positive" } else { "negative" }
        ));
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

/// A whole number as a value: an integer when it fits, else the float.
fn whole(f: f64) -> Value {
    if f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

pub(super) fn abs(a: FuncArgs) -> FnResult {
    let n = a.num(0)?;
    Ok(match n.as_i64() {
        Some(i) if n.is_i64() || n.is_u64() => Value::from(i.unsigned_abs()),
        _ => Value::from(n.as_f64().unwrap_or_default().abs()),
    })
}

pub(super) fn ceil(a: FuncArgs) -> FnResult {
    Ok(whole(a.num(0)?.as_f64().unwrap_or_default().ceil()))
}

pub(super) fn floor(a: FuncArgs) -> FnResult {
    Ok(whole(a.num(0)?.as_f64().unwrap_or_default().floor()))
}

pub(super) fn sum(a: FuncArgs) -> FnResult {
    let list = a.list(0)?;
    if list.is_empty() {
        return Err("cannot sum an empty list".into());
    }
    let mut total = Number::from(0);
    for (i, v) in list.iter().enumerate() {
        let n = to_number(v).ok_or_else(|| {
            format!(
                "element {i}: expected a number, got {}",
                super::args::describe(v)
            )
        })?;
        total = total + n;
    }
    Ok(Value::Number(total))
}

/// Go's `big.Int.SetString` digits: `0-9a-z` up to base 36, then `A-Z` for 36 to 61.
pub(super) fn parseint(a: FuncArgs) -> FnResult {
    let (s, base) = (a.text(0)?, a.int(1)?);
    if !(2..=62).contains(&base) {
        return Err("base must be a whole number between 2 and 62 inclusive".into());
    }
    let fail = || format!("cannot parse {s:?} as a base {base} integer");
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(&s)),
    };
    if digits.is_empty() {
        return Err(fail());
    }
    let mut n: i128 = 0;
    for c in digits.chars() {
        let d = match c {
            '0'..='9' => c as i128 - '0' as i128,
            'a'..='z' => c as i128 - 'a' as i128 + 10,
            'A'..='Z' if base <= 36 => c as i128 - 'A' as i128 + 10,
            'A'..='Z' => c as i128 - 'A' as i128 + 36,
            _ => return Err(fail()),
        };
        if d >= i128::from(base) {
            return Err(fail());
        }
        n = n
            .checked_mul(i128::from(base))
            .and_then(|n| n.checked_add(d))
            .ok_or("the number is too large")?;
    }
    let n = if negative { -n } else { n };
    match i64::try_from(n) {
        Ok(i) => Ok(Value::from(i)),
        Err(_) => Ok(Value::from(n as f64)),
    }
}

/// A conversion function: null stays null, anything else goes through `f`.
fn convert(a: &[Value], what: &str, f: impl FnOnce(&Value) -> Option<Value>) -> FnResult {
    a.want(
        0,
        what,
        |v| if v.is_null() { Some(Value::Null) } else { f(v) },
    )
}

pub(super) fn tostring(a: FuncArgs) -> FnResult {
    convert(&a, "a string, number or bool", |v| {
        as_text(v).map(Value::from)
    })
}

pub(super) fn tonumber(a: FuncArgs) -> FnResult {
    convert(&a, "a number or a string holding a number", |v| {
        to_number(v).map(Value::Number)
    })
}

pub(super) fn tolist(a: FuncArgs) -> FnResult {
    convert(&a, "a list", |v| v.is_array().then(|| v.clone()))
}

#[cfg(test)]
mod tests {
    use super::super::testing::check;

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
        range(0, 3, -1)   => !never gets from 0 to 3
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
}
