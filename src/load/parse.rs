//! Reading stack files: parsing with spans, checking blocks and attributes against the schema,
//! and loading modules. No evaluation happens here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcl_edit::expr::Expression as EditExpr;
use hcl_edit::structure::{Body, Structure};
use hcl_edit::visit::{self, Visit};
use hcl_edit::Span;
use indexmap::IndexMap;

use super::diag::{did_you_mean, Diagnostics, FileId, Loc, Problem, Sources};
use super::schema::{self, BlockSchema, Multiplicity};

/// A reference found in an expression: `target_group.web` is root `target_group`, key `web`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub root: String,
    pub key: Option<String>,
    /// The text as written, for messages.
    pub text: String,
    pub loc: Loc,
}

/// One attribute: its expression (for evaluation) and where it was written.
#[derive(Debug, Clone)]
pub struct RawAttr {
    pub name: String,
    /// The value, instrumented for the loading limits (see [`super::limits::instrument`]).
    pub expr: hcl::Expression,
    /// The references `expr` reads, in the order of its `__ref` slots, as (root, key).
    pub slots: Vec<(String, String)>,
    /// The whole `name = value`.
    pub loc: Loc,
    /// Just the value.
    pub value_loc: Loc,
    pub refs: Vec<Reference>,
    /// The value as written (used for `type = list(string)`).
    pub source_text: String,
}

/// One block, checked against its schema.
#[derive(Debug, Clone)]
pub struct RawBlock {
    pub ident: String,
    pub labels: Vec<String>,
    /// The block header (`server_group "web"`).
    pub loc: Loc,
    pub attrs: IndexMap<String, RawAttr>,
    pub blocks: Vec<RawBlock>,
}

impl RawBlock {
    pub fn label(&self) -> &str {
        self.labels.first().map(String::as_str).unwrap_or("")
    }

    pub fn attr(&self, name: &str) -> Option<&RawAttr> {
        self.attrs.get(name)
    }

    pub fn block(&self, ident: &str) -> Option<&RawBlock> {
        self.blocks.iter().find(|b| b.ident == ident)
    }

    pub fn blocks_of<'a>(&'a self, ident: &'a str) -> impl Iterator<Item = &'a RawBlock> + 'a {
        self.blocks.iter().filter(move |b| b.ident == ident)
    }
}

/// A module: the root stack or a module directory, with its child modules loaded.
#[derive(Debug, Clone)]
pub struct RawModule {
    pub dir: PathBuf,
    pub blocks: Vec<RawBlock>,
    /// Child modules by the label of their `module` block. Missing when loading failed (the
    /// problem is reported).
    pub children: BTreeMap<String, RawModule>,
}

impl RawModule {
    pub fn blocks_of<'a>(&'a self, ident: &'a str) -> impl Iterator<Item = &'a RawBlock> + 'a {
        self.blocks.iter().filter(move |b| b.ident == ident)
    }
}

/// The parsed stack: every source file and the module tree.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub sources: Sources,
    pub root: RawModule,
    /// Problems found while parsing; evaluation still runs, so that all are reported at once.
    pub problems: Vec<Problem>,
    /// Files that could not be parsed at all: their blocks are missing, so problems about
    /// something missing (no `stack` block) would only be noise.
    pub unparsable_files: usize,
    /// Everything else the stack read while being evaluated (`file()` targets, var files),
    /// as first read: later evaluations of this stack see the same bytes.
    pub files: super::snapshot::FileSnapshot,
}

impl Parsed {
    pub fn into_diagnostics(self, mut more: Vec<Problem>) -> Diagnostics {
        let mut problems = self.problems;
        problems.append(&mut more);
        // In the order of the files: problems without a place (command line) first.
        problems.sort_by_key(|p| p.loc.as_ref().map(|l| (l.file, l.span.start)));
        Diagnostics {
            problems,
            sources: self.sources,
        }
    }
}

/// Reads a stack: `path` is one `.hcl` file or a directory whose `.hcl` files are merged.
pub fn parse_stack(path: &Path) -> Result<Parsed, Diagnostics> {
    let mut p = Parser::default();
    let files = match stack_files(path) {
        Ok(files) => files,
        Err(problem) => {
            return Err(Diagnostics {
                problems: vec![problem],
                sources: Sources::default(),
            })
        }
    };
    let dir = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let root = p.module(&dir, &files, &mut Vec::new(), true);
    Ok(Parsed {
        sources: p.sources,
        root,
        problems: p.problems,
        unparsable_files: p.unparsable_files,
        files: Default::default(),
    })
}

/// The `.hcl` files of a stack or module path, sorted by name.
fn stack_files(path: &Path) -> Result<Vec<PathBuf>, Problem> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        return Err(
            Problem::new(format!("stack path {} does not exist", path.display()))
                .help("give a .hcl file or a directory of .hcl files"),
        );
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Problem::new(format!("cannot read {}: {e}", path.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "hcl") && p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(
            Problem::new(format!("{} holds no .hcl files", path.display()))
                .help("a stack is a .hcl file or a directory of them"),
        );
    }
    Ok(files)
}

#[derive(Default)]
struct Parser {
    sources: Sources,
    problems: Vec<Problem>,
    unparsable_files: usize,
}

impl Parser {
    fn module(
        &mut self,
        dir: &Path,
        files: &[PathBuf],
        chain: &mut Vec<PathBuf>,
        is_root: bool,
    ) -> RawModule {
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        chain.push(canonical);
        let mut blocks = Vec::new();
        for file in files {
            blocks.extend(self.file(file, is_root));
        }
        self.check_duplicates(&blocks);
        let mut children = BTreeMap::new();
        for block in blocks.iter().filter(|b| b.ident == "module") {
            if let Some(child) = self.child_module(dir, block, chain) {
                children.insert(block.label().to_string(), child);
            }
        }
        chain.pop();
        RawModule {
            dir: dir.to_path_buf(),
            blocks,
            children,
        }
    }

    fn child_module(
        &mut self,
        dir: &Path,
        block: &RawBlock,
        chain: &mut Vec<PathBuf>,
    ) -> Option<RawModule> {
        let source = block.attr("source")?;
        let hcl::Expression::String(rel) = &source.expr else {
            self.problems.push(
                Problem::new("a module's `source` must be a literal path")
                    .at(source.value_loc.clone())
                    .label("expected a string such as \"../modules/service\""),
            );
            return None;
        };
        let path = normalize(&dir.join(rel));
        let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
        if let Some(pos) = chain.iter().position(|c| *c == canonical) {
            let cycle: Vec<String> = chain[pos..]
                .iter()
                .chain(std::iter::once(&canonical))
                .map(|p| super::diag::display_path(p))
                .collect();
            self.problems.push(
                Problem::new(format!("module cycle: {}", cycle.join(" → ")))
                    .at(source.value_loc.clone())
                    .label("this module includes itself")
                    .help("a module may not use itself, directly or through other modules"),
            );
            return None;
        }
        match stack_files(&path) {
            Ok(files) => Some(self.module(&path, &files, chain, false)),
            Err(_) => {
                self.problems.push(
                    Problem::new(format!(
                        "module \"{}\": no module at {}",
                        block.label(),
                        super::diag::display_path(&path)
                    ))
                    .at(source.value_loc.clone())
                    .label("expected a directory of .hcl files")
                    .help("`source` is relative to the file that declares the module"),
                );
                None
            }
        }
    }

    fn file(&mut self, path: &Path, is_root: bool) -> Vec<RawBlock> {
        let text = match super::limits::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                self.problems
                    .push(Problem::new(format!("cannot read {}: {e}", path.display())));
                return Vec::new();
            }
        };
        let id = self.sources.add(path, text);
        let text = self.sources.get(id).text.clone();
        let body = match hcl_edit::parser::parse_body(&text) {
            Ok(body) => body,
            Err(e) => {
                self.unparsable_files += 1;
                let offset = e.location().offset();
                let problem = syntax_problem(&self.sources, id, offset, e.message());
                self.problems.push(problem);
                return Vec::new();
            }
        };
        let top = if is_root {
            &schema::ROOT
        } else {
            &schema::MODULE
        };
        self.body(id, &body, top, "a stack file").1
    }

    /// Checks a body against `schema`, returning its attributes and blocks.
    fn body(
        &mut self,
        file: FileId,
        body: &Body,
        schema: &BlockSchema,
        context: &str,
    ) -> (IndexMap<String, RawAttr>, Vec<RawBlock>) {
        let mut attrs: IndexMap<String, RawAttr> = IndexMap::new();
        let mut blocks = Vec::new();
        for structure in body.iter() {
            match structure {
                Structure::Attribute(a) => {
                    let name = a.key.as_str().to_string();
                    let loc = loc(file, a.span());
                    if !schema.any_attrs && !schema.attrs.iter().any(|(n, _)| *n == name) {
                        let mut p =
                            Problem::new(format!("unknown attribute `{name}` in {context}"))
                                .at(loc_of_key(file, a))
                                .label(expected_attrs(schema));
                        if let Some(s) = did_you_mean(&name, schema.attrs.iter().map(|(n, _)| *n)) {
                            p = p.help(format!("did you mean `{s}`?"));
                        }
                        self.problems.push(p);
                        continue;
                    }
                    if let Some(first) = attrs.get(&name) {
                        let first = self.sources.get(first.loc.file).origin(&first.loc.span);
                        self.problems.push(
                            Problem::new(format!("attribute `{name}` is set twice in {context}"))
                                .at(loc_of_key(file, a))
                                .label(format!("already set at {first}")),
                        );
                        continue;
                    }
                    let value_loc = loc_or(file, a.value.span(), &loc);
                    let source_text =
                        self.sources.get(file).text[value_loc.span.clone()].to_string();
                    let value = super::limits::instrument(&a.value, true);
                    attrs.insert(
                        name.clone(),
                        RawAttr {
                            name,
                            expr: value.expr,
                            slots: value.slots,
                            loc,
                            value_loc,
                            refs: references(file, &a.value),
                            source_text,
                        },
                    );
                }
                Structure::Block(b) => {
                    if let Some(block) = self.block(file, b, schema, context) {
                        blocks.push(block);
                    }
                }
            }
        }
        (attrs, blocks)
    }

    fn block(
        &mut self,
        file: FileId,
        b: &hcl_edit::structure::Block,
        parent: &BlockSchema,
        context: &str,
    ) -> Option<RawBlock> {
        let ident = b.ident.as_str().to_string();
        let header = loc(file, b.ident.span().or(b.span()));
        let Some((_, child, multiplicity)) = parent.blocks.iter().find(|(n, ..)| *n == ident)
        else {
            let names: Vec<&str> = parent.blocks.iter().map(|(n, ..)| *n).collect();
            let mut p = Problem::new(format!("unknown block `{ident}` in {context}")).at(header);
            p = if names.is_empty() {
                p.label("no blocks are allowed here")
            } else {
                p.label(format!("expected one of: {}", names.join(", ")))
            };
            if let Some(s) = did_you_mean(&ident, names.iter().copied()) {
                p = p.help(format!("did you mean `{s}`?"));
            }
            self.problems.push(p);
            return None;
        };
        let labels: Vec<String> = b.labels.iter().map(|l| l.as_str().to_string()).collect();
        if labels.len() != child.labels.len() {
            let want = match child.labels {
                [] => format!("`{ident}` takes no label"),
                [one] => {
                    format!("`{ident}` takes one label: its {one}, as in `{ident} \"name\" {{`")
                }
                many => format!("`{ident}` takes labels: {}", many.join(", ")),
            };
            self.problems.push(
                Problem::new(format!(
                    "block `{ident}` has {} label(s), expected {}",
                    labels.len(),
                    child.labels.len()
                ))
                .at(header)
                .label(want),
            );
            return None;
        }
        for l in &labels {
            if !is_identifier(l) {
                self.problems.push(
                    Problem::new(format!("invalid name \"{l}\" for `{ident}`"))
                        .at(header.clone())
                        .label("names are letters, digits, `_` and `-`, starting with a letter"),
                );
            }
        }
        let what = match labels.first() {
            Some(l) => format!("{ident} \"{l}\""),
            None => ident.clone(),
        };
        let (attrs, blocks) = self.body(file, &b.body, child, &what);
        // `instnace_type = …` was reported with "did you mean `instance_type`?": saying that
        // `instance_type` is missing as well would only repeat it.
        let misspelt: Vec<&str> = b
            .body
            .attributes()
            .filter_map(|a| {
                let key = a.key.as_str();
                if child.any_attrs || child.attrs.iter().any(|(n, _)| *n == key) {
                    return None;
                }
                did_you_mean(key, child.attrs.iter().map(|(n, _)| *n))
            })
            .collect();
        for (name, required) in child.attrs {
            if *required && !attrs.contains_key(*name) && !misspelt.contains(name) {
                self.problems.push(
                    Problem::new(format!("{what} is missing required attribute `{name}`"))
                        .at(header.clone())
                        .label(format!("add `{name} = …` to this block")),
                );
            }
        }
        for (name, _, m) in child.blocks {
            let n = blocks
                .iter()
                .filter(|b: &&RawBlock| b.ident == *name)
                .count();
            if *m == Multiplicity::AtMostOne && n > 1 {
                let second = blocks.iter().filter(|b| b.ident == *name).nth(1)?;
                self.problems.push(
                    Problem::new(format!("{what} has more than one `{name}` block"))
                        .at(second.loc.clone())
                        .label("only one is allowed"),
                );
            }
        }
        let _ = multiplicity;
        Some(RawBlock {
            ident,
            labels,
            loc: header,
            attrs,
            blocks,
        })
    }

    /// Two top-level blocks of the same kind and label (across all files of a module).
    fn check_duplicates(&mut self, blocks: &[RawBlock]) {
        let mut seen: BTreeMap<(String, String), &RawBlock> = BTreeMap::new();
        let mut stack_blocks = 0;
        for b in blocks {
            if b.ident == "locals" {
                continue;
            }
            if b.ident == "stack" {
                stack_blocks += 1;
                if stack_blocks > 1 {
                    self.problems.push(
                        Problem::new("more than one `stack` block")
                            .at(b.loc.clone())
                            .label("a stack has exactly one `stack` block"),
                    );
                }
                continue;
            }
            let key = (b.ident.clone(), b.label().to_string());
            if let Some(first) = seen.get(&key) {
                let at = self.sources.get(first.loc.file).origin(&first.loc.span);
                self.problems.push(
                    Problem::new(format!("duplicate {} \"{}\"", b.ident, b.label()))
                        .at(b.loc.clone())
                        .label(format!("first declared at {at}"))
                        .help("names must be unique within their kind; rename one of them"),
                );
            } else {
                seen.insert(key, b);
            }
        }
        // Local values are declared across several `locals` blocks; each name once.
        let mut locals: BTreeMap<&str, &RawAttr> = BTreeMap::new();
        for b in blocks.iter().filter(|b| b.ident == "locals") {
            for (name, attr) in &b.attrs {
                if let Some(first) = locals.get(name.as_str()) {
                    let at = self.sources.get(first.loc.file).origin(&first.loc.span);
                    self.problems.push(
                        Problem::new(format!("duplicate local value `{name}`"))
                            .at(attr.loc.clone())
                            .label(format!("first declared at {at}")),
                    );
                } else {
                    locals.insert(name, attr);
                }
            }
        }
    }
}

/// A parse error, made specific where the parser's message is not: an attribute set twice, a
/// block never closed.
fn syntax_problem(sources: &Sources, file: FileId, offset: usize, message: &str) -> Problem {
    let text = &sources.get(file).text;
    // The parser's offset may fall inside a multi-byte character.
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let at = |span: std::ops::Range<usize>| Loc { file, span };
    if message.contains("redefined attribute") {
        let name: String = text[offset..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        if !name.is_empty() {
            return Problem::new(format!("attribute `{name}` is set twice in the same block"))
                .at(at(offset..offset + name.len()))
                .label("set again here")
                .help("each attribute may be set once per block; remove one of them");
        }
    }
    if text[offset..].trim().is_empty() {
        if let Some(open) = unclosed_brace(text) {
            let (line, col) = sources.get(file).line_col(offset);
            return Problem::new("syntax error: a block is never closed")
                .at(at(open..open + 1))
                .label("this `{` has no matching `}`")
                .help(format!(
                    "the file ends at {line}:{col}; add the missing `}}`"
                ));
        }
    }
    let end = text[offset..]
        .chars()
        .next()
        .map_or(offset, |c| offset + c.len_utf8());
    Problem::new(format!("syntax error: {message}"))
        .at(at(offset..end.max(offset)))
        .label(message.to_string())
}

/// The innermost `{` left open at the end of `text`, skipping strings, comments and heredocs
/// (a best effort, used only to point at the likely culprit of a parse error).
fn unclosed_brace(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut open = Vec::new();
    let mut i = 0;
    let skip_line = |i: usize| {
        b[i..]
            .iter()
            .position(|c| *c == b'\n')
            .map_or(b.len(), |p| i + p)
    };
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'#' => i = skip_line(i),
            b'/' if b.get(i + 1) == Some(&b'/') => i = skip_line(i),
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 1);
            }
            b'<' if b.get(i + 1) == Some(&b'<') => {
                let rest = text[i + 2..].trim_start_matches('-');
                let marker: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !marker.is_empty() {
                    let mut j = skip_line(i);
                    while j < b.len() {
                        let end = skip_line(j + 1);
                        if text[j + 1..end].trim() == marker {
                            break;
                        }
                        j = end;
                    }
                    i = j;
                }
            }
            b'{' => open.push(i),
            b'}' => {
                open.pop();
            }
            _ => {}
        }
        i += 1;
    }
    open.pop()
}

/// `a/./b/../c` as `a/c`, so that module paths read the way they were meant.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            c => out.push(c.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn expected_attrs(schema: &BlockSchema) -> String {
    if schema.attrs.is_empty() {
        "no attributes are allowed here".into()
    } else {
        let names: Vec<&str> = schema.attrs.iter().map(|(n, _)| *n).collect();
        format!("expected one of: {}", names.join(", "))
    }
}

fn loc(file: FileId, span: Option<std::ops::Range<usize>>) -> Loc {
    Loc {
        file,
        span: span.unwrap_or(0..0),
    }
}

fn loc_or(file: FileId, span: Option<std::ops::Range<usize>>, fallback: &Loc) -> Loc {
    match span {
        Some(span) => Loc { file, span },
        None => fallback.clone(),
    }
}

fn loc_of_key(file: FileId, a: &hcl_edit::structure::Attribute) -> Loc {
    loc(file, a.key.span().or(a.span()))
}

/// Every reference (`root.key…`) in an expression, skipping names bound by `for`.
pub fn references(file: FileId, expr: &EditExpr) -> Vec<Reference> {
    let mut c = RefCollector {
        file,
        bound: Vec::new(),
        refs: Vec::new(),
    };
    c.visit_expr(expr);
    c.refs
}

struct RefCollector {
    file: FileId,
    bound: Vec<String>,
    refs: Vec<Reference>,
}

impl RefCollector {
    fn push(&mut self, root: &str, key: Option<String>, span: Option<std::ops::Range<usize>>) {
        if self.bound.iter().any(|b| b == root) {
            return;
        }
        let text = match &key {
            Some(k) => format!("{root}.{k}"),
            None => root.to_string(),
        };
        self.refs.push(Reference {
            root: root.to_string(),
            key,
            text,
            loc: loc(self.file, span),
        });
    }
}

impl Visit for RefCollector {
    fn visit_expr(&mut self, expr: &EditExpr) {
        match expr {
            EditExpr::Variable(v) => self.push(v.as_str(), None, v.span()),
            EditExpr::Traversal(t) => {
                if let EditExpr::Variable(v) = &t.expr {
                    let key = t.operators.first().and_then(|op| match op.value() {
                        hcl_edit::expr::TraversalOperator::GetAttr(k) => {
                            Some(k.as_str().to_string())
                        }
                        _ => None,
                    });
                    self.push(v.as_str(), key, t.span());
                    for op in &t.operators {
                        if let hcl_edit::expr::TraversalOperator::Index(e) = op.value() {
                            self.visit_expr(e);
                        }
                    }
                } else {
                    visit::visit_traversal(self, t);
                }
            }
            _ => visit::visit_expr(self, expr),
        }
    }

    fn visit_for_expr(&mut self, node: &hcl_edit::expr::ForExpr) {
        self.visit_expr(&node.intro.collection_expr);
        let n = self.bound.len();
        if let Some(k) = &node.intro.key_var {
            self.bound.push(k.as_str().to_string());
        }
        self.bound.push(node.intro.value_var.as_str().to_string());
        if let Some(key_expr) = &node.key_expr {
            self.visit_expr(key_expr);
        }
        self.visit_expr(&node.value_expr);
        if let Some(cond) = &node.cond {
            self.visit_expr(&cond.expr);
        }
        self.bound.truncate(n);
    }

    fn visit_for_template_expr(&mut self, node: &hcl_edit::template::ForTemplateExpr) {
        self.visit_expr(&node.collection_expr);
        let n = self.bound.len();
        if let Some(k) = &node.key_var {
            self.bound.push(k.as_str().to_string());
        }
        self.bound.push(node.value_var.as_str().to_string());
        self.visit_template(&node.template);
        self.bound.truncate(n);
    }
}
