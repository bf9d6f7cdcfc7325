//! Limits on the work loading a stack may do, so that a mistake (a `for` nested over large
//! collections, a format width of a billion, a multi-gigabyte file) is a clear, located error
//! rather than a hang, a panic or the machine running out of memory.
//!
//! Every limit is far above what a real stack needs; the README lists them (stack language,
//! "Limits").
//!
//! hcl-rs evaluates expressions itself, `for` loops included, without any hook. So before
//! evaluation each expression is rewritten ([`instrument`]) to call a few internal functions
//! that keep count in a per-attribute budget:
//!
//! - a `for` expression's collection becomes `__iterate(collection)`, which charges one
//!   iteration per element before the loop starts, and its value becomes `__element(value)`,
//!   which charges the size of every element the loop produces;
//! - a template's `%{ for }` directive charges its iterations the same way, with the bytes of
//!   literal text each iteration adds, and measures each interpolation in its body;
//! - a reference such as `local.name` becomes `__ref(slot)`, which copies the value from a
//!   table filled for this attribute only (so that evaluating `local.a` does not copy every
//!   local) and charges its size;
//! - an object literal becomes `__object([keys], [values])`, which builds the map in linear
//!   time (hcl-rs builds literal objects in a vector map, quadratic in the number of keys).
//!
//! Every function's result is measured too (see `functions::declare_all`), and functions that
//! could build something huge from small arguments (`format` widths, `join`, `replace`,
//! `split`, `concat`) check the size first.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{self, Read as _};
use std::path::Path;
use std::rc::Rc;

use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::{Map, Value};
use hcl_edit::expr::{Expression as EditExpr, FuncArgs as EditArgs, FuncCall, ObjectKey};
use hcl_edit::template::{Directive, Element, Template};
use hcl_edit::visit_mut::{self, VisitMut};
use hcl_edit::Ident;

/// Stack files, `-var-file`s and files read by `file`, `filebase64` and `templatefile`.
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// One string value.
pub const MAX_STRING_BYTES: usize = 16 << 20;
/// Elements of one value, counting those of nested lists and maps.
pub const MAX_ELEMENTS: u64 = 1_000_000;
/// Levels of nesting of lists and maps in one value (expressions: the parser's 64 levels).
pub const MAX_DEPTH: usize = 64;
/// Copies of one block made by `count` or `for_each`.
pub const MAX_COPIES: u64 = 1_000;
/// Width and precision of a `format` verb.
pub const MAX_FORMAT_WIDTH: usize = 10_000;
/// `for` iterations while evaluating one attribute, nested loops counting every inner one.
/// At a million, a stack reaching it (`tests/fixtures/bad/limit_nested_for`) took 1.45 s in the
/// instrumented build the fuzzers run; at this limit it takes 0.24 s, well under the second no
/// input may take.
pub const MAX_ITERATIONS: u64 = 250_000;
/// Bytes of values produced while evaluating one attribute: references, function results and
/// `for` elements, strings by their length and 8 bytes for every element.
pub const MAX_WORK_BYTES: u64 = 256 << 20;

const ITERATE: &str = "__iterate";
const ITERATE_TEMPLATE: &str = "__iterate_template";
const ELEMENT: &str = "__element";
const REF: &str = "__ref";
const OBJECT: &str = "__object";

/// Whether `name` is one of the functions [`instrument`] inserts: errors from them read as the
/// limit they enforce, not as a call the user did not write.
pub fn is_internal(name: &str) -> bool {
    [ITERATE, ITERATE_TEMPLATE, ELEMENT, REF, OBJECT].contains(&name)
}

/// `n` bytes for people: `20 MiB`, `3.5 KiB`, `12 bytes`.
pub fn bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if n >= size {
            let whole = n / size;
            let tenth = (n % size) * 10 / size;
            return match tenth {
                0 => format!("{whole} {unit}"),
                t => format!("{whole}.{t} {unit}"),
            };
        }
    }
    format!("{n} bytes")
}

// ---------------------------------------------------------------------------------------------
// Files

/// Reads a file of at most [`MAX_FILE_BYTES`]; a larger one is an error of kind
/// `FileTooLarge`, found without reading it all.
///
/// Only regular files are read: a device (`/dev/zero`, `/dev/stdin`), a pipe or a socket
/// could be endless or block, and a file of a pseudo file system (`/proc`, `/sys`) has no size
/// known in advance and holds the state of processes and the machine (`/proc/self/environ`
/// holds this process's credentials). Each is an error of kind `InvalidInput`.
pub fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    let refused = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is {what}; only regular files are read while loading"),
        )
    };
    // Before opening: opening a pipe waits for a writer.
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "it is a directory",
        ));
    }
    if !meta.is_file() {
        return Err(refused("a device, a pipe or a socket, not a regular file"));
    }
    if let Ok(real) = std::fs::canonicalize(path) {
        if real.starts_with("/proc") || real.starts_with("/sys") {
            return Err(refused(&format!(
                "in {}, a pseudo file system whose files have no size known in advance",
                if real.starts_with("/proc") {
                    "/proc"
                } else {
                    "/sys"
                }
            )));
        }
    }
    let file = std::fs::File::open(path)?;
    let too_large = |size: u64| {
        io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "it has {size} bytes, more than the limit of {} for a file read while loading",
                bytes(MAX_FILE_BYTES)
            ),
        )
    };
    let size = file.metadata()?.len();
    if size > MAX_FILE_BYTES {
        return Err(too_large(size));
    }
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // The file may have grown since: read one byte past the limit to tell.
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut out)?;
    if out.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(out.len() as u64));
    }
    // A regular file that said it was empty but was not: a pseudo file elsewhere.
    if size == 0 && !out.is_empty() {
        return Err(refused(
            "a pseudo file whose size is not known in advance, not a regular file",
        ));
    }
    Ok(out)
}

/// [`read_file`] for text.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    String::from_utf8(read_file(path)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Sizes of values

/// Checks one value against the limits on strings, elements and nesting; returns the bytes it
/// counts for in the budget.
pub fn measure(v: &Value) -> Result<u64, String> {
    let mut m = Meter::default();
    m.walk(v, 0)?;
    Ok(m.bytes)
}

#[derive(Default)]
struct Meter {
    elements: u64,
    bytes: u64,
}

impl Meter {
    fn walk(&mut self, v: &Value, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "lists and maps are nested deeper than the limit of {MAX_DEPTH} levels"
            ));
        }
        self.bytes += 8;
        match v {
            Value::String(s) => self.string(s.len())?,
            Value::Array(items) => {
                self.elements(items.len())?;
                for item in items {
                    self.walk(item, depth + 1)?;
                }
            }
            Value::Object(map) => {
                self.elements(map.len())?;
                for (k, item) in map {
                    self.string(k.len())?;
                    self.walk(item, depth + 1)?;
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
        Ok(())
    }

    fn string(&mut self, len: usize) -> Result<(), String> {
        check_string(len)?;
        self.bytes += len as u64;
        Ok(())
    }

    fn elements(&mut self, n: usize) -> Result<(), String> {
        self.elements += n as u64;
        match self.elements > MAX_ELEMENTS {
            true => Err(too_many_elements()),
            false => Ok(()),
        }
    }
}

fn too_many_elements() -> String {
    format!(
        "a value holds more than the limit of {MAX_ELEMENTS} elements \
         (elements of nested lists and maps count too)"
    )
}

/// A string of `len` bytes is within the limit.
pub fn check_string(len: usize) -> Result<(), String> {
    match len > MAX_STRING_BYTES {
        true => Err(format!(
            "a string of {len} bytes is longer than the limit of {}",
            bytes(MAX_STRING_BYTES as u64)
        )),
        false => Ok(()),
    }
}

/// A list or map of `n` elements is within the limit.
pub fn check_elements(n: usize) -> Result<(), String> {
    match n as u64 > MAX_ELEMENTS {
        true => Err(too_many_elements()),
        false => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// The budget of one attribute

#[derive(Debug, Default, Clone, Copy)]
struct Work {
    iterations: u64,
    bytes: u64,
}

thread_local! {
    /// The work done so far by the attribute being evaluated; `None` outside [`evaluate`]
    /// (values are still checked against the per-value limits).
    static WORK: Cell<Option<Work>> = const { Cell::new(None) };
    /// The values `__ref(slot)` hands out, for the attribute being evaluated.
    static SLOTS: RefCell<Vec<Rc<Value>>> = const { RefCell::new(Vec::new()) };
}

fn charge(iterations: u64, size: u64) -> Result<(), String> {
    let Some(mut w) = WORK.get() else {
        return Ok(());
    };
    w.iterations = w.iterations.saturating_add(iterations);
    w.bytes = w.bytes.saturating_add(size);
    WORK.set(Some(w));
    if w.iterations > MAX_ITERATIONS {
        return Err(format!(
            "`for` loops here would run more than the limit of {MAX_ITERATIONS} iterations \
             (nested loops multiply)"
        ));
    }
    if w.bytes > MAX_WORK_BYTES {
        return Err(format!(
            "evaluating this produces more than the limit of {} of values",
            bytes(MAX_WORK_BYTES)
        ));
    }
    Ok(())
}

/// Counts a value just produced (a function's result) against the limits.
pub fn produced(v: &Value) -> Result<(), String> {
    let size = measure(v)?;
    charge(0, size)
}

/// Counts `n` bytes of output a function is building (`formatlist`, row by row).
pub fn produced_bytes(n: usize) -> Result<(), String> {
    charge(0, n as u64)
}

/// Why an attribute did not evaluate.
#[derive(Debug)]
pub enum Failure {
    Eval(hcl::eval::Error),
    /// The value is over a limit.
    Limit(String),
}

/// Evaluates an instrumented expression with a fresh budget; `slots` are the values of the
/// references it makes, in the order [`instrument`] numbered them.
pub fn evaluate(
    expr: &hcl::Expression,
    ctx: &Context,
    slots: Vec<Rc<Value>>,
) -> Result<Value, Failure> {
    struct Restore(Option<Work>, Vec<Rc<Value>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            WORK.set(self.0);
            SLOTS.set(std::mem::take(&mut self.1));
        }
    }
    let _restore = Restore(WORK.replace(Some(Work::default())), SLOTS.replace(slots));
    let value = expr.evaluate(ctx).map_err(Failure::Eval)?;
    measure(&value).map_err(Failure::Limit)?;
    Ok(value)
}

/// A context with only the internal functions: for values that must be constants (variable
/// defaults, `-var`, `-var-file`).
pub fn constants() -> Context<'static> {
    let mut ctx = Context::new();
    declare(&mut ctx);
    ctx
}

/// Declares the functions [`instrument`] inserts.
pub fn declare(ctx: &mut Context<'_>) {
    let one = || FuncDef::builder().param(ParamType::Any);
    ctx.declare_func(ITERATE, one().build(iterate));
    ctx.declare_func(
        ITERATE_TEMPLATE,
        one().param(ParamType::Any).build(iterate_template),
    );
    ctx.declare_func(ELEMENT, one().build(element));
    ctx.declare_func(REF, one().build(reference));
    ctx.declare_func(OBJECT, one().param(ParamType::Any).build(object));
}

fn first(a: FuncArgs) -> Value {
    a.into_values().into_iter().next().unwrap_or(Value::Null)
}

fn len(v: &Value) -> u64 {
    match v {
        Value::Array(items) => items.len() as u64,
        Value::Object(map) => map.len() as u64,
        _ => 0,
    }
}

fn iterate(a: FuncArgs) -> Result<Value, String> {
    let collection = first(a);
    charge(len(&collection), 0)?;
    Ok(collection)
}

fn iterate_template(a: FuncArgs) -> Result<Value, String> {
    let literal = a.get(1).and_then(Value::as_u64).unwrap_or(0);
    let collection = first(a);
    let n = len(&collection);
    charge(n, n.saturating_mul(literal))?;
    Ok(collection)
}

fn element(a: FuncArgs) -> Result<Value, String> {
    let v = first(a);
    produced(&v)?;
    Ok(v)
}

fn reference(a: FuncArgs) -> Result<Value, String> {
    let slot = a.first().and_then(Value::as_u64).unwrap_or(u64::MAX);
    let value = SLOTS.with_borrow(|slots| {
        usize::try_from(slot)
            .ok()
            .and_then(|i| slots.get(i))
            .map(|v| Value::clone(v))
    });
    // Without a slot: a reference where none is allowed (a variable's default).
    let value = value.ok_or("references are not allowed here")?;
    produced(&value)?;
    Ok(value)
}

fn object(a: FuncArgs) -> Result<Value, String> {
    let mut args = a.into_values().into_iter();
    let (Some(Value::Array(keys)), Some(Value::Array(values))) = (args.next(), args.next()) else {
        return Err("malformed object".into());
    };
    let mut map = Map::with_capacity(keys.len());
    for (key, value) in keys.into_iter().zip(values) {
        let key = match key {
            Value::String(s) => s,
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            other => {
                return Err(format!(
                    "unexpected {}; expected a string, boolean or number as an object key",
                    kind(&other)
                ))
            }
        };
        map.insert(key, value);
    }
    Ok(Value::Object(map))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

// ---------------------------------------------------------------------------------------------
// Instrumenting expressions

/// An expression ready for [`evaluate`], and the references its `__ref` slots stand for, as
/// (root, key): `local.name` is `("local", "name")`.
#[derive(Debug, Clone)]
pub struct Instrumented {
    pub expr: hcl::Expression,
    pub slots: Vec<(String, String)>,
}

/// Rewrites an expression as described in the module documentation. With `refs` false,
/// references are left as they are (constants, templates of `templatefile`).
pub fn instrument(expr: &EditExpr, refs: bool) -> Instrumented {
    let mut expr = expr.clone();
    let mut r = Rewriter {
        refs,
        ..Rewriter::default()
    };
    r.visit_expr_mut(&mut expr);
    Instrumented {
        expr: hcl::Expression::from(expr),
        slots: r.slots,
    }
}

/// [`instrument`] for the template of `templatefile`.
pub fn instrument_template(template: &mut Template) {
    Rewriter::default().visit_template_mut(template);
}

#[derive(Default)]
struct Rewriter {
    refs: bool,
    /// Names bound by enclosing `for`s: not references.
    bound: Vec<String>,
    slots: Vec<(String, String)>,
    slot_of: HashMap<(String, String), usize>,
    /// Inside the body of a template `for` directive.
    in_template_for: usize,
}

fn call(name: &str, args: Vec<EditExpr>) -> EditExpr {
    let mut fa = EditArgs::new();
    for a in args {
        fa.push(a);
    }
    EditExpr::from(FuncCall::new(Ident::new(name), fa))
}

fn wrap(name: &str, expr: &mut EditExpr) {
    let inner = std::mem::replace(expr, EditExpr::null());
    *expr = call(name, vec![inner]);
}

impl Rewriter {
    fn slot(&mut self, root: &str, key: &str) -> usize {
        let k = (root.to_string(), key.to_string());
        if let Some(i) = self.slot_of.get(&k) {
            return *i;
        }
        self.slots.push(k.clone());
        self.slot_of.insert(k, self.slots.len() - 1);
        self.slots.len() - 1
    }

    /// `root.key…` as `__ref(slot)…`, when `root` is not bound by a `for`.
    fn reference(&mut self, expr: &mut EditExpr) -> bool {
        let EditExpr::Traversal(t) = expr else {
            return false;
        };
        let EditExpr::Variable(root) = &t.expr else {
            return false;
        };
        let Some(hcl_edit::expr::TraversalOperator::GetAttr(key)) =
            t.operators.first().map(|op| op.value())
        else {
            return false;
        };
        let root = root.as_str();
        if self.bound.iter().any(|b| b == root) {
            return false;
        }
        // `module.NAME.server_group.X` (or `target_group`) names a resource of the module: one
        // slot, `NAME.server_group.X`, served with the resource's reference object.
        let mut taken = 1;
        let mut key = key.as_str().to_string();
        if let Some(member) = module_member(root, &t.operators) {
            key = format!("{key}.{member}");
            taken = 3;
        }
        let slot = self.slot(root, &key);
        let slot_call = call(REF, vec![EditExpr::from(slot as u64)]);
        if t.operators.len() == taken {
            *expr = slot_call;
        } else {
            t.expr = slot_call;
            t.operators.drain(..taken);
            for op in &mut t.operators {
                self.visit_traversal_operator_mut(op);
            }
        }
        true
    }

    fn bind<'a>(&mut self, names: impl IntoIterator<Item = &'a Ident>) -> usize {
        let n = self.bound.len();
        self.bound
            .extend(names.into_iter().map(|i| i.as_str().to_string()));
        n
    }
}

/// The slot of an instrumented expression that is a whole reference (`__ref(3)`), nothing more.
pub fn ref_slot(expr: &hcl::Expression) -> Option<usize> {
    let hcl::Expression::FuncCall(f) = expr else {
        return None;
    };
    match (f.name.name.as_str(), f.args.as_slice()) {
        (REF, [hcl::Expression::Number(n)]) => usize::try_from(n.as_u64()?).ok(),
        _ => None,
    }
}

/// `server_group.X` in `module.NAME.server_group.X` (or `target_group.X`): the kinds of
/// resource a module's caller may name directly.
pub fn module_member(
    root: &str,
    operators: &[hcl_edit::Decorated<hcl_edit::expr::TraversalOperator>],
) -> Option<String> {
    use hcl_edit::expr::TraversalOperator::GetAttr;
    if root != "module" {
        return None;
    }
    match (
        operators.get(1).map(|op| op.value()),
        operators.get(2).map(|op| op.value()),
    ) {
        (Some(GetAttr(kind)), Some(GetAttr(name)))
            if MODULE_MEMBER_KINDS.contains(&kind.as_str()) =>
        {
            Some(format!("{}.{}", kind.as_str(), name.as_str()))
        }
        _ => None,
    }
}

/// Resources a module's caller can name as `module.NAME.KIND.X`.
pub const MODULE_MEMBER_KINDS: &[&str] = &["server_group", "target_group"];

/// Bytes of literal text a template adds each time it is evaluated, not counting nested `for`
/// directives (they count their own).
fn literal_bytes(template: &Template) -> u64 {
    template
        .iter()
        .map(|e| match e {
            Element::Literal(l) => l.value().len() as u64,
            Element::Interpolation(_) => 0,
            Element::Directive(d) => match d.as_ref() {
                Directive::If(i) => {
                    literal_bytes(&i.if_expr.template)
                        + i.else_expr
                            .as_ref()
                            .map_or(0, |e| literal_bytes(&e.template))
                }
                Directive::For(_) => 0,
            },
        })
        .sum()
}

impl VisitMut for Rewriter {
    fn visit_expr_mut(&mut self, expr: &mut EditExpr) {
        if self.refs && self.reference(expr) {
            return;
        }
        let EditExpr::Object(object) = expr else {
            return visit_mut::visit_expr_mut(self, expr);
        };
        let object = std::mem::take(object);
        let (mut keys, mut values) = (Vec::new(), Vec::new());
        for (key, value) in object {
            let mut key = match key {
                // An identifier is a literal name, never a reference.
                ObjectKey::Ident(ident) => EditExpr::from(ident.value().as_str()),
                ObjectKey::Expression(e) => e,
            };
            self.visit_expr_mut(&mut key);
            let mut value = value.into_expr();
            self.visit_expr_mut(&mut value);
            keys.push(key);
            values.push(value);
        }
        *expr = call(OBJECT, vec![EditExpr::from(keys), EditExpr::from(values)]);
    }

    fn visit_for_expr_mut(&mut self, node: &mut hcl_edit::expr::ForExpr) {
        self.visit_expr_mut(&mut node.intro.collection_expr);
        wrap(ITERATE, &mut node.intro.collection_expr);
        let n = self.bind(
            node.intro
                .key_var
                .iter()
                .chain([&node.intro.value_var])
                .map(|d| d.value()),
        );
        if let Some(key_expr) = &mut node.key_expr {
            self.visit_expr_mut(key_expr);
        }
        self.visit_expr_mut(&mut node.value_expr);
        wrap(ELEMENT, &mut node.value_expr);
        if let Some(cond) = &mut node.cond {
            self.visit_expr_mut(&mut cond.expr);
        }
        self.bound.truncate(n);
    }

    fn visit_interpolation_mut(&mut self, node: &mut hcl_edit::template::Interpolation) {
        self.visit_expr_mut(&mut node.expr);
        if self.in_template_for > 0 {
            wrap(ELEMENT, &mut node.expr);
        }
    }

    fn visit_for_template_expr_mut(&mut self, node: &mut hcl_edit::template::ForTemplateExpr) {
        self.visit_expr_mut(&mut node.collection_expr);
        let literal = literal_bytes(&node.template).max(1);
        let collection = std::mem::replace(&mut node.collection_expr, EditExpr::null());
        node.collection_expr = call(ITERATE_TEMPLATE, vec![collection, EditExpr::from(literal)]);
        let n = self.bind(
            node.key_var
                .iter()
                .chain([&node.value_var])
                .map(|d| d.value()),
        );
        self.in_template_for += 1;
        self.visit_template_mut(&mut node.template);
        self.in_template_for -= 1;
        self.bound.truncate(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn eval(text: &str, refs: &[(&str, &str, Value)]) -> Result<Value, String> {
        let expr = hcl_edit::parser::parse_expr(text).map_err(|e| e.to_string())?;
        let inst = instrument(&expr, true);
        let mut ctx = Context::new();
        crate::load::functions::declare_all(&mut ctx);
        let slots = inst
            .slots
            .iter()
            .map(|(root, key)| {
                refs.iter()
                    .find(|(r, k, _)| r == root && k == key)
                    .map(|(.., v)| Rc::new(v.clone()))
                    .expect("a value for every reference")
            })
            .collect();
        evaluate(&inst.expr, &ctx, slots).map_err(|e| match e {
            Failure::Eval(e) => e.kind().to_string(),
            Failure::Limit(m) => m,
        })
    }

    /// The same expression evaluated by hcl-rs alone, with the references as variables.
    fn plain(text: &str, refs: &[(&str, &str, Value)]) -> Result<Value, String> {
        let expr = hcl_edit::parser::parse_expr(text).map_err(|e| e.to_string())?;
        let mut ctx = Context::new();
        crate::load::functions::declare_all(&mut ctx);
        let mut roots: Map<String, Map<String, Value>> = Map::new();
        for (root, key, v) in refs {
            roots
                .entry(root.to_string())
                .or_default()
                .insert(key.to_string(), v.clone());
        }
        for (root, keys) in roots {
            ctx.declare_var(root.as_str(), Value::Object(keys));
        }
        hcl::Expression::from(expr)
            .evaluate(&ctx)
            .map_err(|e| e.kind().to_string())
    }

    fn json(v: Result<Value, String>) -> Result<String, String> {
        v.map(|v| serde_json::to_string(&v).unwrap())
    }

    /// Instrumented expressions evaluate as they would without instrumentation.
    #[test]
    fn instrumented_expressions_keep_their_meaning() {
        let list = Value::from(vec![Value::from(1), Value::from(2), Value::from(3)]);
        let obj: Value = [("a", 1), ("b", 2)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::from(v)))
            .collect::<Map<String, Value>>()
            .into();
        let refs = [
            ("local", "list", list),
            ("local", "obj", obj),
            ("local", "name", Value::from("web")),
            ("var", "n", Value::from(2)),
        ];
        let cases = [
            ("local.name", r#""web""#),
            ("local.obj.b", "2"),
            ("local.list[1]", "2"),
            (r#"local.obj["a"]"#, "1"),
            ("[for x in local.list: x * var.n]", "[2,4,6]"),
            ("{for k, v in local.obj: k => v if v > 1}", r#"{"b":2}"#),
            (
                "{for x in local.list: (x > 1 ? \"big\" : \"small\") => x...}",
                r#"{"small":[1],"big":[2,3]}"#,
            ),
            ("[for local in [1, 2]: local]", "[1,2]"),
            (
                "[for x in local.list: local.name]",
                r#"["web","web","web"]"#,
            ),
            (
                r#"{ a = 1, "b c" = local.name, (local.name) = 2, 3 = true }"#,
                r#"{"a":1,"b c":"web","web":2,"3":true}"#,
            ),
            (
                r#""%{ for x in local.list ~}${x}-%{ endfor ~}""#,
                r#""1-2-3-""#,
            ),
            (
                r#""%{ for k, v in local.obj }${k}=${v},%{ endfor }""#,
                r#""a=1,b=2,""#,
            ),
            (
                r#""${local.name}: %{ if var.n > 1 }many%{ else }few%{ endif }""#,
                r#""web: many""#,
            ),
            (
                "<<EOT\n%{ for x in local.list ~}\n- ${x}\n%{ endfor ~}\nEOT",
                r#""- 1\n- 2\n- 3\n""#,
            ),
            (
                "<<-EOT\n  a ${local.name}\n    b\n  EOT",
                r#""a web\n  b\n""#,
            ),
            ("length(local.list) + local.obj.a", "4"),
            (
                r#"[for x in local.list: { id = x, name = "${local.name}-${x}" }][2].name"#,
                r#""web-3""#,
            ),
            ("local.obj.c", "!no such key: `c`"),
            (
                "{ (local.list) = 1 }",
                "!expected a string, boolean or number as an object key",
            ),
        ];
        let mut failures = Vec::new();
        for (input, want) in cases {
            let got = json(eval(input, &refs));
            let ok = match (want.strip_prefix('!'), &got) {
                (Some(needle), Err(e)) => e.contains(needle),
                (None, Ok(v)) => v == want,
                _ => false,
            };
            if !ok {
                failures.push(format!("{input}\n    want {want}\n    got  {got:?}"));
            }
            let baseline = json(plain(input, &refs));
            if got.is_ok() && got != baseline {
                failures.push(format!("{input}\n    hcl-rs alone gives {baseline:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// Every kind of runaway evaluation stops at a limit, with a message that says which.
    #[test]
    fn runaway_evaluations_stop_at_a_limit() {
        let big = Value::from("x".repeat(1 << 20));
        let refs = [("local", "big", big)];
        let cases = [
            (
                "[for a in range(1000): [for b in range(1000): [for c in range(1000): c]]]",
                "more than the limit of 250000 iterations",
            ),
            (
                r#""%{ for a in range(1000) }%{ for b in range(1000) }%{ for c in range(1000) }x%{ endfor }%{ endfor }%{ endfor }""#,
                "more than the limit of 250000 iterations",
            ),
            (
                "[for a in range(1000): local.big]",
                "produces more than the limit of 256 MiB of values",
            ),
            (
                "[for a in range(1000): length(local.big)]",
                "produces more than the limit of 256 MiB of values",
            ),
            (
                r#""%{ for a in range(1000) }${local.big}%{ endfor }""#,
                "produces more than the limit of 256 MiB of values",
            ),
            (
                "[for a in range(1000): [for b in range(1000): \"${local.big}\"]]",
                "produces more than the limit of 256 MiB of values",
            ),
        ];
        for (input, want) in cases {
            let got = eval(input, &refs);
            assert!(
                matches!(&got, Err(e) if e.contains(want)),
                "{input}: want an error with {want:?}, got {got:?}"
            );
        }
    }

    #[test]
    fn values_are_measured_against_the_limits() {
        let nested = (0..=MAX_DEPTH).fold(Value::Null, |v, _| Value::Array(vec![v]));
        let long = Value::from("x".repeat(MAX_STRING_BYTES + 1));
        let many = Value::Array(vec![Value::Null; MAX_ELEMENTS as usize + 1]);
        assert!(measure(&nested)
            .unwrap_err()
            .contains("nested deeper than the limit of 64 levels"));
        assert!(measure(&long)
            .unwrap_err()
            .contains("string of 16777217 bytes is longer than the limit of 16 MiB"));
        assert!(measure(&many)
            .unwrap_err()
            .contains("more than the limit of 1000000 elements"));
        let fine = Value::Array(vec![Value::from("ab"), Value::from(1)]);
        assert_eq!(measure(&fine), Ok(8 + 8 + 2 + 8));
    }

    #[test]
    fn files_over_the_limit_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(MAX_FILE_BYTES + 1).unwrap();
        let e = read_file(&path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert!(
            e.to_string().contains("more than the limit of 16 MiB"),
            "{e}"
        );
        std::fs::write(&path, "ok").unwrap();
        assert_eq!(read_file(&path).unwrap(), b"ok");
    }

    #[test]
    fn devices_pipes_and_pseudo_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        let mut cases = vec![
            (PathBuf::from("/dev/zero"), "a device, a pipe or a socket"),
            (PathBuf::from("/dev/null"), "a device, a pipe or a socket"),
            (
                PathBuf::from("/proc/self/environ"),
                "in /proc, a pseudo file system",
            ),
            (
                PathBuf::from("/proc/self/status"),
                "in /proc, a pseudo file system",
            ),
        ];
        if made.is_ok_and(|s| s.success()) {
            // Opening it would wait for a writer forever: refused before it is opened.
            cases.push((fifo, "a device, a pipe or a socket"));
        }
        let link = dir.path().join("environ");
        if std::os::unix::fs::symlink("/proc/self/environ", &link).is_ok() {
            cases.push((link, "in /proc"));
        }
        for (path, want) in cases {
            if !path.exists() {
                continue;
            }
            let e = read_file(&path).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{}", path.display());
            assert!(e.to_string().contains(want), "{}: {e}", path.display());
            assert!(e.to_string().contains("only regular files are read"), "{e}");
        }
    }

    #[test]
    fn sizes_read_well() {
        let cases = [
            (12, "12 bytes"),
            (2048, "2 KiB"),
            (3 << 19, "1.5 MiB"),
            (16 << 20, "16 MiB"),
        ];
        for (n, want) in cases {
            assert_eq!(bytes(n), want);
        }
    }
}
