//! Launch definitions: what a Create or Replace launches, resolved when the plan is made.

use super::fingerprint::{fingerprint_of, legacy_fingerprint};
use crate::cloud::{tag, LaunchSpec, Tags};
use crate::stack::scaling::GroupSettings;
use crate::stack::{ImageLabel, ServerGroup, Stack};

/// Everything that defines the instances of a new generation, resolved when the plan was
/// made: what apply launches, exactly as the plan showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchDefinition {
    pub spec: LaunchSpec,
    pub subnets: Vec<String>,
    /// The Auto Scaling settings the generation's group is created with.
    pub settings: GroupSettings,
    pub fingerprint: String,
    /// The image's name and creation date, for people: recorded on the generation (tag
    /// `reroll:image`), outside the fingerprint.
    pub image: Option<ImageLabel>,
}

impl LaunchDefinition {
    /// The definition of `g`'s instances; `None` while any of it is unknown.
    pub fn of(stack: &Stack, g: &ServerGroup) -> Option<LaunchDefinition> {
        let spec = launch_spec(stack, g);
        let fingerprint = fingerprint_of(&spec, &g.subnets, &g.scaling)?;
        Some(LaunchDefinition {
            spec,
            subnets: g.subnets.clone(),
            settings: g.scaling.clone(),
            fingerprint,
            image: g.image.clone(),
        })
    }

    /// The tags that record, on a generation launched from this definition, what it runs for
    /// people to read: `reroll:image` when the image's name is known.
    pub fn image_tags(&self) -> Tags {
        let mut tags = Tags::new();
        if let Some(l) = &self.image {
            tags.insert(tag::IMAGE.to_string(), l.tag_value(&self.spec.image_id));
            if let Some(source) = &l.source {
                tags.insert(tag::IMAGE_SOURCE.to_string(), source.clone());
            }
        }
        tags
    }

    /// Whether a generation tagged with `observed` (a fingerprint in this or an earlier
    /// format) was launched from this definition.
    pub fn matches(&self, observed: Option<&str>) -> bool {
        // The legacy form knows nothing of launch options or group settings: it stands for a
        // definition that sets none of them.
        let legacy = || {
            self.spec.options.canonical().is_empty()
                && self.settings.canonical().is_empty()
                && observed.is_some_and(|o| {
                    Some(o) == legacy_fingerprint(&self.spec, &self.subnets).as_deref()
                })
        };
        observed.is_some_and(|o| o == self.fingerprint) || legacy()
    }
}

/// What instances of a server group are launched from: the launch template's content.
pub fn launch_spec(stack: &Stack, g: &ServerGroup) -> LaunchSpec {
    let mut instance_tags: Tags = stack.tags.clone();
    instance_tags.extend(g.tags.clone());
    instance_tags.insert("Name".into(), format!("{}-{}", stack.name, g.key));
    instance_tags.insert(tag::STACK.into(), stack.name.clone());
    instance_tags.insert(tag::GROUP.into(), g.key.clone());
    instance_tags.insert(tag::ADDRESS.into(), crate::names::address_tag(&g.address));
    let mut options = g.launch.clone();
    let mut security_group_ids = g.security_groups.clone();
    // EC2 takes security groups either on the template or on its interfaces: with interfaces
    // declared, the group's go on the primary one unless it lists its own.
    if let Some(primary) = options
        .network_interfaces
        .iter_mut()
        .find(|n| n.device_index == 0)
    {
        if primary.security_groups.is_empty() {
            primary.security_groups = std::mem::take(&mut security_group_ids);
        } else {
            security_group_ids.clear();
        }
    } else if !options.network_interfaces.is_empty() {
        security_group_ids.clear();
    }
    LaunchSpec {
        image_id: g.image_id.clone(),
        instance_type: g.instance_type.clone(),
        user_data: g.user_data.clone(),
        security_group_ids,
        instance_profile: g.instance_profile.clone(),
        key_name: g.key_name.clone(),
        instance_tags,
        options,
    }
}
