//! EC2 launch templates: listed by the stack's tag, created, given new versions, read back
//! (one version), found by name, and deleted (whole, or old versions), with the launch
//! template data a version is made of.

use aws_sdk_ec2 as ec2;
use base64::Engine as _;

use super::client::{all_items, AwsCloud};
use super::convert::{in_stack, launch_spec, launch_template_info, non_empty_vec, tags_of, text};
use super::ec2::{ec2_stack_filter, ec2_tags};
use super::fleet;
use crate::cloud::{CloudError, CloudResult, Holder, LaunchSpec, LaunchTemplateInfo, Tags};

/// DescribeLaunchTemplates.
const LAUNCH_TEMPLATE_PAGE: i32 = 200;

/// Versions per EC2 DeleteLaunchTemplateVersions call.
const LAUNCH_TEMPLATE_VERSIONS_PER_CALL: usize = 200;

impl AwsCloud {
    pub(super) async fn list_launch_templates(
        &self,
        stack: &str,
    ) -> CloudResult<Vec<LaunchTemplateInfo>> {
        let request = self
            .ec2
            .describe_launch_templates()
            .filters(ec2_stack_filter(stack))
            .max_results(LAUNCH_TEMPLATE_PAGE);
        let templates = self
            .call(
                "EC2.DescribeLaunchTemplates",
                "launch templates",
                all_items!(request),
            )
            .await?;
        Ok(templates
            .iter()
            .map(launch_template_info)
            .filter(|t| in_stack(&t.tags, stack))
            .collect())
    }

    pub(super) async fn launch_template_version(
        &self,
        template_id: &str,
        version: &str,
    ) -> CloudResult<LaunchSpec> {
        const OP: &str = "EC2.DescribeLaunchTemplateVersions";
        let what = format!("launch template {template_id} version {version}");
        let request = self
            .ec2
            .describe_launch_template_versions()
            .launch_template_id(template_id)
            .versions(version);
        let out = self.call(OP, &what, request.send()).await?;
        out.launch_template_versions()
            .first()
            .and_then(|v| v.launch_template_data())
            .map(launch_spec)
            .ok_or(CloudError::NotFound {
                operation: OP,
                what,
                code: None,
            })
    }

    pub(super) async fn latest_launch_template_versions(
        &self,
    ) -> CloudResult<Vec<(String, i64, LaunchSpec)>> {
        let request = self
            .ec2
            .describe_launch_template_versions()
            .versions("$Latest")
            .max_results(LAUNCH_TEMPLATE_PAGE);
        let versions: Vec<ec2::types::LaunchTemplateVersion> = self
            .call(
                "EC2.DescribeLaunchTemplateVersions",
                "the latest launch template versions",
                all_items!(request),
            )
            .await?;
        Ok(versions
            .iter()
            .filter_map(|v| {
                Some((
                    v.launch_template_id()?.to_string(),
                    v.version_number()?,
                    launch_spec(v.launch_template_data()?),
                ))
            })
            .collect())
    }

    pub(super) async fn create_launch_template(
        &self,
        name: &str,
        spec: &LaunchSpec,
        tags: &Tags,
    ) -> CloudResult<(String, i64)> {
        let template_tags = (!tags.is_empty()).then(|| {
            vec![ec2::types::TagSpecification::builder()
                .resource_type(ec2::types::ResourceType::LaunchTemplate)
                .set_tags(Some(ec2_tags(tags)))
                .build()]
        });
        let request = self
            .ec2
            .create_launch_template()
            .launch_template_name(name)
            .launch_template_data(launch_template_data(spec))
            .set_tag_specifications(template_tags);
        let what = format!("launch template {name}");
        let out = self
            .call("EC2.CreateLaunchTemplate", what, request.send())
            .await?;
        let template = out.launch_template();
        Ok((
            text(template.and_then(|t| t.launch_template_id())),
            template
                .and_then(|t| t.latest_version_number())
                .unwrap_or(1),
        ))
    }

    pub(super) async fn create_launch_template_version(
        &self,
        template_id: &str,
        spec: &LaunchSpec,
    ) -> CloudResult<i64> {
        let request = self
            .ec2
            .create_launch_template_version()
            .launch_template_id(template_id)
            .launch_template_data(launch_template_data(spec));
        let what = format!("launch template {template_id}");
        let out = self
            .call("EC2.CreateLaunchTemplateVersion", what, request.send())
            .await?;
        Ok(out
            .launch_template_version()
            .and_then(|v| v.version_number())
            .unwrap_or_default())
    }

    pub(super) async fn delete_launch_template(&self, template_id: &str) -> CloudResult<()> {
        let request = self
            .ec2
            .delete_launch_template()
            .launch_template_id(template_id);
        let what = format!("launch template {template_id}");
        self.call("EC2.DeleteLaunchTemplate", what, request.send())
            .await?;
        Ok(())
    }

    pub(super) async fn delete_launch_template_versions(
        &self,
        template_id: &str,
        versions: &[i64],
    ) -> CloudResult<()> {
        const OP: &str = "EC2.DeleteLaunchTemplateVersions";
        let what = format!("launch template {template_id}");
        let versions: Vec<String> = versions.iter().map(i64::to_string).collect();
        let size = LAUNCH_TEMPLATE_VERSIONS_PER_CALL;
        let outputs = self
            .in_batches(OP, &what, &versions, size, |batch| {
                self.ec2
                    .delete_launch_template_versions()
                    .launch_template_id(template_id)
                    .set_versions(Some(batch))
                    .send()
            })
            .await?;
        let failures = outputs
            .iter()
            .flat_map(|out| out.unsuccessfully_deleted_launch_template_versions());
        match version_failures_error(OP, &what, failures) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// The launch template named `name`, with its tags; `None` when there is none.
    pub(super) async fn launch_template_named(
        &self,
        name: &str,
        what: &str,
    ) -> CloudResult<Option<Holder>> {
        let request = self
            .ec2
            .describe_launch_templates()
            .launch_template_names(name);
        let out = self
            .call("EC2.DescribeLaunchTemplates", what, request.send())
            .await;
        match out {
            Ok(out) => Ok(out
                .launch_templates()
                .iter()
                .find(|t| t.launch_template_name() == Some(name))
                .map(|t| Holder {
                    id: t.launch_template_id().unwrap_or(name).to_string(),
                    tags: tags_of(t.tags()),
                })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn launch_template_data(spec: &LaunchSpec) -> ec2::types::RequestLaunchTemplateData {
    let profile = spec.instance_profile.as_ref().map(|p| {
        let builder = ec2::types::LaunchTemplateIamInstanceProfileSpecificationRequest::builder();
        if p.starts_with("arn:") {
            builder.arn(p).build()
        } else {
            builder.name(p).build()
        }
    });
    let tag_specs: Vec<_> = fleet::launched_tags(&spec.instance_tags, &spec.options)
        .into_iter()
        .filter(|(_, tags)| !tags.is_empty())
        .map(|(kind, tags)| {
            ec2::types::LaunchTemplateTagSpecificationRequest::builder()
                .resource_type(kind)
                .set_tags(Some(ec2_tags(&tags)))
                .build()
        })
        .collect();
    let tag_specs = (!tag_specs.is_empty()).then_some(tag_specs);
    fleet::request_data(
        ec2::types::RequestLaunchTemplateData::builder(),
        &spec.options,
    )
    .image_id(&spec.image_id)
    .instance_type(spec.instance_type.as_str().into())
    .set_user_data(
        spec.user_data
            .as_ref()
            .map(|u| base64::engine::general_purpose::STANDARD.encode(u)),
    )
    .set_security_group_ids(non_empty_vec(&spec.security_group_ids))
    .set_iam_instance_profile(profile)
    .set_key_name(spec.key_name.clone())
    .set_tag_specifications(tag_specs)
    .build()
}

/// The error for the versions DeleteLaunchTemplateVersions could not delete, leaving out the
/// ones that do not exist; `None` when that leaves nothing. A missing template is
/// [`CloudError::NotFound`].
fn version_failures_error<'a>(
    operation: &'static str,
    what: &str,
    failures: impl Iterator<Item = &'a ec2::types::DeleteLaunchTemplateVersionsResponseErrorItem>,
) -> Option<CloudError> {
    use ec2::types::LaunchTemplateErrorCode as Code;
    let failures: Vec<(Option<&Code>, String)> = failures
        .filter_map(|item| {
            let error = item.response_error();
            let code = error.and_then(|e| e.code());
            let message = format!(
                "version {}: {}",
                item.version_number().unwrap_or_default(),
                error.and_then(|e| e.message()).unwrap_or("not deleted")
            );
            (code != Some(&Code::LaunchTemplateVersionDoesNotExist)).then_some((code, message))
        })
        .collect();
    let (first_code, _) = failures.first()?;
    let code = first_code.map(|c| c.as_str().to_string());
    let template_missing = failures.iter().all(|(code, _)| {
        matches!(
            code,
            Some(Code::LaunchTemplateIdDoesNotExist | Code::LaunchTemplateNameDoesNotExist)
        )
    });
    Some(if template_missing {
        CloudError::NotFound {
            operation,
            what: what.to_string(),
            code,
        }
    } else {
        let messages: Vec<String> = failures.into_iter().map(|(_, m)| m).collect();
        CloudError::Service {
            operation,
            code,
            message: format!("{what}: {}", messages.join("; ")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_template_data_encodes_user_data_and_profiles() {
        let mut spec = LaunchSpec {
            image_id: "ami-1".into(),
            instance_type: "t3.micro".into(),
            user_data: Some("#!/bin/sh\necho hi\n".into()),
            instance_profile: Some("arn:aws:iam::1:instance-profile/web".into()),
            ..LaunchSpec::default()
        };
        spec.instance_tags
            .insert("reroll:stack".into(), "shop".into());
        let data = launch_template_data(&spec);
        assert_eq!(data.user_data(), Some("IyEvYmluL3NoCmVjaG8gaGkK"));
        let profile = data.iam_instance_profile().unwrap();
        assert_eq!(profile.arn(), Some("arn:aws:iam::1:instance-profile/web"));
        assert!(profile.name().is_none());
        assert_eq!(data.tag_specifications().len(), 2);

        spec.instance_profile = Some("web".into());
        let data = launch_template_data(&spec);
        assert_eq!(data.iam_instance_profile().unwrap().name(), Some("web"));
    }
}
