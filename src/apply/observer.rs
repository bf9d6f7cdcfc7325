//! One observation per stack per round. Every rollout of an apply reads the account through
//! one [`Observer`]: it lists the generations in flight by name (DescribeAutoScalingGroups,
//! up to 100 names a call) and reads the target health of their target groups once each,
//! for all the rollouts at once, however many groups roll side by side.
//!
//! A rollout asks for a look no older than a moment it names (after its own last write, and
//! no earlier than the time it meant to look): a look already taken since then is shared, one
//! being taken is waited for, and otherwise one is taken for it and for every rollout that
//! said it would take one taken now ([`Registration::ride_from`]: its next look is due soon).
//! Each look is published, and those rollouts take it instead of making their own
//! ([`Observer::next`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::cloud::{Cloud, CloudError, GroupInfo, TargetHealth};
use crate::observe;

/// What one look saw.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// When the look started: it shows every write that completed before this.
    pub(crate) taken: Instant,
    /// The stack's groups among those asked for (instance-mode generations included when
    /// asked for), as the account listed them.
    pub(crate) groups: Vec<GroupInfo>,
    /// Target health by target group ARN.
    pub(crate) health: HashMap<String, Vec<TargetHealth>>,
    /// Target groups that no longer exist.
    pub(crate) missing: BTreeSet<String>,
    asked: Interest,
}

impl Snapshot {
    fn covers(&self, want: &Interest) -> bool {
        want.groups
            .keys()
            .all(|g| self.asked.groups.contains_key(g))
            && want
                .target_groups
                .keys()
                .all(|t| self.asked.target_groups.contains_key(t))
            && (want.fleets == 0 || self.asked.fleets > 0)
    }
}

/// What the registered rollouts want to see, each name counted once per registration.
#[derive(Debug, Clone, Default)]
struct Interest {
    groups: BTreeMap<String, usize>,
    target_groups: BTreeMap<String, usize>,
    /// Registrations with instance-mode generations (listed from their instances).
    fleets: usize,
}

impl Interest {
    fn of(groups: &[String], target_groups: &[String], fleets: bool) -> Self {
        let mut i = Interest::default();
        i.add(groups, target_groups, fleets);
        i
    }

    fn add(&mut self, groups: &[String], target_groups: &[String], fleets: bool) {
        for g in groups {
            *self.groups.entry(g.clone()).or_default() += 1;
        }
        for t in target_groups {
            *self.target_groups.entry(t.clone()).or_default() += 1;
        }
        self.fleets += usize::from(fleets);
    }

    fn merge(&mut self, other: &Interest) {
        for (k, n) in &other.groups {
            *self.groups.entry(k.clone()).or_default() += n;
        }
        for (k, n) in &other.target_groups {
            *self.target_groups.entry(k.clone()).or_default() += n;
        }
        self.fleets += other.fleets;
    }
}

/// The shared eyes of one apply's rollouts.
pub struct Observer<'a> {
    cloud: &'a dyn Cloud,
    stack: String,
    /// Each registration's interest, and from when it would take a look someone else takes.
    registered: Mutex<BTreeMap<u64, (Interest, Option<Instant>)>>,
    next_id: std::sync::atomic::AtomicU64,
    /// The latest look; held while a look is being taken, so looks never overlap.
    latest: tokio::sync::Mutex<Option<Arc<Snapshot>>>,
    /// The latest look published, and its signal. Not a `watch` channel: that wakes its
    /// receivers in a random order, and the rollouts woken act in the order they wake, so a
    /// simulated run would not repeat itself; `Notify` wakes its waiters in the order they
    /// came.
    published: Mutex<Option<Arc<Snapshot>>>,
    publish: Notify,
}

/// A rollout's standing interest in some generations and target groups; dropped when the
/// rollout ends.
pub(crate) struct Registration<'o, 'a> {
    observer: &'o Observer<'a>,
    id: u64,
    want: Interest,
}

impl Registration<'_, '_> {
    /// Says from when this rollout would take a look another one takes (`None`: it looks
    /// itself, now).
    pub(crate) fn ride_from(&self, at: Option<Instant>) {
        if let Ok(mut r) = self.observer.registered.lock() {
            if let Some(e) = r.get_mut(&self.id) {
                e.1 = at;
            }
        }
    }
}

impl Drop for Registration<'_, '_> {
    fn drop(&mut self) {
        if let Ok(mut r) = self.observer.registered.lock() {
            r.remove(&self.id);
        }
    }
}

impl<'a> Observer<'a> {
    pub fn new(cloud: &'a dyn Cloud, stack: &str) -> Self {
        Observer {
            cloud,
            stack: stack.to_string(),
            registered: Mutex::new(BTreeMap::new()),
            next_id: std::sync::atomic::AtomicU64::new(0),
            latest: tokio::sync::Mutex::new(None),
            published: Mutex::new(None),
            publish: Notify::new(),
        }
    }

    pub(crate) fn cloud(&self) -> &'a dyn Cloud {
        self.cloud
    }

    /// Registers what a rollout looks at, until the registration is dropped.
    pub(crate) fn register<'o>(
        &'o self,
        groups: &[String],
        target_groups: &[String],
        fleets: bool,
    ) -> Registration<'o, 'a> {
        let want = Interest::of(groups, target_groups, fleets);
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut r) = self.registered.lock() {
            r.insert(id, (want.clone(), None));
        }
        Registration {
            observer: self,
            id,
            want,
        }
    }

    /// A look taken at `since` or later that covers `r`'s interest: shared when one exists or
    /// is being taken, else taken now for `r` and every rollout that would take it.
    pub(crate) async fn look(
        &self,
        r: &Registration<'_, '_>,
        since: Instant,
    ) -> Result<Arc<Snapshot>, CloudError> {
        // Rollouts asking at the same moment are read together.
        r.ride_from(Some(since));
        let s = self.shared(r, since).await;
        r.ride_from(None);
        s
    }

    async fn shared(
        &self,
        r: &Registration<'_, '_>,
        since: Instant,
    ) -> Result<Arc<Snapshot>, CloudError> {
        let mut latest = self.latest.lock().await;
        if let Some(s) = latest.as_ref() {
            if s.taken >= since && s.covers(&r.want) {
                return Ok(s.clone());
            }
        }
        let now = Instant::now();
        let mut asked = r.want.clone();
        if let Ok(registered) = self.registered.lock() {
            for (id, (want, from)) in registered.iter() {
                if *id != r.id && from.is_some_and(|f| f <= now) {
                    asked.merge(want);
                }
            }
        }
        let s = Arc::new(self.take(asked).await?);
        *latest = Some(s.clone());
        if let Ok(mut p) = self.published.lock() {
            *p = Some(s.clone());
        }
        self.publish.notify_waiters();
        Ok(s)
    }

    /// The next look published, taken at `after` or later, that covers `r`, whoever asked for
    /// it. For a rollout that would take one soon anyway: it may take this one instead.
    pub(crate) async fn next(&self, r: &Registration<'_, '_>, after: Instant) -> Arc<Snapshot> {
        loop {
            // Waiting from before the look at what is published, so none is missed.
            let notified = self.publish.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let latest = self.published.lock().ok().and_then(|p| p.clone());
            if let Some(s) = latest {
                if s.taken >= after && s.covers(&r.want) {
                    return s;
                }
            }
            notified.await;
        }
    }

    async fn take(&self, asked: Interest) -> Result<Snapshot, CloudError> {
        let taken = Instant::now();
        let cloud = self.cloud;
        let names: Vec<String> = asked.groups.keys().cloned().collect();
        let groups = async {
            let mut groups = if names.is_empty() {
                Vec::new()
            } else {
                cloud.describe_groups(&self.stack, &names).await?
            };
            if asked.fleets > 0 {
                let instances = cloud.list_instances(&self.stack).await?;
                groups.extend(observe::fleet_groups(&instances));
            }
            Ok::<_, CloudError>(groups)
        };
        let reads = asked.target_groups.keys().map(|arn| async move {
            match cloud.target_health(arn).await {
                Ok(h) => Ok((arn.clone(), Some(h))),
                Err(e) if e.is_not_found() => Ok((arn.clone(), None)),
                Err(e) => Err(e),
            }
        });
        let (groups, health) = tokio::try_join!(groups, futures::future::try_join_all(reads))?;
        let mut missing = BTreeSet::new();
        let mut by_arn = HashMap::new();
        for (arn, h) in health {
            match h {
                Some(h) => {
                    by_arn.insert(arn, h);
                }
                None => {
                    missing.insert(arn);
                }
            }
        }
        Ok(Snapshot {
            taken,
            groups,
            health: by_arn,
            missing,
            asked,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::sim::{SimCloud, SimConfig};
    use crate::cloud::stats::Stats;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Rollouts that look at the same moment share one read of the groups and one of each
    /// target group; a look asked for after it makes a new one.
    #[tokio::test(start_paused = true)]
    async fn rollouts_looking_together_share_one_look() {
        let stats = Stats::new();
        let sim = SimCloud::new(SimConfig::default(), stats.clone());
        let observer = Observer::new(&sim, "s");
        let a = observer.register(&names(&["a-v001", "a-v002"]), &names(&["tg-a"]), false);
        let b = observer.register(&names(&["b-v001", "b-v002"]), &names(&["tg-b"]), false);
        // Both wake at the same due time, as waiting rollouts say before they sleep.
        let now = Instant::now();
        a.ride_from(Some(now));
        b.ride_from(Some(now));
        let (x, y) = tokio::join!(observer.look(&a, now), observer.look(&b, now));
        assert!(Arc::ptr_eq(&x.unwrap(), &y.unwrap()));
        let calls = |op: &str| stats.snapshot().get(op).map_or(0, |c| c.calls);
        assert_eq!(calls("AutoScaling.DescribeAutoScalingGroups"), 1);
        assert_eq!(calls("ELBv2.DescribeTargetHealth"), 2);
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        observer.look(&a, Instant::now()).await.unwrap();
        // b does not look now, so its target group is not read.
        assert_eq!(calls("AutoScaling.DescribeAutoScalingGroups"), 2);
        assert_eq!(calls("ELBv2.DescribeTargetHealth"), 3);
        // b would take a look from now on: it is read with a's, and b takes it.
        let from = Instant::now();
        b.ride_from(Some(from));
        let (x, y) = tokio::join!(observer.look(&a, Instant::now()), observer.next(&b, from));
        assert!(Arc::ptr_eq(&x.unwrap(), &y));
        assert_eq!(calls("ELBv2.DescribeTargetHealth"), 5);
    }
}
