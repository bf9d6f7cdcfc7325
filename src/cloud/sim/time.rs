//! Simulated time: milliseconds since the simulation's epoch, and the wall-clock time it
//! stands for.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Simulated time: milliseconds since the simulation's epoch.
pub type Ms = u64;

pub(super) const SECOND: Ms = 1000;

/// The wall-clock date the simulation's epoch stands for (2026-01-01T00:00:00Z), for launch
/// times and image creation dates.
const EPOCH_UNIX_SECONDS: u64 = 1_767_225_600;

pub fn seconds(s: f64) -> Ms {
    (s.max(0.0) * 1000.0).round() as Ms
}

/// The wall-clock time a simulated time stands for (launch times).
pub fn wall_time(t: Ms) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(EPOCH_UNIX_SECONDS) + Duration::from_millis(t)
}

/// The simulated time a wall-clock time stands for (0 for anything before the epoch).
pub fn sim_time(at: SystemTime) -> Ms {
    at.duration_since(UNIX_EPOCH + Duration::from_secs(EPOCH_UNIX_SECONDS))
        .map_or(0, |d| d.as_millis() as Ms)
}
