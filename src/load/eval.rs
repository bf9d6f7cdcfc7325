//! Evaluating a parsed stack into a [`Stack`]: variables, locals, lookups, references,
//! modules, resources and outputs. Pure: what the cloud knows arrives as [`Known`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use hcl::eval::Context;
use hcl::{Map, Value};

use super::convert::{self, Conv};
use super::diag::{did_you_mean, Diagnostics, Loc, Problem};
use super::graph;
use super::limits::{self, Failure};
use super::marks::Marks;
use super::parse::{Parsed, RawAttr, RawBlock, RawModule, Reference};
use super::vars::{self, Inputs, VarValue};
use crate::cloud::ImageFilter;
use crate::names;
use crate::stack::{
    is_unknown, ImageLookup, Known, NetworkLookup, Output, Stack, STACK_TAGS, UNKNOWN_APPLY,
    UNKNOWN_LOOKUP,
};

/// Evaluates a parsed stack. All problems are returned together.
pub fn evaluate(parsed: &Parsed, inputs: &Inputs, known: &Known) -> Result<Stack, Diagnostics> {
    super::snapshot::with_snapshot(&parsed.files, || evaluate_here(parsed, inputs, known))
}

fn evaluate_here(parsed: &Parsed, inputs: &Inputs, known: &Known) -> Result<Stack, Diagnostics> {
    // Var files join the sources, so that a problem in one is shown at its line.
    let with_var_files;
    let parsed = if inputs.files.is_empty() {
        parsed
    } else {
        let mut p = parsed.clone();
        for file in &inputs.files {
            if let super::snapshot::Entry::File(bytes) = super::snapshot::read(file) {
                if let Ok(text) = String::from_utf8(bytes.to_vec()) {
                    p.sources.add(file, text);
                }
            }
        }
        with_var_files = p;
        &with_var_files
    };
    let mut ev = Evaluator {
        parsed,
        known,
        stack: Stack::default(),
        problems: Vec::new(),
        root_dir: parsed.root.dir.clone(),
        ctx: {
            let mut ctx = Context::new();
            super::functions::declare_all(&mut ctx);
            ctx
        },
        depends_on: Vec::new(),
        suggestions_left: 1_000_000,
    };
    ev.stack_block(inputs);
    let values = vars::root_values(parsed, inputs, &mut ev.problems);
    ev.module(&parsed.root, &[], values);
    ev.depends_on_cycles();
    if ev.problems.is_empty() && parsed.problems.is_empty() {
        Ok(ev.stack)
    } else {
        Err(parsed.clone().into_diagnostics(ev.problems))
    }
}

/// Kinds of things a reference can name, by their root word.
const ROOTS: &[&str] = &[
    "var",
    "local",
    "path",
    "image",
    "network",
    "target_group",
    "load_balancer",
    "server_group",
    "module",
];

struct Evaluator<'a> {
    parsed: &'a Parsed,
    known: &'a Known,
    stack: Stack,
    problems: Vec<Problem>,
    root_dir: PathBuf,
    /// Every function of the stack language; values reach expressions through `__ref` slots.
    ctx: Context<'static>,
    /// Server groups' `depends_on`, with the module path they were declared in.
    depends_on: Vec<(String, Vec<String>, &'a RawAttr)>,
    /// Declared names "did you mean" may still compare misspelt references with.
    suggestions_left: usize,
}

/// What one module instance can see while it is evaluated.
struct Scope<'a> {
    module: &'a RawModule,
    path: Vec<String>,
    /// Values references name, by root and key: `local.name` is `("local", "name")`.
    values: HashMap<(String, String), Rc<Value>>,
    /// Which parts of those values are sensitive (absent: nothing).
    marks: HashMap<(String, String), Marks>,
    /// Declared names whose value could not be computed (the reason is reported): attributes
    /// that use them are skipped rather than reported again.
    failed: HashSet<(String, String)>,
    /// Declared names per root, for checking references before evaluating.
    declared: BTreeMap<&'static str, BTreeSet<String>>,
    /// The addresses of every server group in each child module (its own modules' included),
    /// by the module's label: what `depends_on = [module.NAME]` waits for.
    members: HashMap<String, Vec<String>>,
}

impl<'a> Scope<'a> {
    fn new(module: &'a RawModule, path: Vec<String>, root_dir: &Path) -> Self {
        let mut declared: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
        for root in ROOTS {
            declared.insert(root, BTreeSet::new());
        }
        let kinds = [
            ("variable", "var"),
            ("image", "image"),
            ("network", "network"),
            ("target_group", "target_group"),
            ("load_balancer", "load_balancer"),
            ("server_group", "server_group"),
            ("module", "module"),
        ];
        for b in &module.blocks {
            if let Some((_, root)) = kinds.iter().find(|(k, _)| *k == b.ident) {
                declared
                    .get_mut(root)
                    .expect("root declared")
                    .insert(b.label().to_string());
            }
            if b.ident == "locals" {
                declared
                    .get_mut("local")
                    .expect("root declared")
                    .extend(b.attrs.keys().cloned());
            }
        }
        let mut scope = Scope {
            module,
            path,
            values: HashMap::new(),
            marks: HashMap::new(),
            failed: HashSet::new(),
            declared,
            members: HashMap::new(),
        };
        let cwd = std::env::current_dir().unwrap_or_default();
        for (key, dir) in [
            ("module", module.dir.as_path()),
            ("root", root_dir),
            ("cwd", cwd.as_path()),
        ] {
            scope
                .declared
                .get_mut("path")
                .expect("root declared")
                .insert(key.to_string());
            scope.set("path", key, Value::from(dir.display().to_string()));
        }
        scope
    }

    fn set(&mut self, root: &str, key: &str, value: Value) {
        self.values
            .insert((root.to_string(), key.to_string()), Rc::new(value));
    }

    fn set_marked(&mut self, root: &str, key: &str, value: Value, marks: Marks) {
        if marks.any() {
            self.marks
                .insert((root.to_string(), key.to_string()), marks);
        }
        self.set(root, key, value);
    }

    fn fail(&mut self, root: &str, key: &str) {
        self.failed.insert((root.to_string(), key.to_string()));
    }
}

/// Something in a module that others refer to by name and that is computed from other names:
/// a local value, a lookup, a module call.
#[derive(Clone, Copy)]
enum Node<'a> {
    Local(&'a RawAttr),
    Image(&'a RawBlock),
    Network(&'a RawBlock),
    Module(&'a RawBlock),
}

impl<'a> Node<'a> {
    /// The reference that names it: `("local", "name")`.
    fn name(&self) -> (&'static str, &'a str) {
        match self {
            Node::Local(a) => ("local", a.name.as_str()),
            Node::Image(b) => ("image", b.label()),
            Node::Network(b) => ("network", b.label()),
            Node::Module(b) => ("module", b.label()),
        }
    }

    /// The phase it was evaluated in before ordering by references; kept where it can be.
    fn phase(&self) -> u8 {
        match self {
            Node::Local(_) => 0,
            Node::Image(_) => 1,
            Node::Network(_) => 2,
            Node::Module(_) => 3,
        }
    }

    fn refs(&self) -> Vec<&'a Reference> {
        match self {
            Node::Local(a) => a.refs.iter().collect(),
            Node::Image(b) | Node::Network(b) | Node::Module(b) => b
                .attrs
                .values()
                .filter(|a| !(matches!(self, Node::Module(_)) && a.name == "source"))
                .flat_map(|a| &a.refs)
                .collect(),
        }
    }
}

impl<'a> Evaluator<'a> {
    fn stack_block(&mut self, inputs: &Inputs) {
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

    /// Evaluates one module instance and returns its outputs as an object.
    fn module(
        &mut self,
        module: &'a RawModule,
        path: &[String],
        var_values: BTreeMap<String, VarValue>,
    ) -> (Value, Marks) {
        let mut scope = Scope::new(module, path.to_vec(), &self.root_dir);
        for (name, v) in var_values {
            scope.set_marked("var", &name, v.value, v.marks);
        }
        self.resource_refs(&mut scope);
        self.named_values(&mut scope);
        if path.is_empty() {
            self.stack_attrs(&scope);
        }
        self.resources(&scope);
        self.outputs(&scope)
    }

    /// Evaluates an attribute of a block of kind `ident` (`server_group`, `hook`, …),
    /// refusing a sensitive value where one cannot be kept secret (see
    /// [`may_be_sensitive`]).
    fn eval(&mut self, scope: &Scope, ident: &str, attr: &RawAttr) -> Option<(Value, Marks)> {
        let (value, marks) = self.eval_marked(scope, attr)?;
        if marks.any() && !may_be_sensitive(ident, &attr.name) {
            self.problems.push(not_sensitive(ident, attr));
            return None;
        }
        Some((value, marks))
    }

    /// Evaluates one attribute, after checking its references: its value and which parts of
    /// it are sensitive.
    fn eval_marked(&mut self, scope: &Scope, attr: &RawAttr) -> Option<(Value, Marks)> {
        if !self.check_refs(scope, attr) {
            return None;
        }
        let mut slots = Vec::with_capacity(attr.slots.len());
        let mut slot_marks = Vec::with_capacity(attr.slots.len());
        for (root, key) in &attr.slots {
            let name = (root.clone(), key.clone());
            // `module.api.server_group.web` fails with `module.api`.
            let base = key.split_once('.').map_or(key.as_str(), |(m, _)| m);
            if scope.failed.contains(&name) || scope.failed.contains(&(root.clone(), base.into())) {
                return None; // the reason is reported where it failed
            }
            slot_marks.push(scope.marks.get(&name).cloned().unwrap_or_default());
            match scope.values.get(&name) {
                Some(v) => slots.push(Rc::clone(v)),
                None if root == "module" && key.contains('.') => {
                    self.undeclared_member(scope, attr, key);
                    return None;
                }
                None => {
                    let r = attr
                        .refs
                        .iter()
                        .find(|r| r.root == *root && r.key.as_ref() == Some(key));
                    self.problems.push(
                        Problem::new(format!(
                            "cannot evaluate `{}`: `{root}.{key}` has no value here",
                            attr.name
                        ))
                        .at(r.map_or_else(|| attr.value_loc.clone(), |r| r.loc.clone()))
                        .label("not known at this point"),
                    );
                    return None;
                }
            }
        }
        let result = super::functions::with_base_dir(&scope.module.dir, || {
            limits::evaluate(&attr.expr, &self.ctx, slots)
        });
        let sensitive = slot_marks.iter().any(Marks::any);
        let (message, label) = match result {
            Ok(v) => return Some((v, Marks::of(&attr.expr, &slot_marks))),
            // The evaluator's message may quote the values it failed on.
            Err(Failure::Eval(_)) if sensitive => (
                "it failed on a value derived from a sensitive one (the details are withheld so \
                 that the value is not shown)"
                    .to_string(),
                "failed on a sensitive value".to_string(),
            ),
            Err(Failure::Eval(e)) => (eval_message(&e), short_eval_message(&e)),
            Err(Failure::Limit(m)) => (m, "over a loading limit".to_string()),
        };
        let mut p = Problem::new(format!("cannot evaluate `{}`: {message}", attr.name))
            .at(attr.value_loc.clone())
            .label(label);
        if message.contains("the limit of") {
            p = p.help("the limits on loading are in the README, under \"The stack language\"");
        }
        self.problems.push(p);
        None
    }

    /// `module.api.server_group.nope`: the module declares no such resource.
    fn undeclared_member(&mut self, scope: &Scope, attr: &RawAttr, key: &str) {
        let mut parts = key.splitn(3, '.');
        let (module, kind, name) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let at = attr
            .refs
            .iter()
            .find(|r| r.root == "module" && r.key.as_deref() == Some(module))
            .map_or_else(|| attr.value_loc.clone(), |r| r.loc.clone());
        let declared: Vec<String> = scope
            .module
            .children
            .get(module)
            .map(|child| {
                child
                    .blocks_of(kind)
                    .map(|b| format!("module.{module}.{kind}.{}", b.label()))
                    .collect()
            })
            .unwrap_or_default();
        let mut p = Problem::new(format!("module \"{module}\" declares no {kind} \"{name}\""))
            .at(at)
            .label(format!("no {kind} \"{name}\" in module \"{module}\""));
        let prefix = format!("module.{module}.{kind}.");
        let labels = declared.iter().map(|d| &d[prefix.len()..]);
        p = match did_you_mean(name, labels) {
            Some(s) => p.help(format!("did you mean `{prefix}{s}`?")),
            None if declared.is_empty() => {
                p.help(format!("module \"{module}\" declares no {kind} at all"))
            }
            None => p.help(format!("it declares: {}", declared.join(", "))),
        };
        self.problems.push(p);
    }

    /// Reports references to names that are not declared. True when all are fine.
    fn check_refs(&mut self, scope: &Scope, attr: &RawAttr) -> bool {
        let mut ok = true;
        for r in &attr.refs {
            let Some(declared) = scope.declared.get(r.root.as_str()) else {
                let mut p = Problem::new(format!("unknown name `{}`", r.root))
                    .at(r.loc.clone())
                    .label("not a known kind of reference");
                p = match did_you_mean(&r.root, ROOTS.iter().copied()) {
                    Some(s) => p.help(format!("did you mean `{s}`?")),
                    None => p.help(format!(
                        "references start with one of: {}",
                        ROOTS.join(", ")
                    )),
                };
                self.problems.push(p);
                ok = false;
                continue;
            };
            let Some(key) = &r.key else {
                self.problems.push(
                    Problem::new(format!("`{}` needs a name after it", r.root))
                        .at(r.loc.clone())
                        .label(format!("expected `{}.<name>`", r.root)),
                );
                ok = false;
                continue;
            };
            if !declared.contains(key) {
                let kind = match r.root.as_str() {
                    "var" => "variable",
                    "local" => "local value",
                    other => other,
                };
                let mut p = Problem::new(format!("reference to undeclared {kind} \"{key}\""))
                    .at(r.loc.clone())
                    .label(format!("no {kind} \"{key}\" is declared in this module"));
                // Each search compares with every declared name: thousands of misspellings in a
                // stack of thousands of names would take minutes. After the budget, no more.
                let search = self.suggestions_left >= declared.len();
                self.suggestions_left = self.suggestions_left.saturating_sub(declared.len());
                let suggestion = search
                    .then(|| did_you_mean(key, declared.iter().map(String::as_str)))
                    .flatten();
                if let Some(s) = suggestion {
                    p = p.help(format!("did you mean `{}.{s}`?", r.root));
                } else if !declared.is_empty() && declared.len() <= 12 {
                    let names: Vec<String> =
                        declared.iter().map(|d| format!("{}.{d}", r.root)).collect();
                    p = p.help(format!("this module declares: {}", names.join(", ")));
                }
                self.problems.push(p);
                ok = false;
            }
        }
        ok
    }

    /// Locals, lookups and module calls, each after the names it refers to, whatever their
    /// order in the files. A cycle is reported once, naming the references along it.
    fn named_values(&mut self, scope: &mut Scope<'a>) {
        let module: &'a RawModule = scope.module;
        let mut nodes: Vec<Node<'a>> = Vec::new();
        for block in &module.blocks {
            match block.ident.as_str() {
                "locals" => nodes.extend(block.attrs.values().map(Node::Local)),
                "image" => nodes.push(Node::Image(block)),
                "network" => nodes.push(Node::Network(block)),
                "module" => nodes.push(Node::Module(block)),
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
            }
        }
        // On a cycle or depending on one: reported above.
        for (node, _) in nodes.iter().zip(evaluated).filter(|(_, done)| !done) {
            let (root, key) = node.name();
            scope.fail(root, key);
        }
    }

    fn report_cycle(&mut self, nodes: &[Node], cycle: &[usize]) {
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

    /// Server groups that depend on each other in a cycle cannot be rolled in any order.
    fn depends_on_cycles(&mut self) {
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

    fn stack_attrs(&mut self, scope: &Scope<'a>) {
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

    fn conv<'c>(&'c mut self, attr: &'c RawAttr) -> Conv<'c> {
        Conv::new(attr, &mut self.problems)
    }

    /// A conversion whose errors do not show the value when any of it is sensitive.
    fn conv_marked<'c>(&'c mut self, attr: &'c RawAttr, marks: &Marks) -> Conv<'c> {
        Conv::new(attr, &mut self.problems).sensitive(marks.any())
    }

    /// Evaluates every attribute of a block (skipping failed ones).
    fn eval_block(&mut self, scope: &Scope, block: &RawBlock) -> BTreeMap<String, (Value, Marks)> {
        let mut out = BTreeMap::new();
        for attr in block.attrs.values() {
            if let Some(v) = self.eval(scope, &block.ident, attr) {
                out.insert(attr.name.clone(), v);
            }
        }
        out
    }

    fn image(&mut self, scope: &mut Scope<'a>, block: &'a RawBlock) {
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
    fn packer(
        &mut self,
        scope: &Scope,
        block: &RawBlock,
        manifest: Option<String>,
        build: Option<String>,
    ) -> Option<crate::stack::PackerBuild> {
        use super::snapshot::{read, Entry};
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
        match super::packer::build(&bytes, &manifest, build.as_deref()) {
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

    fn network(&mut self, scope: &mut Scope<'a>, block: &'a RawBlock) {
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

    /// Objects standing for target groups, load balancers and server groups, so that other
    /// blocks can refer to them before (or without) evaluating them.
    fn resource_refs(&mut self, scope: &mut Scope<'a>) {
        for (ident, label, value) in self.ref_objects(scope.module, &scope.path) {
            scope.set(ident, label, value);
        }
    }

    /// The reference objects of a module instance's target groups, load balancers and server
    /// groups, as (kind, label, object).
    fn ref_objects<'m>(
        &self,
        module: &'m RawModule,
        path: &[String],
    ) -> Vec<(&'m str, &'m str, Value)> {
        let mut out = Vec::new();
        for block in &module.blocks {
            let label = block.label();
            let address = names::address(path, &block.ident, label);
            let key = names::key(path, label);
            let known = self.known.attributes.get(&address);
            let attr = |name: &str| -> Value {
                Value::from(
                    known
                        .and_then(|k| k.get(name).cloned())
                        .unwrap_or_else(|| UNKNOWN_APPLY.to_string()),
                )
            };
            let value = match block.ident.as_str() {
                "target_group" => object([
                    ("name", Value::from(names::elb_name(&self.stack.name, &key))),
                    ("arn", attr("arn")),
                ]),
                "load_balancer" => object([
                    ("name", Value::from(names::elb_name(&self.stack.name, &key))),
                    ("arn", attr("arn")),
                    ("dns_name", attr("dns_name")),
                ]),
                "server_group" => {
                    object([("name", Value::from(format!("{}-{key}", self.stack.name)))])
                }
                _ => continue,
            };
            out.push((
                block.ident.as_str(),
                label,
                with_ref(value, &block.ident, &address),
            ));
        }
        out
    }

    fn child_module(&mut self, scope: &mut Scope<'a>, call: &'a RawBlock) {
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
        let (outputs, marks) = self.module(child, &path, values);
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
        for (kind, name, value) in self.ref_objects(child, &path) {
            if limits::MODULE_MEMBER_KINDS.contains(&kind) {
                scope.set("module", &format!("{label}.{kind}.{name}"), value);
            }
        }
        scope.members.insert(label, server_groups_in(child, &path));
    }

    fn resources(&mut self, scope: &Scope<'a>) {
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

    /// Evaluates a block and its nested blocks, keeping each value with its attribute.
    fn eval_tree<'b>(&mut self, scope: &Scope, block: &'b RawBlock) -> convert::Evaluated<'b> {
        let mut attrs = BTreeMap::new();
        let mut marks = BTreeMap::new();
        for attr in block.attrs.values() {
            if let Some((v, m)) = self.eval(scope, &block.ident, attr) {
                attrs.insert(attr.name.as_str(), (v, attr));
                if m.any() {
                    marks.insert(attr.name.as_str(), m);
                }
            }
        }
        let blocks = block
            .blocks
            .iter()
            .map(|b| self.eval_tree(scope, b))
            .collect();
        convert::Evaluated {
            block,
            attrs,
            marks,
            blocks,
        }
    }

    /// A module's outputs as an object, and which of them are sensitive: derived from a
    /// sensitive value, or declared `sensitive = true`.
    fn outputs(&mut self, scope: &Scope) -> (Value, Marks) {
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

    fn origin(&self, loc: &Loc) -> crate::stack::Origin {
        self.parsed.sources.get(loc.file).origin(&loc.span)
    }
}

/// The addresses of every server group in a module instance, its own modules' included.
fn server_groups_in(module: &RawModule, path: &[String]) -> Vec<String> {
    let mut out: Vec<String> = module
        .blocks_of("server_group")
        .map(|b| names::address(path, "server_group", b.label()))
        .collect();
    for (label, child) in &module.children {
        let mut inner = path.to_vec();
        inner.push(label.clone());
        out.extend(server_groups_in(child, &inner));
    }
    out
}

/// In `depends_on = [module.api, …]`, each element that is a bare module reference stands for
/// the module's server groups (as Terraform, `depends_on` names things, it computes nothing):
/// replaced by a marker object the conversion expands.
fn modules_waited_for(scope: &Scope, attr: &RawAttr, value: &mut Value) {
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

fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::from).collect())
}

/// Marks a reference object with its kind and address, so that a typed attribute
/// (`target_groups = [target_group.web]`) can tell what it was given.
fn with_ref(mut value: Value, kind: &str, address: &str) -> Value {
    if let Value::Object(map) = &mut value {
        map.insert("kind".into(), Value::from(kind));
        map.insert("address".into(), Value::from(address));
    }
    value
}

/// The attributes that may hold a sensitive value, by the kind of block they are in: what
/// reroll can keep out of every plan, log and message (tag values, user data, a hook's
/// environment, outputs, and module inputs and locals, which only pass values on). Everything
/// else is shown in plans, logs and AWS names, or sent to AWS in lookups.
fn may_be_sensitive(ident: &str, attr: &str) -> bool {
    matches!(
        (ident, attr),
        (
            "stack" | "server_group" | "target_group" | "load_balancer",
            "tags"
        ) | ("server_group", "user_data")
            | ("hook", "env")
            | ("output", "value")
    )
}

/// The problem of a sensitive value where it cannot be kept secret.
fn not_sensitive(ident: &str, attr: &RawAttr) -> Problem {
    let p = Problem::new(format!(
        "`{}` is derived from a sensitive value, which would be shown",
        attr.name
    ))
    .at(attr.value_loc.clone())
    .label("sensitive");
    match (ident, attr.name.as_str()) {
        ("hook", "command") => p.help(
            "a hook's command line is logged and shown in errors: pass the value in the \
             hook's environment, `env = { DB_PW = var.db_pw }`, and read it there",
        ),
        ("output", _) => p.help("an output's description and `sensitive` cannot be sensitive"),
        _ => p.help(format!(
            "`{}` is shown in plans, logs or AWS names, or sent in lookups. Sensitive values \
             may go only in tag values, `user_data`, a hook's `env` and outputs",
            attr.name
        )),
    }
}

fn eval_message(e: &hcl::eval::Error) -> String {
    let message = match e.kind() {
        // A limit checked by instrumentation: the call is not one the user wrote.
        hcl::eval::ErrorKind::FuncCall(name, message)
            if limits::is_internal(name.name.as_str()) =>
        {
            message.clone()
        }
        other => other.to_string(),
    };
    // Paths in function errors read like the file names: relative to the working directory.
    match std::env::current_dir() {
        Ok(cwd) => message.replace(&format!("{}/", cwd.display()), ""),
        Err(_) => message,
    }
}

/// The label under the snippet: short, since the message above says it in full.
fn short_eval_message(e: &hcl::eval::Error) -> String {
    use hcl::eval::ErrorKind;
    match e.kind() {
        ErrorKind::FuncCall(name, message) if limits::is_internal(name.name.as_str()) => {
            match message.contains("the limit of") {
                true => "over a loading limit".to_string(),
                false => message.clone(),
            }
        }
        ErrorKind::FuncCall(name, _) => format!("`{name}(…)` failed"),
        ErrorKind::UndefinedFunc(name) => format!("there is no function `{name}`"),
        ErrorKind::NoSuchKey(key) => format!("no `{key}` here"),
        ErrorKind::Unexpected(_, expected) => format!("expected {expected}"),
        other => other.to_string(),
    }
}
