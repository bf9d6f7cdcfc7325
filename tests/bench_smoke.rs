//! The benchmark at a tiny size, without the emulator: every simulated part runs, prints its
//! table, and draws the picture.
//!
//! The benchmark is the workspace member `bench/` (package `reroll-bench`), which `cargo test`
//! here does not build: the test builds it into the same target directory, beside the `reroll`
//! binary it runs.

use std::path::PathBuf;

use assert_cmd::Command;

/// Builds `reroll-bench` with the profile this test was built with; returns its path.
fn bench_binary() -> PathBuf {
    // target/<profile>/deps/bench_smoke-<hash>
    let me = std::env::current_exe().unwrap();
    let profile_dir = me.parent().and_then(|deps| deps.parent()).unwrap();
    let mut build = std::process::Command::new(env!("CARGO"));
    build.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "build",
        "--quiet",
        "-p",
        "reroll-bench",
        "--bin",
        "reroll-bench",
    ]);
    if profile_dir
        .file_name()
        .is_some_and(|name| name == "release")
    {
        build.arg("--release");
    }
    let status = build.status().unwrap();
    assert!(status.success(), "cargo build -p reroll-bench: {status}");
    profile_dir.join(format!("reroll-bench{}", std::env::consts::EXE_SUFFIX))
}

#[test]
fn the_benchmark_runs_at_a_tiny_size() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("rollout.svg");
    let out = Command::new(bench_binary())
        .args([
            "--instances",
            "40",
            "--plan-groups",
            "2",
            "--rollout-groups",
            "2",
            "--no-emulator",
            "--runs",
            "1",
            "--svg",
        ])
        .arg(&svg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for heading in [
        "## a. Plan at scale",
        "## b. Rollout makespan: 40 instances",
        "## c. Engine cost",
        "## d. The picture",
    ] {
        assert!(stdout.contains(heading), "{heading} missing:\n{stdout}");
    }
    assert!(stdout.contains("| EC2.DescribeInstances | 1 |"), "{stdout}");
    // Every case finished, and the rollout with no unavailable capacity never dipped.
    assert_eq!(stdout.matches(" | 40 (100.0%) |").count(), 1, "{stdout}");
    assert!(stdout.contains("model of EC2 instance refresh"), "{stdout}");
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg"), "{picture}");
    assert_eq!(picture.matches("<polyline").count(), 4);
}
