//! S3 objects with conditional requests: what the shared lock is made of.
//!
//! Three requests, each naming the state it expects: PutObject with `If-None-Match: *`
//! (create, only if absent), PutObject with `If-Match: ETAG` (replace, only if unchanged) and
//! DeleteObject with `If-Match: ETAG`. S3 answers a failed condition with 412
//! `PreconditionFailed` (or 409 `ConditionalRequestConflict` while another conditional write to
//! the key is in flight); both become [`CloudError::PreconditionFailed`].
//!
//! Against an endpoint override (a local emulator) requests are path-style
//! (`http://host:port/bucket/key`, see `client.rs`): an emulator has no DNS for `bucket.host`.

use aws_sdk_s3 as s3;
use aws_smithy_types::byte_stream::ByteStream;

use super::client::{s3_client, AwsCloud};
use crate::cloud::{CloudError, CloudResult, ObjectRef, StoredObject};

/// What a put requires of the object already there.
#[derive(Debug, Clone, Copy)]
enum Condition<'a> {
    /// Nothing there.
    Absent,
    /// This ETag.
    Matches(&'a str),
}

impl AwsCloud {
    /// The client for the object's bucket: this one, or one for the bucket's own region.
    fn s3_for(&self, at: &ObjectRef) -> s3::Client {
        match at.region.as_deref() {
            Some(region) if region != self.region => {
                s3_client(&self.sdk, &self.stats, Some(region))
            }
            _ => self.s3.clone(),
        }
    }

    pub(super) async fn get_object(&self, at: &ObjectRef) -> CloudResult<Option<StoredObject>> {
        const OP: &str = "S3.GetObject";
        let request = self
            .s3_for(at)
            .get_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .send();
        let out = match request.await {
            Ok(out) => out,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None)
            }
            Err(err) => return Err(self.error(OP, at, err)),
        };
        let etag = etag(OP, out.e_tag())?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| CloudError::Service {
                operation: OP,
                code: None,
                message: format!("reading {at}: {e}"),
            })?
            .into_bytes()
            .to_vec();
        Ok(Some(StoredObject { body, etag }))
    }

    async fn put_object(
        &self,
        at: &ObjectRef,
        body: &[u8],
        condition: Condition<'_>,
    ) -> CloudResult<String> {
        const OP: &str = "S3.PutObject";
        let request = self
            .s3_for(at)
            .put_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .content_type("application/json")
            .body(ByteStream::from(body.to_vec()));
        let request = match condition {
            Condition::Absent => request.if_none_match("*"),
            Condition::Matches(etag) => request.if_match(etag),
        };
        let out = self.call(OP, at, request.send()).await?;
        etag(OP, out.e_tag())
    }

    pub(super) async fn put_object_if_absent(
        &self,
        at: &ObjectRef,
        body: &[u8],
    ) -> CloudResult<String> {
        self.put_object(at, body, Condition::Absent).await
    }

    pub(super) async fn put_object_if_match(
        &self,
        at: &ObjectRef,
        body: &[u8],
        etag: &str,
    ) -> CloudResult<String> {
        self.put_object(at, body, Condition::Matches(etag)).await
    }

    pub(super) async fn delete_object_if_match(
        &self,
        at: &ObjectRef,
        etag: &str,
    ) -> CloudResult<()> {
        let request = self
            .s3_for(at)
            .delete_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .if_match(etag)
            .send();
        self.call("S3.DeleteObject", at, request).await?;
        Ok(())
    }
}

fn etag(operation: &'static str, etag: Option<&str>) -> CloudResult<String> {
    etag.filter(|e| !e.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| CloudError::Service {
            operation,
            code: None,
            message: "the answer has no ETag".into(),
        })
}
