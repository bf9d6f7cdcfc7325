//! The shared lock: one S3 object per [`LockKey`], written only with conditional requests, and
//! held under a lease its holder renews.
//!
//! - **Taking it** is a PutObject with `If-None-Match: *`: of any number of racing commands on
//!   any number of machines, S3 lets exactly one create the object. The others read it and are
//!   refused with its [`LockRecord`]: holder, pid, command, how long it has been held, when its
//!   lease was last renewed, and its lock id.
//! - **Renewing it** (a background task, every third of the lease) is a PutObject with
//!   `If-Match` on the ETag of the last write. When that finds the object changed or gone
//!   (someone ran `force-unlock`, or took it after that), the holder no longer has the lock: the
//!   task requests a graceful [`Stop`] and publishes a [`LockLost`]. It does the same when it
//!   cannot renew at all for as long as the lease lasts.
//! - **Releasing it** is a DeleteObject with `If-Match`, after the renewal task has finished,
//!   so a lock that became someone else's is never deleted.
//! - **A stale lease** (not renewed within its duration: the holder was killed, or its machine
//!   lost) is reported as such and never taken over automatically: a person decides, with
//!   `reroll force-unlock PATH LOCK_ID`, which deletes with `If-Match` only the lock it named.
//!
//! A request whose answer was lost (and that the SDK retried) may have been carried out: a
//! failed condition is therefore checked against the object's record, and an object carrying
//! this holder's own lock id is still this holder's.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Mutex, Notify};
use tokio::task::JoinHandle;

use super::record::{
    Clock, LockError, LockKey, LockLost, LockRecord, LostReason, Place, Refusal, Unlocked,
};
use crate::apply::Stop;
use crate::cloud::{Cloud, CloudError, ObjectRef};
use crate::stack::lock::LockUrl;

/// How many times a conditional request is tried again after the object changed under it.
const ATTEMPTS: usize = 5;

/// The object that holds the lock of `key` under `url`.
pub fn object(url: &LockUrl, key: &LockKey) -> ObjectRef {
    ObjectRef {
        bucket: url.bucket.clone(),
        key: url.object_key(&key.object_name()),
        region: url.region.clone(),
    }
}

/// A held S3 lock. Give it back with [`S3Lock::release`]; dropping it stops the renewals and
/// leaves the lease to go stale, as a killed holder would.
pub struct S3Lock {
    cloud: Arc<dyn Cloud>,
    at: ObjectRef,
    place: Place,
    region: String,
    record: LockRecord,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for S3Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Lock")
            .field("at", &self.at)
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// What the holder and its renewal task share.
struct Shared {
    /// The ETag of the last write, and the record it wrote.
    lease: Mutex<Lease>,
    cancelled: AtomicBool,
    cancel: Notify,
    lost: watch::Sender<Option<Arc<LockLost>>>,
}

struct Lease {
    etag: String,
    record: LockRecord,
}

/// What a lock needs besides where it is.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub clock: Clock,
    /// Requested when the lock is lost while held.
    pub stop: Stop,
}

/// The pieces every operation on one lock object uses.
struct Target<'a> {
    cloud: &'a dyn Cloud,
    at: ObjectRef,
    place: Place,
    key: String,
    region: String,
    stack_path: String,
}

impl<'a> Target<'a> {
    fn new(cloud: &'a dyn Cloud, url: &LockUrl, key: &LockKey, stack_path: &Path) -> Self {
        let at = object(url, key);
        Target {
            cloud,
            place: Place::Object {
                url: url.clone(),
                key: at.key.clone(),
            },
            at,
            key: key.to_string(),
            region: url
                .region
                .clone()
                .unwrap_or_else(|| cloud.region().to_string()),
            stack_path: stack_path.display().to_string(),
        }
    }

    fn error(&self, source: CloudError) -> LockError {
        LockError::Cloud {
            place: Box::new(self.place.clone()),
            region: self.region.clone(),
            source,
        }
    }

    /// The record in the object, if there is one; an object that is not a record is an error.
    async fn read(&self) -> Result<Option<(LockRecord, String)>, LockError> {
        let Some(object) = self
            .cloud
            .get_object(&self.at)
            .await
            .map_err(|e| self.error(e))?
        else {
            return Ok(None);
        };
        match LockRecord::from_json(&object.body) {
            Some(record) => Ok(Some((record, object.etag))),
            None => Err(LockError::NotALock {
                place: Box::new(self.place.clone()),
                etag: object.etag,
            }),
        }
    }
}

/// Takes the lock or says who holds it (and whether their lease looks stale).
pub async fn acquire(
    cloud: Arc<dyn Cloud>,
    url: &LockUrl,
    key: &LockKey,
    command: &str,
    stack_path: &Path,
    options: Options,
) -> Result<S3Lock, LockError> {
    let target = Target::new(&*cloud, url, key, stack_path);
    let record = LockRecord::new(command, options.clock.now(), Some(url.lease));
    let body = record.to_json();
    let mut attempts = 0;
    let etag = loop {
        attempts += 1;
        let err = match cloud
            .put_object_if_absent(&target.at, body.as_bytes())
            .await
        {
            Ok(etag) => break etag,
            Err(err) if err.is_precondition_failed() && attempts < ATTEMPTS => err,
            Err(err) => return Err(target.error(err)),
        };
        match target.read().await? {
            // Our own write, whose answer was lost and retried.
            Some((holder, etag)) if holder.id == record.id => break etag,
            Some((holder, _)) => {
                return Err(LockError::Held(Box::new(Refusal {
                    key: target.key,
                    record: holder,
                    place: target.place,
                    now: options.clock.now(),
                    stack_path: target.stack_path,
                })))
            }
            // Released between the two requests: try again.
            None => tracing::debug!(%err, "lock released while being read; trying again"),
        }
    };
    let (lost, _) = watch::channel(None);
    let shared = Arc::new(Shared {
        lease: Mutex::new(Lease {
            etag,
            record: record.clone(),
        }),
        cancelled: AtomicBool::new(false),
        cancel: Notify::new(),
        lost,
    });
    let renewal = Renewal {
        cloud: cloud.clone(),
        at: target.at.clone(),
        place: target.place.clone(),
        key: target.key.clone(),
        id: record.id.clone(),
        every: url.renew_every(),
        lease: url.lease,
        clock: options.clock,
        stop: options.stop,
        shared: shared.clone(),
    };
    let task = tokio::spawn(renewal.run());
    Ok(S3Lock {
        at: target.at,
        place: target.place,
        region: target.region,
        cloud,
        record,
        shared,
        task: Some(task),
    })
}

struct Renewal {
    cloud: Arc<dyn Cloud>,
    at: ObjectRef,
    place: Place,
    key: String,
    id: String,
    every: Duration,
    lease: Duration,
    clock: Clock,
    stop: Stop,
    shared: Arc<Shared>,
}

impl Renewal {
    async fn run(self) {
        let mut renewed_at = tokio::time::Instant::now();
        let mut wait = self.every;
        loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.shared.cancel.notified() => return,
            }
            if self.shared.cancelled.load(Ordering::SeqCst) {
                return;
            }
            match self.renew().await {
                Ok(()) => {
                    renewed_at = tokio::time::Instant::now();
                    wait = self.every;
                }
                Err(reason @ (LostReason::Removed | LostReason::Replaced(_))) => {
                    return self.lost(reason);
                }
                Err(LostReason::Unrenewable(error)) => {
                    if renewed_at.elapsed() >= self.lease {
                        return self.lost(LostReason::Unrenewable(error));
                    }
                    tracing::warn!(lock = %self.place, %error, "cannot renew the lock's lease; trying again");
                    wait = (self.every / 3).max(Duration::from_millis(100));
                }
            }
        }
    }

    /// One renewal: the record with a new renewal time, written if the object is still ours.
    async fn renew(&self) -> Result<(), LostReason> {
        let mut lease = self.shared.lease.lock().await;
        let mut record = lease.record.clone();
        record.renewed = self.clock.now();
        let body = record.to_json();
        for _ in 0..ATTEMPTS {
            let err = match self
                .cloud
                .put_object_if_match(&self.at, body.as_bytes(), &lease.etag)
                .await
            {
                Ok(etag) => {
                    lease.etag = etag;
                    lease.record = record;
                    return Ok(());
                }
                Err(err) if err.is_precondition_failed() || err.is_not_found() => err,
                Err(err) => return Err(LostReason::Unrenewable(err.to_string())),
            };
            let object = self
                .cloud
                .get_object(&self.at)
                .await
                .map_err(|e| LostReason::Unrenewable(e.to_string()))?;
            match object {
                None => return Err(LostReason::Removed),
                Some(object) => match LockRecord::from_json(&object.body) {
                    // Still ours: an earlier write went through unseen. Write on its ETag.
                    Some(holder) if holder.id == lease.record.id => lease.etag = object.etag,
                    Some(holder) => return Err(LostReason::Replaced(Box::new(holder))),
                    None => return Err(LostReason::Unrenewable(err.to_string())),
                },
            }
        }
        Err(LostReason::Unrenewable(
            "the lock object kept changing under each renewal".into(),
        ))
    }

    fn lost(&self, reason: LostReason) {
        self.stop.request();
        let lost = LockLost {
            key: self.key.clone(),
            id: self.id.clone(),
            place: self.place.clone(),
            reason,
        };
        tracing::debug!(%lost, "lock lost");
        self.shared.lost.send_replace(Some(Arc::new(lost)));
    }
}

impl Shared {
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.cancel.notify_one();
    }
}

impl S3Lock {
    pub fn record(&self) -> &LockRecord {
        &self.record
    }

    pub fn object(&self) -> &ObjectRef {
        &self.at
    }

    /// Set once the lock was lost while held.
    pub fn lost(&self) -> watch::Receiver<Option<Arc<LockLost>>> {
        self.shared.lost.subscribe()
    }

    /// Stops the renewals and deletes the lock, if it is still this holder's.
    pub async fn release(mut self) -> Result<(), LockError> {
        self.shared.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if self.shared.lost.borrow().is_some() {
            return Ok(());
        }
        let mut etag = self.shared.lease.lock().await.etag.clone();
        let error = |source| LockError::Cloud {
            place: Box::new(self.place.clone()),
            region: self.region.clone(),
            source,
        };
        for _ in 0..ATTEMPTS {
            let err = match self.cloud.delete_object_if_match(&self.at, &etag).await {
                Ok(()) => return Ok(()),
                // Deleted by an earlier attempt whose answer was lost, or by force-unlock.
                Err(err) if err.is_not_found() => return Ok(()),
                Err(err) if err.is_precondition_failed() => err,
                Err(err) => return Err(error(err)),
            };
            let object = self.cloud.get_object(&self.at).await.map_err(error)?;
            match object.and_then(|o| Some((LockRecord::from_json(&o.body)?, o.etag))) {
                Some((holder, current)) if holder.id == self.record.id => etag = current,
                other => {
                    tracing::warn!(
                        lock = %self.place,
                        now = ?other.map(|(r, _)| r.to_string()),
                        %err,
                        "the lock was no longer this command's when it finished; left as it is"
                    );
                    return Ok(());
                }
            }
        }
        Err(error(CloudError::PreconditionFailed {
            operation: "S3.DeleteObject",
            what: self.at.to_string(),
            code: None,
        }))
    }
}

impl Drop for S3Lock {
    fn drop(&mut self) {
        self.shared.cancel();
    }
}

/// Removes the lock `id` names; refuses without an id, or when the lock held has another.
/// `clock` tells whether the lease removed was still being renewed.
pub async fn force_unlock(
    cloud: &dyn Cloud,
    url: &LockUrl,
    key: &LockKey,
    id: Option<&str>,
    stack_path: &Path,
    clock: &Clock,
) -> Result<Unlocked, LockError> {
    let target = Target::new(cloud, url, key, stack_path);
    for _ in 0..ATTEMPTS {
        let Some((record, etag)) = target.read().await? else {
            return Ok(Unlocked::Nothing {
                place: target.place,
            });
        };
        let Some(given) = id else {
            return Err(LockError::IdNeeded {
                key: target.key,
                since_renewal: super::record::human(record.since_renewal(clock.now())),
                record: Box::new(record),
                stack_path: target.stack_path,
            });
        };
        if given != record.id {
            return Err(LockError::WrongId {
                key: target.key,
                given: given.into(),
                record: Box::new(record),
                stack_path: target.stack_path,
            });
        }
        match cloud.delete_object_if_match(&target.at, &etag).await {
            Ok(()) => {
                return Ok(Unlocked::Removed {
                    place: target.place,
                    live: !record.is_stale(clock.now()),
                    record: Some(Box::new(record)),
                })
            }
            Err(err) if err.is_not_found() => {
                return Ok(Unlocked::Nothing {
                    place: target.place,
                })
            }
            // Renewed between reading and deleting: read again.
            Err(err) if err.is_precondition_failed() => continue,
            Err(err) => return Err(target.error(err)),
        }
    }
    Err(target.error(CloudError::PreconditionFailed {
        operation: "S3.DeleteObject",
        what: target.at.to_string(),
        code: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::sim::{SimCloud, SimConfig};
    use crate::cloud::stats::Stats;

    fn sim() -> Arc<dyn Cloud> {
        Arc::new(SimCloud::new(SimConfig::default(), Stats::new()))
    }

    fn key() -> LockKey {
        LockKey::new("shop", "us-east-1", "123456789012")
    }

    fn url(lease: &str) -> LockUrl {
        LockUrl::parse(&format!("s3://locks/reroll?lease={lease}")).unwrap()
    }

    fn options(clock: &Clock) -> Options {
        Options {
            clock: clock.clone(),
            stop: Stop::new(),
        }
    }

    async fn take(
        cloud: &Arc<dyn Cloud>,
        url: &LockUrl,
        clock: &Clock,
    ) -> Result<S3Lock, LockError> {
        acquire(
            cloud.clone(),
            url,
            &key(),
            "reroll apply",
            Path::new("stacks/shop"),
            options(clock),
        )
        .await
    }

    async fn stored(cloud: &Arc<dyn Cloud>, url: &LockUrl) -> Option<LockRecord> {
        let object = cloud.get_object(&object(url, &key())).await.unwrap()?;
        LockRecord::from_json(&object.body)
    }

    #[tokio::test(start_paused = true)]
    async fn one_holder_at_a_time_and_the_refusal_names_it() {
        let (cloud, clock, url) = (sim(), Clock::new(), url("60s"));
        let held = take(&cloud, &url, &clock).await.unwrap();
        assert_eq!(
            object(&url, &key()).key,
            "reroll/123456789012/us-east-1/shop.lock"
        );
        assert_eq!(stored(&cloud, &url).await.as_ref(), Some(held.record()));
        tokio::time::sleep(Duration::from_secs(30)).await;
        let err = take(&cloud, &url, &clock).await.unwrap_err();
        let LockError::Held(refusal) = &err else {
            panic!("{err}")
        };
        assert_eq!(refusal.record.id, held.record().id);
        assert!(!refusal.is_stale());
        let msg = err.to_string();
        assert!(msg.contains("is locked by"), "{msg}");
        assert!(msg.contains("held for 30s"), "{msg}");
        assert!(msg.contains("renewed 10s ago (lease 1m)"), "{msg}");
        assert!(
            msg.contains(&format!(
                "reroll force-unlock stacks/shop {}",
                held.record().id
            )),
            "{msg}"
        );
        held.release().await.unwrap();
        assert_eq!(stored(&cloud, &url).await, None);
        take(&cloud, &url, &clock)
            .await
            .unwrap()
            .release()
            .await
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn the_lease_is_renewed_while_held_and_goes_stale_when_the_holder_dies() {
        let (cloud, clock, url) = (sim(), Clock::new(), url("30s"));
        let held = take(&cloud, &url, &clock).await.unwrap();
        let id = held.record().id.clone();
        // An hour later the lease is still fresh: renewed every 10 s.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        let record = stored(&cloud, &url).await.unwrap();
        assert!(
            record.since_renewal(clock.now()) <= Duration::from_secs(10),
            "{record:?}"
        );
        assert!(held.lost().borrow().is_none());
        // The holder dies (no release, no more renewals).
        drop(held);
        tokio::time::sleep(Duration::from_secs(31)).await;
        let err = take(&cloud, &url, &clock).await.unwrap_err();
        let LockError::Held(refusal) = &err else {
            panic!("{err}")
        };
        assert!(refusal.is_stale(), "{err}");
        assert!(err.to_string().contains("Its lease is stale"), "{err}");
        // Not taken over: still the dead holder's, until force-unlock names it.
        assert_eq!(stored(&cloud, &url).await.unwrap().id, id);
        let wrong = force_unlock(&*cloud, &url, &key(), Some("nope"), Path::new("p"), &clock).await;
        assert!(matches!(wrong, Err(LockError::WrongId { .. })), "{wrong:?}");
        let none = force_unlock(&*cloud, &url, &key(), None, Path::new("p"), &clock).await;
        assert!(matches!(none, Err(LockError::IdNeeded { .. })), "{none:?}");
        let done = force_unlock(&*cloud, &url, &key(), Some(&id), Path::new("p"), &clock).await;
        assert!(
            matches!(done, Ok(Unlocked::Removed { live: false, .. })),
            "{done:?}"
        );
        take(&cloud, &url, &clock).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_holder_whose_lock_is_removed_is_stopped_and_told() {
        let (cloud, clock, url) = (sim(), Clock::new(), url("30s"));
        let stop = Stop::new();
        let held = acquire(
            cloud.clone(),
            &url,
            &key(),
            "reroll apply",
            Path::new("p"),
            Options {
                clock: clock.clone(),
                stop: stop.clone(),
            },
        )
        .await
        .unwrap();
        let mut lost = held.lost();
        tokio::time::sleep(Duration::from_secs(15)).await;
        let id = held.record().id.clone();
        let removed = force_unlock(&*cloud, &url, &key(), Some(&id), Path::new("p"), &clock).await;
        assert!(
            matches!(removed, Ok(Unlocked::Removed { live: true, .. })),
            "{removed:?}"
        );
        // Someone else takes it at once.
        let other = take(&cloud, &url, &clock).await.unwrap();
        assert!(!stop.requested());
        lost.changed().await.unwrap();
        let report = lost.borrow().clone().unwrap();
        assert!(stop.requested());
        assert_eq!(report.id, id);
        assert!(matches!(&report.reason, LostReason::Replaced(r) if r.id == other.record().id));
        let text = report.to_string();
        assert!(text.contains("was taken over by"), "{text}");
        assert!(text.contains("Stopping as after Ctrl-C"), "{text}");
        // Releasing the lost lock leaves the new holder's alone.
        held.release().await.unwrap();
        assert_eq!(stored(&cloud, &url).await.unwrap().id, other.record().id);
    }

    #[tokio::test(start_paused = true)]
    async fn a_removed_lock_is_reported_as_removed() {
        let (cloud, clock, url) = (sim(), Clock::new(), url("3s"));
        let stop = Stop::new();
        let held = acquire(
            cloud.clone(),
            &url,
            &key(),
            "reroll apply",
            Path::new("p"),
            Options {
                clock: clock.clone(),
                stop: stop.clone(),
            },
        )
        .await
        .unwrap();
        let mut lost = held.lost();
        let id = held.record().id.clone();
        force_unlock(&*cloud, &url, &key(), Some(&id), Path::new("p"), &clock)
            .await
            .unwrap();
        lost.changed().await.unwrap();
        assert_eq!(lost.borrow().as_ref().unwrap().reason, LostReason::Removed);
        assert!(stop.requested());
        assert!(lost
            .borrow()
            .as_ref()
            .unwrap()
            .to_string()
            .contains("someone ran `reroll force-unlock`"));
    }

    #[tokio::test(start_paused = true)]
    async fn force_unlock_of_no_lock_and_of_something_else() {
        let (cloud, clock, url) = (sim(), Clock::new(), url("60s"));
        let r = force_unlock(&*cloud, &url, &key(), Some("x"), Path::new("p"), &clock).await;
        assert!(matches!(r, Ok(Unlocked::Nothing { .. })), "{r:?}");
        cloud
            .put_object_if_absent(&object(&url, &key()), b"hello")
            .await
            .unwrap();
        let err = take(&cloud, &url, &clock).await.unwrap_err();
        assert!(matches!(err, LockError::NotALock { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("aws s3 rm s3://locks/reroll/123456789012/us-east-1/shop.lock"),
            "{err}"
        );
    }
}
