//! One attribute or block at a time: references checked, the expression evaluated with the
//! values it names, sensitivity kept and refused where it may not go, and the conversions
//! that locate their problems.

use std::collections::BTreeMap;
use std::rc::Rc;

use hcl::Value;

use crate::load::convert::{self, Conv};
use crate::load::diag::{did_you_mean, Loc, Problem};
use crate::load::limits::{self, Failure};
use crate::load::marks::Marks;
use crate::load::parse::{RawAttr, RawBlock};

use super::scope::{
    eval_message, may_be_sensitive, not_sensitive, repeat_attr, short_eval_message, Evaluator,
    Scope, ROOTS,
};

impl<'a> Evaluator<'a> {
    /// Evaluates an attribute of a block of kind `ident` (`server_group`, `hook`, …),
    /// refusing a sensitive value where one cannot be kept secret (see
    /// [`may_be_sensitive`]).
    pub(super) fn eval(
        &mut self,
        scope: &Scope,
        ident: &str,
        attr: &RawAttr,
    ) -> Option<(Value, Marks)> {
        let (value, marks) = self.eval_marked(scope, attr)?;
        if marks.any() && !may_be_sensitive(ident, &attr.name) {
            self.problems.push(not_sensitive(ident, attr));
            return None;
        }
        Some((value, marks))
    }

    /// Evaluates one attribute, after checking its references: its value and which parts of
    /// it are sensitive.
    pub(super) fn eval_marked(&mut self, scope: &Scope, attr: &RawAttr) -> Option<(Value, Marks)> {
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
        let result = crate::load::functions::with_base_dir(&scope.module.dir, || {
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
    pub(super) fn undeclared_member(&mut self, scope: &Scope, attr: &RawAttr, key: &str) {
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
    pub(super) fn check_refs(&mut self, scope: &Scope, attr: &RawAttr) -> bool {
        let mut ok = true;
        for r in &attr.refs {
            if let ("count" | "each", None) = (r.root.as_str(), scope.declared.get(r.root.as_str()))
            {
                let (what, exist, example) = match r.root.as_str() {
                    "count" => ("`count.index`", "exists", "`count = 3`"),
                    _ => (
                        "`each.key` and `each.value`",
                        "exist",
                        "`for_each = toset([\"a\", \"b\"])`",
                    ),
                };
                self.problems.push(
                    Problem::new(format!("`{}` is not known here", r.text))
                        .at(r.loc.clone())
                        .label(format!("{what} {exist} only in a repeated block"))
                        .help(format!(
                            "{what} can be used in a target_group, load_balancer or server_group \
                             that sets {example}, in its own attributes and blocks"
                        )),
                );
                ok = false;
                continue;
            }
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
                    "count" | "each" => "attribute of",
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

    pub(super) fn conv<'c>(&'c mut self, attr: &'c RawAttr) -> Conv<'c> {
        Conv::new(attr, &mut self.problems)
    }

    /// A conversion whose errors do not show the value when any of it is sensitive.
    pub(super) fn conv_marked<'c>(&'c mut self, attr: &'c RawAttr, marks: &Marks) -> Conv<'c> {
        Conv::new(attr, &mut self.problems).sensitive(marks.any())
    }

    /// Evaluates every attribute of a block (skipping failed ones).
    pub(super) fn eval_block(
        &mut self,
        scope: &Scope,
        block: &RawBlock,
    ) -> BTreeMap<String, (Value, Marks)> {
        let mut out = BTreeMap::new();
        for attr in block.attrs.values() {
            if let Some(v) = self.eval(scope, &block.ident, attr) {
                out.insert(attr.name.clone(), v);
            }
        }
        out
    }

    /// Evaluates a block and its nested blocks, keeping each value with its attribute.
    pub(super) fn eval_tree<'b>(
        &mut self,
        scope: &Scope,
        block: &'b RawBlock,
    ) -> convert::Evaluated<'b> {
        let mut attrs = BTreeMap::new();
        let mut marks = BTreeMap::new();
        // `count` and `for_each` made the copies; they are not part of each one.
        let repeat = repeat_attr(block).map(|a| a.name.as_str());
        for attr in block
            .attrs
            .values()
            .filter(|a| Some(a.name.as_str()) != repeat)
        {
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

    pub(super) fn origin(&self, loc: &Loc) -> crate::stack::Origin {
        self.parsed.sources.get(loc.file).origin(&loc.span)
    }
}
