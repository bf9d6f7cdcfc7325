//! Encoding functions: `base64encode`, `base64decode`, `jsonencode`, `jsondecode`, `sha256`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hcl::eval::FuncArgs;
use hcl::Value;
use sha2::{Digest, Sha256};

use super::{json, str_fn, Args, FnResult};

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
    Ok(Value::from(json(&a[0])))
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
        jsonencode({b = 1, a = [true, null], c = "x"}) => "{\"b\":1,\"a\":[true,null],\"c\":\"x\"}"
        jsondecode("{\"z\": 1, \"a\": [1.5, \"x\"]}")  => {"z":1,"a":[1.5,"x"]}
        jsondecode("{")                                => !invalid JSON
        sha256("hello")                                => "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    "#;

    #[test]
    fn encodings() {
        check("", ENCODINGS);
    }
}
