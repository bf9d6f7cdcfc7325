//! The inputs the fuzzers (fuzz/) found, and the hostile shapes they are pointed at, replayed
//! through the same targets: each must come back as an answer (an error is one), never a
//! panic. Inputs that once broke a target live in tests/fixtures/fuzz/TARGET/ under a name
//! that says what they broke; the seeds of each fuzzer are replayed too.

#[allow(dead_code)] // each test uses some of the targets
#[path = "../fuzz/src/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` (none when it does not exist).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("stack", targets::stack),
    ("var_file", targets::var_file),
    ("plan_file", targets::plan_file),
    ("sim_state", targets::sim_state),
];

#[test]
fn every_input_a_fuzzer_found_and_every_seed_is_answered() {
    let mut replayed = 0;
    for (name, target) in TARGETS {
        for dir in [
            root().join("tests/fixtures/fuzz").join(name),
            root().join("fuzz/seeds").join(name),
        ] {
            for file in files(&dir) {
                target(&std::fs::read(&file).unwrap());
                replayed += 1;
            }
        }
    }
    assert!(replayed >= 6, "only {replayed} inputs replayed");
}

/// An operator chain whose last term opens brackets that never close, nested 64 deep. The
/// parser read each failed term twice, once per level, so the work doubled with every level:
/// the fuzzer's 700-byte find took 0.4 s, 24 levels took 13 s and 64 would never end. It is now
/// read once. The bound is generous; the input is answered in microseconds.
#[test]
fn unclosed_brackets_after_operators_are_answered_at_once() {
    let input = format!("x = {}\n", "k[{k+k!=".repeat(64)).into_bytes();
    let (done, answered) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for (_, target) in TARGETS {
            target(&input);
        }
        let _ = done.send(());
    });
    assert!(
        answered
            .recv_timeout(std::time::Duration::from_secs(60))
            .is_ok(),
        "64 levels of unclosed brackets were not answered within a minute"
    );
}

/// Shapes a mutating fuzzer rarely reaches by itself, built here at full size.
#[test]
fn hostile_shapes_are_answered() {
    let deep = |open: &str, close: &str, n: usize| {
        format!("x = {}1{}\n", open.repeat(n), close.repeat(n)).into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a list nested 100,000 deep", deep("[", "]", 100_000)),
        ("an object nested 100,000 deep", deep("{a = ", "}", 100_000)),
        ("parentheses 100,000 deep", deep("(", ")", 100_000)),
        ("blocks nested 50,000 deep", {
            let mut s = "a {\n".repeat(50_000);
            s.push_str(&"}\n".repeat(50_000));
            s.into_bytes()
        }),
        (
            "locals that refer to each other",
            b"locals {\n a = local.b\n b = local.c\n c = local.a\n}\n".to_vec(),
        ),
        (
            "a variable whose default is itself",
            b"variable \"v\" {\n default = var.v\n}\n".to_vec(),
        ),
        ("a file over the size limit", vec![b' '; 17 << 20]),
        (
            "invalid UTF-8",
            b"stack \"\xff\xfe\" {\n region = \"\xc3\x28\"\n}\n".to_vec(),
        ),
        (
            "a lone continuation byte at an error",
            b"sa{y1s\xd9\x9a".to_vec(),
        ),
        ("NUL bytes", vec![0; 4096]),
        (
            "a division by zero",
            b"locals {\n x = 1 / 0\n y = 1 % 0\n}\n".to_vec(),
        ),
        (
            "a product too large",
            b"locals {\n x = 1e308 * 10\n}\n".to_vec(),
        ),
        (
            "integer arithmetic past 64 bits",
            b"locals {\n x = 18446744073709551615 * 18446744073709551615\n y = -9223372036854775808 % -1\n z = 18446744073709551615 + 1\n}\n".to_vec(),
        ),
    ];
    for (what, input) in &cases {
        for (name, target) in TARGETS {
            let answered = std::panic::catch_unwind(|| target(input));
            assert!(answered.is_ok(), "{what} broke the {name} target");
        }
    }
}
