//! The shape of the library's source, checked: files and functions of a readable size, no
//! import cycles between files, the AWS SDK only under `cloud/aws/`, and a domain model that
//! depends on nothing above it.
//!
//! Files are read with `syn`; a file depends on the file that *defines* each name it uses
//! (re-exports and `use` bindings are followed), so a directory's `mod.rs` can re-export its
//! children without making a cycle, while a child that reaches back into its `mod.rs` for
//! something defined there does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

const MAX_FILE_LINES: usize = 1000;
const MAX_FUNCTION_LINES: usize = 120;

/// A module path inside the library crate: `["apply", "rollout"]`; the crate root is `[]`.
type ModPath = Vec<String>;

struct Module {
    file: PathBuf,
    source: String,
    syntax: syn::File,
}

fn library() -> BTreeMap<ModPath, Module> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    walk(&root, &root, &mut modules);
    assert!(modules.contains_key(&Vec::new()), "src/lib.rs not found");
    modules
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<ModPath, Module>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap();
        // Binaries are crates of their own.
        if rel == Path::new("bin") || rel == Path::new("main.rs") {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let mut parts: ModPath = rel
            .with_extension("")
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
            parts.pop();
        }
        let source = std::fs::read_to_string(&path).unwrap();
        let syntax = syn::parse_file(&source)
            .unwrap_or_else(|e| panic!("{}: does not parse: {e}", path.display()));
        out.insert(
            parts,
            Module {
                file: rel.to_path_buf(),
                source,
                syntax,
            },
        );
    }
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        (a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test")))
            || a.path().is_ident("test")
    })
}

// ---------------------------------------------------------------------------------------------
// Sizes

struct Functions {
    found: Vec<(String, usize)>,
}

impl Functions {
    /// From the `fn` keyword to the closing brace: doc comments and attributes do not count.
    fn record(&mut self, sig: &syn::Signature, body: &syn::Block) {
        let start = sig.fn_token.span.start().line;
        let end = body.brace_token.span.close().end().line;
        self.found
            .push((format!("{} (line {start})", sig.ident), end - start + 1));
    }
}

impl<'ast> Visit<'ast> for Functions {
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.record(&f.sig, &f.block);
        syn::visit::visit_item_fn(self, f);
    }
    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.record(&f.sig, &f.block);
        syn::visit::visit_impl_item_fn(self, f);
    }
    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(body) = &f.default {
            self.record(&f.sig, body);
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}

#[test]
fn no_source_file_is_over_a_thousand_lines() {
    let long: Vec<String> = library()
        .values()
        .filter(|m| m.source.lines().count() > MAX_FILE_LINES)
        .map(|m| {
            format!(
                "src/{}: {} lines",
                m.file.display(),
                m.source.lines().count()
            )
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these files by concern:\n{}",
        long.join("\n")
    );
}

#[test]
fn no_function_is_over_a_hundred_and_twenty_lines() {
    let mut long = Vec::new();
    for m in library().values() {
        let mut functions = Functions { found: Vec::new() };
        functions.visit_file(&m.syntax);
        for (name, lines) in functions.found {
            if lines > MAX_FUNCTION_LINES {
                long.push(format!("src/{}: {name}: {lines} lines", m.file.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "split these functions into named steps:\n{}",
        long.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Names: what each file defines and what its `use` items bind

/// What one file makes visible: the items it defines and the names its `use` items bind
/// (to absolute paths). Inline modules are part of their file: their items are named with
/// the inline module's name as a prefix.
#[derive(Default)]
struct Names {
    defined: BTreeSet<String>,
    bound: BTreeMap<String, ModPath>,
    globs: Vec<ModPath>,
}

fn absolute(here: &[String], first: &str) -> Option<ModPath> {
    match first {
        "crate" => Some(Vec::new()),
        "self" => Some(here.to_vec()),
        "super" => here.split_last().map(|(_, parent)| parent.to_vec()),
        _ => None,
    }
}

/// The absolute paths a `use` tree binds, with the name each is bound as. `prefix` is `None`
/// before the tree's first segment.
fn use_bindings(
    here: &[String],
    children: &BTreeSet<String>,
    prefix: Option<ModPath>,
    tree: &syn::UseTree,
    out: &mut Vec<(Option<String>, ModPath)>,
) {
    let step = |prefix: &Option<ModPath>, ident: &syn::Ident| -> Option<ModPath> {
        let name = ident.to_string();
        match prefix {
            None => {
                if let Some(abs) = absolute(here, &name) {
                    return Some(abs);
                }
                if !children.contains(&name) {
                    // Another crate (`std`, `serde`): no file of this one.
                    return None;
                }
                let mut p = here.to_vec();
                p.push(name);
                Some(p)
            }
            Some(prefix) => {
                let mut p = prefix.clone();
                if name == "super" {
                    p.pop();
                } else {
                    p.push(name);
                }
                Some(p)
            }
        }
    };
    match tree {
        syn::UseTree::Path(p) => {
            if let Some(next) = step(&prefix, &p.ident) {
                use_bindings(here, children, Some(next), &p.tree, out);
            }
        }
        syn::UseTree::Name(n) => {
            if n.ident == "self" {
                if let Some(prefix) = prefix {
                    out.push((prefix.last().cloned(), prefix));
                }
            } else if let Some(path) = step(&prefix, &n.ident) {
                out.push((Some(n.ident.to_string()), path));
            }
        }
        syn::UseTree::Rename(r) => {
            let path = if r.ident == "self" {
                prefix.clone()
            } else {
                step(&prefix, &r.ident)
            };
            if let Some(path) = path {
                out.push((Some(r.rename.to_string()), path));
            }
        }
        syn::UseTree::Glob(_) => {
            if let Some(prefix) = prefix {
                out.push((None, prefix));
            }
        }
        syn::UseTree::Group(g) => {
            for t in &g.items {
                use_bindings(here, children, prefix.clone(), t, out);
            }
        }
    }
}

fn collect_names(
    here: &[String],
    children: &BTreeSet<String>,
    items: &[syn::Item],
    prefix: &str,
    names: &mut Names,
) {
    for item in items {
        let ident = match item {
            syn::Item::Const(i) => Some(&i.ident),
            syn::Item::Enum(i) => Some(&i.ident),
            syn::Item::Fn(i) => Some(&i.sig.ident),
            syn::Item::Static(i) => Some(&i.ident),
            syn::Item::Struct(i) => Some(&i.ident),
            syn::Item::Trait(i) => Some(&i.ident),
            syn::Item::Type(i) => Some(&i.ident),
            syn::Item::Union(i) => Some(&i.ident),
            syn::Item::Macro(i) => i.ident.as_ref(),
            syn::Item::Mod(m) if m.content.is_some() && !is_test_only(&m.attrs) => {
                let inner = format!("{prefix}{}::", m.ident);
                names.defined.insert(format!("{prefix}{}", m.ident));
                collect_names(
                    here,
                    children,
                    &m.content.as_ref().unwrap().1,
                    &inner,
                    names,
                );
                None
            }
            syn::Item::Use(u) if prefix.is_empty() && !is_test_only(&u.attrs) => {
                let mut bindings = Vec::new();
                use_bindings(here, children, None, &u.tree, &mut bindings);
                for (name, path) in bindings {
                    match name {
                        Some(name) => {
                            names.bound.insert(name, path);
                        }
                        None => names.globs.push(path),
                    }
                }
                None
            }
            _ => None,
        };
        if let Some(ident) = ident {
            names.defined.insert(format!("{prefix}{ident}"));
        }
    }
}

/// The names of a module's child modules that are files of their own.
fn children_of(modules: &BTreeMap<ModPath, Module>, path: &[String]) -> BTreeSet<String> {
    modules
        .keys()
        .filter(|k| k.len() == path.len() + 1 && k.starts_with(path))
        .filter_map(|k| k.last().cloned())
        .collect()
}

struct Crate {
    modules: BTreeMap<ModPath, Module>,
    names: BTreeMap<ModPath, Names>,
}

impl Crate {
    fn load() -> Self {
        let modules = library();
        let names = modules
            .iter()
            .map(|(path, m)| {
                let mut names = Names::default();
                let children = children_of(&modules, path);
                collect_names(path, &children, &m.syntax.items, "", &mut names);
                (path.clone(), names)
            })
            .collect();
        Crate { modules, names }
    }

    /// The file that defines what an absolute path names, following `use` bindings; `None`
    /// for a path outside the crate.
    fn defining_file(&self, path: &[String], depth: usize) -> Option<PathBuf> {
        if depth > 16 {
            return None;
        }
        // The longest prefix that is a module file.
        let n = (0..=path.len())
            .rev()
            .find(|n| self.modules.contains_key(&path[..*n]))?;
        let module = &path[..n];
        let file = self.modules[module].file.clone();
        let Some(first) = path.get(n) else {
            return Some(file);
        };
        let names = &self.names[module];
        // An item of the file itself (or of one of its inline modules).
        if names.defined.contains(first) {
            return Some(file);
        }
        if let Some(target) = names.bound.get(first) {
            let mut next = target.clone();
            next.extend(path[n + 1..].iter().cloned());
            return self.defining_file(&next, depth + 1).or(Some(file));
        }
        for glob in &names.globs {
            let mut next = glob.clone();
            next.extend(path[n..].iter().cloned());
            if let Some(found) = self.defining_file(&next, depth + 1) {
                if found != self.modules[glob.as_slice()].file || glob.len() < next.len() {
                    return Some(found);
                }
            }
        }
        Some(file)
    }
}

/// Every path a file's non-test code names, made absolute where it can be.
struct Uses<'a> {
    here: &'a [String],
    names: &'a Names,
    children: BTreeSet<String>,
    found: Vec<ModPath>,
}

impl Uses<'_> {
    fn absolute(&self, segments: &[String]) -> Option<ModPath> {
        let (first, rest) = segments.split_first()?;
        let mut base = if let Some(abs) = absolute(self.here, first) {
            abs
        } else if let Some(bound) = self.names.bound.get(first) {
            bound.clone()
        } else if self.children.contains(first) {
            let mut p = self.here.to_vec();
            p.push(first.clone());
            p
        } else {
            return None;
        };
        for s in rest {
            if s == "super" {
                base.pop();
            } else {
                base.push(s.clone());
            }
        }
        Some(base)
    }
}

impl<'ast> Visit<'ast> for Uses<'_> {
    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        if let Some(abs) = self.absolute(&segments) {
            self.found.push(abs);
        }
        syn::visit::visit_path(self, p);
    }
    /// `pub(super)`, `pub(in crate::x)`: who may see an item, not what it uses.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if is_test_only(&u.attrs) {
            return;
        }
        let mut bindings = Vec::new();
        use_bindings(self.here, &self.children, None, &u.tree, &mut bindings);
        self.found.extend(bindings.into_iter().map(|(_, p)| p));
    }
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test_only(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test_only(&f.attrs) {
            syn::visit::visit_item_fn(self, f);
        }
    }
    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        if !is_test_only(&i.attrs) {
            syn::visit::visit_item_impl(self, i);
        }
    }
}

/// Modules compiled for tests only (`#[cfg(test)] mod tests;`), with what is inside them.
fn test_only(modules: &BTreeMap<ModPath, Module>) -> Vec<ModPath> {
    let mut out = Vec::new();
    for (path, m) in modules {
        for item in &m.syntax.items {
            if let syn::Item::Mod(decl) = item {
                if decl.content.is_none() && is_test_only(&decl.attrs) {
                    let mut p = path.clone();
                    p.push(decl.ident.to_string());
                    out.push(p);
                }
            }
        }
    }
    out
}

/// File → the files it depends on, for the code that is built outside tests.
fn file_graph(krate: &Crate) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut graph = BTreeMap::new();
    let tests = test_only(&krate.modules);
    for (path, module) in &krate.modules {
        if tests.iter().any(|t| path.starts_with(t)) {
            continue;
        }
        let children = children_of(&krate.modules, path);
        let mut uses = Uses {
            here: path,
            names: &krate.names[path],
            children,
            found: Vec::new(),
        };
        uses.visit_file(&module.syntax);
        let deps: BTreeSet<PathBuf> = uses
            .found
            .iter()
            .filter_map(|p| {
                let file = krate.defining_file(p, 0)?;
                if std::env::var("LAYOUT_DEBUG").is_ok_and(|d| module.file == Path::new(&d)) {
                    eprintln!("{} -> {}", p.join("::"), file.display());
                }
                Some(file)
            })
            .filter(|f| *f != module.file)
            .collect();
        graph.insert(module.file.clone(), deps);
    }
    graph
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct State<'g> {
        graph: &'g BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'g PathBuf, usize>,
        low: BTreeMap<&'g PathBuf, usize>,
        stack: Vec<&'g PathBuf>,
        next: usize,
        found: Vec<Vec<PathBuf>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g PathBuf) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        for w in s.graph.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.stack.contains(&w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn no_import_cycles_between_files() {
    let graph = file_graph(&Crate::load());
    let found = cycles(&graph);
    let text: Vec<String> = found
        .iter()
        .map(|component| {
            let mut lines = vec![format!("cycle of {} files:", component.len())];
            for file in component {
                let inside: Vec<String> = graph[file]
                    .iter()
                    .filter(|d| component.contains(d))
                    .map(|d| format!("src/{}", d.display()))
                    .collect();
                lines.push(format!("  src/{} -> {}", file.display(), inside.join(", ")));
            }
            lines.join("\n")
        })
        .collect();
    assert!(
        found.is_empty(),
        "move what both sides share into a file of its own:\n{}",
        text.join("\n")
    );
}

/// The domain model is plain data: it names nothing of the cloud, the plan, the lock or the
/// executor.
#[test]
fn the_domain_model_depends_on_nothing_above_it() {
    let graph = file_graph(&Crate::load());
    let mut wrong = Vec::new();
    for (file, deps) in &graph {
        if !file.starts_with("stack") && file != Path::new("stack.rs") {
            continue;
        }
        for dep in deps {
            let allowed = dep.starts_with("stack") || dep == Path::new("names.rs");
            if !allowed {
                wrong.push(format!("src/{} -> src/{}", file.display(), dep.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// No AWS SDK type is named outside `cloud/aws`: everything else speaks the `Cloud` trait.
#[test]
fn the_aws_sdk_is_named_only_under_cloud_aws() {
    let sdk = ["aws_sdk_", "aws_smithy_", "aws_config"];
    let outside: Vec<String> = library()
        .values()
        .filter(|m| !m.file.starts_with("cloud/aws") && m.file != Path::new("cloud/aws.rs"))
        .filter(|m| sdk.iter().any(|s| m.source.contains(s)))
        .map(|m| format!("src/{}", m.file.display()))
        .collect();
    assert!(outside.is_empty(), "{}", outside.join("\n"));
}
