//! What a lock is keyed on and records, its clock, and why a lock is refused or lost: the
//! parts the local and the S3 lock share.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::cloud::CloudError;
use crate::stack::lock::LockUrl;

/// What one lock excludes: applies of one stack to one region of one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockKey {
    pub stack: String,
    pub region: String,
    /// The AWS account id, as the cloud reports it for the credentials in use.
    pub account: String,
    /// For a simulated account: the canonical path of the file it is kept in.
    pub sim_state: Option<PathBuf>,
    /// Behind an endpoint override: where the endpoint is ([`endpoint_identity`]).
    pub endpoint: Option<String>,
}

impl LockKey {
    pub fn new(stack: &str, region: &str, account: &str) -> LockKey {
        LockKey {
            stack: stack.into(),
            region: region.into(),
            account: account.into(),
            sim_state: None,
            endpoint: None,
        }
    }

    /// The lock of the account behind an endpoint override, given its [`endpoint_identity`].
    pub fn at_endpoint(mut self, identity: String) -> LockKey {
        self.endpoint = Some(identity);
        self
    }

    /// The lock of a simulated account kept in `state` (made absolute, links resolved, so
    /// that every spelling of the path is one lock).
    pub fn simulated(mut self, state: &std::path::Path) -> LockKey {
        self.sim_state = Some(canonical(state));
        self
    }

    /// The name of the lock object under the URL's prefix: `ACCOUNT/REGION/STACK.lock`.
    pub fn object_name(&self) -> String {
        let mut name = format!("{}/{}/{}", self.account, self.region, self.stack);
        if let Some(state) = &self.sim_state {
            name.push_str(&format!("-sim-{}", short_hash(&state.to_string_lossy())));
        }
        name.push_str(".lock");
        name
    }
}

impl fmt::Display for LockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stack \"{}\" in {} of account {}",
            self.stack, self.region, self.account
        )?;
        if let Some(state) = &self.sim_state {
            write!(f, " (simulated in {})", state.display())?;
        }
        if let Some(endpoint) = &self.endpoint {
            write!(f, " at endpoint {endpoint}")?;
        }
        Ok(())
    }
}

/// Where an endpoint override is, whatever its spelling: `loopback:PORT` for one on this
/// machine (`localhost`, `127.0.0.1`, `[::1]`), else its lowercase host name and port.
/// Resolving a name only tells whether it is this machine: remote names are kept as written,
/// since their addresses may rotate.
pub async fn endpoint_identity(endpoint: &str) -> String {
    let Ok(url) = ::url::Url::parse(endpoint.trim()) else {
        return endpoint.trim().to_ascii_lowercase();
    };
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let port = url.port_or_known_default().unwrap_or(0);
    let loopback = match tokio::net::lookup_host((host.as_str(), port)).await {
        Ok(addrs) => {
            let ips: Vec<std::net::IpAddr> = addrs.map(|a| a.ip()).collect();
            !ips.is_empty() && ips.iter().all(|ip| ip.is_loopback())
        }
        Err(_) => false,
    };
    if loopback {
        format!("loopback:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// An absolute path with links resolved as far as it exists (a file not created yet keeps
/// its name under its resolved directory).
fn canonical(path: &std::path::Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir)
            .map(|d| d.join(name))
            .unwrap_or(absolute),
        _ => absolute,
    }
}

pub(crate) fn short_hash(text: &str) -> String {
    hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes())[..4])
}

/// Who holds a lock, as stored in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    /// Random, new for every acquisition: what `force-unlock` must name.
    pub id: String,
    /// `user@host`.
    pub holder: String,
    pub host: String,
    pub pid: u32,
    pub command: String,
    #[serde(with = "rfc3339")]
    pub started: SystemTime,
    /// When the lease was last renewed (the start, for a lock without a lease).
    #[serde(with = "rfc3339")]
    pub renewed: SystemTime,
    /// How long the lease lasts without renewal; absent for the local lock, which has none.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "seconds",
        rename = "lease_seconds"
    )]
    pub lease: Option<Duration>,
}

impl LockRecord {
    /// A record for this process, started now.
    pub fn new(command: &str, now: SystemTime, lease: Option<Duration>) -> LockRecord {
        let host = host_name();
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown".into());
        LockRecord {
            id: uuid::Uuid::new_v4().to_string(),
            holder: format!("{user}@{host}"),
            host,
            pid: std::process::id(),
            command: command.into(),
            started: now,
            renewed: now,
            lease,
        }
    }

    /// How long the lock has been held.
    pub fn held_for(&self, now: SystemTime) -> Duration {
        now.duration_since(self.started).unwrap_or_default()
    }

    /// How long ago the lease was last renewed.
    pub fn since_renewal(&self, now: SystemTime) -> Duration {
        now.duration_since(self.renewed).unwrap_or_default()
    }

    /// Not renewed within its lease: the holder most likely died without releasing it.
    pub fn is_stale(&self, now: SystemTime) -> bool {
        self.lease
            .is_some_and(|lease| self.since_renewal(now) > lease)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a lock record serializes")
    }

    pub fn from_json(text: &[u8]) -> Option<LockRecord> {
        serde_json::from_slice(text).ok()
    }
}

/// `alice@ci-7 (pid 4242, `reroll apply`, since 2026-05-01T10:00:00Z)`
impl fmt::Display for LockRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (pid {}, `{}`, since {})",
            self.holder,
            self.pid,
            self.command,
            humantime::format_rfc3339_seconds(self.started)
        )
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// `2m 10s`: whole seconds.
pub fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_millis(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_rfc3339_weak(&text).map_err(serde::de::Error::custom)
    }
}

mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<f64>::deserialize(d)?
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64))
    }
}

/// The time a lock records and judges leases by: the system time when it was made, moved on
/// by tokio's clock. On a real clock that is the system time; on a paused test clock it moves
/// with simulated time, so lease renewals and staleness can be tested in moments.
#[derive(Clone)]
pub struct Clock {
    system: SystemTime,
    start: tokio::time::Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            system: SystemTime::now(),
            start: tokio::time::Instant::now(),
        }
    }

    /// Now, to the millisecond (as records store it).
    pub fn now(&self) -> SystemTime {
        let now = self.system + self.start.elapsed();
        let since = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        SystemTime::UNIX_EPOCH + Duration::from_millis(since.as_millis() as u64)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock({})", humantime::format_rfc3339_millis(self.now()))
    }
}

/// Where a lock is kept, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    File(PathBuf),
    Object { url: LockUrl, key: String },
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::File(path) => write!(f, "{}", path.display()),
            Place::Object { url, key } => write!(f, "s3://{}/{key}", url.bucket),
        }
    }
}

/// A command refused because another holds the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub key: String,
    pub record: LockRecord,
    pub place: Place,
    /// When the refusal was decided, to tell ages from.
    pub now: SystemTime,
    /// The stack path to give `force-unlock`.
    pub stack_path: String,
}

impl Refusal {
    pub fn is_stale(&self) -> bool {
        self.record.is_stale(self.now)
    }

    fn force_unlock(&self) -> String {
        format!("reroll force-unlock {} {}", self.stack_path, self.record.id)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.record;
        write!(
            f,
            "{} is locked by {}, held for {}, lock id {}",
            self.key,
            r,
            human(r.held_for(self.now)),
            r.id
        )?;
        match (&self.place, r.lease) {
            (Place::File(path), _) => write!(
                f,
                ", in {}.\nWait for it to finish. That lock is held by a live process on this \
                 machine and goes when the process exits, even by kill -9: if it hangs, stop it \
                 (kill {}). `reroll force-unlock` refuses while it runs.",
                path.display(),
                r.pid
            ),
            (Place::Object { .. }, Some(lease)) if self.is_stale() => write!(
                f,
                ".\nIts lease is stale: last renewed {} ago, longer than its {} lease, so the \
                 holder has most likely died (killed, or its machine lost) without releasing \
                 the lock. reroll does not take over a stale lock by itself. If that command is \
                 gone, remove the lock with:\n  {}\nthen look at `reroll status {}` before \
                 applying again: it may have stopped part-way.",
                human(r.since_renewal(self.now)),
                human(lease),
                self.force_unlock(),
                self.stack_path
            ),
            (Place::Object { .. }, lease) => write!(
                f,
                "; its lease was renewed {} ago (lease {}), so the holder is running.\nWait for \
                 it to finish. If it is gone for good, remove the lock with:\n  {}",
                human(r.since_renewal(self.now)),
                lease.map_or_else(|| "unknown".into(), human),
                self.force_unlock()
            ),
        }
    }
}

/// Why a held lock is no longer this command's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LostReason {
    /// The lock object is gone: someone ran `force-unlock`.
    Removed,
    /// Another holder's lock is there now.
    Replaced(Box<LockRecord>),
    /// The lease could not be renewed for as long as it lasts; others may see it as stale.
    Unrenewable(String),
}

/// A held lock that was lost while its command ran. The command was asked to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockLost {
    pub key: String,
    pub id: String,
    pub place: Place,
    pub reason: LostReason,
}

impl fmt::Display for LockLost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.reason {
            LostReason::Removed => format!(
                "the lock of {} (lock id {}) was removed from {} while this command held it \
                 (someone ran `reroll force-unlock`)",
                self.key, self.id, self.place
            ),
            LostReason::Replaced(other) => format!(
                "the lock of {} (lock id {}) in {} was taken over by {} (lock id {}) while \
                 this command held it",
                self.key, self.id, self.place, other, other.id
            ),
            LostReason::Unrenewable(error) => format!(
                "the lease on the lock of {} (lock id {}) in {} could not be renewed for as long \
                 as it lasts ({error}), so another command may be given the lock",
                self.key, self.id, self.place
            ),
        };
        write!(
            f,
            "{what}. Stopping as after Ctrl-C: nothing new is started and the step in flight \
             finishes. Another apply may be running now: look at `reroll status` before applying \
             again."
        )
    }
}

/// What `force-unlock` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlocked {
    /// There was no lock.
    Nothing { place: Place },
    /// The lock was removed; it had this record.
    Removed {
        place: Place,
        record: Option<Box<LockRecord>>,
        /// Its lease was still being renewed: the holder will notice and stop.
        live: bool,
    },
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    #[error("{0}")]
    Held(Box<Refusal>),
    #[error(
        "{key} is locked by {record}, lock id {}; it is held by a live process on this \
         machine, so it is not removed. It goes when that process exits: stop it (kill {}) if \
         it hangs.", record.id, record.pid
    )]
    LiveHolder {
        key: String,
        record: Box<LockRecord>,
    },
    #[error(
        "lock id {given} is not the lock of {key}: that is {}, held by {record}. Check that \
         it is the one to remove, then run `reroll force-unlock {stack_path} {}`",
        record.id, record.id
    )]
    WrongId {
        key: String,
        given: String,
        record: Box<LockRecord>,
        stack_path: String,
    },
    #[error(
        "removing the shared lock of {key} needs its id: it is held by {record}, lock id {}, \
         lease renewed {since_renewal} ago. If that command is gone, run `reroll force-unlock \
         {stack_path} {}`", record.id, record.id
    )]
    IdNeeded {
        key: String,
        record: Box<LockRecord>,
        since_renewal: String,
        stack_path: String,
    },
    #[error(
        "{place} holds something that is not a reroll lock (ETag {etag}); if nothing else uses \
         it, delete it by hand (`aws s3 rm {place}`)"
    )]
    NotALock { place: Box<Place>, etag: String },
    #[error("cannot use the lock file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot use the lock {place}: {source}. Check that the bucket exists (in region \
         {region}; add ?region=… to the lock URL if it is elsewhere) and that the credentials \
         may s3:GetObject, s3:PutObject and s3:DeleteObject on it"
    )]
    Cloud {
        place: Box<Place>,
        region: String,
        source: CloudError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::lock::LockSetting;

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
    }

    fn record(started: u64, renewed: u64, lease: Option<u64>) -> LockRecord {
        LockRecord {
            id: "0b6f2d1e-5c3a-4e8f-9a7b-1c2d3e4f5a6b".into(),
            holder: "alice@ci-7".into(),
            host: "ci-7".into(),
            pid: 4242,
            command: "reroll apply".into(),
            started: at(started),
            renewed: at(renewed),
            lease: lease.map(Duration::from_secs),
        }
    }

    #[test]
    fn staleness_and_ages() {
        // (started, renewed, lease, now, held for, since renewal, stale)
        type Case = (u64, u64, Option<u64>, u64, u64, u64, bool);
        let cases: &[Case] = &[
            (0, 0, Some(60), 0, 0, 0, false),
            (0, 40, Some(60), 100, 100, 60, false),
            (0, 40, Some(60), 101, 101, 61, true),
            (0, 0, Some(2), 3, 3, 3, true),
            (0, 0, None, 100_000, 100_000, 100_000, false),
            // A clock behind the holder's: no negative ages, not stale.
            (50, 50, Some(60), 10, 0, 0, false),
        ];
        for &(started, renewed, lease, now, held, since, stale) in cases {
            let r = record(started, renewed, lease);
            let label = format!("{started} {renewed} {lease:?} at {now}");
            assert_eq!(r.held_for(at(now)), Duration::from_secs(held), "{label}");
            assert_eq!(
                r.since_renewal(at(now)),
                Duration::from_secs(since),
                "{label}"
            );
            assert_eq!(r.is_stale(at(now)), stale, "{label}");
        }
    }

    #[test]
    fn records_round_trip_through_json() {
        for r in [record(0, 30, Some(60)), record(0, 0, None)] {
            let json = r.to_json();
            assert_eq!(
                LockRecord::from_json(json.as_bytes()),
                Some(r.clone()),
                "{json}"
            );
        }
        let json = record(0, 30, Some(60)).to_json();
        for field in [
            "\"id\": \"0b6f2d1e-5c3a-4e8f-9a7b-1c2d3e4f5a6b\"",
            "\"holder\": \"alice@ci-7\"",
            "\"host\": \"ci-7\"",
            "\"pid\": 4242",
            "\"command\": \"reroll apply\"",
            "\"started\": \"2027-01-15T08:00:00.000Z\"",
            "\"renewed\": \"2027-01-15T08:00:30.000Z\"",
            "\"lease_seconds\": 60.0",
        ] {
            assert!(json.contains(field), "{field} in {json}");
        }
        assert!(!record(0, 0, None).to_json().contains("lease"));
        // Not a record: read as nothing, never as a made-up holder.
        for junk in ["", "{}", "[1]", "{\"id\": 5}", "not json"] {
            assert_eq!(LockRecord::from_json(junk.as_bytes()), None, "{junk}");
        }
    }

    #[test]
    fn new_records_name_this_process_and_differ_in_id() {
        let a = LockRecord::new("reroll apply", at(0), Some(Duration::from_secs(60)));
        let b = LockRecord::new("reroll apply", at(0), Some(Duration::from_secs(60)));
        assert_ne!(a.id, b.id);
        assert_eq!(a.pid, std::process::id());
        assert!(a.holder.ends_with(&format!("@{}", a.host)), "{}", a.holder);
        assert_eq!(
            uuid::Uuid::parse_str(&a.id).map(|u| u.get_version_num()),
            Ok(4)
        );
    }

    #[tokio::test]
    async fn endpoints_are_known_by_where_they_are() {
        // (endpoint, identity)
        let cases: &[(&str, &str)] = &[
            ("http://localhost:4566", "loopback:4566"),
            ("http://127.0.0.1:4566", "loopback:4566"),
            ("http://127.0.0.1:4566/", "loopback:4566"),
            ("HTTP://LOCALHOST:4566", "loopback:4566"),
            ("http://[::1]:4566", "loopback:4566"),
            ("http://127.0.0.2:4566", "loopback:4566"),
            ("http://localhost:4567", "loopback:4567"),
            ("http://localhost", "loopback:80"),
            ("https://s3.example.invalid", "s3.example.invalid:443"),
            (
                "https://S3.Example.invalid.:8443",
                "s3.example.invalid:8443",
            ),
            ("not a url", "not a url"),
        ];
        for (endpoint, identity) in cases {
            assert_eq!(&endpoint_identity(endpoint).await, identity, "{endpoint}");
        }
    }

    #[test]
    fn keys_are_the_stack_region_and_account() {
        let key = LockKey::new("shop", "us-east-1", "123456789012");
        assert_eq!(key.object_name(), "123456789012/us-east-1/shop.lock");
        assert_eq!(
            key.to_string(),
            "stack \"shop\" in us-east-1 of account 123456789012"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        // Two spellings of one state file are one key; another file is another key.
        let a = key.clone().simulated(&dir.path().join("state.json"));
        let b = key.clone().simulated(&dir.path().join("sub/../state.json"));
        let c = key.clone().simulated(&dir.path().join("other.json"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a
            .object_name()
            .starts_with("123456789012/us-east-1/shop-sim-"));
        let emulator = key.clone().at_endpoint("loopback:4566".into());
        assert_ne!(emulator, key);
        assert!(emulator.to_string().ends_with(" at endpoint loopback:4566"));
    }

    #[test]
    fn the_stack_blocks_lock_setting() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("main.hcl"),
            "stack \"shop\" {\n  lock = var.lock\n}\nvariable \"lock\" {}\n",
        )
        .unwrap();
        let setting = |value: Option<&str>, allow_missing: bool| {
            let inputs = crate::load::Inputs {
                cli: value
                    .map(|v| ("lock".to_string(), v.to_string()))
                    .into_iter()
                    .collect(),
                allow_missing,
                ..Default::default()
            };
            crate::load::load(dir.path(), &inputs)
                .map(|(_, stack)| stack.lock)
                .ok()
        };
        let url = LockUrl::parse("s3://locks/reroll").unwrap();
        assert_eq!(
            setting(Some("s3://locks/reroll"), false),
            Some(LockSetting::Shared(url))
        );
        // A variable with no value: unknown, never the local lock in disguise.
        assert_eq!(setting(None, true), Some(LockSetting::Unknown));
        assert_eq!(setting(None, false), None);
        assert_eq!(setting(Some("s3://Bad_Bucket"), false), None);
        std::fs::write(dir.path().join("main.hcl"), "stack \"shop\" {}\n").unwrap();
        assert_eq!(setting(None, false), Some(LockSetting::Local));
    }

    fn refusal(place: Place, record: LockRecord, now: u64) -> String {
        Refusal {
            key: LockKey::new("shop", "us-east-1", "123456789012").to_string(),
            record,
            place,
            now: at(now),
            stack_path: "stacks/shop".into(),
        }
        .to_string()
    }

    #[test]
    fn refusals_name_the_holder_the_age_and_the_id() {
        let object = Place::Object {
            url: LockUrl::parse("s3://locks/reroll").unwrap(),
            key: "reroll/123456789012/us-east-1/shop.lock".into(),
        };
        let live = refusal(object.clone(), record(0, 95, Some(60)), 100);
        assert_eq!(
            live,
            "stack \"shop\" in us-east-1 of account 123456789012 is locked by alice@ci-7 \
             (pid 4242, `reroll apply`, since 2027-01-15T08:00:00Z), held for 1m 40s, lock id \
             0b6f2d1e-5c3a-4e8f-9a7b-1c2d3e4f5a6b; its lease was renewed 5s ago (lease 1m), so \
             the holder is running.\nWait for it to finish. If it is gone for good, remove the \
             lock with:\n  reroll force-unlock stacks/shop 0b6f2d1e-5c3a-4e8f-9a7b-1c2d3e4f5a6b"
        );
        let stale = refusal(object, record(0, 10, Some(60)), 200);
        assert!(
            stale.contains("Its lease is stale: last renewed 3m 10s ago, longer than its 1m lease"),
            "{stale}"
        );
        assert!(
            stale.contains("reroll does not take over a stale lock by itself"),
            "{stale}"
        );
        assert!(
            stale.contains(
                "\n  reroll force-unlock stacks/shop 0b6f2d1e-5c3a-4e8f-9a7b-1c2d3e4f5a6b\n"
            ),
            "{stale}"
        );
        let local = refusal(
            Place::File(".reroll/shop.lock".into()),
            record(0, 0, None),
            12,
        );
        assert!(
            local.contains("is locked by alice@ci-7 (pid 4242"),
            "{local}"
        );
        assert!(local.contains("held for 12s, lock id 0b6f2d1e"), "{local}");
        assert!(local.contains("(kill 4242)"), "{local}");
        assert!(!local.contains("stale"), "{local}");
    }
}
