//! Launch templates and their versions.

use std::collections::BTreeMap;

use super::resources::Template;
use super::util::{already_exists, in_stack, not_found, refused};
use super::world::World;
use crate::cloud::{CloudResult, LaunchSpec, LaunchTemplateInfo, Tags};

impl World {
    pub fn list_launch_templates(&self, stack: &str) -> Vec<LaunchTemplateInfo> {
        self.templates
            .values()
            .filter(|lt| in_stack(&lt.tags, stack))
            .map(|lt| LaunchTemplateInfo {
                id: lt.id.clone(),
                name: lt.name.clone(),
                latest_version: lt.latest,
                tags: lt.tags.clone(),
            })
            .collect()
    }

    pub fn launch_template_version(
        &self,
        operation: &'static str,
        template_id: &str,
        version: &str,
    ) -> CloudResult<LaunchSpec> {
        let lt = self.templates.get(template_id).ok_or_else(|| {
            not_found(
                operation,
                format!("launch template {template_id} version {version}"),
                "InvalidLaunchTemplateId.NotFound",
            )
        })?;
        lt.version(version).map(|(_, s)| s.clone()).ok_or_else(|| {
            not_found(
                operation,
                format!("launch template {template_id} version {version}"),
                "InvalidLaunchTemplateId.VersionNotFound",
            )
        })
    }

    /// Every template's latest version: (template id, version number, content).
    pub fn latest_launch_template_versions(&self) -> Vec<(String, i64, LaunchSpec)> {
        self.templates
            .iter()
            .filter_map(|(id, lt)| {
                lt.version("$Latest")
                    .map(|(n, s)| (id.clone(), n, s.clone()))
            })
            .collect()
    }

    pub fn create_launch_template(
        &mut self,
        operation: &'static str,
        name: &str,
        spec: &LaunchSpec,
        tags: &Tags,
    ) -> CloudResult<(String, i64)> {
        if self.templates.values().any(|lt| lt.name == name) {
            return Err(already_exists(
                operation,
                format!("launch template {name}"),
                "InvalidLaunchTemplateName.AlreadyExistsException",
            ));
        }
        let id = format!("lt-0{:016x}", self.next_u64());
        self.templates.insert(
            id.clone(),
            Template {
                id: id.clone(),
                name: name.to_string(),
                tags: tags.clone(),
                versions: BTreeMap::from([(1, spec.clone())]),
                latest: 1,
                default: 1,
            },
        );
        Ok((id, 1))
    }

    fn template_mut(&mut self, operation: &'static str, id: &str) -> CloudResult<&mut Template> {
        self.templates.get_mut(id).ok_or_else(|| {
            not_found(
                operation,
                format!("launch template {id}"),
                "InvalidLaunchTemplateId.NotFound",
            )
        })
    }

    pub fn create_launch_template_version(
        &mut self,
        operation: &'static str,
        template_id: &str,
        spec: &LaunchSpec,
    ) -> CloudResult<i64> {
        let lt = self.template_mut(operation, template_id)?;
        lt.latest += 1;
        lt.versions.insert(lt.latest, spec.clone());
        Ok(lt.latest)
    }

    pub fn delete_launch_template(
        &mut self,
        operation: &'static str,
        template_id: &str,
    ) -> CloudResult<()> {
        self.template_mut(operation, template_id)?;
        self.templates.remove(template_id);
        Ok(())
    }

    /// Deletes versions; missing ones are ignored, the default version cannot be deleted.
    pub fn delete_launch_template_versions(
        &mut self,
        operation: &'static str,
        template_id: &str,
        versions: &[i64],
    ) -> CloudResult<()> {
        let lt = self.template_mut(operation, template_id)?;
        let mut refused_versions = Vec::new();
        for v in versions {
            if *v == lt.default {
                refused_versions.push(format!(
                    "version {v}: the default version of a launch template cannot be deleted"
                ));
            } else {
                lt.versions.remove(v);
            }
        }
        if refused_versions.is_empty() {
            Ok(())
        } else {
            Err(refused(
                operation,
                "unexpectedError",
                format!(
                    "launch template {template_id}: {}",
                    refused_versions.join("; ")
                ),
            ))
        }
    }
}
