//! `format` and `formatlist`: Go's `fmt`-style verbs, as Terraform implements them.

use hcl::eval::FuncArgs;
use hcl::Value;

use super::args::{as_text, describe, json, to_int, to_number, Args, FnResult};
use crate::load::limits;

#[derive(Default)]
struct Verb {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

fn digits(chars: &mut Chars<'_>) -> Option<usize> {
    let mut n = None;
    while let Some((_, d)) = chars.next_if(|(_, c)| c.is_ascii_digit()) {
        let d = d.to_digit(10).unwrap_or(0) as usize;
        n = Some(n.unwrap_or(0usize).saturating_mul(10).saturating_add(d));
    }
    n
}

/// An explicit argument index such as `[2]`, returned zero-based.
fn arg_index(chars: &mut Chars<'_>) -> Result<Option<usize>, String> {
    if chars.next_if(|(_, c)| *c == '[').is_none() {
        return Ok(None);
    }
    match (digits(chars), chars.next()) {
        (Some(n), Some((_, ']'))) if n > 0 => Ok(Some(n - 1)),
        _ => Err("invalid argument index; expected [n] with n counting from 1".into()),
    }
}

/// Go's `fmt`-style formatting as done by Terraform's `format` function.
fn sprintf(spec: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = spec.char_indices().peekable();
    let (mut next, mut used) = (0, 0);
    while let Some((start, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut v = Verb::default();
        while let Some((_, flag)) = chars.next_if(|(_, c)| "-+# 0".contains(*c)) {
            let set = match flag {
                '-' => &mut v.minus,
                '+' => &mut v.plus,
                '#' => &mut v.sharp,
                ' ' => &mut v.space,
                _ => &mut v.zero,
            };
            *set = true;
        }
        let at_offset = |msg: String| format!("error in format string at offset {start}: {msg}");
        next = arg_index(&mut chars).map_err(at_offset)?.unwrap_or(next);
        v.width = digits(&mut chars);
        if chars.next_if(|(_, c)| *c == '.').is_some() {
            v.precision = Some(digits(&mut chars).unwrap_or(0));
        }
        next = arg_index(&mut chars).map_err(at_offset)?.unwrap_or(next);
        for (what, n) in [("width", v.width), ("precision", v.precision)] {
            if let Some(n) = n.filter(|n| *n > limits::MAX_FORMAT_WIDTH) {
                return Err(at_offset(format!(
                    "{what} {n} is larger than the limit of {}",
                    limits::MAX_FORMAT_WIDTH
                )));
            }
        }
        let Some((end, verb)) = chars.next() else {
            return Err(at_offset("incomplete verb at end of format string".into()));
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let raw = &spec[start..end + verb.len_utf8()];
        let arg = args.get(next).ok_or_else(|| {
            format!(
                "not enough arguments for {raw:?} at offset {start}: need argument {} but {} given",
                next + 1,
                args.len()
            )
        })?;
        let (prefix, body) = render(verb, &v, arg)
            .map_err(|e| format!("unsupported value for {raw:?} at offset {start}: {e}"))?;
        pad(&mut out, &v, &prefix, &body);
        limits::check_string(out.len())?;
        next += 1;
        used = used.max(next);
    }
    match used < args.len() {
        true => Err(format!(
            "too many arguments; only {used} used by the format string"
        )),
        false => Ok(out),
    }
}

fn pad(out: &mut String, v: &Verb, prefix: &str, body: &str) {
    let len = prefix.chars().count() + body.chars().count();
    let fill = v.width.unwrap_or(0).saturating_sub(len);
    match (v.minus, v.zero) {
        (true, _) => out.extend(
            [prefix, body]
                .into_iter()
                .chain(std::iter::repeat_n(" ", fill)),
        ),
        (false, true) => out.extend(
            std::iter::once(prefix)
                .chain(std::iter::repeat_n("0", fill))
                .chain([body]),
        ),
        (false, false) => out.extend(std::iter::repeat_n(" ", fill).chain([prefix, body])),
    }
}

/// Renders one argument, split into a sign/base prefix and the rest (zero padding goes between).
fn render(verb: char, v: &Verb, arg: &Value) -> Result<(String, String), String> {
    let sign = |negative: bool| match (negative, v.plus, v.space) {
        (true, _, _) => "-",
        (false, true, _) => "+",
        (false, false, true) => " ",
        _ => "",
    };
    let body = match verb {
        'v' if v.sharp => json(arg),
        'v' => match arg {
            Value::Array(_) | Value::Object(_) => json(arg),
            Value::Null => "null".into(),
            _ => as_text(arg).unwrap_or_default().into_owned(),
        },
        's' | 'q' => {
            let s =
                as_text(arg).ok_or_else(|| format!("string required, got {}", describe(arg)))?;
            let s: String = s.chars().take(v.precision.unwrap_or(usize::MAX)).collect();
            match verb {
                'q' => serde_json::to_string(&s).unwrap_or_default(),
                _ => s,
            }
        }
        't' => match arg {
            Value::Bool(b) => b.to_string(),
            Value::String(s) if s == "true" || s == "false" => s.clone(),
            _ => return Err(format!("bool required, got {}", describe(arg))),
        },
        'd' | 'b' | 'o' | 'x' | 'X' => {
            let n = to_int(arg)
                .ok_or_else(|| format!("whole number required, got {}", describe(arg)))?;
            let m = n.unsigned_abs();
            let (alt, digits) = match verb {
                'b' => ("0b", format!("{m:b}")),
                'o' => ("0", format!("{m:o}")),
                'x' => ("0x", format!("{m:x}")),
                'X' => ("0X", format!("{m:X}")),
                _ => ("", m.to_string()),
            };
            let alt = if v.sharp { alt } else { "" };
            let zeros = "0".repeat(v.precision.unwrap_or(0).saturating_sub(digits.len()));
            return Ok((format!("{}{alt}", sign(n < 0)), zeros + &digits));
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
            let n =
                to_number(arg).ok_or_else(|| format!("number required, got {}", describe(arg)))?;
            let f = n.as_f64().unwrap_or_default();
            let m = f.abs();
            let body = match verb {
                'e' | 'E' => exp_form(&format!("{:.*e}", v.precision.unwrap_or(6), m)),
                'g' | 'G' => general_form(m, v.precision),
                _ => format!("{:.*}", v.precision.unwrap_or(6), m),
            };
            let body = if verb.is_ascii_uppercase() {
                body.to_uppercase()
            } else {
                body
            };
            return Ok((sign(f.is_sign_negative() && f != 0.0).into(), body));
        }
        other => return Err(format!("unrecognized format verb '{other}'")),
    };
    Ok((String::new(), body))
}

/// Rewrites Rust's `1.5e3` exponent notation as Go's `1.5e+03`.
fn exp_form(rust: &str) -> String {
    match rust.split_once('e') {
        Some((mantissa, exp)) => {
            let exp: i32 = exp.parse().unwrap_or(0);
            format!(
                "{mantissa}e{}{:02}",
                if exp < 0 { '-' } else { '+' },
                exp.abs()
            )
        }
        None => rust.into(),
    }
}

/// Go's `%g`: exponent form for large or small exponents, plain decimals otherwise.
fn general_form(m: f64, precision: Option<usize>) -> String {
    let sci = match precision {
        Some(p) => format!("{:.*e}", p.max(1) - 1, m),
        None => format!("{m:e}"),
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits = mantissa.replace('.', "");
    let digits = match digits.trim_end_matches('0') {
        "" => "0",
        d => d,
    };
    let nd = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let eprec = match precision {
        None => 6,
        Some(p) => {
            let p = i32::try_from(p.max(1)).unwrap_or(i32::MAX);
            if p > nd && nd > exp {
                nd
            } else {
                p
            }
        }
    };
    if exp < -4 || exp >= eprec {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        exp_form(&format!("{first}{dot}{rest}e{exp}"))
    } else {
        format!("{:.*}", usize::try_from(nd - exp - 1).unwrap_or(0), m)
    }
}

pub(super) fn format(a: FuncArgs) -> FnResult {
    sprintf(&a.text(0)?, &a[1..]).map(Value::from)
}

pub(super) fn formatlist(a: FuncArgs) -> FnResult {
    let spec = a.text(0)?;
    let rest = &a[1..];
    let mut len: Option<(usize, usize)> = None;
    for (i, v) in rest.iter().enumerate() {
        match (v, len) {
            (Value::Array(l), None) => len = Some((l.len(), i)),
            (Value::Array(l), Some((n, j))) if l.len() != n => {
                return Err(format!(
                    "argument {} has length {}, which is inconsistent with argument {} of length {n}",
                    i + 2,
                    l.len(),
                    j + 2
                ));
            }
            _ => {}
        }
    }
    let row = |k: usize| -> Vec<Value> {
        let pick = |v: &Value| v.as_array().map_or_else(|| v.clone(), |l| l[k].clone());
        rest.iter().map(pick).collect()
    };
    let rows = 0..len.map_or(1, |(n, _)| n);
    rows.map(|k| {
        let line = sprintf(&spec, &row(k))?;
        // The rows are only measured together at the end: count each as it is made.
        limits::produced_bytes(line.len())?;
        Ok(Value::from(line))
    })
    .collect::<Result<_, String>>()
    .map(Value::Array)
}

#[cfg(test)]
mod tests {
    use super::super::testing::check;

    const FORMAT_VERBS: &str = r#"
        format("Hello, %s!", "Ander")                        => "Hello, Ander!"
        format("%d items", 3)                                => "3 items"
        format("%5d|%-5d|%05d", 42, 42, -42)                 => "   42|42   |-0042"
        format("%.2f|%f|%8.3f", 3.14159, 1, 2.5)             => "3.14|1.000000|   2.500"
        format("%q", "hi")                                   => "\"hi\""
        format("%v %v %v %v", "s", 1.5, true, null)          => "s 1.5 true null"
        format("%v|%#v", [1], "a")                           => "[1]|\"a\""
        format("%x %X %o %b %#x", 255, 255, 8, 5, 255)       => "ff FF 10 101 0xff"
        format("%e|%.2E", 123456.789, 0.000123)              => "1.234568e+05|1.23E-04"
        format("%.3g|%.3g|%.2g", 1234.5678, 0.5, 100)        => "1.23e+03|0.5|1e+02"
        format("%#v", {a = [1, null]})                       => "{\"a\":[1,null]}"
        format("%g %g %g %g", 0.5, 1000000, 123456, 0.00001) => "0.5 1e+06 123456 1e-05"
        format("%%d %s", "x")                                => "%d x"
        format("%[2]s-%[1]s", "a", "b")                      => "b-a"
        format("%.3s|%6s|%-4s|", "abcdef", "ab", "x")        => "abc|    ab|x   |"
        format("%+d % d %t", 5, 5, true)                     => "+5  5 true"
        format("%d", "12")                                   => "12"
        format("%d", "x")                                    => !unsupported value for "%d" at offset 0: whole number required, got string "x"
        format("%d", 1.5)                                    => !whole number required
        format("%s %s", "a")                                 => !not enough arguments for "%s" at offset 3: need argument 2 but 1 given
        format("%s", "a", "b")                               => !too many arguments; only 1 used by the format string
        format("%s", [1])                                    => !string required, got list [1]
        format("%z", 1)                                      => !unrecognized format verb 'z'
        format("abc %")                                      => !incomplete verb
        formatlist("%s=%d", ["a", "b"], [1, 2])              => ["a=1","b=2"]
        formatlist("%s-%s", ["a", "b"], "x")                 => ["a-x","b-x"]
        formatlist("%s", ["a"], ["b", "c"])                  => !argument 3 has length 2, which is inconsistent with argument 2 of length 1
        length(format("%10000d|%.10000f", 1, 1))             => 20003
        format("%.65536f", 1)                                => !error in format string at offset 0: precision 65536 is larger than the limit of 10000
        format("%999999999d", 1)                             => !width 999999999 is larger than the limit of 10000
        format("%99999999999999999999999d", 1)               => !width 18446744073709551615 is larger than the limit of 10000
        format("%[99999999999999999999]d", 1)                => !need argument 18446744073709551615 but 1 given
        formatlist("%99999999s", range(1000))                => !width 99999999 is larger than the limit of 10000
        length(formatlist("%10000s", range(1000)))           => 1000
    "#;

    #[test]
    fn format_verbs() {
        check("", FORMAT_VERBS);
    }
}
