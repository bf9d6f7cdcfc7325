//! Saved worlds: the `--sim-state` format (see the module documentation of `cloud::sim`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::simcloud::SimCloud;
use super::time::Ms;
use super::world::World;
use crate::cloud::stats::Stats;

const SAVE_FORMAT: u32 = 1;

#[derive(Serialize)]
struct SavedRef<'a> {
    format: u32,
    now_ms: Ms,
    world: &'a World,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    format: u32,
    now_ms: Ms,
    world: World,
}

impl SimCloud {
    /// The world as JSON (see the module documentation for the format).
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out).expect("the world serializes");
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    /// Writes the world as JSON without copying it first.
    fn write_json(&self, out: impl std::io::Write) -> std::io::Result<()> {
        let t = self.now_ms();
        self.timed(|| {
            let mut w = self.lock();
            w.settle(t);
            let saved = SavedRef {
                format: SAVE_FORMAT,
                now_ms: t,
                world: &w,
            };
            serde_json::to_writer_pretty(out, &saved).map_err(std::io::Error::from)
        })
    }

    /// A world saved by [`SimCloud::to_json`], continuing from the moment it was saved.
    pub fn from_json(json: &str, stats: Stats) -> std::io::Result<SimCloud> {
        let started = super::simcloud::thread_cpu();
        let saved: Saved = super::memory::in_simulator(|| serde_json::from_str(json))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if saved.format != SAVE_FORMAT {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "saved world has format {}, expected {SAVE_FORMAT}",
                    saved.format
                ),
            ));
        }
        consistent(&saved.world)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let sim = Self::with_world(saved.world, saved.now_ms, stats);
        *sim.busy.lock().unwrap_or_else(|e| e.into_inner()) +=
            super::simcloud::thread_cpu() - started;
        Ok(sim)
    }

    /// Writes the world to `path` as JSON.
    pub fn save(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        self.write_json(&mut file)?;
        std::io::Write::flush(&mut file)
    }

    /// Reads a world written by [`SimCloud::save`].
    pub fn load(path: impl AsRef<Path>, stats: Stats) -> std::io::Result<SimCloud> {
        let json = super::memory::in_simulator(|| std::fs::read_to_string(path))?;
        Self::from_json(&json, stats)
    }
}

/// What the simulator takes for granted of a world: every resource filed under its own id,
/// every instance's group present. A file edited by hand (or damaged) that breaks it is
/// refused when loaded, with what is wrong, rather than failing later mid-command.
fn consistent(world: &World) -> Result<(), String> {
    let misfiled = |kind: &str, key: &str, id: &str| {
        format!("saved world files {kind} {id:?} under {key:?}; each must be under its own id")
    };
    for (key, i) in &world.instances {
        if *key != i.id {
            return Err(misfiled("instance", key, &i.id));
        }
        if let Some(g) = i.group.as_ref().filter(|g| !world.groups.contains_key(*g)) {
            return Err(format!(
                "saved world has instance {key} in group {g:?}, which it does not hold"
            ));
        }
    }
    for (key, g) in &world.groups {
        if *key != g.spec.name {
            return Err(misfiled("group", key, &g.spec.name));
        }
    }
    for (key, tg) in &world.target_groups {
        if *key != tg.arn {
            return Err(misfiled("target group", key, &tg.arn));
        }
    }
    for (key, l) in &world.listeners {
        if *key != l.arn {
            return Err(misfiled("listener", key, &l.arn));
        }
    }
    Ok(())
}
