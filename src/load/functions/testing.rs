//! Checking functions against tables of expressions and their expected results.

use hcl::eval::{Context, Evaluate};

use super::args::json;
use super::declare_all;

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
