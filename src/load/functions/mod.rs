//! The function library of the stack language, one module per family: [`strings`],
//! [`format`] (`format`, `formatlist`), [`collections`], [`numbers`] (and conversions),
//! [`encoding`], [`files`] (file reading and paths), [`net`] (CIDR arithmetic) and [`time`]
//! (timestamps); `try` and `can`, whose arguments the evaluator evaluates one at a time
//! (vendor/hcl-rs/PATCHED.md), are declared here.
//!
//! Names, argument order and result types follow Terraform's functions of the same name. Every
//! parameter is declared as `any` and checked here, so that type errors name the argument
//! (counting from 1), what was expected and what was given.
//!
//! Relative paths given to `file`, `filebase64`, `fileexists`, `templatefile` and `abspath`
//! resolve against the base directory installed with [`with_base_dir`], or against the working
//! directory of the process when none is set. Absolute paths are used as they are.

mod args;
mod collections;
mod encoding;
mod files;
mod format;
mod net;
mod numbers;
mod strings;
#[cfg(test)]
mod testing;
mod time;

use hcl::eval::{Context, Evaluate, Func, FuncArgs, FuncDef, ParamType};
use hcl::{Identifier, Template, Value};

use super::limits;
use args::{Args, FnResult};
use files::PathArg;

pub use files::with_base_dir;

/// Every function: name, number of positional parameters, whether more arguments may follow.
/// Each is wrapped so that its result is measured against the loading limits.
macro_rules! functions {
    ($(($name:literal, $arity:literal, $variadic:literal, $f:path)),* $(,)?) => {
        const FUNCTIONS: &[(&str, usize, bool, Func)] = &[$((
            $name,
            $arity,
            $variadic,
            {
                fn measured(a: FuncArgs) -> FnResult {
                    let v = $f(a)?;
                    limits::produced(&v)?;
                    Ok(v)
                }
                measured
            },
        )),*];
    };
}

/// `try(a, b, …)`: the evaluator hands over the first argument that evaluated without error.
fn try_(a: FuncArgs) -> FnResult {
    Ok(a.first().cloned().unwrap_or(Value::Null))
}

/// `can(expr)`: the evaluator hands over whether the argument evaluated without error.
fn can(a: FuncArgs) -> FnResult {
    Ok(a.first().cloned().unwrap_or(Value::Bool(false)))
}

functions![
    ("abs", 1, false, numbers::abs),
    ("abspath", 1, false, files::abspath),
    ("alltrue", 1, false, collections::alltrue),
    ("anytrue", 1, false, collections::anytrue),
    ("base64gzip", 1, false, encoding::base64gzip),
    ("can", 1, false, can),
    ("ceil", 1, false, numbers::ceil),
    ("chomp", 1, false, strings::chomp),
    ("chunklist", 2, false, collections::chunklist),
    ("cidrhost", 2, false, net::cidrhost),
    ("cidrsubnet", 3, false, net::cidrsubnet),
    ("coalescelist", 0, true, collections::coalescelist),
    ("filesha256", 1, false, files::filesha256),
    ("fileset", 2, false, files::fileset),
    ("floor", 1, false, numbers::floor),
    ("formatdate", 2, false, time::formatdate),
    ("indent", 2, false, strings::indent),
    ("md5", 1, false, encoding::md5),
    ("one", 1, false, collections::one),
    ("parseint", 2, false, numbers::parseint),
    ("regex", 2, false, strings::regex),
    ("regexall", 2, false, strings::regexall),
    ("setintersection", 1, true, collections::setintersection),
    ("setsubtract", 2, false, collections::setsubtract),
    ("setunion", 1, true, collections::setunion),
    ("sha1", 1, false, encoding::sha1),
    ("strrev", 1, false, strings::strrev),
    ("sum", 1, false, numbers::sum),
    ("templatestring", 2, false, templatestring),
    ("timeadd", 2, false, time::timeadd),
    ("title", 1, false, strings::title),
    ("tomap", 1, false, collections::tomap),
    ("transpose", 1, false, collections::transpose),
    ("trim", 2, false, strings::trim),
    ("try", 0, true, try_),
    ("urlencode", 1, false, encoding::urlencode),
    ("yamldecode", 1, false, encoding::yamldecode),
    ("yamlencode", 1, false, encoding::yamlencode),
    ("base64decode", 1, false, encoding::base64decode),
    ("base64encode", 1, false, encoding::base64encode),
    ("basename", 1, false, files::basename),
    ("coalesce", 0, true, collections::coalesce),
    ("compact", 1, false, collections::compact),
    ("concat", 0, true, collections::concat),
    ("contains", 2, false, collections::contains),
    ("dirname", 1, false, files::dirname),
    ("distinct", 1, false, collections::distinct),
    ("element", 2, false, collections::element),
    ("endswith", 2, false, strings::endswith),
    ("file", 1, false, files::file),
    ("filebase64", 1, false, files::filebase64),
    ("fileexists", 1, false, files::fileexists),
    ("flatten", 1, false, collections::flatten),
    ("format", 1, true, format::format),
    ("formatlist", 1, true, format::formatlist),
    ("index", 2, false, collections::index),
    ("join", 1, true, strings::join),
    ("jsondecode", 1, false, encoding::jsondecode),
    ("jsonencode", 1, false, encoding::jsonencode),
    ("keys", 1, false, collections::keys),
    ("length", 1, false, collections::length),
    ("lookup", 2, true, collections::lookup),
    ("lower", 1, false, strings::lower),
    ("max", 0, true, numbers::max),
    ("merge", 0, true, collections::merge),
    ("min", 0, true, numbers::min),
    ("range", 1, true, numbers::range),
    ("replace", 3, false, strings::replace),
    ("reverse", 1, false, collections::reverse),
    ("sha256", 1, false, encoding::sha256),
    ("slice", 3, false, collections::slice),
    ("sort", 1, false, collections::sort),
    ("split", 2, false, strings::split),
    ("startswith", 2, false, strings::startswith),
    ("substr", 3, false, strings::substr),
    ("templatefile", 2, false, templatefile),
    ("tolist", 1, false, numbers::tolist),
    ("tonumber", 1, false, numbers::tonumber),
    ("toset", 1, false, collections::toset),
    ("tostring", 1, false, numbers::tostring),
    ("trimprefix", 2, false, strings::trimprefix),
    ("trimspace", 1, false, strings::trimspace),
    ("trimsuffix", 2, false, strings::trimsuffix),
    ("upper", 1, false, strings::upper),
    ("values", 1, false, collections::values),
    ("zipmap", 2, false, collections::zipmap),
];

/// Declares every function of the stack language in `ctx`.
pub fn declare_all(ctx: &mut Context<'_>) {
    // First: hcl-rs looks functions up in order, and these run once per `for` element.
    limits::declare(ctx);
    for &(name, arity, variadic, func) in FUNCTIONS {
        let builder = FuncDef::builder().params(std::iter::repeat_n(ParamType::Any, arity));
        let builder = if variadic {
            builder.variadic_param(ParamType::Any)
        } else {
            builder
        };
        ctx.declare_func(name, builder.build(func));
    }
}

// The template functions evaluate their template with every function of the table.

fn templatefile(a: FuncArgs) -> FnResult {
    let arg = PathArg::new("templatefile", &a)?;
    let vars = a.map(1)?;
    let text = arg.read_text()?;
    render(&text, vars).or_else(|e| match e {
        Render::Syntax(e) => arg.fail(format_args!(
            "invalid template syntax in {}:\n{e}",
            arg.path.display()
        )),
        Render::Other(e) => arg.fail(e),
    })
}

/// Renders a template string given as a value (`templatestring(local.t, { … })`).
fn templatestring(a: FuncArgs) -> FnResult {
    let (text, vars) = (a.text(0)?, a.map(1)?);
    render(&text, vars).map_err(|e| match e {
        Render::Syntax(e) => format!("invalid template syntax:\n{e}"),
        Render::Other(e) => e,
    })
}

enum Render {
    Syntax(String),
    Other(String),
}

fn render(text: &str, vars: &hcl::Map<String, Value>) -> Result<Value, Render> {
    let mut parsed =
        hcl_edit::parser::parse_template(text).map_err(|e| Render::Syntax(e.to_string()))?;
    limits::instrument_template(&mut parsed);
    let template = Template::from(parsed);
    let mut ctx = Context::new();
    declare_all(&mut ctx);
    for name in ["templatefile", "templatestring"] {
        let no_recursion = FuncDef::builder()
            .variadic_param(ParamType::Any)
            .build(|_| {
                Err("cannot recursively call a template function from inside a template".into())
            });
        ctx.declare_func(name, no_recursion);
    }
    for (name, value) in vars {
        let ident = Identifier::new(name.as_str())
            .map_err(|_| Render::Other(format!("invalid template variable name {name:?}")))?;
        ctx.declare_var(ident, value.clone());
    }
    template
        .evaluate(&ctx)
        .map(Value::from)
        .map_err(|e| Render::Other(e.to_string()))
}
