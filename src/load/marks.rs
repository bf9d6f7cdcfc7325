//! Sensitivity of evaluated values.
//!
//! As in Terraform, sensitivity belongs to values, not to variables: a value computed from a
//! sensitive one is sensitive, through functions, interpolation, locals, module inputs and
//! outputs. hcl-rs evaluates expressions into plain values, so each value has a shadow
//! [`Marks`] tree computed from the (instrumented) expression and the marks of the references
//! it reads: precise through object and list constructors, attribute and index access, and
//! conditionals; anything else (a function call, an operator, a template, a `for`) is wholly
//! sensitive when any value it reads is.

use std::collections::BTreeMap;

use hcl::expr::{Expression, ObjectKey, TraversalOperator};

/// Which parts of a value are sensitive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Marks {
    /// Nothing in it.
    #[default]
    None,
    /// All of it.
    All,
    /// Some entries of an object (every entry listed holds something sensitive).
    Map(BTreeMap<String, Marks>),
    /// Some elements of a list (at least one holds something sensitive).
    List(Vec<Marks>),
}

impl Marks {
    /// Whether anything in the value is sensitive.
    pub fn any(&self) -> bool {
        !matches!(self, Marks::None)
    }

    /// `All` when anything is sensitive: for a value used as a whole.
    pub fn whole(&self) -> Marks {
        match self.any() {
            true => Marks::All,
            false => Marks::None,
        }
    }

    fn map(entries: BTreeMap<String, Marks>) -> Marks {
        let entries: BTreeMap<String, Marks> =
            entries.into_iter().filter(|(_, m)| m.any()).collect();
        match entries.is_empty() {
            true => Marks::None,
            false => Marks::Map(entries),
        }
    }

    fn list(items: Vec<Marks>) -> Marks {
        match items.iter().any(Marks::any) {
            true => Marks::List(items),
            false => Marks::None,
        }
    }

    /// An object with one entry marked `marks`.
    pub fn entry(key: &str, marks: Marks) -> Marks {
        Marks::map(BTreeMap::from([(key.to_string(), marks)]))
    }

    /// The keys of `map` whose values hold something sensitive.
    pub fn keys<'m, V>(
        &self,
        map: impl IntoIterator<Item = (&'m String, V)>,
    ) -> std::collections::BTreeSet<String> {
        map.into_iter()
            .map(|(k, _)| k)
            .filter(|k| self.key(k).any())
            .cloned()
            .collect()
    }

    /// The marks of an object's entry (or a list's element, by its index as a string).
    pub fn key(&self, key: &str) -> Marks {
        match self {
            Marks::None => Marks::None,
            Marks::All => Marks::All,
            Marks::Map(m) => m.get(key).cloned().unwrap_or_default(),
            Marks::List(items) => match key.parse::<usize>() {
                Ok(i) => items.get(i).cloned().unwrap_or_default(),
                Err(_) => self.whole(),
            },
        }
    }

    fn index(&self, i: usize) -> Marks {
        match self {
            Marks::List(items) => items.get(i).cloned().unwrap_or_default(),
            Marks::Map(_) => self.key(&i.to_string()),
            other => other.clone(),
        }
    }

    /// Both: what either marks.
    pub fn merge(self, other: Marks) -> Marks {
        match (self, other) {
            (Marks::None, m) | (m, Marks::None) => m,
            (Marks::Map(mut a), Marks::Map(b)) => {
                for (k, m) in b {
                    let merged = a.remove(&k).unwrap_or_default().merge(m);
                    a.insert(k, merged);
                }
                Marks::map(a)
            }
            (Marks::List(a), Marks::List(b)) if a.len() == b.len() => {
                Marks::list(a.into_iter().zip(b).map(|(x, y)| x.merge(y)).collect())
            }
            _ => Marks::All,
        }
    }

    /// The marks of what `expr` evaluates to, given the marks of the values of its `__ref`
    /// slots (see `limits::instrument`).
    pub fn of(expr: &Expression, slots: &[Marks]) -> Marks {
        if !slots.iter().any(Marks::any) {
            return Marks::None;
        }
        of(expr, slots)
    }
}

fn of(expr: &Expression, slots: &[Marks]) -> Marks {
    match expr {
        Expression::Null
        | Expression::Bool(_)
        | Expression::Number(_)
        | Expression::String(_)
        | Expression::Variable(_) => Marks::None,
        Expression::Parenthesis(inner) => of(inner, slots),
        Expression::Array(items) => Marks::list(items.iter().map(|e| of(e, slots)).collect()),
        Expression::Object(object) => {
            let mut entries = BTreeMap::new();
            for (key, value) in object.iter() {
                let key = match key {
                    ObjectKey::Identifier(i) => i.to_string(),
                    ObjectKey::Expression(Expression::String(s)) => s.clone(),
                    _ => return anywhere(expr, slots),
                };
                entries.insert(key, of(value, slots));
            }
            Marks::map(entries)
        }
        Expression::Conditional(c) => match of(&c.cond_expr, slots).any() {
            true => Marks::All,
            false => of(&c.true_expr, slots).merge(of(&c.false_expr, slots)),
        },
        Expression::FuncCall(call) => match call.name.name.as_str() {
            "__ref" => match call.args.first() {
                Some(Expression::Number(n)) => n
                    .as_u64()
                    .and_then(|i| slots.get(usize::try_from(i).ok()?))
                    .cloned()
                    .unwrap_or_default(),
                _ => anywhere(expr, slots),
            },
            "__object" => match call.args.as_slice() {
                [Expression::Array(keys), Expression::Array(values)] => {
                    let mut entries = BTreeMap::new();
                    for (key, value) in keys.iter().zip(values) {
                        let Expression::String(key) = key else {
                            return anywhere(expr, slots);
                        };
                        let m = of(value, slots);
                        // A later duplicate key wins, as in the constructor.
                        entries.insert(key.clone(), m);
                    }
                    Marks::map(entries)
                }
                _ => anywhere(expr, slots),
            },
            _ => anywhere(expr, slots),
        },
        Expression::Traversal(t) => {
            let mut m = of(&t.expr, slots);
            for op in &t.operators {
                if !m.any() {
                    break;
                }
                m = match op {
                    TraversalOperator::GetAttr(k) => m.key(k.as_str()),
                    TraversalOperator::LegacyIndex(i) => {
                        m.index(usize::try_from(*i).unwrap_or(usize::MAX))
                    }
                    TraversalOperator::Index(Expression::Number(n)) => {
                        match n.as_u64().and_then(|i| usize::try_from(i).ok()) {
                            Some(i) => m.index(i),
                            None => m.whole(),
                        }
                    }
                    TraversalOperator::Index(Expression::String(k)) => m.key(k),
                    TraversalOperator::Index(other) => match of(other, slots).any() {
                        true => Marks::All,
                        false => m.whole(),
                    },
                    TraversalOperator::AttrSplat | TraversalOperator::FullSplat => m.whole(),
                };
            }
            // An index computed from a sensitive value reveals which element it picked.
            let index_marked = t.operators.iter().any(|op| match op {
                TraversalOperator::Index(e) => of(e, slots).any(),
                _ => false,
            });
            match index_marked {
                true => Marks::All,
                false => m,
            }
        }
        _ => anywhere(expr, slots),
    }
}

/// `All` when any reference inside `expr` reads something sensitive.
fn anywhere(expr: &Expression, slots: &[Marks]) -> Marks {
    let mut found = false;
    visit_refs(expr, &mut |slot| {
        found |= slot == usize::MAX || slots.get(slot).is_some_and(Marks::any);
    });
    match found {
        true => Marks::All,
        false => Marks::None,
    }
}

/// Calls `f` with the slot of every `__ref` inside `expr`.
fn visit_refs(expr: &Expression, f: &mut dyn FnMut(usize)) {
    use hcl::template::{Directive, Element};
    fn template(t: &hcl::template::Template, f: &mut dyn FnMut(usize)) {
        for e in t.elements() {
            match e {
                Element::Literal(_) => {}
                Element::Interpolation(i) => visit_refs(&i.expr, f),
                Element::Directive(d) => match d.as_ref() {
                    Directive::If(i) => {
                        visit_refs(&i.cond_expr, f);
                        template(&i.true_template, f);
                        if let Some(e) = &i.false_template {
                            template(e, f);
                        }
                    }
                    Directive::For(x) => {
                        visit_refs(&x.collection_expr, f);
                        template(&x.template, f);
                    }
                },
            }
        }
    }
    match expr {
        Expression::Array(items) => items.iter().for_each(|e| visit_refs(e, f)),
        Expression::Object(o) => {
            for (k, v) in o.iter() {
                match k {
                    ObjectKey::Expression(k) => visit_refs(k, f),
                    ObjectKey::Identifier(_) => {}
                    // A kind of key this code does not know: counted as sensitive.
                    _ => f(usize::MAX),
                }
                visit_refs(v, f);
            }
        }
        Expression::TemplateExpr(t) => match hcl::template::Template::from_expr(t) {
            Ok(t) => template(&t, f),
            // Not parsable: counted as reading something sensitive, to be safe.
            Err(_) => f(usize::MAX),
        },
        Expression::Traversal(t) => {
            visit_refs(&t.expr, f);
            for op in &t.operators {
                if let TraversalOperator::Index(e) = op {
                    visit_refs(e, f);
                }
            }
        }
        Expression::FuncCall(call) => {
            if call.name.name.as_str() == "__ref" {
                if let Some(Expression::Number(n)) = call.args.first() {
                    if let Some(i) = n.as_u64().and_then(|i| usize::try_from(i).ok()) {
                        f(i);
                    }
                }
                return;
            }
            call.args.iter().for_each(|e| visit_refs(e, f));
        }
        Expression::Parenthesis(e) => visit_refs(e, f),
        Expression::Conditional(c) => {
            visit_refs(&c.cond_expr, f);
            visit_refs(&c.true_expr, f);
            visit_refs(&c.false_expr, f);
        }
        Expression::Operation(op) => match op.as_ref() {
            hcl::expr::Operation::Unary(u) => visit_refs(&u.expr, f),
            hcl::expr::Operation::Binary(b) => {
                visit_refs(&b.lhs_expr, f);
                visit_refs(&b.rhs_expr, f);
            }
        },
        Expression::ForExpr(x) => {
            visit_refs(&x.collection_expr, f);
            if let Some(k) = &x.key_expr {
                visit_refs(k, f);
            }
            visit_refs(&x.value_expr, f);
            if let Some(c) = &x.cond_expr {
                visit_refs(c, f);
            }
        }
        _ => {}
    }
}
