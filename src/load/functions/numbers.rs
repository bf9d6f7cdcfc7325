//! Numbers and conversions: `min`, `max`, `range`, `tostring`, `tonumber`, `tolist`.

use std::cmp::Ordering;

use hcl::eval::FuncArgs;
use hcl::{Number, Value};

use super::{all, as_text, to_number, Args, FnResult};

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
}
