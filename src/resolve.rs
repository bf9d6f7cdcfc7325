//! Running a stack's lookups (`image`, `network`) against the cloud, and loading the stack
//! again with their results until nothing is left unknown.

use std::collections::BTreeMap;

use crate::cloud::{tag, Cloud, CloudError, ImageInfo};
use crate::load::diag::Problem;
use crate::load::{evaluate, Diagnostics, Inputs, Parsed};
use crate::stack::{
    is_unknown, ImageLabel, ImageLookup, Known, NetworkLookup, PackerBuild, ResolvedImage,
    ResolvedNetwork, Stack,
};

/// Why resolving failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The stack is wrong (including lookups that match nothing).
    #[error("{0}")]
    Stack(Diagnostics),
    #[error(transparent)]
    Cloud(#[from] CloudError),
}

/// Evaluates the stack, runs its lookups, and evaluates again with their results. `known`
/// may already hold attributes of existing resources; lookups are added to it.
pub async fn resolve(
    parsed: &Parsed,
    inputs: &Inputs,
    cloud: &dyn Cloud,
    known: &mut Known,
) -> Result<Stack, ResolveError> {
    let mut stack = lookups(parsed, inputs, cloud, known).await?;
    let labels = check_literal_images(parsed, cloud, &stack).await?;
    for g in stack.server_groups.iter_mut().filter(|g| g.image.is_none()) {
        g.image = labels.get(&g.image_id).cloned();
    }
    Ok(stack)
}

async fn lookups(
    parsed: &Parsed,
    inputs: &Inputs,
    cloud: &dyn Cloud,
    known: &mut Known,
) -> Result<Stack, ResolveError> {
    // Lookups may feed other lookups (through modules), so go round until all are known. A
    // lookup whose own arguments are not known yet (a variable left out where that is allowed,
    // as in `rollback`) is not run: no placeholder ever reaches a lookup or a message.
    for _ in 0..8 {
        let stack = evaluate(parsed, inputs, known).map_err(ResolveError::Stack)?;
        let pending_images: Vec<&ImageLookup> = stack
            .images
            .iter()
            .filter(|i| !known.images.contains_key(&i.address) && !filter_unknown(&i.filter))
            .collect();
        let pending_networks: Vec<&NetworkLookup> = stack
            .networks
            .iter()
            .filter(|n| !known.networks.contains_key(&n.address) && !network_unknown(n))
            .collect();
        if pending_images.is_empty() && pending_networks.is_empty() {
            return Ok(stack);
        }
        let mut problems = Vec::new();
        let located = |origin: &crate::stack::Origin, m: Miss| {
            Problem::new(m.message)
                .at_opt(parsed.sources.loc_of(origin))
                .label("this lookup matches nothing usable")
                .help(m.help)
        };
        for lookup in pending_images {
            match find_image(cloud, lookup).await? {
                Ok(img) => {
                    known.images.insert(lookup.address.clone(), img);
                }
                Err(m) => problems.push(located(&lookup.origin, m)),
            }
        }
        for lookup in pending_networks {
            match find_network(cloud, lookup).await? {
                Ok(net) => {
                    known.networks.insert(lookup.address.clone(), net);
                }
                Err(m) => problems.push(located(&lookup.origin, m)),
            }
        }
        if !problems.is_empty() {
            return Err(ResolveError::Stack(
                parsed.clone().into_diagnostics(problems),
            ));
        }
    }
    evaluate(parsed, inputs, known).map_err(ResolveError::Stack)
}

fn filter_unknown(f: &crate::cloud::ImageFilter) -> bool {
    f.ids
        .iter()
        .chain(&f.owners)
        .chain(f.name.iter())
        .chain(f.tags.keys())
        .chain(f.tags.values())
        .any(|s| is_unknown(s))
}

fn network_unknown(n: &NetworkLookup) -> bool {
    n.vpc_id
        .iter()
        .chain(n.vpc_tags.keys())
        .chain(n.vpc_tags.values())
        .chain(n.subnet_tags.keys())
        .chain(n.subnet_tags.values())
        .chain(&n.security_group_names)
        .chain(n.security_group_tags.keys())
        .chain(n.security_group_tags.values())
        .any(|s| is_unknown(s))
}

/// A server group whose `image` is an AMI id, not a lookup: the id must exist here (AMI ids
/// differ per region), and be available, before anything is planned on it. Returns the
/// images found, by id, to be shown by name.
async fn check_literal_images(
    parsed: &Parsed,
    cloud: &dyn Cloud,
    stack: &Stack,
) -> Result<BTreeMap<String, ImageLabel>, ResolveError> {
    let mut checked: BTreeMap<&str, Option<String>> = BTreeMap::new();
    let mut labels = BTreeMap::new();
    let mut problems = Vec::new();
    for g in stack
        .server_groups
        .iter()
        .filter(|g| g.image_address.is_none() && !is_unknown(&g.image_id))
    {
        let id = g.image_id.as_str();
        if !checked.contains_key(id) {
            let filter = crate::cloud::ImageFilter {
                ids: vec![id.to_string()],
                ..Default::default()
            };
            let found = match cloud.describe_images(&filter).await {
                Ok(images) => images.into_iter().find(|i| i.id == id),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e.into()),
            };
            if let Some(i) = found.as_ref().filter(|i| !i.name.is_empty()) {
                labels.insert(
                    id.to_string(),
                    ImageLabel {
                        name: i.name.clone(),
                        created: i.creation_date.clone(),
                        source: None,
                    },
                );
            }
            let problem = match found {
                None => Some(format!("there is no image {id} in {}", cloud.region())),
                Some(i) if i.state == "available" || i.state.is_empty() => None,
                Some(i) => Some(format!(
                    "image {id} ({}) is {}, not available",
                    i.name, i.state
                )),
            };
            checked.insert(id, problem);
        }
        if let Some(Some(message)) = checked.get(id) {
            problems.push(
                Problem::new(format!("{}: {message}", g.address))
                    .at_opt(parsed.sources.loc_of(&g.origin))
                    .label("this server group's image")
                    .help(
                        "check the id and the region (AMI ids differ per region; --region \
                         overrides the stack's), or look the image up by name with an `image` \
                         block, which can copy it from another region",
                    ),
            );
        }
    }
    if problems.is_empty() {
        Ok(labels)
    } else {
        Err(ResolveError::Stack(
            parsed.clone().into_diagnostics(problems),
        ))
    }
}

/// A lookup that found nothing usable: what, and what to do about it.
struct Miss {
    message: String,
    help: String,
}

fn miss(message: String, help: impl Into<String>) -> Miss {
    Miss {
        message,
        help: help.into(),
    }
}

/// Finds the image a lookup asks for: the newest when `most_recent`, else exactly one.
async fn find_image(
    cloud: &dyn Cloud,
    lookup: &ImageLookup,
) -> Result<Result<ResolvedImage, Miss>, CloudError> {
    if let Some(build) = &lookup.packer {
        return find_packer_image(cloud, lookup, build).await;
    }
    let images = match cloud.describe_images(&lookup.filter).await {
        Ok(images) => images,
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) => return Err(e),
    };
    let picked = match pick(images, lookup) {
        Ok(p) => p,
        Err(problem) => return Ok(Err(problem)),
    };
    if let Some(img) = picked {
        return Ok(Ok(ResolvedImage {
            id: img.id,
            name: img.name,
            creation_date: img.creation_date,
            copy_from: None,
            source: None,
        }));
    }
    if let Some(source) = &lookup.copy_from {
        if source != cloud.region() {
            // Disaster recovery: the image lives in another region; apply copies it here.
            let images = cloud.describe_images_in(source, &lookup.filter).await?;
            if let Ok(Some(img)) = pick(images, lookup) {
                return Ok(Ok(ResolvedImage {
                    id: crate::stack::UNKNOWN_APPLY.to_string(),
                    name: img.name,
                    creation_date: img.creation_date,
                    copy_from: Some((source.clone(), img.id)),
                    source: None,
                }));
            }
        }
    }
    let what = describe_filter(lookup);
    Ok(Err(miss(
        format!(
            "{}: no image in {} matches {what}",
            lookup.address,
            cloud.region()
        ),
        "check the name and owners (has the image been baked and shared with this account?), \
         or set `copy_from` to copy it from another region",
    )))
}

/// The image a Packer build made for this region; else, with `copy_from`, the copy made here
/// of the one it made there (found by its `reroll:source-image` tag), or that one to copy.
async fn find_packer_image(
    cloud: &dyn Cloud,
    lookup: &ImageLookup,
    build: &PackerBuild,
) -> Result<Result<ResolvedImage, Miss>, CloudError> {
    let region = cloud.region();
    let by_id = |id: &str| crate::cloud::ImageFilter {
        ids: vec![id.to_string()],
        ..Default::default()
    };
    let usable = |images: Vec<ImageInfo>, id: &str| {
        images
            .into_iter()
            .find(|i| i.id == id && (i.state == "available" || i.state.is_empty()))
    };
    let resolved = |img: ImageInfo, copy_from: Option<(String, String)>| ResolvedImage {
        id: if copy_from.is_some() {
            crate::stack::UNKNOWN_APPLY.to_string()
        } else {
            img.id
        },
        name: img.name,
        creation_date: img.creation_date,
        copy_from,
        source: Some(build.source()),
    };
    let gone = |id: &str, in_region: &str| {
        miss(
            format!(
                "{}: {} (Packer build {}, run {}) names {id} for {in_region}, and there is no such available image there",
                lookup.address, build.manifest, build.build, build.run_uuid
            ),
            "the image was deregistered, or was built in another account: run `packer build` again, or check the credentials' account",
        )
    };
    let found = |result: Result<Vec<ImageInfo>, CloudError>| match result {
        Ok(images) => Ok(images),
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(e),
    };
    if let Some(id) = build.amis.get(region) {
        let images = found(cloud.describe_images(&by_id(id)).await)?;
        return Ok(match usable(images, id) {
            Some(img) => Ok(resolved(img, None)),
            None => Err(gone(id, region)),
        });
    }
    let regions: Vec<&str> = build.amis.keys().map(String::as_str).collect();
    let source = lookup
        .copy_from
        .as_deref()
        .and_then(|r| Some((r, build.amis.get(r)?)));
    let Some((source_region, source_id)) = source else {
        let help = match regions.first() {
            Some(first) => format!(
                "add {region} to the Packer source's `ami_regions`, or set copy_from = \"{first}\" to copy the image here"
            ),
            None => "run `packer build` again".to_string(),
        };
        return Ok(Err(miss(
            format!(
                "{}: {} (Packer build {}, run {}) has no AMI for {region}: it has {}",
                lookup.address,
                build.manifest,
                build.build,
                build.run_uuid,
                regions.join(", ")
            ),
            help,
        )));
    };
    // A copy made by an earlier apply carries the original's region and id.
    let copies = crate::cloud::ImageFilter {
        owners: vec!["self".to_string()],
        tags: [(
            tag::SOURCE_IMAGE.to_string(),
            format!("{source_region}:{source_id}"),
        )]
        .into(),
        ..Default::default()
    };
    let mut copies = found(cloud.describe_images(&copies).await)?;
    copies.retain(|i| i.state == "available" || i.state.is_empty());
    copies.sort_by(|a, b| a.creation_date.cmp(&b.creation_date).then(a.id.cmp(&b.id)));
    if let Some(copy) = copies.pop() {
        return Ok(Ok(resolved(copy, None)));
    }
    let images = found(
        cloud
            .describe_images_in(source_region, &by_id(source_id))
            .await,
    )?;
    Ok(match usable(images, source_id) {
        Some(img) => Ok(resolved(
            img,
            Some((source_region.to_string(), source_id.clone())),
        )),
        None => Err(gone(source_id, source_region)),
    })
}

/// The image among `images` a lookup means; an error when several match without
/// `most_recent`.
fn pick(mut images: Vec<ImageInfo>, lookup: &ImageLookup) -> Result<Option<ImageInfo>, Miss> {
    images.retain(|i| i.state == "available" || i.state.is_empty());
    images.sort_by(|a, b| a.creation_date.cmp(&b.creation_date).then(a.id.cmp(&b.id)));
    if images.len() > 1 && !lookup.most_recent {
        let ids: Vec<&str> = images.iter().map(|i| i.id.as_str()).collect();
        return Err(miss(
            format!(
                "{}: {} images match ({})",
                lookup.address,
                images.len(),
                ids.join(", ")
            ),
            "set `most_recent = true` to take the newest, or narrow the name or tags",
        ));
    }
    Ok(images.pop())
}

fn describe_filter(lookup: &ImageLookup) -> String {
    let f = &lookup.filter;
    let mut parts = Vec::new();
    if !f.ids.is_empty() {
        parts.push(format!("id {}", f.ids.join(", ")));
    }
    if let Some(n) = &f.name {
        parts.push(format!("name {n:?}"));
    }
    if !f.owners.is_empty() {
        parts.push(format!("owners [{}]", f.owners.join(", ")));
    }
    for (k, v) in &f.tags {
        parts.push(format!("tag {k}={v}"));
    }
    parts.join(", ")
}

async fn find_network(
    cloud: &dyn Cloud,
    lookup: &NetworkLookup,
) -> Result<Result<ResolvedNetwork, Miss>, CloudError> {
    let fail =
        |message: String, help: &str| Ok(Err(miss(format!("{}: {message}", lookup.address), help)));
    let vpc_id = match &lookup.vpc_id {
        Some(id) => id.clone(),
        None => {
            let vpcs = cloud.find_vpcs(&lookup.vpc_tags).await?;
            match vpcs.as_slice() {
                [one] => one.id.clone(),
                [] => {
                    return fail(
                        format!(
                            "no VPC in {} has tags {}",
                            cloud.region(),
                            tags_text(&lookup.vpc_tags)
                        ),
                        "check vpc_tags, and that --region is the region the network lives in",
                    )
                }
                many => {
                    return fail(
                        format!(
                            "{} VPCs have tags {} ({}); a network must match exactly one",
                            many.len(),
                            tags_text(&lookup.vpc_tags),
                            many.iter()
                                .map(|v| v.id.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        "add a tag that tells them apart",
                    )
                }
            }
        }
    };
    let mut subnets = cloud.find_subnets(&vpc_id, &lookup.subnet_tags).await?;
    if subnets.is_empty() {
        return fail(
            format!(
                "no subnet of {vpc_id} has tags {}",
                tags_text(&lookup.subnet_tags)
            ),
            "check subnet_tags",
        );
    }
    subnets.sort_by(|a, b| {
        a.availability_zone
            .cmp(&b.availability_zone)
            .then(a.id.cmp(&b.id))
    });
    let mut security_group_ids = Vec::new();
    if !lookup.security_group_names.is_empty() || !lookup.security_group_tags.is_empty() {
        let groups = cloud
            .find_security_groups(
                &vpc_id,
                &lookup.security_group_names,
                &lookup.security_group_tags,
            )
            .await?;
        let by_name: BTreeMap<&str, &str> = groups
            .iter()
            .map(|g| (g.name.as_str(), g.id.as_str()))
            .collect();
        for name in &lookup.security_group_names {
            match by_name.get(name.as_str()) {
                Some(id) => security_group_ids.push(id.to_string()),
                None => {
                    return fail(
                        format!("no security group named {name:?} in {vpc_id}"),
                        "check security_group_names",
                    )
                }
            }
        }
        if lookup.security_group_names.is_empty() {
            security_group_ids.extend(groups.iter().map(|g| g.id.clone()));
        }
        if security_group_ids.is_empty() {
            return fail(
                format!(
                    "no security group in {vpc_id} has tags {}",
                    tags_text(&lookup.security_group_tags)
                ),
                "check security_group_tags",
            );
        }
    }
    let mut zones: Vec<String> = subnets
        .iter()
        .map(|s| s.availability_zone.clone())
        .collect();
    zones.dedup();
    Ok(Ok(ResolvedNetwork {
        vpc_id,
        subnet_ids: subnets.into_iter().map(|s| s.id).collect(),
        availability_zones: zones,
        security_group_ids,
    }))
}

fn tags_text(tags: &crate::cloud::Tags) -> String {
    if tags.is_empty() {
        return "(any)".into();
    }
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
