//! `image { packer_manifest = "…"  build = "…" }`: the AMIs a Packer build made, read from the
//! output of Packer's `manifest` post-processor.
//!
//! ```json
//! { "builds": [ { "name": "app", "builder_type": "amazon-ebs", "build_time": 1767225600,
//!                 "artifact_id": "us-east-1:ami-0a1b…,eu-west-1:ami-0c2d…",
//!                 "packer_run_uuid": "6c1e…" } ],
//!   "last_run_uuid": "6c1e…" }
//! ```
//!
//! The manifest accumulates every run; only builds of `last_run_uuid` count, and exactly one
//! of them must carry the build's name. Pure: the bytes come from the load's snapshot.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::stack::PackerBuild;

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    builds: Vec<Build>,
    last_run_uuid: Option<String>,
}

#[derive(Deserialize)]
struct Build {
    #[serde(default)]
    name: String,
    #[serde(default)]
    builder_type: String,
    #[serde(default)]
    artifact_id: String,
    #[serde(default)]
    packer_run_uuid: String,
}

/// Why a manifest cannot give the build asked for: what, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub help: String,
}

fn refuse(message: String, help: impl Into<String>) -> Refusal {
    Refusal {
        message,
        help: help.into(),
    }
}

/// The build named `build` (any name when `None`) of the manifest's last run. `shown` is the
/// manifest's path as the stack wrote it.
pub fn build(bytes: &[u8], shown: &str, build: Option<&str>) -> Result<PackerBuild, Refusal> {
    let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| {
        refuse(
            format!("{shown} is not a Packer manifest: {e}"),
            "point `packer_manifest` at the file Packer's `manifest` post-processor writes \
             (`post-processor \"manifest\" { output = \"packer-manifest.json\" }`)",
        )
    })?;
    let Some(run) = manifest.last_run_uuid.filter(|r| !r.is_empty()) else {
        return Err(refuse(
            format!("{shown} has no `last_run_uuid`"),
            "run `packer build` with the `manifest` post-processor again; it records the run",
        ));
    };
    let of_run: Vec<&Build> = manifest
        .builds
        .iter()
        .filter(|b| b.packer_run_uuid == run)
        .collect();
    let matching: Vec<&Build> = of_run
        .iter()
        .copied()
        .filter(|b| build.is_none_or(|name| b.name == name))
        .collect();
    let names = |builds: &[&Build]| {
        let mut names: Vec<&str> = builds.iter().map(|b| b.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names.join(", ")
    };
    let b = match (matching.as_slice(), build) {
        ([one], _) => *one,
        ([], Some(name)) => {
            let older = manifest.builds.iter().any(|b| b.name == name);
            let message = if older {
                format!(
                    "{shown}: the last Packer run ({run}) has no build \"{name}\" (an earlier \
                     run has one)"
                )
            } else {
                format!("{shown}: no Packer build is named \"{name}\"")
            };
            let help = if of_run.is_empty() {
                "the last run recorded no builds; run `packer build` again".to_string()
            } else {
                format!(
                    "the last run built {}; set `build` to one of them, or build \"{name}\" \
                     with `packer build`",
                    names(&of_run)
                )
            };
            return Err(refuse(message, help));
        }
        ([], None) => {
            return Err(refuse(
                format!("{shown}: the last Packer run ({run}) recorded no builds"),
                "run `packer build` again",
            ))
        }
        (several, name) => {
            let what = match name {
                Some(name) => format!("builds named \"{name}\""),
                None => format!("builds ({})", names(several)),
            };
            return Err(refuse(
                format!(
                    "{shown}: the last Packer run ({run}) has {} {what}",
                    several.len()
                ),
                match name {
                    Some(_) => "give the Packer sources distinct names, so that `build` names one",
                    None => "set `build` to the name of the one to use",
                },
            ));
        }
    };
    let amis = artifacts(&b.artifact_id).ok_or_else(|| {
        refuse(
            format!(
                "{shown}: build \"{}\" ({}) made no AMI: its artifact_id is {:?}, not \
                 \"region:ami-…,…\"",
                b.name, b.builder_type, b.artifact_id
            ),
            "`build` must name an Amazon EBS build (amazon-ebs, amazon-ebssurrogate, …)",
        )
    })?;
    Ok(PackerBuild {
        manifest: shown.to_string(),
        build: b.name.clone(),
        run_uuid: run,
        amis,
    })
}

/// `us-east-1:ami-0a1b,eu-west-1:ami-0c2d` → region → AMI id; `None` unless every part is one.
fn artifacts(artifact_id: &str) -> Option<BTreeMap<String, String>> {
    let mut amis = BTreeMap::new();
    for part in artifact_id.split(',').map(str::trim) {
        let (region, ami) = part.split_once(':')?;
        if region.is_empty() || !ami.starts_with("ami-") {
            return None;
        }
        amis.insert(region.to_string(), ami.to_string());
    }
    (!amis.is_empty()).then_some(amis)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest of two runs: `old` built app and worker; `new` built app, worker twice
    /// (two sources with one name) and a docker image.
    const MANIFEST: &str = r#"{
      "builds": [
        { "name": "app", "builder_type": "amazon-ebs", "build_time": 1,
          "artifact_id": "us-east-1:ami-0old", "packer_run_uuid": "old" },
        { "name": "legacy", "builder_type": "amazon-ebs", "build_time": 1,
          "artifact_id": "us-east-1:ami-0leg", "packer_run_uuid": "old" },
        { "name": "app", "builder_type": "amazon-ebs", "build_time": 2,
          "artifact_id": "us-east-1:ami-0new,eu-west-1:ami-0neweu", "packer_run_uuid": "new" },
        { "name": "worker", "builder_type": "amazon-ebs", "build_time": 2,
          "artifact_id": "us-east-1:ami-0w1", "packer_run_uuid": "new" },
        { "name": "worker", "builder_type": "amazon-ebs", "build_time": 2,
          "artifact_id": "us-east-1:ami-0w2", "packer_run_uuid": "new" },
        { "name": "box", "builder_type": "docker", "build_time": 2,
          "artifact_id": "sha256:0123", "packer_run_uuid": "new" }
      ],
      "last_run_uuid": "new"
    }"#;

    #[test]
    fn the_build_of_the_last_run_is_picked_or_refused_with_a_reason() {
        type Amis = Result<BTreeMap<String, String>, String>;
        let ok = |pairs: &[(&str, &str)]| -> Amis {
            Ok(pairs
                .iter()
                .map(|(r, a)| (r.to_string(), a.to_string()))
                .collect())
        };
        let cases: [(&str, Option<&str>, Amis); 7] = [
            (
                MANIFEST,
                Some("app"),
                ok(&[("eu-west-1", "ami-0neweu"), ("us-east-1", "ami-0new")]),
            ),
            (
                MANIFEST,
                Some("legacy"),
                Err("m.json: the last Packer run (new) has no build \"legacy\" (an earlier run has one)".into()),
            ),
            (
                MANIFEST,
                Some("nope"),
                Err("m.json: no Packer build is named \"nope\"".into()),
            ),
            (
                MANIFEST,
                Some("worker"),
                Err("m.json: the last Packer run (new) has 2 builds named \"worker\"".into()),
            ),
            (
                MANIFEST,
                Some("box"),
                Err("m.json: build \"box\" (docker) made no AMI: its artifact_id is \"sha256:0123\", not \"region:ami-…,…\"".into()),
            ),
            (
                MANIFEST,
                None,
                Err("m.json: the last Packer run (new) has 4 builds (app, box, worker)".into()),
            ),
            (
                "{\"builds\": []}",
                Some("app"),
                Err("m.json has no `last_run_uuid`".into()),
            ),
        ];
        for (manifest, name, want) in cases {
            let got = build(manifest.as_bytes(), "m.json", name)
                .map(|b| b.amis)
                .map_err(|r| r.message);
            assert_eq!(got, want, "build {name:?}");
        }
    }

    #[test]
    fn the_only_build_needs_no_name_and_names_its_run() {
        let one = r#"{"builds": [{"name": "app", "builder_type": "amazon-ebs",
            "artifact_id": "us-east-1:ami-01", "packer_run_uuid": "r1"}],
            "last_run_uuid": "r1"}"#;
        let b = build(one.as_bytes(), "m.json", None).unwrap();
        assert_eq!(b.source(), "Packer build app, run r1");
        assert_eq!(b.amis["us-east-1"], "ami-01");
        let not_json = build(b"{", "m.json", Some("app")).unwrap_err();
        assert!(
            not_json
                .message
                .starts_with("m.json is not a Packer manifest: "),
            "{not_json:?}"
        );
    }
}
