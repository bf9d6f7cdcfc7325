//! `image` and `network` lookups: their filters, the Packer manifest, and the answers
//! already known.

use hcl::Value;

use crate::cloud::ImageFilter;
use crate::load::diag::Problem;
use crate::load::parse::RawBlock;
use crate::names;
use crate::stack::{is_unknown, ImageLookup, NetworkLookup, UNKNOWN_LOOKUP};

use super::scope::{object, strings, with_ref, Evaluator, Scope};

impl<'a> Evaluator<'a> {
    pub(super) fn image(&mut self, scope: &mut Scope<'a>, block: &'a RawBlock) {
        let address = names::address(&scope.path, "image", block.label());
        let origin = self.origin(&block.loc);
        let values = self.eval_block(scope, block);
        let mut filter = ImageFilter::default();
        let mut most_recent = false;
        let mut copy_from = None;
        let mut manifest = None;
        let mut build = None;
        let mut copy_kms_key = None;
        for (name, (v, _)) in &values {
            let attr = block.attr(name).expect("evaluated attribute exists");
            let mut c = self.conv(attr);
            match name.as_str() {
                "id" => filter.ids = c.string(v).into_iter().collect(),
                "owners" => filter.owners = c.string_list(v).unwrap_or_default(),
                "name" => filter.name = c.string(v),
                "tags" => filter.tags = c.string_map(v).unwrap_or_default(),
                "most_recent" => most_recent = c.boolean(v).unwrap_or(false),
                "copy_from" => copy_from = c.string(v),
                "packer_manifest" => manifest = c.string(v),
                "build" => build = c.string(v),
                // null: no key, as when the attribute is left out.
                "copy_kms_key" if v.is_null() => {}
                "copy_kms_key" => copy_kms_key = c.string(v),
                _ => {}
            }
        }
        let all_evaluated = values.len() == block.attrs.len();
        let named_by_packer = block.attr("packer_manifest").is_some();
        let packer = self.packer(scope, block, manifest, build);
        if named_by_packer && packer.is_none() {
            // Its manifest or build is not known yet (or is wrong, and said so): the lookup is
            // not run, as any lookup with an unknown argument.
            filter.name = Some(UNKNOWN_LOOKUP.into());
        }
        if !named_by_packer
            && all_evaluated
            && filter.ids.is_empty()
            && filter.name.is_none()
            && filter.tags.is_empty()
        {
            self.problems.push(
                Problem::new(format!("image \"{}\" matches any image", block.label()))
                    .at(block.loc.clone())
                    .label("expected `id`, or `name` and/or `tags` to look it up by")
                    .help("for example: owners = [\"self\"], name = \"app-${var.version}\", most_recent = true"),
            );
        }
        let resolved = self.known.images.get(&address);
        let value = match resolved {
            Some(r) => object([
                ("id", Value::from(r.id.clone())),
                ("name", Value::from(r.name.clone())),
                ("creation_date", Value::from(r.creation_date.clone())),
                (
                    "source",
                    r.source.clone().map(Value::from).unwrap_or(Value::Null),
                ),
            ]),
            None => object([
                ("id", Value::from(UNKNOWN_LOOKUP)),
                (
                    "name",
                    Value::from(filter.name.clone().unwrap_or_else(|| UNKNOWN_LOOKUP.into())),
                ),
                ("creation_date", Value::from(UNKNOWN_LOOKUP)),
                ("source", Value::Null),
            ]),
        };
        scope.set("image", block.label(), with_ref(value, "image", &address));
        self.stack.images.push(ImageLookup {
            address,
            filter,
            most_recent,
            copy_from,
            packer,
            copy_kms_key,
            origin,
        });
    }

    /// The Packer build an image block names (`packer_manifest`, `build`), read through the
    /// load's snapshot; `None`, with any problem reported, when the block names none or it
    /// cannot be read. A search (`id`, `name`, `tags`, `owners`, `most_recent`) cannot be
    /// combined with it.
    pub(super) fn packer(
        &mut self,
        scope: &Scope,
        block: &RawBlock,
        manifest: Option<String>,
        build: Option<String>,
    ) -> Option<crate::stack::PackerBuild> {
        use crate::load::snapshot::{read, Entry};
        let Some(manifest_attr) = block.attr("packer_manifest") else {
            if let Some(attr) = block.attr("build") {
                self.problems.push(
                    Problem::new(format!(
                        "image \"{}\": `build` names a build of a Packer manifest, and there is none",
                        block.label()
                    ))
                    .at(attr.loc.clone())
                    .label("needs `packer_manifest`")
                    .help("add packer_manifest = \"packer-manifest.json\" (the file Packer's manifest post-processor writes), or remove `build`"),
                );
            }
            return None;
        };
        for name in ["id", "owners", "name", "tags", "most_recent"] {
            if let Some(attr) = block.attr(name) {
                self.problems.push(
                    Problem::new(format!(
                        "image \"{}\": `{name}` searches for an image, and `packer_manifest` already names it",
                        block.label()
                    ))
                    .at(attr.loc.clone())
                    .label("not with packer_manifest")
                    .help("use either a Packer manifest (`packer_manifest`, `build`) or a search (`id`, `owners`, `name`, `tags`, `most_recent`)"),
                );
            }
        }
        let manifest = manifest.filter(|m| !is_unknown(m))?;
        if block.attr("build").is_some() && build.as_deref().is_none_or(is_unknown) {
            return None;
        }
        let path = scope.module.dir.join(&manifest);
        let bytes = match read(&path) {
            Entry::File(bytes) => bytes,
            other => {
                let why = match other {
                    Entry::Missing => "does not exist".to_string(),
                    Entry::Directory => "is a directory".to_string(),
                    Entry::Error(e) => format!("cannot be read: {e}"),
                    Entry::File(_) => unreachable!("matched above"),
                };
                self.problems.push(
                    Problem::new(format!(
                        "image \"{}\": the Packer manifest {} {why}",
                        block.label(),
                        path.display()
                    ))
                    .at(manifest_attr.value_loc.clone())
                    .label("this manifest")
                    .help("run `packer build` (with the `manifest` post-processor) first; a relative path is relative to the directory of this file"),
                );
                return None;
            }
        };
        match crate::load::packer::build(&bytes, &manifest, build.as_deref()) {
            Ok(b) => Some(b),
            Err(refusal) => {
                let at = block.attr("build").unwrap_or(manifest_attr);
                self.problems.push(
                    Problem::new(format!("image \"{}\": {}", block.label(), refusal.message))
                        .at(at.value_loc.clone())
                        .label("this build")
                        .help(refusal.help),
                );
                None
            }
        }
    }

    pub(super) fn network(&mut self, scope: &mut Scope<'a>, block: &'a RawBlock) {
        let address = names::address(&scope.path, "network", block.label());
        let origin = self.origin(&block.loc);
        let values = self.eval_block(scope, block);
        let mut lookup = NetworkLookup {
            address: address.clone(),
            vpc_id: None,
            vpc_tags: Default::default(),
            subnet_tags: Default::default(),
            security_group_names: Vec::new(),
            security_group_tags: Default::default(),
            origin,
        };
        for (name, (v, _)) in &values {
            let attr = block.attr(name).expect("evaluated attribute exists");
            let mut c = self.conv(attr);
            match name.as_str() {
                "vpc_id" => lookup.vpc_id = c.string(v),
                "vpc_tags" => lookup.vpc_tags = c.string_map(v).unwrap_or_default(),
                "subnet_tags" => lookup.subnet_tags = c.string_map(v).unwrap_or_default(),
                "security_group_names" => {
                    lookup.security_group_names = c.string_list(v).unwrap_or_default()
                }
                "security_group_tags" => {
                    lookup.security_group_tags = c.string_map(v).unwrap_or_default()
                }
                _ => {}
            }
        }
        let all_evaluated = values.len() == block.attrs.len();
        if all_evaluated && lookup.vpc_id.is_none() && lookup.vpc_tags.is_empty() {
            self.problems.push(
                Problem::new(format!(
                    "network \"{}\" does not say which VPC",
                    block.label()
                ))
                .at(block.loc.clone())
                .label("expected `vpc_tags` (or `vpc_id`)"),
            );
        }
        let value = match self.known.networks.get(&address) {
            Some(n) => object([
                ("vpc_id", Value::from(n.vpc_id.clone())),
                ("subnet_ids", strings(&n.subnet_ids)),
                ("security_group_ids", strings(&n.security_group_ids)),
                ("availability_zones", strings(&n.availability_zones)),
            ]),
            None => {
                let unknown = Value::Array(vec![Value::from(UNKNOWN_LOOKUP)]);
                object([
                    ("vpc_id", Value::from(UNKNOWN_LOOKUP)),
                    ("subnet_ids", unknown.clone()),
                    ("security_group_ids", unknown.clone()),
                    ("availability_zones", unknown),
                ])
            }
        };
        scope.set(
            "network",
            block.label(),
            with_ref(value, "network", &address),
        );
        self.stack.networks.push(lookup);
    }
}
