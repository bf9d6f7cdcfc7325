//! What evaluation works with: the `Evaluator`, the `Scope` of one module instance, the
//! named nodes of a module ordered by their references, and helpers to build values and
//! messages.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use hcl::eval::Context;
use hcl::Value;

use crate::load::diag::Problem;
use crate::load::limits::{self};
use crate::load::marks::Marks;
use crate::load::parse::{Parsed, RawAttr, RawBlock, RawModule, Reference};
use crate::names::{self, Instance};
use crate::stack::{Known, Stack};

/// Kinds of things a reference can name, by their root word.
pub(super) const ROOTS: &[&str] = &[
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

pub(super) struct Evaluator<'a> {
    pub(super) parsed: &'a Parsed,
    pub(super) known: &'a Known,
    pub(super) stack: Stack,
    pub(super) problems: Vec<Problem>,
    pub(super) root_dir: PathBuf,
    /// Every function of the stack language; values reach expressions through `__ref` slots.
    pub(super) ctx: Context<'static>,
    /// Server groups' `depends_on`, with the module path they were declared in.
    pub(super) depends_on: Vec<(String, Vec<String>, &'a RawAttr)>,
    /// Declared names "did you mean" may still compare misspelt references with.
    pub(super) suggestions_left: usize,
    /// The AWS names of the resources evaluated so far, by (kind, name): their addresses.
    pub(super) names_taken: HashMap<(String, String), String>,
}

/// What one module instance can see while it is evaluated.
pub(super) struct Scope<'a> {
    pub(super) module: &'a RawModule,
    pub(super) path: Vec<String>,
    /// Values references name, by root and key: `local.name` is `("local", "name")`.
    pub(super) values: HashMap<(String, String), Rc<Value>>,
    /// Which parts of those values are sensitive (absent: nothing).
    pub(super) marks: HashMap<(String, String), Marks>,
    /// Declared names whose value could not be computed (the reason is reported): attributes
    /// that use them are skipped rather than reported again.
    pub(super) failed: HashSet<(String, String)>,
    /// Declared names per root, for checking references before evaluating.
    pub(super) declared: BTreeMap<&'static str, BTreeSet<String>>,
    /// The addresses of every server group in each child module (its own modules' included),
    /// by the module's label: what `depends_on = [module.NAME]` waits for.
    pub(super) members: HashMap<String, Vec<String>>,
    /// The copies of each block with `count` or `for_each`, by (kind, label), once its
    /// `count` or `for_each` is evaluated.
    pub(super) copies: HashMap<(String, String), Vec<Copy>>,
}

/// What a module instance gives its caller.
pub(super) struct ModuleValues {
    pub(super) outputs: Value,
    pub(super) marks: Marks,
    /// The reference values of its server groups and target groups, as (kind, label, value):
    /// an object, or a list or map of them for a block with `count` or `for_each`.
    pub(super) members: Vec<(String, String, Value)>,
}

/// The key (in AWS names) and the address of a block, or of one of its copies: `web-2` and
/// `server_group.web[2]`.
pub(super) fn names_of(
    path: &[String],
    block: &RawBlock,
    copy: Option<&Instance>,
) -> (String, String) {
    let mut key = names::key(path, block.label());
    let mut address = names::address(path, &block.ident, block.label());
    if let Some(copy) = copy {
        key = format!("{key}-{}", copy.key_suffix());
        address.push_str(&copy.address_suffix());
    }
    (key, address)
}

/// One copy of a block with `count` or `for_each`: which one, and its `each.value`.
#[derive(Clone)]
pub(super) struct Copy {
    pub(super) instance: Instance,
    pub(super) value: Value,
}

/// The kinds of block that take `count` and `for_each`.
pub(super) const REPEATABLE: &[&str] = &["server_group", "target_group", "load_balancer"];

/// The `count` or `for_each` attribute of a block that is repeated.
pub(super) fn repeat_attr(block: &RawBlock) -> Option<&RawAttr> {
    if !REPEATABLE.contains(&block.ident.as_str()) {
        return None;
    }
    block.attr("count").or_else(|| block.attr("for_each"))
}

impl<'a> Scope<'a> {
    pub(super) fn new(module: &'a RawModule, path: Vec<String>, root_dir: &Path) -> Self {
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
            copies: HashMap::new(),
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

    pub(super) fn set(&mut self, root: &str, key: &str, value: Value) {
        self.values
            .insert((root.to_string(), key.to_string()), Rc::new(value));
    }

    pub(super) fn set_marked(&mut self, root: &str, key: &str, value: Value, marks: Marks) {
        if marks.any() {
            self.marks
                .insert((root.to_string(), key.to_string()), marks);
        }
        self.set(root, key, value);
    }

    pub(super) fn fail(&mut self, root: &str, key: &str) {
        self.failed.insert((root.to_string(), key.to_string()));
    }

    /// While one copy of a repeated block is evaluated: `count.index`, or `each.key` and
    /// `each.value`. `None` takes them away again.
    pub(super) fn set_copy(&mut self, copy: Option<&Copy>) {
        for root in ["count", "each"] {
            self.declared.remove(root);
            for key in ["index", "key", "value"] {
                self.values.remove(&(root.to_string(), key.to_string()));
            }
        }
        match copy.map(|c| (&c.instance, &c.value)) {
            None => {}
            Some((Instance::Index(i), _)) => {
                self.declared
                    .insert("count", BTreeSet::from(["index".to_string()]));
                self.set("count", "index", Value::from(*i));
            }
            Some((Instance::Key(k), value)) => {
                self.declared.insert(
                    "each",
                    BTreeSet::from(["key".to_string(), "value".to_string()]),
                );
                self.set("each", "key", Value::from(k.as_str()));
                self.set("each", "value", value.clone());
            }
        }
    }
}

/// Something in a module that others refer to by name and that is computed from other names:
/// a local value, a lookup, a module call.
#[derive(Clone, Copy)]
pub(super) enum Node<'a> {
    Local(&'a RawAttr),
    Image(&'a RawBlock),
    Network(&'a RawBlock),
    Module(&'a RawBlock),
    /// A target group, load balancer or server group with `count` or `for_each`: what others see of it
    /// (a list or a map of its copies) is known once that is evaluated.
    Repeated(&'a RawBlock),
}

impl<'a> Node<'a> {
    /// The reference that names it: `("local", "name")`.
    pub(super) fn name(&self) -> (&'static str, &'a str) {
        match self {
            Node::Local(a) => ("local", a.name.as_str()),
            Node::Image(b) => ("image", b.label()),
            Node::Network(b) => ("network", b.label()),
            Node::Module(b) => ("module", b.label()),
            Node::Repeated(b) => match b.ident.as_str() {
                "server_group" => ("server_group", b.label()),
                "load_balancer" => ("load_balancer", b.label()),
                _ => ("target_group", b.label()),
            },
        }
    }

    /// The phase it was evaluated in before ordering by references; kept where it can be.
    pub(super) fn phase(&self) -> u8 {
        match self {
            Node::Local(_) => 0,
            Node::Image(_) => 1,
            Node::Network(_) => 2,
            Node::Module(_) => 3,
            Node::Repeated(_) => 4,
        }
    }

    pub(super) fn refs(&self) -> Vec<&'a Reference> {
        match self {
            Node::Local(a) => a.refs.iter().collect(),
            Node::Image(b) | Node::Network(b) | Node::Module(b) => b
                .attrs
                .values()
                .filter(|a| !(matches!(self, Node::Module(_)) && a.name == "source"))
                .flat_map(|a| &a.refs)
                .collect(),
            Node::Repeated(b) => repeat_attr(b).into_iter().flat_map(|a| &a.refs).collect(),
        }
    }
}

pub(super) fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

pub(super) fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::from).collect())
}

/// Marks a reference object with its kind and address, so that a typed attribute
/// (`target_groups = [target_group.web]`) can tell what it was given.
pub(super) fn with_ref(mut value: Value, kind: &str, address: &str) -> Value {
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
pub(super) fn may_be_sensitive(ident: &str, attr: &str) -> bool {
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
pub(super) fn not_sensitive(ident: &str, attr: &RawAttr) -> Problem {
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

pub(super) fn eval_message(e: &hcl::eval::Error) -> String {
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
pub(super) fn short_eval_message(e: &hcl::eval::Error) -> String {
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
