//! The function library against Terraform's own answers: every expression of
//! `tests/fixtures/functions/corpus.txt`, as `terraform console` evaluated it
//! (`tests/fixtures/functions/record.py` wrote `expected.json`), is evaluated here through a
//! whole load (`output "x" { value = jsonencode(EXPR) }`) and compared as JSON values. What
//! Terraform rejects must be rejected. Entries marked `differs` are deliberate differences,
//! each with its reason (and in the README): they are not compared.

use std::path::Path;

use serde_json::Value as Json;

use super::{load, Inputs};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/functions");

/// The files the corpus reads, as `record.py` writes them for Terraform.
const FILES: &[(&str, &str)] = &[
    ("files/a.txt", "hello\n"),
    ("files/b.txt", "ünïcode\n"),
    ("files/sub/c.tpl", "Hi ${name}!\n"),
];

#[derive(serde::Deserialize)]
struct Record {
    expr: String,
    json: Option<String>,
    differs: Option<String>,
}

/// `jsonencode(expr)` as reroll evaluates it, or the problems it reports.
fn evaluate(dir: &Path, expr: &str) -> Result<String, String> {
    let stack = format!(
        "stack \"oracle\" {{\n  region = \"us-east-1\"\n}}\noutput \"x\" {{\n  value = jsonencode({expr})\n}}\n"
    );
    std::fs::write(dir.join("main.hcl"), stack).unwrap();
    let (_, stack) = load(dir, &Inputs::default()).map_err(|d| d.short())?;
    match stack.outputs.first().map(|o| &o.value) {
        Some(Json::String(s)) => Ok(s.clone()),
        other => Err(format!("no string output: {other:?}")),
    }
}

/// Equal as JSON values, numbers compared as 64-bit floats (Terraform prints all the digits
/// of its arbitrary-precision numbers; reroll's are floats).
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= f64::EPSILON * x.abs().max(y.abs())
        }
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn functions_answer_as_terraform_does() {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("expected.json")).unwrap();
    let records: Vec<Record> = serde_json::from_str(&text).unwrap();
    assert!(
        records.len() >= 300,
        "the corpus has {} expressions",
        records.len()
    );
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in FILES {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let mut failures = Vec::new();
    for r in &records {
        let got = evaluate(dir.path(), &r.expr);
        let wrong = match (&r.json, &got, &r.differs) {
            (_, _, Some(reason)) => {
                assert!(
                    !reason.is_empty(),
                    "{}: a difference needs its reason",
                    r.expr
                );
                None
            }
            (None, Err(_), _) => None,
            (None, Ok(v), _) => Some(format!("Terraform rejects it; reroll gives {v}")),
            (Some(_), Err(e), _) => Some(format!("reroll rejects it: {e}")),
            (Some(want), Ok(v), None) => {
                let parse = |s: &str| serde_json::from_str::<Json>(s).map_err(|e| e.to_string());
                match (parse(want), parse(v)) {
                    (Ok(w), Ok(g)) if same(&w, &g) => None,
                    _ => Some(format!("want {want}\n    got  {v}")),
                }
            }
        };
        if let Some(w) = wrong {
            failures.push(format!("{}\n    {w}", r.expr));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ from Terraform:\n{}",
        failures.len(),
        records.len(),
        failures.join("\n")
    );
}

/// What `differs` stands for in gzip's case: the stream is another, the text the same.
/// Integer arithmetic past 64 bits neither wraps nor panics: exact while the result is a 64-bit
/// integer, the nearest float beyond it, against Terraform's exact answers (`terraform
/// console`). Found by fuzzing: a product of two large integers overflowed in hcl-primitives.
#[test]
fn integer_arithmetic_past_64_bits_is_terraforms_to_a_float() {
    let cases = [
        ("9223372036854775807 + 1", "9223372036854775808"),
        ("18446744073709551615 + 1", "18446744073709551616"),
        ("-9223372036854775808 - 1", "-9223372036854775809"),
        ("-9223372036854775808 % -1", "0"),
        (
            "1333333333133333333 * 3333333333",
            "4444444443333333332288888889",
        ),
        (
            "18446744073709551615 * 18446744073709551615",
            "340282366920938463426481119284349108225",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (expr, terraform) in cases {
        let got = evaluate(dir.path(), expr).unwrap();
        let (a, b): (Json, Json) = (
            serde_json::from_str(&got).unwrap(),
            serde_json::from_str(terraform).unwrap(),
        );
        assert!(same(&a, &b), "{expr}: reroll {got}, Terraform {terraform}");
    }
}

#[test]
fn base64gzip_decompresses_to_its_input() {
    use base64::Engine as _;
    use std::io::Read as _;
    let dir = tempfile::tempdir().unwrap();
    for text in ["hi", "", "ünïcode\nlines\n"] {
        let got = evaluate(dir.path(), &format!("base64gzip({text:?})")).unwrap();
        let b64: String = serde_json::from_str(&got).unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let mut out = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, text);
    }
}
