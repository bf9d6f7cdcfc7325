//! Collection functions: `length`, `merge`, `lookup`, `concat`, `element`, `contains`, `index`,
//! `keys`, `values`, `zipmap`, `distinct`, `flatten`, `reverse`, `compact`, `sort`, `toset`,
//! `slice`, `coalesce`, `coalescelist`, `one`, `alltrue`, `anytrue`, `setunion`,
//! `setintersection`, `setsubtract`, `tomap`, `chunklist`, `transpose`.

use std::borrow::Cow;
use std::cmp::Ordering;

use hcl::eval::FuncArgs;
use hcl::{Map, Value};

use super::args::{all, as_text, describe, json, list_fn, strings, Args, FnResult};
use crate::load::limits;

pub(super) fn length(a: FuncArgs) -> FnResult {
    a.want(0, "a string, list or object", |v| match v {
        Value::String(s) => Some(s.chars().count()),
        Value::Array(l) => Some(l.len()),
        Value::Object(m) => Some(m.len()),
        _ => None,
    })
    .map(Value::from)
}

pub(super) fn merge(a: FuncArgs) -> FnResult {
    let mut out = Map::new();
    for i in (0..a.len()).filter(|&i| !a[i].is_null()) {
        out.extend(a.map(i)?.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    Ok(Value::Object(out))
}

pub(super) fn lookup(a: FuncArgs) -> FnResult {
    a.at_most(3)?;
    let (map, key) = (a.map(0)?, a.text(1)?);
    match (map.get(key.as_ref()), a.get(2)) {
        (Some(v), _) | (None, Some(v)) => Ok(v.clone()),
        (None, None) => Err(format!("lookup failed to find key {key:?}")),
    }
}

pub(super) fn concat(a: FuncArgs) -> FnResult {
    if a.is_empty() {
        return Err("at least one list is required".into());
    }
    let lists = all(&a, <[Value]>::list)?;
    limits::check_elements(lists.iter().map(|l| l.len()).sum())?;
    Ok(Value::Array(lists.concat()))
}

pub(super) fn element(a: FuncArgs) -> FnResult {
    let (list, i) = (a.list(0)?, a.index(1)?);
    match list.len() {
        0 => Err("cannot use element function with an empty list".into()),
        n => Ok(list[i % n].clone()),
    }
}

pub(super) fn contains(a: FuncArgs) -> FnResult {
    Ok(Value::Bool(a.list(0)?.contains(&a[1])))
}

pub(super) fn index(a: FuncArgs) -> FnResult {
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

pub(super) fn keys(a: FuncArgs) -> FnResult {
    Ok(sorted_entries(&a)?
        .into_iter()
        .map(|(k, _)| Value::from(k.as_str()))
        .collect())
}

pub(super) fn values(a: FuncArgs) -> FnResult {
    Ok(Value::Array(
        sorted_entries(&a)?
            .into_iter()
            .map(|(_, v)| v.clone())
            .collect(),
    ))
}

pub(super) fn zipmap(a: FuncArgs) -> FnResult {
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

/// The first of each group of equal values, in their order: O(n log n), by sorting positions
/// with the same order `toset` uses (equal values sort together).
fn dedup(list: Vec<Value>) -> Vec<Value> {
    let mut by_value: Vec<usize> = (0..list.len()).collect();
    by_value.sort_by(|&i, &j| order(&list[i], &list[j]).then(i.cmp(&j)));
    let mut keep = vec![true; list.len()];
    let mut run_start = 0;
    for k in 1..by_value.len() {
        let i = by_value[k];
        if order(&list[by_value[run_start]], &list[i]) != Ordering::Equal {
            run_start = k;
            continue;
        }
        // Within a run of values that sort equal, drop those equal to an earlier one.
        keep[i] = !by_value[run_start..k]
            .iter()
            .any(|&j| keep[j] && list[j] == list[i]);
    }
    list.into_iter()
        .zip(keep)
        .filter_map(|(v, k)| k.then_some(v))
        .collect()
}

pub(super) fn distinct(a: FuncArgs) -> FnResult {
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

pub(super) fn flatten(a: FuncArgs) -> FnResult {
    list_fn(&a, |list| {
        let mut out = Vec::new();
        flatten_into(&mut out, list);
        out
    })
}

pub(super) fn reverse(a: FuncArgs) -> FnResult {
    list_fn(&a, |list| list.into_iter().rev().collect())
}

pub(super) fn compact(a: FuncArgs) -> FnResult {
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

pub(super) fn sort(a: FuncArgs) -> FnResult {
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

pub(super) fn toset(a: FuncArgs) -> FnResult {
    Ok(Value::Array(set_of(a.list(0)?)?))
}

/// A set's elements in Terraform's order (strings and numbers sorted), without duplicates;
/// mixed strings, numbers and bools become strings, as Terraform's type unification.
fn set_of(list: &[Value]) -> Result<Vec<Value>, String> {
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
    Ok(items)
}

/// The sets given as arguments, each in Terraform's order.
fn sets(a: &[Value], at_least: usize) -> Result<Vec<Vec<Value>>, String> {
    if a.len() < at_least {
        return Err(format!("at least {at_least} set(s) are required"));
    }
    let mut out = Vec::new();
    for i in 0..a.len() {
        out.push(set_of(a.list(i)?)?);
    }
    Ok(out)
}

pub(super) fn setunion(a: FuncArgs) -> FnResult {
    let all: Vec<Value> = sets(&a, 1)?.concat();
    Ok(Value::Array(set_of(&all)?))
}

pub(super) fn setintersection(a: FuncArgs) -> FnResult {
    let mut sets = sets(&a, 1)?.into_iter();
    let first = sets.next().unwrap_or_default();
    let rest: Vec<Vec<Value>> = sets.collect();
    Ok(Value::Array(
        first
            .into_iter()
            .filter(|v| rest.iter().all(|s| s.contains(v)))
            .collect(),
    ))
}

pub(super) fn setsubtract(a: FuncArgs) -> FnResult {
    a.at_most(2)?;
    let [from, minus]: [Vec<Value>; 2] =
        sets(&a, 2)?.try_into().map_err(|_| "expected two sets")?;
    Ok(Value::Array(
        from.into_iter().filter(|v| !minus.contains(v)).collect(),
    ))
}

pub(super) fn coalescelist(a: FuncArgs) -> FnResult {
    for i in 0..a.len() {
        if !a.list(i)?.is_empty() {
            return Ok(a[i].clone());
        }
    }
    Err("no non-null arguments".into())
}

pub(super) fn one(a: FuncArgs) -> FnResult {
    match a.list(0)? {
        [] => Ok(Value::Null),
        [only] => Ok(only.clone()),
        more => Err(format!(
            "must be a list, set, or tuple value with either zero or one elements, got {} elements",
            more.len()
        )),
    }
}

/// The elements of a list of bools (`"true"` and `"false"` count, as Terraform converts them).
fn bools(a: &[Value]) -> Result<Vec<bool>, String> {
    let list = a.list(0)?;
    list.iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if s == "true" => Ok(true),
            Value::String(s) if s == "false" => Ok(false),
            other => Err(format!(
                "element {i}: expected a bool, got {}",
                describe(other)
            )),
        })
        .collect()
}

pub(super) fn alltrue(a: FuncArgs) -> FnResult {
    Ok(Value::Bool(bools(&a)?.into_iter().all(|b| b)))
}

pub(super) fn anytrue(a: FuncArgs) -> FnResult {
    Ok(Value::Bool(bools(&a)?.into_iter().any(|b| b)))
}

/// An object as a map: every value of one type; strings, numbers and bools mixed with strings
/// become strings (Terraform's unification); anything else mixed is an error.
pub(super) fn tomap(a: FuncArgs) -> FnResult {
    if a.first().is_some_and(Value::is_null) {
        return Ok(Value::Null);
    }
    let map = a.map(0)?;
    let kinds: std::collections::BTreeSet<&str> = map
        .values()
        .filter(|v| !v.is_null())
        .map(|v| match v {
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "list",
            _ => "object",
        })
        .collect();
    let to_strings = kinds.len() > 1
        && kinds.contains("string")
        && kinds
            .iter()
            .all(|k| ["bool", "number", "string"].contains(k));
    if kinds.len() > 1 && !to_strings {
        return Err(format!(
            "cannot convert to a map: all map elements must have the same type (found {})",
            kinds.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(Value::Object(
        map.iter()
            .map(|(k, v)| {
                let v = match (to_strings, as_text(v)) {
                    (true, Some(t)) => Value::from(t.into_owned()),
                    _ => v.clone(),
                };
                (k.clone(), v)
            })
            .collect(),
    ))
}

pub(super) fn chunklist(a: FuncArgs) -> FnResult {
    let list = a.list(0)?;
    let size = a.int(1)?;
    let size = usize::try_from(size).map_err(|_| "the size argument must be positive")?;
    if size == 0 {
        return Ok(Value::Array(vec![Value::from(list)]));
    }
    Ok(Value::Array(list.chunks(size).map(Value::from).collect()))
}

/// A map of lists of strings turned inside out: each string to the keys whose list holds it,
/// in key order.
pub(super) fn transpose(a: FuncArgs) -> FnResult {
    let map = a.map(0)?;
    let mut out: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for key in keys {
        let Value::Array(items) = &map[key] else {
            return Err(format!(
                "element {key:?}: expected a list of strings, got {}",
                describe(&map[key])
            ));
        };
        for item in strings(items, &format!("element {key:?}: item"))? {
            out.entry(item.into_owned())
                .or_default()
                .push(Value::from(key.as_str()));
        }
    }
    Ok(Value::Object(
        out.into_iter().map(|(k, v)| (k, Value::Array(v))).collect(),
    ))
}

pub(super) fn slice(a: FuncArgs) -> FnResult {
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

pub(super) fn coalesce(a: FuncArgs) -> FnResult {
    let found = a.iter().find(|v| !v.is_null() && v.as_str() != Some(""));
    found
        .cloned()
        .ok_or_else(|| "no non-null, non-empty-string arguments".into())
}

#[cfg(test)]
mod tests {
    use super::super::testing::check;

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
        distinct([3, [1], "b", 3, {a = 1}, [1], "b", {a = 1}, null, true, null]) => [3,[1],"b",{"a":1},null,true]
        length(distinct(concat(range(1000), range(1000), range(1000)))) => 1000
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
}
