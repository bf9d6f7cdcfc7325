//! What a person sees of an apply on a simulated account (`--cloud sim`): the summary counts
//! the waves the plan showed, plans and `status` name each generation's image, and
//! `apply --report` writes an HTML page however the apply ends, which headless Chromium renders
//! without a console error.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> PathBuf {
    root().join("tests/fixtures/sim-rolling")
}

/// Runs reroll on a simulated account kept in `state`, with no terminal, no colour and no AWS
/// settings that could leak in.
fn sim(state: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("reroll")
        .unwrap()
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("REROLL_POLL_SECONDS")
        .args(["--cloud", "sim", "--sim-state", state.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[track_caller]
fn code(o: &Output, want: i32) {
    let (out, err) = text(o);
    assert_eq!(
        o.status.code(),
        Some(want),
        "stdout:\n{out}\nstderr:\n{err}"
    );
}

/// A world with 1.0.0 deployed from `stack`, in a fresh directory.
fn deployed(stack: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("world.json");
    code(
        &sim(
            &state,
            &["apply", stack.to_str().unwrap(), "--auto-approve"],
        ),
        0,
    );
    (dir, state)
}

/// Images whose instances never pass health checks, set in the saved world's configuration.
fn make_bad(state: &Path, image_name: &str) {
    let mut world: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    world["world"]["config"]["bad_images"] = serde_json::json!([image_name]);
    std::fs::write(state, world.to_string()).unwrap();
}

/// The rolling fixture, copied, with `edit` applied to its text.
fn edited_fixture(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(fixture().join("main.hcl")).unwrap();
    let edited = edit(src.clone());
    assert_ne!(edited, src, "the fixture changed shape");
    std::fs::write(dir.path().join("main.hcl"), edited).unwrap();
    dir
}

/// The plan says four waves, the summary counts four, and the plan and `status` name the
/// images beside their ids.
#[test]
fn the_summary_counts_the_plans_waves_and_images_are_named() {
    let (_dir, state) = deployed(&fixture());
    let stack = fixture();
    let stack = stack.to_str().unwrap();
    let v2 = ["-var", "app_version=1.1.0"];

    let o = sim(&state, &[&["plan", stack][..], &v2].concat());
    code(&o, 0);
    let (out, _) = text(&o);
    assert!(out.contains("rolling, 4 waves of up to 3"), "{out}");
    let image = out
        .lines()
        .find(|l| l.trim_start().starts_with("image "))
        .unwrap_or_else(|| panic!("no image line in:\n{out}"));
    assert!(
        image.contains("(demo-app-1.0.0, created 2026-01-01 00:00 UTC) → ami-")
            && image.contains("(demo-app-1.1.0, created 2026-01-01 00:00 UTC)"),
        "{image}"
    );

    let o = sim(
        &state,
        &[&["apply", stack, "--auto-approve"][..], &v2].concat(),
    );
    code(&o, 0);
    let (_, err) = text(&o);
    let row = err
        .lines()
        .find(|l| l.starts_with("server_group.web  replace"))
        .unwrap_or_else(|| panic!("no summary row in:\n{err}"));
    let columns: Vec<&str> = row.split_whitespace().collect();
    // group, action, v001, →, v002, waves, duration…, result
    assert_eq!(columns[5], "4", "{row}");
    assert_eq!(columns.last(), Some(&"ok"), "{row}");

    let o = sim(&state, &[&["status", stack][..], &v2].concat());
    code(&o, 0);
    let (out, _) = text(&o);
    let generation = |n: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(n))
            .unwrap_or_else(|| panic!("no {n} in:\n{out}"))
            .to_string()
    };
    assert!(
        generation("v001").contains("(demo-app-1.0.0, created 2026-01-01 00:00 UTC)"),
        "{out}"
    );
    assert!(
        generation("v002").contains("(demo-app-1.1.0, created 2026-01-01 00:00 UTC)"),
        "{out}"
    );
}

/// The page of the report, and what it says about the outcome.
#[track_caller]
fn page(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// However an apply ends, `--report` leaves a page with its result and exit code.
#[test]
fn the_report_is_written_however_an_apply_ends() {
    // (stack, bad image, arguments, exit code, what the page says)
    let cases: Vec<(PathBuf, bool, Vec<&str>, i32, &str)> = vec![
        (
            fixture(),
            false,
            vec!["-var", "app_version=1.1.0"],
            0,
            "ok · exit code 0",
        ),
        (fixture(), false, vec![], 0, "no changes · exit code 0"),
        (
            fixture(),
            true,
            vec!["-var", "app_version=1.1.0", "-var", "health_timeout=3m"],
            3,
            "rolled back · exit code 3",
        ),
        (
            fixture(),
            true,
            vec![
                "-var",
                "app_version=1.1.0",
                "-var",
                "health_timeout=3m",
                "-var",
                "on_failure=pause",
            ],
            4,
            "stopped part-way · exit code 4",
        ),
        (
            fixture(),
            false,
            vec!["-var", "instances=many"],
            1,
            "failed · exit code 1",
        ),
    ];
    for (stack, bad, args, exit, says) in cases {
        let (dir, state) = deployed(&stack);
        if bad {
            make_bad(&state, "demo-app-1.1.0");
        }
        let report = dir.path().join("rollout.html");
        let stack = stack.to_str().unwrap();
        let mut all = vec!["apply", stack, "--auto-approve", "--report"];
        all.push(report.to_str().unwrap());
        all.extend(&args);
        let o = sim(&state, &all);
        code(&o, exit);
        let html = page(&report);
        assert!(html.contains(says), "{args:?}: {says}\n{html}");
        assert!(
            text(&o)
                .1
                .contains(&format!("Report written to {}", report.display())),
            "{}",
            text(&o).1
        );
        if exit == 3 || exit == 4 {
            // The rollout's chart and its waves, as far as it got.
            assert!(html.contains("<svg"), "{html}");
            assert!(html.contains("0 of 4 waves got through"), "{html}");
        }
    }
}

/// A report that cannot be written stops the apply before anything changes.
#[test]
fn an_unwritable_report_is_refused_before_any_change() {
    let (dir, state) = deployed(&fixture());
    let before = std::fs::read_to_string(&state).unwrap();
    let report = dir.path().join("no-such-dir").join("rollout.html");
    let o = sim(
        &state,
        &[
            "apply",
            fixture().to_str().unwrap(),
            "-var",
            "app_version=1.1.0",
            "--auto-approve",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    code(&o, 1);
    let (out, err) = text(&o);
    assert!(err.contains("cannot write the report to"), "{err}");
    assert!(!out.contains("Plan:"), "planned before refusing:\n{out}");
    let world: serde_json::Value = serde_json::from_str(&before).unwrap();
    let after: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(world["world"]["groups"], after["world"]["groups"]);
}

/// Ctrl-C: once, the apply stops at a consistent point (exit 130) and the report says it was
/// interrupted; twice, it leaves at once, and the report says that too.
#[test]
fn ctrl_c_leaves_a_report_of_the_interrupted_apply() {
    // A hook that holds the rollout for a few seconds of real time, long enough to be
    // interrupted in (a simulated rollout takes milliseconds otherwise).
    let stack = edited_fixture(|s| {
        s.replace(
            "    max_unavailable = 0\n",
            "    max_unavailable = 0\n    hook \"before_rollout\" {\n      command = [\"sh\", \"-c\", \"touch hook-started && sleep 3\"]\n    }\n",
        )
    });
    let path = stack.path().to_str().unwrap();
    // (Ctrl-Cs, what the page says)
    let cases = [
        (1, "interrupted · exit code 130"),
        (2, "left at once on a second Ctrl-C"),
    ];
    for (presses, says) in cases {
        let (dir, state) = deployed(stack.path());
        let marker = stack.path().join("hook-started");
        let _ = std::fs::remove_file(&marker);
        let report = dir.path().join("rollout.html");
        let mut child = Process::new(assert_cmd::cargo::cargo_bin("reroll"))
            .current_dir(root())
            .env("NO_COLOR", "1")
            .env_remove("AWS_ENDPOINT_URL")
            .args(["--cloud", "sim", "--sim-state", state.to_str().unwrap()])
            .args(["apply", path, "-var", "app_version=1.1.0", "--auto-approve"])
            .arg("--report")
            .arg(&report)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // stderr, line by line, as it comes.
        let (tx, lines) = std::sync::mpsc::channel::<String>();
        let stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        while !marker.exists() {
            assert!(Instant::now() < deadline, "the hook never ran");
            std::thread::sleep(Duration::from_millis(20));
        }
        let interrupt = || {
            let ok = Process::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap()
                .success();
            assert!(ok, "cannot send SIGINT");
        };
        let mut seen = Vec::new();
        let mut wait_for = |what: &str| loop {
            let line = lines
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|_| panic!("no `{what}` in:\n{}", seen.join("\n")));
            let found = line.contains(what);
            seen.push(line);
            if found {
                break;
            }
        };
        interrupt();
        if presses == 2 {
            // The second press only once the first one was taken.
            wait_for("Stopping:");
            interrupt();
        }
        let status = child.wait().unwrap();
        reader.join().unwrap();
        let rest: Vec<String> = lines.try_iter().collect();
        assert_eq!(status.code(), Some(130), "{seen:?}\n{rest:?}");
        assert!(
            rest.iter()
                .chain(&seen)
                .any(|l| l.contains("Report written to")),
            "{seen:?}\n{rest:?}"
        );
        let html = page(&report);
        assert!(html.contains(says), "{presses} Ctrl-C: {says}\n{html}");
        assert!(html.contains("interrupted · exit code 130"), "{html}");
    }
}

// ---------------------------------------------------------------------------------------------
// Headless Chromium

/// Chromium on the PATH, if installed.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|p| p.is_file())
}

/// Says so on the terminal, past the test harness's capture of `println!`.
fn tell(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

/// What Chromium printed opening `url`, with `extra` arguments.
fn open(chrome: &Path, url: &str, extra: &[String]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Process::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1200,900",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Only a guard against a browser that hangs; a page opens in about a second.
    let deadline = Instant::now() + Duration::from_secs(180);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish opening {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "chromium failed on {url}: {o:?}");
    text(&o)
}

/// Console messages (errors among them) in Chromium's log.
fn console(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// The report of a simulated rollout opens in headless Chromium with no console message, its
/// script runs to its end, and it is kept as a screenshot.
#[test]
fn the_report_renders_in_headless_chromium() {
    let (dir, state) = deployed(&fixture());
    let report = dir.path().join("rollout.html");
    let o = sim(
        &state,
        &[
            "apply",
            fixture().to_str().unwrap(),
            "-var",
            "app_version=1.1.0",
            "--auto-approve",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    code(&o, 0);
    let html = page(&report);
    assert!(html.contains("ok · exit code 0"), "{html}");
    assert_eq!(html.matches("<svg").count(), 1, "{html}");
    assert!(html.contains("4 of 4 waves got through"), "{html}");

    let Some(chrome) = chromium() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "CI=true, but chromium is not installed: the report must be checked in a \
                 browser here (`apt-get install -y chromium`; .ci/run installs it)"
            );
        }
        tell(
            "SKIPPED the_report_renders_in_headless_chromium: chromium is not installed \
             (apt-get install -y chromium); the report was checked as text only",
        );
        return;
    };
    // The check itself: a page with an error is seen to have one.
    let broken = dir.path().join("broken.html");
    std::fs::write(&broken, "<!DOCTYPE html><script>noSuchFunction();</script>").unwrap();
    let (_, log) = open(
        &chrome,
        &format!("file://{}", broken.display()),
        &["--dump-dom".into()],
    );
    assert!(
        !console(&log).is_empty(),
        "chromium's log shows no console error for a broken page, so it cannot vouch for \
         the report:\n{log}"
    );

    let url = format!("file://{}", report.display());
    let (dom, log) = open(&chrome, &url, &["--dump-dom".into()]);
    assert!(console(&log).is_empty(), "console messages:\n{log}");
    assert!(
        dom.contains("data-script=\"ran\""),
        "the script did not run to its end:\n{dom}"
    );
    assert!(dom.contains("<svg"), "{dom}");

    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rollout-report.png");
    let _ = std::fs::remove_file(&shot);
    let (_, log) = open(&chrome, &url, &[format!("--screenshot={}", shot.display())]);
    assert!(console(&log).is_empty(), "console messages:\n{log}");
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}\n{log}", shot.display()));
    assert!(png.starts_with(b"\x89PNG"), "not a PNG: {}", shot.display());
    // A blank 1200×900 page compresses to a few kilobytes; this one has a chart and tables.
    assert!(png.len() > 20_000, "{} bytes", png.len());
    tell(&format!("report screenshot: {}", shot.display()));
}
