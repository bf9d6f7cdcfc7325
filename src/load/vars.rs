//! Variable values: from `-var`, `-var-file` and `REROLL_VAR_*` (in that order of
//! precedence) for the root, from the `module` block for modules; checked against `type`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hcl::Value;

use hcl_edit::Span;

use super::diag::{did_you_mean, FileId, Loc, Problem, Sources};
use super::limits;
use super::marks::Marks;
use super::parse::{Parsed, RawAttr, RawBlock, RawModule};

/// Where variable values come from, as the user gave them.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `-var name=value`, in command-line order (a later one wins).
    pub cli: Vec<(String, String)>,
    /// `-var-file FILE`, in order (a later one wins).
    pub files: Vec<PathBuf>,
    /// `REROLL_VAR_name=value` from the environment.
    pub env: Vec<(String, String)>,
    /// `--region`, which beats the stack block's `region`.
    pub region_override: Option<String>,
    /// Values already parsed (from a saved plan); they beat every other source.
    pub values: Vec<(String, Value)>,
    /// `validate`: a required variable without a value is unknown rather than an error.
    pub allow_missing: bool,
}

impl Inputs {
    /// Reads `REROLL_VAR_*` from the process environment.
    pub fn with_process_env(mut self) -> Self {
        self.env = std::env::vars()
            .filter_map(|(k, v)| k.strip_prefix("REROLL_VAR_").map(|n| (n.to_string(), v)))
            .collect();
        self
    }
}

/// A variable's value and whether it must be kept out of output.
#[derive(Debug, Clone)]
pub struct VarValue {
    pub value: Value,
    /// Declared `sensitive = true`.
    pub sensitive: bool,
    /// Which parts of the value are sensitive: all of it when declared so, else what the
    /// module input it was given was computed from.
    pub marks: Marks,
}

/// The declared type of a variable, from `type = …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VarType {
    String,
    Number,
    Bool,
    List,
    Map,
    Any,
}

impl VarType {
    fn parse(text: &str) -> Option<VarType> {
        let t = text.trim();
        let head = t.split('(').next().unwrap_or(t).trim();
        Some(match head {
            "string" => VarType::String,
            "number" => VarType::Number,
            "bool" => VarType::Bool,
            "list" | "set" | "tuple" => VarType::List,
            "map" | "object" => VarType::Map,
            "any" => VarType::Any,
            _ => return None,
        })
    }

    fn of(value: &Value) -> VarType {
        match value {
            Value::String(_) => VarType::String,
            Value::Number(_) => VarType::Number,
            Value::Bool(_) => VarType::Bool,
            Value::Array(_) => VarType::List,
            Value::Object(_) => VarType::Map,
            Value::Null => VarType::Any,
        }
    }

    fn name(self) -> &'static str {
        match self {
            VarType::String => "string",
            VarType::Number => "number",
            VarType::Bool => "bool",
            VarType::List => "list",
            VarType::Map => "map",
            VarType::Any => "any",
        }
    }

    /// Converts a value to this type where Terraform would (`"3"` to 3, 3 to `"3"`).
    fn coerce(self, value: Value) -> Result<Value, Value> {
        match (self, value) {
            (VarType::Any, v) => Ok(v),
            (VarType::String, Value::Number(n)) => Ok(Value::String(n.to_string())),
            (VarType::String, Value::Bool(b)) => Ok(Value::String(b.to_string())),
            (VarType::Number, Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| s.trim().parse::<f64>().map(Value::from))
                .map_err(|_| Value::String(s)),
            (VarType::Bool, Value::String(s)) => match s.as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(Value::String(s)),
            },
            (t, v) if VarType::of(&v) == t || v.is_null() => Ok(v),
            (_, v) => Err(v),
        }
    }
}

/// The declared type: from `type`, else from the default's type, else any.
fn declared_type(block: &RawBlock, problems: &mut Vec<Problem>) -> VarType {
    if let Some(attr) = block.attr("type") {
        return match VarType::parse(&attr.source_text) {
            Some(t) => t,
            None => {
                problems.push(
                    Problem::new(format!("unknown type `{}`", attr.source_text.trim()))
                        .at(attr.value_loc.clone())
                        .label("expected string, number, bool, list(…), map(…), object(…) or any"),
                );
                VarType::Any
            }
        };
    }
    match block.attr("default").map(|a| &a.expr) {
        Some(hcl::Expression::Number(_)) => VarType::Number,
        Some(hcl::Expression::Bool(_)) => VarType::Bool,
        _ => VarType::Any,
    }
}

fn literal(attr: &RawAttr, problems: &mut Vec<Problem>) -> Option<Value> {
    let message = match constant(&attr.expr) {
        Ok(v) => return Some(v),
        Err(message) => message,
    };
    problems.push(
        Problem::new(format!(
            "`{}` must be a constant value here: {message}",
            attr.name
        ))
        .at(attr.value_loc.clone())
        .label("references and functions are not allowed here"),
    );
    None
}

/// Evaluates a constant (an instrumented expression without references or functions) within
/// the loading limits.
fn constant(expr: &hcl::Expression) -> Result<Value, String> {
    limits::evaluate(expr, &limits::constants(), Vec::new()).map_err(|e| match e {
        limits::Failure::Eval(e) => match e.kind() {
            hcl::eval::ErrorKind::FuncCall(name, message)
                if limits::is_internal(name.name.as_str()) =>
            {
                message.clone()
            }
            other => other.to_string(),
        },
        limits::Failure::Limit(message) => message,
    })
}

fn is_sensitive(block: &RawBlock, problems: &mut Vec<Problem>) -> bool {
    block
        .attr("sensitive")
        .and_then(|a| literal(a, problems))
        .is_some_and(|v| v == Value::Bool(true))
}

/// Parses a `-var` or environment value for a variable of type `t`.
fn parse_text(t: VarType, text: &str) -> Result<Value, String> {
    match t {
        VarType::String | VarType::Number | VarType::Bool => Ok(Value::String(text.to_string())),
        VarType::Any if !looks_structured(text) => Ok(Value::String(text.to_string())),
        _ => {
            let expr = hcl_edit::parser::parse_expr(text)
                .map_err(|e| format!("not a valid HCL value: {e}"))?;
            constant(&limits::instrument(&expr, false).expr)
                .map_err(|e| format!("not a constant value: {e}"))
        }
    }
}

/// A parse error of a given value: the parser quotes the text, so for a sensitive variable
/// only what was expected is said.
fn withheld(block: &RawBlock, message: String) -> String {
    match is_sensitive(block, &mut Vec::new()) {
        true => "not a valid value of its type (the details are withheld: the variable is \
                 sensitive)"
            .to_string(),
        false => message,
    }
}

fn looks_structured(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with('[') || t.starts_with('{')
}

/// Values for the root module's variables, with every missing or ill-typed one reported.
pub fn root_values(
    parsed: &Parsed,
    inputs: &Inputs,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, VarValue> {
    super::snapshot::with_snapshot(&parsed.files, || root_values_here(parsed, inputs, problems))
}

fn root_values_here(
    parsed: &Parsed,
    inputs: &Inputs,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, VarValue> {
    let declared: BTreeMap<&str, &RawBlock> = parsed
        .root
        .blocks_of("variable")
        .map(|b| (b.label(), b))
        .collect();

    // Lowest precedence first; later sources overwrite.
    let mut given: BTreeMap<String, (Value, String)> = BTreeMap::new();
    for (name, text) in &inputs.env {
        if let Some(block) = declared.get(name.as_str()) {
            let t = declared_type(block, &mut Vec::new());
            match parse_text(t, text) {
                Ok(v) => {
                    given.insert(name.clone(), (v, format!("REROLL_VAR_{name}")));
                }
                Err(e) => problems.push(Problem::new(format!(
                    "REROLL_VAR_{name}: {}",
                    withheld(block, e)
                ))),
            }
        }
    }
    for file in &inputs.files {
        // `evaluate` adds var files to the sources; their problems then have a location.
        let id = parsed.sources.iter().position(|s| s.path == *file);
        for (name, value) in read_var_file(file, id, &parsed.sources, &declared, problems) {
            given.insert(name, (value, format!("-var-file {}", file.display())));
        }
    }
    for (name, text) in &inputs.cli {
        let Some(block) = declared.get(name.as_str()) else {
            let mut p = Problem::new(format!(
                "-var {name}=…: the stack declares no variable \"{name}\""
            ));
            if let Some(s) = did_you_mean(name, declared.keys().copied()) {
                p = p.help(format!("did you mean `{s}`?"));
            }
            problems.push(p);
            continue;
        };
        let t = declared_type(block, &mut Vec::new());
        match parse_text(t, text) {
            Ok(v) => {
                given.insert(name.clone(), (v, "-var".to_string()));
            }
            Err(e) => problems.push(Problem::new(format!("-var {name}: {}", withheld(block, e)))),
        }
    }
    for (name, value) in &inputs.values {
        if declared.contains_key(name.as_str()) {
            given.insert(name.clone(), (value.clone(), "the saved plan".to_string()));
        }
    }

    let mut out = BTreeMap::new();
    for (name, block) in &declared {
        let t = declared_type(block, problems);
        let sensitive = is_sensitive(block, problems);
        let value = match given.remove(*name) {
            Some((v, from)) => match t.coerce(v) {
                Ok(v) => v,
                Err(v) => {
                    problems.push(
                        Problem::new(format!(
                            "variable \"{name}\" expects a {}, but {from} gives {}",
                            t.name(),
                            if sensitive {
                                "(sensitive)".into()
                            } else {
                                v.to_string()
                            }
                        ))
                        .at(block.loc.clone())
                        .label(format!("declared here as {}", t.name())),
                    );
                    Value::from(crate::stack::UNKNOWN_LOOKUP)
                }
            },
            None => match block.attr("default") {
                Some(attr) => match literal(attr, problems) {
                    Some(v) => v,
                    None => continue,
                },
                None if inputs.allow_missing => Value::from(crate::stack::UNKNOWN_LOOKUP),
                None => {
                    problems.push(
                        Problem::new(format!("required variable \"{name}\" has no value"))
                            .at(block.loc.clone())
                            .label("declared here without a default")
                            .help(format!(
                                "set it with -var {name}=VALUE, in a -var-file, or with REROLL_VAR_{name}"
                            )),
                    );
                    Value::from(crate::stack::UNKNOWN_LOOKUP)
                }
            },
        };
        let marks = match sensitive {
            true => Marks::All,
            false => Marks::None,
        };
        out.insert(
            name.to_string(),
            VarValue {
                value,
                sensitive,
                marks,
            },
        );
    }
    out
}

/// Reads a `-var-file`: attributes with constant values. `id` is the file in `sources`, when it
/// is there, so that problems point at their line.
fn read_var_file(
    path: &std::path::Path,
    id: Option<FileId>,
    sources: &Sources,
    declared: &BTreeMap<&str, &RawBlock>,
    problems: &mut Vec<Problem>,
) -> Vec<(String, Value)> {
    let text: std::sync::Arc<str> = match id {
        Some(id) => sources.get(id).text.clone(),
        None => {
            use super::snapshot::Entry;
            let why = match super::snapshot::read(path) {
                Entry::File(bytes) => match String::from_utf8(bytes.to_vec()) {
                    Ok(t) => Ok(t.into()),
                    Err(_) => Err("it is not UTF-8 text".to_string()),
                },
                Entry::Missing => Err("no such file".to_string()),
                Entry::Directory => Err("it is a directory".to_string()),
                Entry::Error(e) => Err(e),
            };
            match why {
                Ok(t) => t,
                Err(e) => {
                    problems.push(
                        Problem::new(format!("cannot read -var-file {}: {e}", path.display()))
                            .help("give the path of an .hcl file of `name = value` lines"),
                    );
                    return Vec::new();
                }
            }
        }
    };
    let at =
        |span: Option<std::ops::Range<usize>>| id.zip(span).map(|(file, span)| Loc { file, span });
    let body = match hcl_edit::parser::parse_body(&text) {
        Ok(b) => b,
        Err(e) => {
            let offset = e.location().offset();
            let end = (offset + 1).min(text.len()).max(offset);
            problems.push(
                Problem::new(format!(
                    "syntax error in -var-file {}: {}",
                    path.display(),
                    e.message()
                ))
                .at_opt(at(Some(offset..end)))
                .label(e.message().to_string())
                .help("a var file holds `name = value` lines"),
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for attr in body.attributes() {
        let name = attr.key.as_str().to_string();
        if !declared.contains_key(name.as_str()) {
            let mut p = Problem::new(format!(
                "-var-file {}: the stack declares no variable \"{name}\"",
                path.display()
            ))
            .at_opt(at(attr.key.span()))
            .label("not a variable of the stack");
            p = match did_you_mean(&name, declared.keys().copied()) {
                Some(s) => p.help(format!("did you mean `{s}`?")),
                None if declared.is_empty() => p.help("the stack declares no variables"),
                None => p.help(format!(
                    "the stack declares: {}",
                    declared.keys().copied().collect::<Vec<_>>().join(", ")
                )),
            };
            problems.push(p);
            continue;
        }
        match constant(&limits::instrument(&attr.value, false).expr) {
            Ok(v) => out.push((name, v)),
            Err(e) => problems.push(
                Problem::new(format!(
                    "-var-file {}: `{name}` must be a constant: {e}",
                    path.display(),
                ))
                .at_opt(at(attr.value.span()))
                .label("references and functions are not allowed in a var file"),
            ),
        }
    }
    if let Some(block) = body.blocks().next() {
        problems.push(
            Problem::new(format!(
                "-var-file {} may hold only `name = value` lines, not blocks",
                path.display()
            ))
            .at_opt(at(block.ident.span()))
            .label("a block"),
        );
    }
    out
}

/// Values for a module's variables from its `module` block's attributes.
pub fn module_values(
    module: &RawModule,
    call: &RawBlock,
    mut inputs: BTreeMap<String, (Value, &RawAttr, Marks)>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, VarValue> {
    let declared: BTreeMap<&str, &RawBlock> = module
        .blocks_of("variable")
        .map(|b| (b.label(), b))
        .collect();
    for (name, (_, attr, _)) in &inputs {
        if !declared.contains_key(name.as_str()) {
            let mut p = Problem::new(format!("module \"{}\" has no input `{name}`", call.label()))
                .at(attr.loc.clone())
                .label(format!(
                    "the module declares: {}",
                    declared.keys().copied().collect::<Vec<_>>().join(", ")
                ));
            if let Some(s) = did_you_mean(name, declared.keys().copied()) {
                p = p.help(format!("did you mean `{s}`?"));
            }
            problems.push(p);
        }
    }
    let mut out = BTreeMap::new();
    for (name, block) in declared {
        let t = declared_type(block, problems);
        let sensitive = is_sensitive(block, problems);
        let mut marks = match sensitive {
            true => Marks::All,
            false => Marks::None,
        };
        let value = match inputs.remove(name) {
            Some((v, attr, given)) => match t.coerce(v) {
                Ok(v) => {
                    marks = marks.merge(given);
                    v
                }
                Err(v) => {
                    problems.push(
                        Problem::new(format!(
                            "module input `{name}` expects a {}, found {}",
                            t.name(),
                            match given.any() {
                                true => "a sensitive value".to_string(),
                                false => v.to_string(),
                            }
                        ))
                        .at(attr.value_loc.clone())
                        .label(format!("expected {}", t.name())),
                    );
                    Value::from(crate::stack::UNKNOWN_LOOKUP)
                }
            },
            None => match block.attr("default") {
                Some(attr) => match literal(attr, problems) {
                    Some(v) => v,
                    None => continue,
                },
                None => {
                    problems.push(
                        Problem::new(format!("module \"{}\" needs input `{name}`", call.label()))
                            .at(call.loc.clone())
                            .label(format!("add `{name} = …` to this block")),
                    );
                    Value::from(crate::stack::UNKNOWN_LOOKUP)
                }
            },
        };
        out.insert(
            name.to_string(),
            VarValue {
                value,
                sensitive,
                marks,
            },
        );
    }
    out
}
