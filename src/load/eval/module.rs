//! A module instance: the `stack` block, the order of its locals, lookups and child modules
//! (`graph.rs`), the reference objects of its resources, and its child modules.

use std::collections::{BTreeMap, HashMap};

use hcl::Value;

use crate::load::convert::{self};
use crate::load::diag::Problem;
use crate::load::graph;
use crate::load::limits::{self};
use crate::load::parse::{RawBlock, RawModule};
use crate::load::vars::{self, Inputs, VarValue};
use crate::names;
use crate::stack::{STACK_TAGS, UNKNOWN_APPLY};

use super::scope::{names_of, object, repeat_attr, with_ref, Evaluator, ModuleValues, Node, Scope};

impl<'a> Evaluator<'a> {
    pub(super) fn stack_block(&mut self, inputs: &Inputs) {
        let blocks: Vec<&RawBlock> = self.parsed.root.blocks_of("stack").collect();
        match blocks.first() {
            // A file that did not parse may hold it: its syntax error is what to fix first.
            None if self.parsed.unparsable_files > 0 => {}
            None => self.problems.push(
                Problem::new("the stack has no `stack` block")
                    .help("add `stack \"name\" { region = \"us-east-1\" }` to one of its files"),
            ),
            Some(b) => {
                let name = b.label().to_string();
                if name.len() > 24 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    self.problems.push(
                        Problem::new(format!("stack name \"{name}\" is not usable in AWS names"))
                            .at(b.loc.clone())
                            .label("expected at most 24 letters, digits and hyphens"),
                    );
                }
                self.stack.name = name;
            }
        }
        self.stack.region = inputs.region_override.clone();
    }

    /// Evaluates one module instance: its outputs as an object, and the reference values of
    /// the resources its caller may name (`module.NAME.server_group.X`).
    pub(super) fn module(
        &mut self,
        module: &'a RawModule,
        path: &[String],
        var_values: BTreeMap<String, VarValue>,
    ) -> ModuleValues {
        let mut scope = Scope::new(module, path.to_vec(), &self.root_dir);
        for (name, v) in var_values {
            scope.set_marked("var", &name, v.value, v.marks);
        }
        self.resource_refs(&mut scope);
        self.named_values(&mut scope);
        if path.is_empty() {
            self.stack_attrs(&scope);
        }
        self.resources(&mut scope);
        let (outputs, marks) = self.outputs(&scope);
        let members = module
            .blocks
            .iter()
            .filter(|b| limits::MODULE_MEMBER_KINDS.contains(&b.ident.as_str()))
            .filter_map(|b| {
                let name = (b.ident.clone(), b.label().to_string());
                let value = scope.values.get(&name)?;
                Some((name.0, name.1, Value::clone(value)))
            })
            .collect();
        ModuleValues {
            outputs,
            marks,
            members,
        }
    }

    /// Locals, lookups and module calls, each after the names it refers to, whatever their
    /// order in the files. A cycle is reported once, naming the references along it.
    pub(super) fn named_values(&mut self, scope: &mut Scope<'a>) {
        let module: &'a RawModule = scope.module;
        let mut nodes: Vec<Node<'a>> = Vec::new();
        for block in &module.blocks {
            match block.ident.as_str() {
                "locals" => nodes.extend(block.attrs.values().map(Node::Local)),
                "image" => nodes.push(Node::Image(block)),
                "network" => nodes.push(Node::Network(block)),
                "module" => nodes.push(Node::Module(block)),
                _ if repeat_attr(block).is_some() => nodes.push(Node::Repeated(block)),
                _ => {}
            }
        }
        let index: HashMap<(&str, &str), usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name(), i))
            .collect();
        let deps: Vec<Vec<usize>> = nodes
            .iter()
            .map(|n| {
                let mut d: Vec<usize> = n
                    .refs()
                    .iter()
                    .filter_map(|r| index.get(&(r.root.as_str(), r.key.as_deref()?)).copied())
                    .collect();
                d.sort_unstable();
                d.dedup();
                d
            })
            .collect();
        let order = graph::order(&deps, |i| (nodes[i].phase(), i));
        for cycle in &order.cycles {
            self.report_cycle(&nodes, cycle);
        }
        let mut evaluated = vec![false; nodes.len()];
        for &i in &order.order {
            evaluated[i] = true;
            match nodes[i] {
                Node::Local(attr) => match self.eval_marked(scope, attr) {
                    Some((v, marks)) => scope.set_marked("local", &attr.name, v, marks),
                    None => scope.fail("local", &attr.name),
                },
                Node::Image(block) => self.image(scope, block),
                Node::Network(block) => self.network(scope, block),
                Node::Module(call) => self.child_module(scope, call),
                Node::Repeated(block) => self.repeated(scope, block),
            }
        }
        // On a cycle or depending on one: reported above.
        for (node, _) in nodes.iter().zip(evaluated).filter(|(_, done)| !done) {
            let (root, key) = node.name();
            scope.fail(root, key);
        }
    }

    pub(super) fn report_cycle(&mut self, nodes: &[Node], cycle: &[usize]) {
        let name = |i: usize| {
            let (root, key) = nodes[i].name();
            format!("{root}.{key}")
        };
        let mut path: Vec<String> = cycle.iter().map(|&i| name(i)).collect();
        path.push(name(cycle[0]));
        let (first, next) = (cycle[0], cycle.get(1).copied().unwrap_or(cycle[0]));
        let (root, key) = nodes[next].name();
        let at = nodes[first]
            .refs()
            .into_iter()
            .find(|r| r.root == root && r.key.as_deref() == Some(key))
            .map(|r| r.loc.clone());
        let what = match cycle.iter().all(|&i| matches!(nodes[i], Node::Local(_))) {
            true => "local values",
            false => "these values",
        };
        self.problems.push(
            Problem::new(format!(
                "{what} depend on each other in a cycle: {}",
                path.join(" → ")
            ))
            .at_opt(at)
            .label(match cycle.len() {
                1 => "refers to itself".to_string(),
                _ => format!("refers to `{}`, which leads back here", name(next)),
            })
            .help("break the cycle: a value may not depend on itself, directly or through others"),
        );
    }

    pub(super) fn stack_attrs(&mut self, scope: &Scope<'a>) {
        let Some(block) = scope.module.blocks_of("stack").next() else {
            return;
        };
        if let Some(attr) = block.attr("region") {
            if let Some((v, _)) = self.eval(scope, "stack", attr) {
                if self.stack.region.is_none() {
                    self.stack.region = self.conv(attr).string(&v);
                }
            }
        }
        self.stack_regions(scope, block);
        if let Some(attr) = block.attr("tags") {
            if let Some((v, marks)) = self.eval(scope, "stack", attr) {
                self.stack.tags = self
                    .conv_marked(attr, &marks)
                    .string_map(&v)
                    .unwrap_or_default();
                let keys = marks.keys(&self.stack.tags);
                self.stack.sensitive.set_tags(STACK_TAGS, keys);
            }
        }
        if let Some(attr) = block.attr("lock") {
            if let Some((v, _)) = self.eval(scope, "stack", attr) {
                if let Some(lock) = self.conv(attr).lock(&v) {
                    self.stack.lock = lock;
                }
            }
        }
        for hook in block.blocks.iter().filter(|b| b.ident == "hook") {
            let body = self.eval_tree(scope, hook);
            if let Some(h) = convert::hook(&body, &scope.module.dir, &mut self.problems) {
                self.stack.hooks.push(h);
            }
        }
    }

    /// `regions` and `region_bake`; `regions` is refused beside `region`.
    fn stack_regions(&mut self, scope: &Scope<'a>, block: &RawBlock) {
        if let Some(attr) = block.attr("regions") {
            if block.attr("region").is_some() {
                self.problems.push(
                    Problem::new("the stack block sets both `region` and `regions`")
                        .at(attr.loc.clone())
                        .label("`regions` here")
                        .help(
                            "keep one: `regions` to go region by region, or `region` for one \
                             region; remove the other",
                        ),
                );
            } else if let Some((v, _)) = self.eval(scope, "stack", attr) {
                self.stack.regions = self.conv(attr).region_list(&v).unwrap_or_default();
            }
        }
        if let Some(attr) = block.attr("region_bake") {
            if let Some((v, _)) = self.eval(scope, "stack", attr) {
                self.stack.region_bake = self.conv(attr).duration(&v);
            }
        }
    }

    /// Objects standing for target groups, load balancers and server groups, so that other
    /// blocks can refer to them before (or without) evaluating them. A block with `count` or
    /// `for_each` gets its list or map of them once that is evaluated ([`Self::repeated`]).
    pub(super) fn resource_refs(&mut self, scope: &mut Scope<'a>) {
        let module: &'a RawModule = scope.module;
        for block in module.blocks.iter().filter(|b| repeat_attr(b).is_none()) {
            let (key, address) = names_of(&scope.path, block, None);
            if let Some(value) = self.ref_object(&block.ident, &key, &address) {
                scope.set(&block.ident, block.label(), value);
            }
        }
    }

    /// The reference object of one target group, load balancer or server group.
    pub(super) fn ref_object(&self, ident: &str, key: &str, address: &str) -> Option<Value> {
        let known = self.known.attributes.get(address);
        let attr = |name: &str| -> Value {
            Value::from(
                known
                    .and_then(|k| k.get(name).cloned())
                    .unwrap_or_else(|| UNKNOWN_APPLY.to_string()),
            )
        };
        let value = match ident {
            "target_group" => object([
                ("name", Value::from(names::elb_name(&self.stack.name, key))),
                ("arn", attr("arn")),
            ]),
            "load_balancer" => object([
                ("name", Value::from(names::elb_name(&self.stack.name, key))),
                ("arn", attr("arn")),
                ("dns_name", attr("dns_name")),
            ]),
            "server_group" => object([("name", Value::from(format!("{}-{key}", self.stack.name)))]),
            _ => return None,
        };
        Some(with_ref(value, ident, address))
    }

    pub(super) fn child_module(&mut self, scope: &mut Scope<'a>, call: &'a RawBlock) {
        let label = call.label().to_string();
        let Some(child) = scope.module.children.get(&label) else {
            scope.fail("module", &label); // loading it failed, already reported
            return;
        };
        let mut inputs = BTreeMap::new();
        for attr in call.attrs.values().filter(|a| a.name != "source") {
            if let Some((v, marks)) = self.eval_marked(scope, attr) {
                inputs.insert(attr.name.clone(), (v, attr, marks));
            }
        }
        let values = vars::module_values(child, call, inputs, &mut self.problems);
        let mut path = scope.path.clone();
        path.push(label.clone());
        let ModuleValues {
            outputs,
            marks,
            members,
        } = self.module(child, &path, values);
        // An output named `server_group` (or `target_group`) keeps its meaning for keys that are
        // not resources of the module.
        for kind in limits::MODULE_MEMBER_KINDS {
            if let Some(Value::Object(output)) = outputs.as_object().and_then(|o| o.get(*kind)) {
                let kind_marks = marks.key(kind);
                for (key, value) in output {
                    scope.set_marked(
                        "module",
                        &format!("{label}.{kind}.{key}"),
                        value.clone(),
                        kind_marks.key(key),
                    );
                }
            }
        }
        scope.set_marked("module", &label, outputs, marks);
        for (kind, name, value) in members {
            scope.set("module", &format!("{label}.{kind}.{name}"), value);
        }
        // Every server group in the module, its own modules' and every copy included.
        let prefix: String = path.iter().map(|m| format!("module.{m}.")).collect();
        let groups = self
            .stack
            .server_groups
            .iter()
            .filter(|g| g.address.starts_with(&prefix))
            .map(|g| g.address.clone())
            .collect();
        scope.members.insert(label, groups);
    }
}
