//! A module's resources and outputs, and `depends_on` cycles between server groups.

use std::collections::HashMap;

use hcl::{Map, Value};

use crate::load::convert::{self};
use crate::load::diag::Problem;
use crate::load::graph;
use crate::load::limits::{self};
use crate::load::marks::Marks;
use crate::load::parse::{RawAttr, RawModule};
use crate::names;
use crate::stack::Output;

use super::scope::{object, strings, with_ref, Evaluator, Scope};

impl<'a> Evaluator<'a> {
    pub(super) fn resources(&mut self, scope: &Scope<'a>) {
        let module: &'a RawModule = scope.module;
        for block in &module.blocks {
            let label = block.label();
            let key = names::key(&scope.path, label);
            let address = names::address(&scope.path, &block.ident, label);
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
                                "server_group" => {
                                    names::address(module_path, "server_group", k) == next
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
