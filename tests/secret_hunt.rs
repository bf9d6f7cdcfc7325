//! Hunts for secrets in everything reroll shows and saves.
//!
//! `tests/fixtures/secrets` puts sensitive values (with quotes, backslashes, unicode and
//! newlines) in tags, user data, hook environments, module inputs and outputs, through
//! functions and interpolation. Every command runs on it — validate, plan (text, JSON,
//! forecast, saved), apply of a saved plan, apply with a report, status, a rollout whose tag
//! diff holds the previous secret, rollback, destroy — at the default log level, with `-vv` and
//! with `--log-format json`, on the simulator and on the emulator; then stacks that misuse a
//! secret are refused. Each secret is searched in every stdout, stderr and saved file, raw,
//! upper-cased, JSON-escaped and base64-encoded (at each byte alignment). Not searched: the
//! account itself (the simulator's state file, the emulator), which holds what is sent to AWS
//! on purpose (tag values, user data).

mod common {
    pub mod emulator;
}

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use base64::Engine as _;
use common::emulator::Emulator;

/// A sensitive value given to the stack, and fragments of it that must not appear either.
struct Secret {
    var: &'static str,
    value: &'static str,
    fragments: &'static [&'static str],
}

const DB_PW: Secret = Secret {
    var: "db_pw",
    value: r#"Hunter2"Sx\q"#,
    fragments: &[],
};
/// The password after it changed: the plan then shows the tag that held the old one.
const DB_PW_NEW: Secret = Secret {
    var: "db_pw",
    value: r#"NeW\pw"2ü-9913"#,
    fragments: &[],
};
const API_KEY: Secret = Secret {
    var: "api_key",
    value: "clé-ŝekreto-🔑-7731",
    fragments: &["ŝekreto-🔑"],
};
const CERT: Secret = Secret {
    var: "cert",
    value: "-----BEGIN KEY-----\nMIIsecretline4242\n-----END KEY-----",
    fragments: &["MIIsecretline4242"],
};
const TOKEN: Secret = Secret {
    var: "token",
    value: "plainsecret777",
    fragments: &[],
};

const ALL: [&Secret; 5] = [&DB_PW, &DB_PW_NEW, &API_KEY, &CERT, &TOKEN];

/// Every form of a secret to look for.
fn needles(s: &Secret) -> Vec<(String, &'static str)> {
    let mut raw: Vec<&str> = vec![s.value];
    raw.extend(s.fragments);
    let mut out = Vec::new();
    for r in raw {
        let json = serde_json::to_string(r).unwrap();
        let json = json.trim_matches('"').to_string();
        let upper_json = serde_json::to_string(&r.to_uppercase()).unwrap();
        out.push((r.to_string(), "raw"));
        out.push((r.to_uppercase(), "upper-cased"));
        out.push((json, "JSON-escaped"));
        out.push((upper_json.trim_matches('"').to_string(), "upper-cased JSON"));
        // Base64 of the secret inside a longer text, at each of the three byte alignments:
        // the groups made only of the secret's bytes.
        for offset in 0..3 {
            let mut bytes = vec![b'-'; offset];
            bytes.extend_from_slice(r.as_bytes());
            let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let start = if offset == 0 { 0 } else { 4 };
            let end = encoded.len().saturating_sub(4);
            if end > start + 8 {
                out.push((encoded[start..end].to_string(), "base64"));
            }
        }
    }
    out
}

/// Everything to search: what a command printed, and files it saved.
#[derive(Default)]
struct Haystack {
    texts: Vec<(String, String)>,
}

impl Haystack {
    fn output(&mut self, what: &str, o: &Output) {
        self.texts.push((
            format!("{what}: stdout"),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        ));
        self.texts.push((
            format!("{what}: stderr"),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ));
    }

    fn file(&mut self, what: &str, path: &Path) {
        let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        self.texts.push((
            format!("{what}: {}", path.display()),
            String::from_utf8_lossy(&text).into_owned(),
        ));
    }

    /// Every place a form of a secret was found: `(where, secret, form)`.
    fn hits(&self) -> Vec<String> {
        let mut hits = Vec::new();
        for secret in ALL {
            for (needle, form) in needles(secret) {
                for (what, text) in &self.texts {
                    if let Some(at) = text.find(&needle) {
                        let from = text[..at]
                            .char_indices()
                            .rev()
                            .nth(60)
                            .map_or(0, |(i, _)| i);
                        let context: String = text[from..].chars().take(160).collect();
                        hits.push(format!(
                            "{what}: {form} form of var.{} found: …{context}…",
                            secret.var
                        ));
                    }
                }
            }
        }
        hits
    }

    /// Checks nothing leaked, and prints what was searched (RELIABILITY.md reports it).
    fn assert_clean(&self) {
        let hits = self.hits();
        let forms: usize = ALL.iter().map(|s| needles(s).len()).sum();
        let bytes: usize = self.texts.iter().map(|(_, t)| t.len()).sum();
        eprintln!(
            "secret hunt: {} secrets in {forms} forms searched in {} outputs and files \
             ({bytes} bytes): {} hits",
            ALL.len(),
            self.texts.len(),
            hits.len()
        );
        assert!(
            hits.is_empty(),
            "{} leaks:\n{}",
            hits.len(),
            hits.join("\n")
        );
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> PathBuf {
    root().join("tests/fixtures/secrets")
}

/// `-var` arguments for the secrets, and the app version.
fn vars(db_pw: &Secret, version: &str) -> Vec<String> {
    let mut v = Vec::new();
    for s in [db_pw, &API_KEY, &CERT, &TOKEN] {
        v.push("-var".to_string());
        v.push(format!("{}={}", s.var, s.value));
    }
    v.push("-var".into());
    v.push(format!("app_version={version}"));
    v
}

/// Where commands run: the simulator (with its state file) or an emulator.
enum Account<'a> {
    Sim(PathBuf),
    Emulator(&'a Emulator),
}

fn run(account: &Account, global: &[&str], args: &[String], hook_record: &Path) -> Output {
    let mut cmd = Command::cargo_bin("reroll").unwrap();
    cmd.current_dir(root())
        .env("NO_COLOR", "1")
        .env("HOOK_RECORD", hook_record)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("REROLL_LOG");
    match account {
        Account::Sim(state) => {
            cmd.env_remove("AWS_ENDPOINT_URL")
                .env_remove("REROLL_POLL_SECONDS")
                .args(["--cloud", "sim", "--sim-state"])
                .arg(state);
        }
        Account::Emulator(emu) => {
            cmd.env("AWS_ENDPOINT_URL", &emu.endpoint)
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("REROLL_POLL_SECONDS", "0.2");
        }
    }
    cmd.args(global).args(args).output().unwrap()
}

#[track_caller]
fn expect(o: &Output, code: i32, what: &str) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{what}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn args(parts: &[&str], rest: &[String]) -> Vec<String> {
    parts
        .iter()
        .map(|s| s.to_string())
        .chain(rest.iter().cloned())
        .collect()
}

/// Every command, in the order of a stack's life, on `account`; returns what to search.
fn life(account: &Account, global: &[&str], dir: &Path) -> Haystack {
    let mut hay = Haystack::default();
    let stack = fixture().to_str().unwrap().to_string();
    let record = dir.join("hooks.txt");
    let first = vars(&DB_PW, "1.0.0");
    let second = vars(&DB_PW_NEW, "1.1.0");
    let plan_file = dir.join("first.plan");
    let report = dir.join("report.html");
    let p = plan_file.to_str().unwrap().to_string();
    let r = report.to_str().unwrap().to_string();
    let events = dir.join("events.jsonl");
    let ev = events.to_str().unwrap().to_string();
    let steps: Vec<(&str, Vec<String>, i32)> = vec![
        ("validate", args(&["validate", &stack], &first), 0),
        ("plan", args(&["plan", &stack], &first), 0),
        ("plan --json", args(&["plan", &stack, "--json"], &first), 0),
        (
            "plan --forecast",
            args(&["plan", &stack, "--forecast"], &first),
            0,
        ),
        (
            "plan --out",
            args(&["plan", &stack, "--out", &p], &first),
            0,
        ),
        ("apply PLANFILE", args(&["apply", &p], &first), 0),
        ("status", args(&["status", &stack], &[]), 0),
        ("plan again", args(&["plan", &stack, "--json"], &first), 0),
        (
            "plan of a changed secret",
            args(&["plan", &stack, "--detailed-exitcode"], &second),
            2,
        ),
        (
            "plan --json of a changed secret",
            args(&["plan", &stack, "--json"], &second),
            0,
        ),
        (
            "apply with a report",
            args(
                &[
                    "apply",
                    &stack,
                    "--auto-approve",
                    "--json",
                    "--report",
                    &r,
                    "--events",
                    &ev,
                ],
                &second,
            ),
            0,
        ),
        (
            "status after the rollout",
            args(&["status", &stack], &[]),
            0,
        ),
        (
            "rollback",
            args(&["rollback", &stack, "--auto-approve"], &second),
            0,
        ),
        ("plan after rollback", args(&["plan", &stack], &second), 0),
        (
            "destroy",
            args(&["destroy", &stack, "--auto-approve"], &[]),
            0,
        ),
    ];
    for (what, a, code) in steps {
        let o = run(account, global, &a, &record);
        expect(&o, code, what);
        hay.output(&format!("{what} {global:?}"), &o);
    }
    hay.file("saved plan", &plan_file);
    hay.file("report", &report);
    hay.file("events", &events);
    hay.file("hook record", &record);
    // The hooks ran, with the new password in their environment.
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(DB_PW_NEW.value));
    let ran = std::fs::read_to_string(&record).unwrap();
    for event in ["after_wave", "after_rollout"] {
        assert!(
            ran.lines().any(|l| l == format!("{event} {digest}")),
            "{event} did not get DB_PW: {ran}"
        );
    }
    hay
}

#[test]
fn no_secret_leaves_the_simulator_runs() {
    for global in [&[][..], &["-vv"][..], &["-vv", "--log-format", "json"][..]] {
        let dir = tempfile::tempdir().unwrap();
        let account = Account::Sim(dir.path().join("world.json"));
        let hay = life(&account, global, dir.path());
        // The outputs are there, the secret ones as (sensitive).
        let all: String = hay.texts.iter().map(|(_, t)| t.as_str()).collect();
        for shown in [
            "plain = plain-value",
            "encoded = (sensitive)",
            "mixed = (sensitive)",
            "dbpw=(sensitive)",
        ] {
            assert!(all.contains(shown), "{shown} missing");
        }
        hay.assert_clean();
    }
}

#[test]
fn no_secret_leaves_the_emulator_runs() {
    let emu = Emulator::start();
    emu.seed("us-east-1");
    let dir = tempfile::tempdir().unwrap();
    let hay = life(
        &Account::Emulator(&emu),
        &["-vv", "--log-format", "json"],
        dir.path(),
    );
    hay.assert_clean();
    // And at the default level, as text.
    let dir = tempfile::tempdir().unwrap();
    let hay = life(&Account::Emulator(&emu), &[], dir.path());
    hay.assert_clean();
}

/// Stacks that put a secret where it would be shown are refused, and the refusal does not
/// show it either.
#[test]
fn a_secret_where_it_would_show_is_refused_without_showing_it() {
    let head = "stack \"bad\" {\n  region = \"us-east-1\"\n}\n\
                variable \"token\" {\n  sensitive = true\n}\n\
                variable \"db_pw\" {\n  sensitive = true\n}\n";
    let group = |attrs: &str| {
        format!(
            "server_group \"web\" {{\n  image = \"ami-12345678\"\n  instance_type = \"t3.micro\"\n  \
             capacity = {{ min = 1, desired = 1, max = 2 }}\n  subnets = [\"subnet-1\"]\n{attrs}\n}}\n"
        )
    };
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "a secret as capacity",
            group("").replace(
                "capacity = { min = 1, desired = 1, max = 2 }",
                "capacity = var.token",
            ),
            &["`capacity` is derived from a sensitive value"],
        ),
        (
            "a secret as an instance type, through a function that fails",
            group("").replace("\"t3.micro\"", "tonumber(var.token)"),
            &["details are withheld"],
        ),
        (
            "a secret on a hook's command line",
            group(
                "  rollout {\n    hook \"after_wave\" {\n      command = [\"./smoke.sh\", \
                 \"--pw=${var.db_pw}\"]\n    }\n  }",
            ),
            &[
                "`command` is derived from a sensitive value",
                "env = { DB_PW = var.db_pw }",
            ],
        ),
        (
            "a secret in a lookup",
            "image \"app\" {\n  name = var.token\n}\n".to_string(),
            &["`name` is derived from a sensitive value"],
        ),
        (
            "a secret in a module input of the wrong type",
            "module \"m\" {\n  source = \"./m\"\n  n = var.token\n}\n".to_string(),
            &["expects a number, found a sensitive value"],
        ),
        (
            "a tag of the wrong type",
            group("  tags = { a = [var.token] }"),
            &["found a sensitive list"],
        ),
        (
            "a file of the process's environment",
            "output \"env\" {\n  value = file(\"/proc/self/environ\")\n}\n".to_string(),
            &["in /proc", "only regular files are read"],
        ),
        (
            "an endless device",
            "output \"zero\" {\n  value = file(\"/dev/zero\")\n}\n".to_string(),
            &["a device, a pipe or a socket"],
        ),
    ];
    let mut hay = Haystack::default();
    for (what, body, wants) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.hcl"), format!("{head}{body}")).unwrap();
        std::fs::create_dir(dir.path().join("m")).unwrap();
        std::fs::write(
            dir.path().join("m/main.hcl"),
            "variable \"n\" {\n  type = number\n}\n",
        )
        .unwrap();
        let stack = dir.path().to_str().unwrap().to_string();
        let mut a = args(&["validate", &stack], &[]);
        for s in [&TOKEN, &DB_PW] {
            a.push("-var".into());
            a.push(format!("{}={}", s.var, s.value));
        }
        let o = run(
            &Account::Sim(dir.path().join("w.json")),
            &["-vv"],
            &a,
            &dir.path().join("hooks.txt"),
        );
        expect(&o, 1, what);
        let err = String::from_utf8_lossy(&o.stderr);
        for want in wants {
            assert!(err.contains(want), "{what}: no {want:?} in\n{err}");
        }
        hay.output(what, &o);
    }
    // A value that does not parse as the sensitive variable's type.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.hcl"),
        "stack \"bad\" {\n  region = \"us-east-1\"\n}\n\
         variable \"token\" {\n  type = list(string)\n  sensitive = true\n}\n",
    )
    .unwrap();
    let stack = dir.path().to_str().unwrap().to_string();
    let a = args(
        &[
            "validate",
            &stack,
            "-var",
            &format!("token=[\"{}", TOKEN.value),
        ],
        &[],
    );
    let o = run(
        &Account::Sim(dir.path().join("w.json")),
        &[],
        &a,
        &dir.path().join("hooks.txt"),
    );
    expect(&o, 1, "a malformed sensitive -var");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("the details are withheld"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    hay.output("a malformed sensitive -var", &o);
    hay.assert_clean();
}

/// The hunt itself: each form of a secret, inside other text, is found.
#[test]
fn the_hunt_finds_every_form() {
    let b64 = |prefix: &str| {
        base64::engine::general_purpose::STANDARD.encode(format!("{prefix}{}", DB_PW.value))
    };
    let planted = [
        format!("tag x={} y", DB_PW.value),
        format!("LOUD {}", TOKEN.value.to_uppercase()),
        format!("{{\"k\": {}}}", serde_json::to_string(&CERT.value).unwrap()),
        format!("user data {}", b64("")),
        format!("user data {}", b64("a")),
        format!("user data {}", b64("ab")),
        "only a part: MIIsecretline4242 here".to_string(),
    ];
    for text in planted {
        let hay = Haystack {
            texts: vec![("planted".into(), text.clone())],
        };
        assert!(!hay.hits().is_empty(), "not found in {text:?}");
    }
    let clean = Haystack {
        texts: vec![("clean".into(), "dbpw=(sensitive) plain-value".into())],
    };
    assert!(clean.hits().is_empty());
}
