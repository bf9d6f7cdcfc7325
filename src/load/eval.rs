//! Evaluating a parsed stack into a [`Stack`]: variables, locals, lookups, references,
//! modules, resources and outputs. Pure: what the cloud knows arrives as [`Known`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hcl::eval::{Context, Evaluate};
use hcl::{Map, Value};

use super::convert::{self, Conv};
use super::diag::{did_you_mean, Diagnostics, Loc, Problem};
use super::parse::{Parsed, RawAttr, RawBlock, RawModule};
use super::vars::{self, Inputs, VarValue};
use crate::cloud::ImageFilter;
use crate::names;
use crate::stack::{
    ImageLookup, Known, NetworkLookup, Output, Stack, UNKNOWN_APPLY, UNKNOWN_LOOKUP,
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
    };
    ev.stack_block(inputs);
    let values = vars::root_values(parsed, inputs, &mut ev.problems);
    ev.module(&parsed.root, &[], values);
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
}

/// What one module instance can see while it is evaluated.
struct Scope<'m> {
    module: &'m RawModule,
    path: Vec<String>,
    vars: Map<String, Value>,
    locals: Map<String, Value>,
    images: Map<String, Value>,
    networks: Map<String, Value>,
    target_groups: Map<String, Value>,
    load_balancers: Map<String, Value>,
    server_groups: Map<String, Value>,
    modules: Map<String, Value>,
    /// Declared names per root, for checking references before evaluating.
    declared: BTreeMap<&'static str, BTreeSet<String>>,
}

impl<'m> Scope<'m> {
    fn new(module: &'m RawModule, path: Vec<String>) -> Self {
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
        declared
            .get_mut("path")
            .expect("root declared")
            .extend(["module", "root", "cwd"].map(String::from));
        Scope {
            module,
            path,
            vars: Map::new(),
            locals: Map::new(),
            images: Map::new(),
            networks: Map::new(),
            target_groups: Map::new(),
            load_balancers: Map::new(),
            server_groups: Map::new(),
            modules: Map::new(),
            declared,
        }
    }

    fn context(&self, root_dir: &Path) -> Context<'static> {
        let mut ctx = Context::new();
        super::functions::declare_all(&mut ctx);
        let mut path = Map::new();
        path.insert(
            "module".into(),
            Value::from(self.module.dir.display().to_string()),
        );
        path.insert("root".into(), Value::from(root_dir.display().to_string()));
        let cwd = std::env::current_dir().unwrap_or_default();
        path.insert("cwd".into(), Value::from(cwd.display().to_string()));
        ctx.declare_var("path", Value::Object(path));
        ctx.declare_var("var", Value::Object(self.vars.clone()));
        ctx.declare_var("local", Value::Object(self.locals.clone()));
        ctx.declare_var("image", Value::Object(self.images.clone()));
        ctx.declare_var("network", Value::Object(self.networks.clone()));
        ctx.declare_var("target_group", Value::Object(self.target_groups.clone()));
        ctx.declare_var("load_balancer", Value::Object(self.load_balancers.clone()));
        ctx.declare_var("server_group", Value::Object(self.server_groups.clone()));
        ctx.declare_var("module", Value::Object(self.modules.clone()));
        ctx
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
        module: &RawModule,
        path: &[String],
        var_values: BTreeMap<String, VarValue>,
    ) -> Value {
        let mut scope = Scope::new(module, path.to_vec());
        for (name, v) in var_values {
            if v.sensitive {
                collect_strings(&v.value, &mut self.stack.sensitive_values);
            }
            scope.vars.insert(name, v.value);
        }
        self.locals(&mut scope);
        if path.is_empty() {
            self.stack_attrs(&scope);
        }
        self.lookups(&mut scope);
        self.resource_refs(&mut scope);
        self.child_modules(&mut scope);
        self.resources(&scope);
        self.outputs(&scope)
    }

    /// Evaluates one attribute, after checking its references.
    fn eval(&mut self, scope: &Scope, ctx: &Context, attr: &RawAttr) -> Option<Value> {
        if !self.check_refs(scope, attr) {
            return None;
        }
        let result = super::functions::with_base_dir(&scope.module.dir, || attr.expr.evaluate(ctx));
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.problems.push(
                    Problem::new(format!(
                        "cannot evaluate `{}`: {}",
                        attr.name,
                        eval_message(&e)
                    ))
                    .at(attr.value_loc.clone())
                    .label(short_eval_message(&e)),
                );
                None
            }
        }
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
                if let Some(s) = did_you_mean(key, declared.iter().map(String::as_str)) {
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

    /// Locals may refer to each other: evaluate in rounds until nothing more resolves.
    fn locals(&mut self, scope: &mut Scope) {
        let mut pending: Vec<&RawAttr> = scope
            .module
            .blocks_of("locals")
            .flat_map(|b| b.attrs.values())
            .collect();
        let names: BTreeSet<String> = pending.iter().map(|a| a.name.clone()).collect();
        pending.retain(|a| self.check_refs(scope, a));
        loop {
            let before = pending.len();
            let ctx = scope.context(&self.root_dir);
            let mut still = Vec::new();
            for attr in pending {
                let waits = attr.refs.iter().any(|r| {
                    r.root == "local"
                        && r.key
                            .as_ref()
                            .is_some_and(|k| names.contains(k) && !scope.locals.contains_key(k))
                });
                if waits {
                    still.push(attr);
                    continue;
                }
                if let Some(v) = self.eval(scope, &ctx, attr) {
                    scope.locals.insert(attr.name.clone(), v);
                } else {
                    // Reported; make dependants wait on something that will never come.
                    scope.locals.insert(attr.name.clone(), Value::Null);
                }
            }
            pending = still;
            if pending.is_empty() || pending.len() == before {
                break;
            }
        }
        for attr in pending {
            self.problems.push(
                Problem::new(format!(
                    "local value `{}` depends on itself through other locals",
                    attr.name
                ))
                .at(attr.value_loc.clone())
                .label("cycle")
                .help("break the cycle: a local may not refer back to itself"),
            );
        }
    }

    fn stack_attrs(&mut self, scope: &Scope) {
        let Some(block) = scope.module.blocks_of("stack").next() else {
            return;
        };
        let ctx = scope.context(&self.root_dir);
        if let Some(attr) = block.attr("region") {
            if let Some(v) = self.eval(scope, &ctx, attr) {
                if self.stack.region.is_none() {
                    self.stack.region = self.conv(attr).string(&v);
                }
            }
        }
        if let Some(attr) = block.attr("tags") {
            if let Some(v) = self.eval(scope, &ctx, attr) {
                self.stack.tags = self.conv(attr).string_map(&v).unwrap_or_default();
            }
        }
        if let Some(attr) = block.attr("lock") {
            if let Some(v) = self.eval(scope, &ctx, attr) {
                if let Some(lock) = self.conv(attr).lock(&v) {
                    self.stack.lock = lock;
                }
            }
        }
        for hook in block.blocks.iter().filter(|b| b.ident == "hook") {
            let body = self.eval_tree(scope, &ctx, hook);
            if let Some(h) = convert::hook(&body, &scope.module.dir, &mut self.problems) {
                self.stack.hooks.push(h);
            }
        }
    }

    fn conv<'c>(&'c mut self, attr: &'c RawAttr) -> Conv<'c> {
        Conv::new(attr, &mut self.problems)
    }

    /// Evaluates every attribute of a block (skipping failed ones).
    fn eval_block(
        &mut self,
        scope: &Scope,
        ctx: &Context,
        block: &RawBlock,
    ) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for attr in block.attrs.values() {
            if let Some(v) = self.eval(scope, ctx, attr) {
                out.insert(attr.name.clone(), v);
            }
        }
        out
    }

    fn lookups(&mut self, scope: &mut Scope) {
        let ctx = scope.context(&self.root_dir);
        for block in scope.module.blocks_of("image") {
            let address = names::address(&scope.path, "image", block.label());
            let origin = self.origin(&block.loc);
            let values = self.eval_block(scope, &ctx, block);
            let mut filter = ImageFilter::default();
            let mut most_recent = false;
            let mut copy_from = None;
            for (name, v) in &values {
                let attr = block.attr(name).expect("evaluated attribute exists");
                let mut c = self.conv(attr);
                match name.as_str() {
                    "id" => filter.ids = c.string(v).into_iter().collect(),
                    "owners" => filter.owners = c.string_list(v).unwrap_or_default(),
                    "name" => filter.name = c.string(v),
                    "tags" => filter.tags = c.string_map(v).unwrap_or_default(),
                    "most_recent" => most_recent = c.boolean(v).unwrap_or(false),
                    "copy_from" => copy_from = c.string(v),
                    _ => {}
                }
            }
            let all_evaluated = values.len() == block.attrs.len();
            if all_evaluated
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
                ]),
                None => object([
                    ("id", Value::from(UNKNOWN_LOOKUP)),
                    (
                        "name",
                        Value::from(filter.name.clone().unwrap_or_else(|| UNKNOWN_LOOKUP.into())),
                    ),
                    ("creation_date", Value::from(UNKNOWN_LOOKUP)),
                ]),
            };
            scope.images.insert(
                block.label().to_string(),
                with_ref(value, "image", &address),
            );
            self.stack.images.push(ImageLookup {
                address,
                filter,
                most_recent,
                copy_from,
                origin,
            });
        }
        for block in scope.module.blocks_of("network") {
            let address = names::address(&scope.path, "network", block.label());
            let origin = self.origin(&block.loc);
            let values = self.eval_block(scope, &ctx, block);
            let mut lookup = NetworkLookup {
                address: address.clone(),
                vpc_id: None,
                vpc_tags: Default::default(),
                subnet_tags: Default::default(),
                security_group_names: Vec::new(),
                security_group_tags: Default::default(),
                origin,
            };
            for (name, v) in &values {
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
            scope.networks.insert(
                block.label().to_string(),
                with_ref(value, "network", &address),
            );
            self.stack.networks.push(lookup);
        }
    }

    /// Objects standing for target groups, load balancers and server groups, so that other
    /// blocks can refer to them before (or without) evaluating them.
    fn resource_refs(&mut self, scope: &mut Scope) {
        for block in &scope.module.blocks {
            let label = block.label().to_string();
            let address = names::address(&scope.path, &block.ident, &label);
            let key = names::key(&scope.path, &label);
            let known = self.known.attributes.get(&address);
            let attr = |name: &str| -> Value {
                Value::from(
                    known
                        .and_then(|k| k.get(name).cloned())
                        .unwrap_or_else(|| UNKNOWN_APPLY.to_string()),
                )
            };
            let (map, value) = match block.ident.as_str() {
                "target_group" => (
                    &mut scope.target_groups,
                    object([
                        ("name", Value::from(names::elb_name(&self.stack.name, &key))),
                        ("arn", attr("arn")),
                    ]),
                ),
                "load_balancer" => (
                    &mut scope.load_balancers,
                    object([
                        ("name", Value::from(names::elb_name(&self.stack.name, &key))),
                        ("arn", attr("arn")),
                        ("dns_name", attr("dns_name")),
                    ]),
                ),
                "server_group" => (
                    &mut scope.server_groups,
                    object([("name", Value::from(format!("{}-{key}", self.stack.name)))]),
                ),
                _ => continue,
            };
            map.insert(label, with_ref(value, &block.ident.clone(), &address));
        }
    }

    fn child_modules(&mut self, scope: &mut Scope) {
        let calls: Vec<&RawBlock> = scope.module.blocks_of("module").collect();
        let order = match module_order(&calls) {
            Ok(order) => order,
            Err(cycle) => {
                let first = calls
                    .iter()
                    .find(|c| c.label() == cycle[0])
                    .expect("in calls");
                self.problems.push(
                    Problem::new(format!(
                        "modules depend on each other in a cycle: {}",
                        cycle.join(" → ")
                    ))
                    .at(first.loc.clone())
                    .label("part of the cycle")
                    .help("a module's inputs may not use outputs of a module that uses it"),
                );
                return;
            }
        };
        for call in order.into_iter().map(|i| calls[i]) {
            let label = call.label().to_string();
            let Some(child) = scope.module.children.get(&label) else {
                continue; // loading it failed, already reported
            };
            let ctx = scope.context(&self.root_dir);
            let mut inputs = BTreeMap::new();
            for attr in call.attrs.values().filter(|a| a.name != "source") {
                if let Some(v) = self.eval(scope, &ctx, attr) {
                    inputs.insert(attr.name.clone(), (v, attr));
                }
            }
            let values = vars::module_values(child, call, inputs, &mut self.problems);
            let mut path = scope.path.clone();
            path.push(label.clone());
            let outputs = self.module(child, &path, values);
            scope.modules.insert(label, outputs);
        }
    }

    fn resources(&mut self, scope: &Scope) {
        let ctx = scope.context(&self.root_dir);
        for block in &scope.module.blocks {
            let label = block.label();
            let key = names::key(&scope.path, label);
            let address = names::address(&scope.path, &block.ident, label);
            match block.ident.as_str() {
                "target_group" => {
                    let body = self.eval_tree(scope, &ctx, block);
                    if let Some(tg) = convert::target_group(
                        &body,
                        &self.stack.name,
                        &key,
                        address,
                        self.origin(&block.loc),
                        &mut self.problems,
                    ) {
                        self.stack.target_groups.push(tg);
                    }
                }
                "load_balancer" => {
                    let body = self.eval_tree(scope, &ctx, block);
                    if let Some(lb) = convert::load_balancer(
                        &body,
                        &self.stack.name,
                        &key,
                        address,
                        self.origin(&block.loc),
                        &mut self.problems,
                    ) {
                        self.stack.load_balancers.push(lb);
                    }
                }
                "server_group" => {
                    let body = self.eval_tree(scope, &ctx, block);
                    if let Some(g) = convert::server_group(
                        &body,
                        &key,
                        address,
                        self.origin(&block.loc),
                        &scope.module.dir,
                        &mut self.problems,
                    ) {
                        self.stack.server_groups.push(g);
                    }
                }
                _ => {}
            }
        }
    }

    /// Evaluates a block and its nested blocks, keeping each value with its attribute.
    fn eval_tree<'b>(
        &mut self,
        scope: &Scope,
        ctx: &Context,
        block: &'b RawBlock,
    ) -> convert::Evaluated<'b> {
        let mut attrs = BTreeMap::new();
        for attr in block.attrs.values() {
            if let Some(v) = self.eval(scope, ctx, attr) {
                attrs.insert(attr.name.as_str(), (v, attr));
            }
        }
        let blocks = block
            .blocks
            .iter()
            .map(|b| self.eval_tree(scope, ctx, b))
            .collect();
        convert::Evaluated {
            block,
            attrs,
            blocks,
        }
    }

    fn outputs(&mut self, scope: &Scope) -> Value {
        let ctx = scope.context(&self.root_dir);
        let mut out = Map::new();
        for block in scope.module.blocks_of("output") {
            let values = self.eval_block(scope, &ctx, block);
            let Some(value) = values.get("value").cloned() else {
                continue;
            };
            out.insert(block.label().to_string(), value.clone());
            if !scope.path.is_empty() {
                continue;
            }
            let sensitive = match (values.get("sensitive"), block.attr("sensitive")) {
                (Some(v), Some(attr)) => self.conv(attr).boolean(v).unwrap_or(false),
                _ => false,
            };
            let description = match (values.get("description"), block.attr("description")) {
                (Some(v), Some(attr)) => self.conv(attr).string(v),
                _ => None,
            };
            self.stack.outputs.push(Output {
                name: block.label().to_string(),
                value: serde_json::to_value(&value).unwrap_or(serde_json::Value::Null),
                sensitive,
                description,
            });
        }
        Value::Object(out)
    }

    fn origin(&self, loc: &Loc) -> crate::stack::Origin {
        self.parsed.sources.get(loc.file).origin(&loc.span)
    }
}

/// Order module calls so that a module comes after the modules its inputs use.
/// On a cycle, returns the labels along it.
fn module_order(calls: &[&RawBlock]) -> Result<Vec<usize>, Vec<String>> {
    let index: BTreeMap<&str, usize> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| (c.label(), i))
        .collect();
    let deps: Vec<BTreeSet<usize>> = calls
        .iter()
        .map(|c| {
            c.attrs
                .values()
                .flat_map(|a| &a.refs)
                .filter(|r| r.root == "module")
                .filter_map(|r| r.key.as_deref().and_then(|k| index.get(k).copied()))
                .collect()
        })
        .collect();
    let mut state = vec![0u8; calls.len()]; // 0 new, 1 on path, 2 done
    let mut order = Vec::new();
    fn visit(
        i: usize,
        deps: &[BTreeSet<usize>],
        state: &mut [u8],
        order: &mut Vec<usize>,
        path: &mut Vec<usize>,
    ) -> Result<(), Vec<usize>> {
        match state[i] {
            2 => return Ok(()),
            1 => {
                let start = path.iter().position(|p| *p == i).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(i);
                return Err(cycle);
            }
            _ => {}
        }
        state[i] = 1;
        path.push(i);
        for d in &deps[i] {
            visit(*d, deps, state, order, path)?;
        }
        path.pop();
        state[i] = 2;
        order.push(i);
        Ok(())
    }
    for i in 0..calls.len() {
        visit(i, &deps, &mut state, &mut order, &mut Vec::new()).map_err(|c| {
            c.into_iter()
                .map(|i| calls[i].label().to_string())
                .collect::<Vec<_>>()
        })?;
    }
    Ok(order)
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

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

fn eval_message(e: &hcl::eval::Error) -> String {
    let message = e.kind().to_string();
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
        ErrorKind::FuncCall(name, _) => format!("`{name}(…)` failed"),
        ErrorKind::UndefinedFunc(name) => format!("there is no function `{name}`"),
        ErrorKind::NoSuchKey(key) => format!("no `{key}` here"),
        ErrorKind::Unexpected(_, expected) => format!("expected {expected}"),
        other => other.to_string(),
    }
}
