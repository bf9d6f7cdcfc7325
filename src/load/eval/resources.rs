//! A module's resources and outputs, and `depends_on` cycles between server groups.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use hcl::{Map, Value};

use crate::load::convert::{self};
use crate::load::diag::Problem;
use crate::load::graph;
use crate::load::limits::{self};
use crate::load::marks::Marks;
use crate::load::parse::{RawAttr, RawBlock, RawModule};
use crate::names;
use crate::stack::Output;

use super::scope::{names_of, object, repeat_attr, strings, with_ref, Evaluator, Scope};

impl<'a> Evaluator<'a> {
    pub(super) fn resources(&mut self, scope: &mut Scope<'a>) {
        let module: &'a RawModule = scope.module;
        for block in &module.blocks {
            if repeat_attr(block).is_none() {
                let (key, address) = names_of(&scope.path, block, None);
                self.resource(scope, block, key, address);
                continue;
            }
            // Failed (reported) when it has no copies.
            let name = (block.ident.clone(), block.label().to_string());
            let copies = scope.copies.get(&name).cloned().unwrap_or_default();
            for copy in &copies {
                let (key, address) = names_of(&scope.path, block, Some(&copy.instance));
                scope.set_copy(Some(copy));
                self.resource(scope, block, key, address);
            }
            scope.set_copy(None);
        }
    }

    /// One target group, load balancer or server group (or one copy of a repeated one).
    fn resource(&mut self, scope: &Scope<'a>, block: &'a RawBlock, key: String, address: String) {
        match block.ident.as_str() {
            "target_group" => {
                let body = self.eval_tree(scope, block);
                if let Some(tg) = convert::target_group(
                    &body,
                    &self.stack.name,
                    &key,
                    address,
                    self.origin(&block.loc),
                    &mut self.problems,
                ) {
                    if self.taken("target group", &tg.name, &tg.address, block) {
                        return;
                    }
                    let keys = body.marks_of("tags").keys(&tg.tags);
                    self.stack.sensitive.set_tags(&tg.address, keys);
                    self.stack.target_groups.push(tg);
                }
            }
            "load_balancer" => {
                let body = self.eval_tree(scope, block);
                if let Some(lb) = convert::load_balancer(
                    &body,
                    &self.stack.name,
                    &key,
                    address,
                    self.origin(&block.loc),
                    &mut self.problems,
                ) {
                    if self.taken("load balancer", &lb.name, &lb.address, block) {
                        return;
                    }
                    let keys = body.marks_of("tags").keys(&lb.tags);
                    self.stack.sensitive.set_tags(&lb.address, keys);
                    self.stack.load_balancers.push(lb);
                }
            }
            "server_group" => {
                let mut body = self.eval_tree(scope, block);
                if let Some((v, attr)) = body.attrs.get_mut("depends_on") {
                    modules_waited_for(scope, attr, v);
                }
                if let Some(g) = convert::server_group(
                    &body,
                    &key,
                    address,
                    self.origin(&block.loc),
                    &scope.module.dir,
                    &mut self.problems,
                ) {
                    let name = format!("{}-{}", self.stack.name, g.key);
                    if self.taken("server group", &name, &g.address, block) {
                        return;
                    }
                    let keys = body.marks_of("tags").keys(&g.tags);
                    self.stack.sensitive.set_tags(&g.address, keys);
                    if body.marks_of("user_data").any() {
                        self.stack.sensitive.user_data.insert(g.address.clone());
                    }
                    if let Some(attr) = block.attr("depends_on") {
                        self.depends_on
                            .push((g.address.clone(), scope.path.clone(), attr));
                    }
                    self.stack.server_groups.push(g);
                }
            }
            _ => {}
        }
    }

    /// Two resources that would have the same name in AWS (`web-1` beside a copy
    /// `web[1]`, a module `api` with `web` beside `api-web`, one `name` for every copy):
    /// the second is refused.
    fn taken(&mut self, kind: &str, name: &str, address: &str, block: &RawBlock) -> bool {
        let first = match self.names_taken.entry((kind.to_string(), name.to_string())) {
            Entry::Vacant(v) => {
                v.insert(address.to_string());
                return false;
            }
            Entry::Occupied(o) => o.get().clone(),
        };
        // The same block twice: reported as a duplicate where the files are read.
        if first == address {
            return true;
        }
        let at = repeat_attr(block)
            .and_then(|_| block.attr("name"))
            .map_or_else(|| block.loc.clone(), |a| a.value_loc.clone());
        self.problems.push(
            Problem::new(format!(
                "{address} and {first} would both be the {kind} {name:?} in AWS"
            ))
            .at(at)
            .label(format!("{kind} {name:?} again"))
            .help(match block.attr("name") {
                Some(_) if repeat_attr(block).is_some() => {
                    "give each copy its own name, for example with `count.index` or `each.key` in it"
                        .to_string()
                }
                _ => format!("rename one of them: {kind}s are named after the stack and their labels"),
            }),
        );
        true
    }

    /// A module's outputs as an object, and which of them are sensitive: derived from a
    /// sensitive value, or declared `sensitive = true`.
    pub(super) fn outputs(&mut self, scope: &Scope) -> (Value, Marks) {
        let mut out = Map::new();
        let mut marks = Marks::None;
        for block in scope.module.blocks_of("output") {
            let values = self.eval_block(scope, block);
            let Some((value, value_marks)) = values.get("value").cloned() else {
                continue;
            };
            let declared = match (values.get("sensitive"), block.attr("sensitive")) {
                (Some((v, _)), Some(attr)) => self.conv(attr).boolean(v).unwrap_or(false),
                _ => false,
            };
            let value_marks = match declared {
                true => Marks::All,
                false => value_marks,
            };
            out.insert(block.label().to_string(), value.clone());
            marks = marks.merge(Marks::entry(block.label(), value_marks.clone()));
            if !scope.path.is_empty() {
                continue;
            }
            let sensitive = value_marks.any();
            let description = match (values.get("description"), block.attr("description")) {
                (Some((v, _)), Some(attr)) => self.conv(attr).string(v),
                _ => None,
            };
            self.stack.outputs.push(Output {
                name: block.label().to_string(),
                value: serde_json::to_value(&value).unwrap_or(serde_json::Value::Null),
                sensitive,
                description,
            });
        }
        (Value::Object(out), marks)
    }

    /// Server groups that depend on each other in a cycle cannot be rolled in any order.
    pub(super) fn depends_on_cycles(&mut self) {
        let groups: Vec<&str> = self
            .stack
            .server_groups
            .iter()
            .map(|g| g.address.as_str())
            .collect();
        let index: HashMap<&str, usize> = groups.iter().enumerate().map(|(i, a)| (*a, i)).collect();
        let deps: Vec<Vec<usize>> = self
            .stack
            .server_groups
            .iter()
            .map(|g| {
                let mut d: Vec<usize> = g
                    .depends_on
                    .iter()
                    .filter_map(|a| index.get(a.as_str()).copied())
                    .collect();
                d.sort_unstable();
                d.dedup();
                d
            })
            .collect();
        let order = graph::order(&deps, |i| i);
        for cycle in order.cycles {
            let mut path: Vec<&str> = cycle.iter().map(|&i| groups[i]).collect();
            path.push(groups[cycle[0]]);
            let (first, next) = (groups[cycle[0]], groups[*cycle.get(1).unwrap_or(&cycle[0])]);
            let at = self
                .depends_on
                .iter()
                .find(|(address, ..)| address == first)
                .map(|(_, module_path, attr)| {
                    attr.refs
                        .iter()
                        .find(|r| {
                            r.key.as_deref().is_some_and(|k| match r.root.as_str() {
                                // `server_group.web`, or a copy of it: `server_group.web[1]`.
                                "server_group" => {
                                    let named = names::address(module_path, "server_group", k);
                                    next == named
                                        || next
                                            .strip_prefix(named.as_str())
                                            .is_some_and(|rest| rest.starts_with('['))
                                }
                                // `module.api` or `module.api.server_group.x`: inside it.
                                "module" => next.starts_with(&names::address(
                                    module_path,
                                    "module",
                                    &format!("{k}."),
                                )),
                                _ => false,
                            })
                        })
                        .map_or_else(|| attr.value_loc.clone(), |r| r.loc.clone())
                });
            self.problems.push(
                Problem::new(format!(
                    "server groups depend on each other in a cycle: {}",
                    path.join(" → ")
                ))
                .at_opt(at)
                .label(match cycle.len() {
                    1 => "a server group cannot wait for itself".to_string(),
                    _ => format!("waits for {next}, which waits back"),
                })
                .help("remove one `depends_on` entry along the cycle: apply rolls a group only after those it depends on"),
            );
        }
    }
}

/// In `depends_on = [module.api, …]`, each element that is a bare module reference stands for
/// the module's server groups (as Terraform, `depends_on` names things, it computes nothing):
/// replaced by a marker object the conversion expands.
pub(super) fn modules_waited_for(scope: &Scope, attr: &RawAttr, value: &mut Value) {
    let (hcl::Expression::Array(items), Value::Array(values)) = (&attr.expr, value) else {
        return;
    };
    if items.len() != values.len() {
        return;
    }
    for (item, v) in items.iter().zip(values.iter_mut()) {
        let Some(slot) = limits::ref_slot(item) else {
            continue;
        };
        let Some((root, key)) = attr.slots.get(slot) else {
            continue;
        };
        if root != "module" || key.contains('.') {
            continue;
        }
        let groups = scope.members.get(key).cloned().unwrap_or_default();
        *v = with_ref(
            object([("server_groups", strings(&groups))]),
            "module",
            &scope
                .path
                .iter()
                .chain([key])
                .map(|m| format!("module.{m}"))
                .collect::<Vec<_>>()
                .join("."),
        );
    }
}
