//! How reroll names the AWS resources it creates, within AWS's naming rules.

use sha2::{Digest, Sha256};

/// Longest name AWS allows for target groups and load balancers.
pub const ELB_NAME_MAX: usize = 32;

/// The name of a target group or load balancer: `<stack>-<key>`, letters, digits and hyphens
/// only, at most 32 characters. Longer names keep their start and end in a short hash, so
/// that they stay unique and recognisable.
pub fn elb_name(stack: &str, key: &str) -> String {
    let raw = format!("{stack}-{key}");
    let clean: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let clean = clean.trim_matches('-').to_string();
    if clean.len() <= ELB_NAME_MAX {
        return clean;
    }
    let hash = hex::encode(&Sha256::digest(raw.as_bytes())[..3]);
    let keep = ELB_NAME_MAX - hash.len() - 1;
    format!("{}-{hash}", clean[..keep].trim_end_matches('-'))
}

/// The prefix every ELB name of a stack starts with (used to narrow listings).
pub fn elb_prefix(stack: &str) -> String {
    let p = elb_name(stack, "x");
    p[..p.len().saturating_sub(1).min(ELB_NAME_MAX - 7)].to_string()
}

/// The launch template of a server group: one per group, one version per generation.
pub fn launch_template_name(stack: &str, key: &str) -> String {
    format!("{stack}-{key}")
}

/// The Auto Scaling group of one generation: `shop-web-v004`.
pub fn generation_group_name(stack: &str, key: &str, generation: u32) -> String {
    format!("{stack}-{key}-v{generation:03}")
}

/// The generation number in a group name made by [`generation_group_name`].
pub fn parse_generation(name: &str) -> Option<u32> {
    let (_, n) = name.rsplit_once("-v")?;
    n.parse().ok()
}

/// The key of a server group, target group or load balancer: its labels from the root module
/// down, joined with `-` (`web`, or `api-web` inside `module "api"`).
pub fn key(module_path: &[String], label: &str) -> String {
    let mut parts: Vec<&str> = module_path.iter().map(String::as_str).collect();
    parts.push(label);
    parts.join("-")
}

/// The stack address: `server_group.web`, `module.api.server_group.web`.
pub fn address(module_path: &[String], kind: &str, label: &str) -> String {
    let mut s = String::new();
    for m in module_path {
        s.push_str("module.");
        s.push_str(m);
        s.push('.');
    }
    s.push_str(kind);
    s.push('.');
    s.push_str(label);
    s
}

/// Which copy of a block with `count` or `for_each` a resource is: `[2]` or `["us-east-1a"]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Instance {
    Index(u64),
    Key(String),
}

impl Instance {
    /// What the copy adds to its block's key in AWS names: `web-2`, `web-us-east-1a`.
    pub fn key_suffix(&self) -> String {
        match self {
            Instance::Index(i) => i.to_string(),
            Instance::Key(k) => k.clone(),
        }
    }

    /// What the copy adds to its block's address: `[2]`, `["us-east-1a"]`.
    pub fn address_suffix(&self) -> String {
        match self {
            Instance::Index(i) => format!("[{i}]"),
            Instance::Key(k) => format!("[{k:?}]"),
        }
    }
}

/// A stack address as a tag value. Load balancing tags allow only letters, digits, spaces and
/// `_ . : / = + - @`, so a copy's `[2]` is written `/2` and its `["a"]` `/=a` (`for_each`
/// keys are letters, digits, `-` and `_`). Addresses without a copy are written as they are.
pub fn address_tag(address: &str) -> String {
    let Some((base, rest)) = address.split_once('[') else {
        return address.to_string();
    };
    let inner = rest.strip_suffix(']').unwrap_or(rest);
    match inner.strip_prefix('"').and_then(|k| k.strip_suffix('"')) {
        Some(key) => format!("{base}/={key}"),
        None => format!("{base}/{inner}"),
    }
}

/// The stack address an [`address_tag`] value stands for.
pub fn address_from_tag(tag: &str) -> String {
    let Some((base, copy)) = tag.rsplit_once('/') else {
        return tag.to_string();
    };
    match copy.strip_prefix('=') {
        Some(key) => format!("{base}[{key:?}]"),
        None => format!("{base}[{copy}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elb_names_fit_aws_rules() {
        let cases = [
            ("shop", "web", "shop-web"),
            ("shop", "api_web", "shop-api-web"),
            ("a-very-long-stack-name", "and-a-long-group-name", ""),
        ];
        for (stack, key, want) in cases {
            let n = elb_name(stack, key);
            assert!(n.len() <= ELB_NAME_MAX, "{n}");
            assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
            assert!(!n.starts_with('-') && !n.ends_with('-'));
            if !want.is_empty() {
                assert_eq!(n, want);
            }
            assert!(
                n.starts_with(&elb_prefix(stack)),
                "{n} / {}",
                elb_prefix(stack)
            );
        }
        assert_ne!(
            elb_name("a-very-long-stack-name", "and-a-long-group-name-1"),
            elb_name("a-very-long-stack-name", "and-a-long-group-name-2")
        );
    }

    #[test]
    fn generation_names_round_trip() {
        let n = generation_group_name("shop", "web", 4);
        assert_eq!(n, "shop-web-v004");
        assert_eq!(parse_generation(&n), Some(4));
        assert_eq!(parse_generation("shop-web"), None);
    }

    #[test]
    fn addresses_and_keys() {
        let m = vec!["api".to_string()];
        assert_eq!(
            address(&m, "server_group", "main"),
            "module.api.server_group.main"
        );
        assert_eq!(key(&m, "main"), "api-main");
        assert_eq!(address(&[], "target_group", "web"), "target_group.web");
    }

    #[test]
    fn copies_of_a_block_round_trip_through_tags() {
        let cases = [
            ("server_group.web", "server_group.web"),
            ("server_group.web[0]", "server_group.web/0"),
            ("server_group.web[12]", "server_group.web/12"),
            (
                "module.api.target_group.shard[\"us-east-1a\"]",
                "module.api.target_group.shard/=us-east-1a",
            ),
            ("target_group.web[\"0\"]", "target_group.web/=0"),
        ];
        for (address, tag) in cases {
            assert_eq!(address_tag(address), tag, "{address}");
            assert_eq!(address_from_tag(tag), address, "{tag}");
            // Only what load balancing tags allow.
            assert!(tag
                .chars()
                .all(|c| c.is_alphanumeric() || " _.:/=+-@".contains(c)));
        }
        let copy = Instance::Key("a".into());
        assert_eq!(copy.address_suffix(), "[\"a\"]");
        assert_eq!(Instance::Index(3).key_suffix(), "3");
    }
}
