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
}
