//! The benchmark at a tiny size, without the emulator: every simulated part runs, prints its
//! table, and draws the picture.
//!
//! The benchmark runs the `reroll` binary built beside it: the workspace's `cargo test` builds
//! both (alone, `cargo test -p reroll-bench` uses the `reroll` binary last built).

use std::process::Command;

#[test]
fn the_benchmark_runs_at_a_tiny_size() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("rollout.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_reroll-bench"))
        .args([
            "--instances",
            "40",
            "--plan-groups",
            "2",
            "--rollout-groups",
            "2",
            "--small-instances",
            "20",
            "--small-groups",
            "1",
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
        "## b′. Rollout makespan: 20 instances",
        "## b″. Rollout makespan: 40 instances at AWS's default health checks",
        "## b‴. Rollout makespan: 20 instances at AWS's default health checks",
        "## c. Engine cost",
        "## d. The picture",
        "## e. Restore into an empty region: 40 instances",
    ] {
        assert!(stdout.contains(heading), "{heading} missing:\n{stdout}");
    }
    assert!(stdout.contains("| EC2.DescribeInstances | 1 |"), "{stdout}");
    // Every case finished, and the rollout with no unavailable capacity never dipped.
    let row = |start: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no row {start:?}:\n{stdout}"))
    };
    assert!(
        row("| reroll: max_surge 10%, max_unavailable 0 | 100% |").contains(" | 40 (100.0%) |"),
        "{stdout}"
    );
    assert!(
        row("| model of EC2 instance refresh: MinHealthyPercentage 100, MaxHealthyPercentage 110")
            .contains(" | 40 (100.0%) |"),
        "{stdout}"
    );
    // Six peers in each section with the fast checks, none at AWS's defaults.
    assert_eq!(stdout.matches("| model of ").count(), 12, "{stdout}");
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg"), "{picture}");
    assert_eq!(picture.matches("<polyline").count(), 4);
}
