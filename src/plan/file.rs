//! Saved plans (`plan --out FILE`, `apply FILE`).
//!
//! A saved plan records what is needed to prove, at apply time, that applying it does exactly
//! what was shown: the stack's path and a digest of its files, the variable values (sensitive
//! ones only as digests: they must be given again), the region, the digest of the observed
//! state, and the plan itself. Apply reloads, re-observes and re-plans; any difference refuses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::types::{Plan, FORMAT_VERSION};

/// Marks the file as a reroll plan (and not, say, a stack file given by mistake).
pub const MAGIC: &str = "reroll-plan";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub kind: String,
    pub format_version: u32,
    pub stack_path: PathBuf,
    pub sources_digest: String,
    pub region: String,
    /// Non-sensitive variable values.
    pub variables: BTreeMap<String, serde_json::Value>,
    /// Sensitive variables: sha256 of their value.
    pub sensitive_digests: BTreeMap<String, String>,
    pub force: bool,
    pub plan: Plan,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("cannot read plan file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write plan file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a reroll plan file ({reason})")]
    NotAPlan { path: PathBuf, reason: String },
    #[error("{path} was written by a reroll with plan format {found}; this one reads format {expected}: run `reroll plan` again")]
    Version {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
}

impl SavedPlan {
    pub fn write(&self, path: &Path) -> Result<(), PlanFileError> {
        let json = serde_json::to_vec_pretty(self).expect("plan serializes");
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, json)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|source| PlanFileError::Write {
                path: path.to_path_buf(),
                source,
            })
    }

    pub fn read(path: &Path) -> Result<SavedPlan, PlanFileError> {
        let bytes = std::fs::read(path).map_err(|source| PlanFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| PlanFileError::NotAPlan {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        if value.get("kind").and_then(|k| k.as_str()) != Some(MAGIC) {
            return Err(PlanFileError::NotAPlan {
                path: path.to_path_buf(),
                reason: "no reroll-plan marker".into(),
            });
        }
        let found = value
            .get("format_version")
            .and_then(|v| v.as_u64())
            .unwrap_or(0) as u32;
        if found != FORMAT_VERSION {
            return Err(PlanFileError::Version {
                path: path.to_path_buf(),
                found,
                expected: FORMAT_VERSION,
            });
        }
        serde_json::from_value(value).map_err(|e| PlanFileError::NotAPlan {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// True when `path` looks like a saved plan rather than a stack.
    pub fn is_plan_file(path: &Path) -> bool {
        path.is_file()
            && path.extension().is_none_or(|e| e != "hcl")
            && std::fs::read(path)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(|k| k == MAGIC))
                .unwrap_or(false)
    }
}

/// A digest of everything the stack's evaluation read: its own files (modules included) and
/// the files its functions read, with their contents. `-var-file`s are left out: their values
/// are saved with the plan. Each file is named relative to the stack's directory, so the
/// digest does not depend on how the stack's path was spelled (`.`, relative, absolute).
pub fn sources_digest(parsed: &crate::load::Parsed, var_files: &[PathBuf]) -> String {
    use crate::load::snapshot::Entry;
    let canonical = |p: &Path| {
        std::fs::canonicalize(p)
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let root = canonical(&parsed.root.dir);
    let name = |p: &Path| {
        let p = canonical(p);
        p.strip_prefix(&root)
            .map(Path::to_path_buf)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    };
    let skip: Vec<PathBuf> = var_files.iter().map(|p| canonical(p)).collect();
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for f in parsed.sources.iter() {
        files.insert(
            format!("source {}", name(&f.path)),
            f.text.as_bytes().to_vec(),
        );
    }
    for (path, entry) in parsed.files.files() {
        if skip.contains(&canonical(&path)) {
            continue;
        }
        let content = match entry {
            Entry::File(bytes) => bytes.to_vec(),
            Entry::Directory => b"(directory)".to_vec(),
            Entry::Missing => b"(missing)".to_vec(),
            Entry::Error(e) => format!("(unreadable: {e})").into_bytes(),
        };
        files.insert(format!("read {}", name(&path)), content);
    }
    let mut h = Sha256::new();
    for (name, content) in &files {
        h.update(format!("{name}:{}\n", content.len()).as_bytes());
        h.update(content);
        h.update([0]);
    }
    hex::encode(h.finalize())
}

pub fn value_digest(v: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(v.to_string().as_bytes()))
}
