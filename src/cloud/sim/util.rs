//! Error constructors in AWS's terms and small helpers the simulated services share.

use sha2::{Digest, Sha256};

use crate::cloud::{tag, CloudError, ObjectRef, Tags};

pub(super) fn not_found(
    operation: &'static str,
    what: impl Into<String>,
    code: &str,
) -> CloudError {
    CloudError::NotFound {
        operation,
        what: what.into(),
        code: Some(code.to_string()),
    }
}

pub(super) fn refused(
    operation: &'static str,
    code: &str,
    message: impl Into<String>,
) -> CloudError {
    CloudError::Service {
        operation,
        code: Some(code.to_string()),
        message: message.into(),
    }
}

pub(super) fn already_exists(operation: &'static str, what: String, code: &str) -> CloudError {
    CloudError::AlreadyExists {
        operation,
        what,
        code: Some(code.to_string()),
    }
}

pub(super) fn group_not_found(operation: &'static str, name: &str) -> CloudError {
    not_found(operation, format!("group {name}"), "ValidationError")
}

/// EC2's message for a launch into a zone without capacity.
pub(super) fn insufficient_capacity(instance_type: &str, zone: &str) -> String {
    format!(
        "We currently do not have sufficient {instance_type} capacity in the Availability Zone \
         you requested ({zone}). Our system will be working on provisioning additional capacity"
    )
}

/// EC2's refusal of a launch beyond the account's On-Demand vCPU quota.
pub(super) fn vcpu_limit(limit: u64) -> String {
    format!(
        "You have requested more vCPU capacity than your current vCPU limit of {limit} allows for \
         the instance bucket that the specified instance type belongs to. Please visit \
         http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit"
    )
}

pub(super) fn hex_u32(s: &str) -> u32 {
    u32::from_str_radix(&hex(&[s], 8), 16).unwrap_or_default()
}

pub(super) fn hex(parts: &[&str], len: usize) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())[..len].to_string()
}

pub(super) fn object_key(at: &ObjectRef) -> String {
    format!("{}/{}", at.bucket, at.key)
}

pub(super) fn in_stack(tags: &Tags, stack: &str) -> bool {
    tags.get(tag::STACK).map(String::as_str) == Some(stack)
}

pub(super) fn has_tags(tags: &Tags, wanted: &Tags) -> bool {
    wanted.iter().all(|(k, v)| tags.get(k) == Some(v))
}
