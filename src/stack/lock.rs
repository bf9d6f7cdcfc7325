//! The stack block's `lock`: the local lock, or a shared one, which lives at
//! `s3://BUCKET[/PREFIX][?lease=DURATION&region=REGION]`.
//!
//! - `BUCKET` follows S3's naming rules (3–63 lowercase letters, digits, dots and hyphens).
//! - `PREFIX` is the folder the lock objects go in (`PREFIX/ACCOUNT/REGION/STACK.lock`).
//! - `lease` (default [`DEFAULT_LEASE`]) is how long a holder's lease lasts without renewal;
//!   the holder renews it every third of that. A lease not renewed within it is *stale*.
//! - `region` is the bucket's region, when it is not the stack's.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The lease of a holder that does not say otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// Shortest lease accepted: renewals every third of it must still fit round trips to S3.
pub const MIN_LEASE: Duration = Duration::from_secs(1);
/// Longest lease accepted: a dead holder blocks everyone for up to this long.
pub const MAX_LEASE: Duration = Duration::from_secs(3600);

/// The stack block's `lock`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockSetting {
    /// No `lock` (or `null`): the local lock.
    #[default]
    Local,
    /// `lock = "s3://…"`.
    Shared(LockUrl),
    /// It depends on a value not known yet (a variable not given to `validate`). A command
    /// that takes the lock refuses it: the lock must never fall back to another silently.
    Unknown,
}

/// A parsed `s3://` lock URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LockUrl {
    pub bucket: String,
    /// Without leading or trailing `/`; empty for the bucket's root.
    pub prefix: String,
    /// The bucket's region; `None`: the stack's.
    pub region: Option<String>,
    pub lease: Duration,
}

/// Why a lock URL is not usable. Each one says how to write it instead ([`LockUrlError::help`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LockUrlError {
    #[error("{url:?} is not a URL")]
    NotAUrl { url: String },
    #[error("lock URLs start with s3://, not {scheme}://")]
    Scheme { scheme: String },
    #[error("{url:?} names no bucket")]
    NoBucket { url: String },
    #[error("{bucket:?} is not a valid S3 bucket name: {reason}")]
    Bucket {
        bucket: String,
        reason: &'static str,
    },
    #[error("{url:?} has {part}, which a lock URL cannot have")]
    Extra { url: String, part: &'static str },
    #[error("the lock prefix {prefix:?} has an empty path segment")]
    Prefix { prefix: String },
    #[error("unknown lock URL setting `{key}`")]
    UnknownSetting { key: String },
    #[error("`lease={value}` is not a duration")]
    Lease { value: String },
    #[error("`lease={value}` is out of range")]
    LeaseRange { value: String },
    #[error("`region={value}` is not a region name")]
    Region { value: String },
}

impl LockUrlError {
    /// What to write instead.
    pub fn help(&self) -> String {
        let example = "write it as s3://BUCKET/PREFIX, e.g. \"s3://shop-locks/reroll\"";
        match self {
            LockUrlError::NotAUrl { .. }
            | LockUrlError::Scheme { .. }
            | LockUrlError::NoBucket { .. }
            | LockUrlError::Extra { .. }
            | LockUrlError::Prefix { .. } => example.to_string(),
            LockUrlError::Bucket { .. } => "bucket names have 3 to 63 lowercase letters, digits, \
                dots and hyphens, and start and end with a letter or digit"
                .to_string(),
            LockUrlError::UnknownSetting { .. } => {
                "the settings are `lease` (e.g. ?lease=60s) and `region` (e.g. ?region=eu-west-1)"
                    .to_string()
            }
            LockUrlError::Lease { .. } | LockUrlError::LeaseRange { .. } => format!(
                "a lease is a duration from {} to {}, e.g. ?lease=60s or ?lease=5m",
                humantime::format_duration(MIN_LEASE),
                humantime::format_duration(MAX_LEASE)
            ),
            LockUrlError::Region { .. } => {
                "the region of the bucket, e.g. ?region=eu-west-1".to_string()
            }
        }
    }
}

impl LockUrl {
    pub fn parse(text: &str) -> Result<LockUrl, LockUrlError> {
        let text = text.trim();
        let url = ::url::Url::parse(text).map_err(|_| match text.split_once("://") {
            Some((scheme, _)) if !scheme.eq_ignore_ascii_case("s3") => LockUrlError::Scheme {
                scheme: scheme.to_string(),
            },
            _ => LockUrlError::NotAUrl { url: text.into() },
        })?;
        if url.scheme() != "s3" {
            return Err(LockUrlError::Scheme {
                scheme: url.scheme().to_string(),
            });
        }
        let extra = |part| LockUrlError::Extra {
            url: text.into(),
            part,
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(extra("a user name"));
        }
        if url.port().is_some() {
            return Err(extra("a port"));
        }
        if url.fragment().is_some() {
            return Err(extra("a `#` fragment"));
        }
        let bucket = match url.host_str() {
            Some(b) if !b.is_empty() => b.to_string(),
            _ => return Err(LockUrlError::NoBucket { url: text.into() }),
        };
        check_bucket(&bucket)?;
        let prefix = url.path().trim_matches('/').to_string();
        if prefix.split('/').any(str::is_empty) && !prefix.is_empty() {
            return Err(LockUrlError::Prefix { prefix });
        }
        let mut lock = LockUrl {
            bucket,
            prefix,
            region: None,
            lease: DEFAULT_LEASE,
        };
        for (key, value) in url.query_pairs() {
            match &*key {
                "lease" => {
                    let lease =
                        humantime::parse_duration(&value).map_err(|_| LockUrlError::Lease {
                            value: value.to_string(),
                        })?;
                    if !(MIN_LEASE..=MAX_LEASE).contains(&lease) {
                        return Err(LockUrlError::LeaseRange {
                            value: value.to_string(),
                        });
                    }
                    lock.lease = lease;
                }
                "region" => {
                    let ok = !value.is_empty()
                        && value
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
                    if !ok {
                        return Err(LockUrlError::Region {
                            value: value.to_string(),
                        });
                    }
                    lock.region = Some(value.to_string());
                }
                other => {
                    return Err(LockUrlError::UnknownSetting { key: other.into() });
                }
            }
        }
        Ok(lock)
    }

    /// The object that locks `name` (a relative key such as `ACCOUNT/REGION/STACK.lock`).
    pub fn object_key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    /// How often a holder renews its lease: three times per lease.
    pub fn renew_every(&self) -> Duration {
        self.lease / 3
    }
}

impl std::str::FromStr for LockUrl {
    type Err = LockUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LockUrl::parse(s)
    }
}

/// The URL again, with the settings that differ from their defaults.
impl fmt::Display for LockUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}", self.bucket)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        let mut sep = '?';
        if self.lease != DEFAULT_LEASE {
            let lease = humantime::format_duration(self.lease).to_string();
            write!(f, "{sep}lease={}", lease.replace(' ', ""))?;
            sep = '&';
        }
        if let Some(region) = &self.region {
            write!(f, "{sep}region={region}")?;
        }
        Ok(())
    }
}

fn check_bucket(bucket: &str) -> Result<(), LockUrlError> {
    let bad = |reason| {
        Err(LockUrlError::Bucket {
            bucket: bucket.into(),
            reason,
        })
    };
    if !(3..=63).contains(&bucket.len()) {
        return bad("it must have 3 to 63 characters");
    }
    if !bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return bad("only lowercase letters, digits, dots and hyphens are allowed");
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !edge(bucket.chars().next()) || !edge(bucket.chars().last()) {
        return bad("it must start and end with a letter or digit");
    }
    if bucket.contains("..") {
        return bad("it cannot have two dots in a row");
    }
    if bucket.parse::<std::net::Ipv4Addr>().is_ok() {
        return bad("it cannot look like an IP address");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn urls_that_parse() {
        // (text, bucket, prefix, region, lease, displayed again)
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a str,
            Option<&'a str>,
            Duration,
            &'a str,
        );
        let cases: &[Case] = &[
            (
                "s3://shop-locks/reroll",
                "shop-locks",
                "reroll",
                None,
                DEFAULT_LEASE,
                "s3://shop-locks/reroll",
            ),
            (
                "s3://shop-locks",
                "shop-locks",
                "",
                None,
                DEFAULT_LEASE,
                "s3://shop-locks",
            ),
            (
                "s3://shop-locks/",
                "shop-locks",
                "",
                None,
                DEFAULT_LEASE,
                "s3://shop-locks",
            ),
            (
                "s3://a.b-c/x/y/",
                "a.b-c",
                "x/y",
                None,
                DEFAULT_LEASE,
                "s3://a.b-c/x/y",
            ),
            (
                "  s3://locks/ci  ",
                "locks",
                "ci",
                None,
                DEFAULT_LEASE,
                "s3://locks/ci",
            ),
            (
                "s3://locks/ci?lease=2s",
                "locks",
                "ci",
                None,
                secs(2),
                "s3://locks/ci?lease=2s",
            ),
            (
                "s3://locks/ci?lease=5m",
                "locks",
                "ci",
                None,
                secs(300),
                "s3://locks/ci?lease=5m",
            ),
            (
                "s3://locks?region=eu-west-1",
                "locks",
                "",
                Some("eu-west-1"),
                DEFAULT_LEASE,
                "s3://locks?region=eu-west-1",
            ),
            (
                "s3://locks/p?region=eu-west-1&lease=90s",
                "locks",
                "p",
                Some("eu-west-1"),
                secs(90),
                "s3://locks/p?lease=1m30s&region=eu-west-1",
            ),
            (
                "s3://locks/p?lease=1s",
                "locks",
                "p",
                None,
                MIN_LEASE,
                "s3://locks/p?lease=1s",
            ),
            (
                "s3://locks/p?lease=1h",
                "locks",
                "p",
                None,
                MAX_LEASE,
                "s3://locks/p?lease=1h",
            ),
        ];
        for (text, bucket, prefix, region, lease, shown) in cases {
            let url = LockUrl::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(url.bucket, *bucket, "{text}");
            assert_eq!(url.prefix, *prefix, "{text}");
            assert_eq!(url.region.as_deref(), *region, "{text}");
            assert_eq!(url.lease, *lease, "{text}");
            assert_eq!(url.to_string(), *shown, "{text}");
            assert_eq!(
                LockUrl::parse(&url.to_string()).as_ref(),
                Ok(&url),
                "{text} again"
            );
        }
    }

    #[test]
    fn urls_that_do_not() {
        // (text, the error's message)
        let cases: &[(&str, &str)] = &[
            ("shop-locks/reroll", "\"shop-locks/reroll\" is not a URL"),
            ("", "\"\" is not a URL"),
            ("https://shop-locks/reroll", "lock URLs start with s3://, not https://"),
            ("file:///tmp/lock", "lock URLs start with s3://, not file://"),
            ("s3://", "\"s3://\" names no bucket"),
            ("s3:shop-locks", "\"s3:shop-locks\" names no bucket"),
            ("s3://Shop_Locks/x", "\"Shop_Locks\" is not a valid S3 bucket name: only lowercase letters, digits, dots and hyphens are allowed"),
            ("s3://ab/x", "\"ab\" is not a valid S3 bucket name: it must have 3 to 63 characters"),
            ("s3://-locks/x", "\"-locks\" is not a valid S3 bucket name: it must start and end with a letter or digit"),
            ("s3://a..b/x", "\"a..b\" is not a valid S3 bucket name: it cannot have two dots in a row"),
            ("s3://10.0.0.1/x", "\"10.0.0.1\" is not a valid S3 bucket name: it cannot look like an IP address"),
            ("s3://me@locks/x", "\"s3://me@locks/x\" has a user name, which a lock URL cannot have"),
            ("s3://locks:9000/x", "\"s3://locks:9000/x\" has a port, which a lock URL cannot have"),
            ("s3://locks/x#y", "\"s3://locks/x#y\" has a `#` fragment, which a lock URL cannot have"),
            ("s3://locks/a//b", "the lock prefix \"a//b\" has an empty path segment"),
            ("s3://locks/x?ttl=5s", "unknown lock URL setting `ttl`"),
            ("s3://locks/x?lease=soon", "`lease=soon` is not a duration"),
            ("s3://locks/x?lease=500ms", "`lease=500ms` is out of range"),
            ("s3://locks/x?lease=2h", "`lease=2h` is out of range"),
            ("s3://locks/x?region=", "`region=` is not a region name"),
            ("s3://locks/x?region=EU", "`region=EU` is not a region name"),
        ];
        for (text, message) in cases {
            let err = LockUrl::parse(text).expect_err(text);
            assert_eq!(err.to_string(), *message, "{text}");
            assert!(!err.help().is_empty(), "{text}");
        }
    }

    #[test]
    fn object_keys_and_renewal() {
        let url = LockUrl::parse("s3://locks/team/ci?lease=30s").unwrap();
        assert_eq!(
            url.object_key("1/us-east-1/shop.lock"),
            "team/ci/1/us-east-1/shop.lock"
        );
        assert_eq!(url.renew_every(), secs(10));
        let root = LockUrl::parse("s3://locks").unwrap();
        assert_eq!(
            root.object_key("1/us-east-1/shop.lock"),
            "1/us-east-1/shop.lock"
        );
    }
}
