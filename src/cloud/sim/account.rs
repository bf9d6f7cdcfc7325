//! The rest of the account: VPC, subnet and security group lookups, CloudWatch alarms and S3
//! objects with conditional writes.

use std::collections::BTreeMap;

use super::util::{hex, not_found, object_key};
use super::world::{SimObject, World};
use crate::cloud::{
    CloudError, CloudResult, ObjectRef, SecurityGroupInfo, StoredObject, SubnetInfo, Tags, VpcInfo,
};

impl World {
    /// Like the simulator's image and network lookups, an alarm nobody set is made up, quiet.
    pub fn alarm_states(&self, names: &[String]) -> BTreeMap<String, String> {
        names
            .iter()
            .map(|n| {
                let state = self.alarms.get(n).map_or("OK", String::as_str);
                (n.clone(), state.to_string())
            })
            .collect()
    }

    /// Creates the alarm if needed, as PutMetricAlarm then SetAlarmState would.
    pub fn set_alarm_state(&mut self, name: &str, state: &str) {
        self.alarms.insert(name.to_string(), state.to_string());
    }

    pub fn get_object(&self, at: &ObjectRef) -> Option<StoredObject> {
        self.objects.get(&object_key(at)).map(|o| StoredObject {
            body: o.body.clone(),
            etag: o.etag.clone(),
        })
    }

    /// PutObject, with `If-None-Match: *` (`expected` = `None`) or `If-Match` (`Some(etag)`),
    /// as S3 answers them: 412 when the condition fails, 404 for `If-Match` on no object.
    pub fn put_object(
        &mut self,
        operation: &'static str,
        at: &ObjectRef,
        body: &[u8],
        expected: Option<&str>,
    ) -> CloudResult<String> {
        let key = object_key(at);
        self.check_object(operation, at, expected)?;
        self.object_writes += 1;
        let etag = format!(
            "\"{}\"",
            hex(
                &[
                    &key,
                    &self.object_writes.to_string(),
                    &String::from_utf8_lossy(body)
                ],
                32
            )
        );
        self.objects.insert(
            key,
            SimObject {
                body: body.to_vec(),
                etag: etag.clone(),
            },
        );
        Ok(etag)
    }

    /// DeleteObject with `If-Match`.
    pub fn delete_object(
        &mut self,
        operation: &'static str,
        at: &ObjectRef,
        etag: &str,
    ) -> CloudResult<()> {
        self.check_object(operation, at, Some(etag))?;
        self.objects.remove(&object_key(at));
        Ok(())
    }

    fn check_object(
        &self,
        operation: &'static str,
        at: &ObjectRef,
        expected: Option<&str>,
    ) -> CloudResult<()> {
        let failed = || CloudError::PreconditionFailed {
            operation,
            what: at.to_string(),
            code: Some("PreconditionFailed".into()),
        };
        match (self.objects.get(&object_key(at)), expected) {
            (Some(_), None) => Err(failed()),
            (None, Some(_)) => Err(not_found(operation, at.to_string(), "NoSuchKey")),
            (Some(o), Some(etag)) if o.etag.trim_matches('"') != etag.trim_matches('"') => {
                Err(failed())
            }
            _ => Ok(()),
        }
    }

    pub fn find_vpcs(&mut self, tags: &Tags) -> Vec<VpcInfo> {
        let pairs: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let region = self.region().to_string();
        let id = format!("vpc-0{}", hex(&[&region, &pairs.join(",")], 16));
        let vpc = self.vpcs.entry(id.clone()).or_insert_with(|| VpcInfo {
            id,
            cidr: Some("10.0.0.0/16".into()),
            tags: tags.clone(),
        });
        vec![vpc.clone()]
    }

    pub fn find_subnets(&mut self, vpc_id: &str, tags: &Tags) -> Vec<SubnetInfo> {
        let pairs: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let region = self.region().to_string();
        ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(n, zone)| {
                let id = format!("subnet-0{}", hex(&[vpc_id, &pairs.join(","), zone], 16));
                self.subnets
                    .entry(id.clone())
                    .or_insert_with(|| SubnetInfo {
                        id,
                        vpc_id: vpc_id.to_string(),
                        availability_zone: format!("{region}{zone}"),
                        cidr: Some(format!("10.0.{}.0/24", n + 1)),
                        tags: tags.clone(),
                    })
                    .clone()
            })
            .collect()
    }

    pub fn find_security_groups(
        &mut self,
        vpc_id: &str,
        names: &[String],
        tags: &Tags,
    ) -> Vec<SecurityGroupInfo> {
        let names: Vec<String> = if names.is_empty() {
            vec!["default".to_string()]
        } else {
            names.to_vec()
        };
        names
            .iter()
            .map(|name| {
                let id = format!("sg-0{}", hex(&[vpc_id, name], 16));
                self.security_groups
                    .entry(id.clone())
                    .or_insert_with(|| SecurityGroupInfo {
                        id,
                        name: name.clone(),
                        vpc_id: Some(vpc_id.to_string()),
                        tags: tags.clone(),
                    })
                    .clone()
            })
            .collect()
    }
}
