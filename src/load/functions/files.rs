//! Files and paths: `file`, `filebase64`, `fileexists`, `templatefile`, `abspath`, `basename`,
//! `dirname`, and the base directory relative paths resolve against.

use std::borrow::Cow;
use std::cell::RefCell;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::{Identifier, Template, Value};

use super::super::limits;
use super::super::snapshot::{self, Entry};
use super::{declare_all, str_fn, Args, FnResult};

thread_local! {
    static BASE_DIR: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

/// Runs `f` with `dir` as the directory that relative paths in file functions resolve against.
///
/// The previous base directory is restored when `f` returns or panics, so calls nest.
pub fn with_base_dir<R>(dir: &Path, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<PathBuf>);
    impl Drop for Restore {
        fn drop(&mut self) {
            BASE_DIR.set(self.0.take());
        }
    }
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let _restore = Restore(BASE_DIR.replace(Some(dir)));
    f()
}

fn resolve(raw: &str) -> PathBuf {
    let path = Path::new(raw);
    if path.is_absolute() {
        return path.to_path_buf();
    }
    BASE_DIR
        .with_borrow(Clone::clone)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default()
        .join(path)
}

/// The path argument of a file function: resolved, and remembered as given for error messages.
struct PathArg<'a> {
    func: &'static str,
    raw: Cow<'a, str>,
    path: PathBuf,
}

impl<'a> PathArg<'a> {
    fn new(func: &'static str, a: &'a [Value]) -> Result<Self, String> {
        let raw = a.text(0)?;
        let path = resolve(&raw);
        Ok(PathArg { func, raw, path })
    }

    fn fail<T>(&self, msg: impl std::fmt::Display) -> Result<T, String> {
        Err(format!("{}({:?}): {msg}", self.func, self.raw))
    }

    /// The file's bytes as this load first read them (see [`super::super::snapshot`]).
    fn read(&self) -> Result<Vec<u8>, String> {
        let shown = self.path.display();
        match snapshot::read(&self.path) {
            Entry::File(bytes) => Ok(bytes.to_vec()),
            Entry::Missing => self.fail(format_args!("no such file: {shown}")),
            Entry::Directory => self.fail(format_args!("{shown} is a directory, not a file")),
            Entry::Error(e) => self.fail(format_args!("cannot read {shown}: {e}")),
        }
    }

    fn read_text(&self) -> Result<String, String> {
        let shown = self.path.display();
        String::from_utf8(self.read()?).or_else(|_| {
            self.fail(format_args!(
                "{shown} is not valid UTF-8 text; use filebase64 for binary files"
            ))
        })
    }
}

pub(super) fn file(a: FuncArgs) -> FnResult {
    PathArg::new("file", &a)?.read_text().map(Value::from)
}

pub(super) fn filebase64(a: FuncArgs) -> FnResult {
    let bytes = PathArg::new("filebase64", &a)?.read()?;
    Ok(Value::from(BASE64.encode(bytes)))
}

pub(super) fn fileexists(a: FuncArgs) -> FnResult {
    let arg = PathArg::new("fileexists", &a)?;
    let shown = arg.path.display();
    match snapshot::read(&arg.path) {
        Entry::File(_) => Ok(Value::Bool(true)),
        Entry::Directory => arg.fail(format_args!("{shown} exists but is not a regular file")),
        Entry::Missing => Ok(Value::Bool(false)),
        Entry::Error(e) => arg.fail(format_args!("cannot access {shown}: {e}")),
    }
}

pub(super) fn templatefile(a: FuncArgs) -> FnResult {
    let arg = PathArg::new("templatefile", &a)?;
    let vars = a.map(1)?;
    let mut parsed = hcl_edit::parser::parse_template(&arg.read_text()?).or_else(|e| {
        arg.fail(format_args!(
            "invalid template syntax in {}:\n{e}",
            arg.path.display()
        ))
    })?;
    limits::instrument_template(&mut parsed);
    let template = Template::from(parsed);
    let mut ctx = Context::new();
    declare_all(&mut ctx);
    let no_recursion = FuncDef::builder()
        .variadic_param(ParamType::Any)
        .build(|_| Err("cannot recursively call templatefile from inside a template".into()));
    ctx.declare_func("templatefile", no_recursion);
    for (name, value) in vars {
        let ident = Identifier::new(name.as_str())
            .or_else(|_| arg.fail(format_args!("invalid template variable name {name:?}")))?;
        ctx.declare_var(ident, value.clone());
    }
    template
        .evaluate(&ctx)
        .map(Value::from)
        .or_else(|e| arg.fail(e))
}

/// Go's `path.Clean`: lexical normalisation of `.`, `..` and repeated slashes.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|last| *last != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            _ => parts.push(part),
        }
    }
    match (rooted, parts.join("/")) {
        (true, body) => format!("/{body}"),
        (false, body) if body.is_empty() => ".".into(),
        (false, body) => body,
    }
}

pub(super) fn abspath(a: FuncArgs) -> FnResult {
    str_fn(&a, |p| clean(&resolve(p).to_string_lossy()))
}

pub(super) fn basename(a: FuncArgs) -> FnResult {
    str_fn(&a, |p| match p.trim_end_matches('/') {
        "" if p.is_empty() => ".".into(),
        "" => "/".into(),
        trimmed => trimmed.rsplit('/').next().unwrap_or(trimmed).into(),
    })
}

pub(super) fn dirname(a: FuncArgs) -> FnResult {
    str_fn(&a, |p| clean(p.rfind('/').map_or("", |i| &p[..=i])))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check, eval};
    use super::with_base_dir;

    const PATHS: &str = r#"
        basename("a/b/c.txt")   => "c.txt"
        basename("a/b/")        => "b"
        basename("/")           => "/"
        basename("")            => "."
        dirname("a/b/c.txt")    => "a/b"
        dirname("c.txt")        => "."
        dirname("/c")           => "/"
        abspath("/a/./b/../c/") => "/a/c"
    "#;

    #[test]
    fn paths() {
        check("", PATHS);
    }

    const FILES: &str = r##"
        file("cloud-init/web.yaml")                              => "#cloud-config\n"
        file("{dir}/cloud-init/web.yaml")                        => "#cloud-config\n"
        file("missing.txt")                                      => !file("missing.txt"): no such file: {dir}/missing.txt
        file("cloud-init")                                       => !file("cloud-init"): {dir}/cloud-init is a directory
        file("bin.dat")                                          => !bin.dat is not valid UTF-8 text; use filebase64
        file(["x"])                                              => !argument 1: expected a string
        filebase64("bin.dat")                                    => "/w=="
        fileexists("cloud-init/web.yaml")                        => true
        fileexists("nope")                                       => false
        fileexists("cloud-init")                                 => !{dir}/cloud-init exists but is not a regular file
        templatefile("t.tpl", {name = "web", ports = [80, 443]}) => "Hello WEB!\nport 80\nport 443\n"
        templatefile("if.tpl", {on = false})                     => "no"
        templatefile("t.tpl", {})                                => !undefined variable `name`
        templatefile("missing.tpl", {})                          => !no such file: {dir}/missing.tpl
        templatefile("t.tpl", "x")                               => !argument 2: expected an object, got string "x"
        templatefile("if.tpl", {"no way" = true})                => !templatefile("if.tpl"): invalid template variable name "no way"
        templatefile("rec.tpl", {})                              => !cannot recursively call templatefile
        templatefile("bad.tpl", {})                              => !templatefile("bad.tpl"): invalid template syntax in {dir}/bad.tpl
        abspath("x/../y")                                        => "{dir}/y"
    "##;

    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, contents: &[u8]| {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        };
        write("cloud-init/web.yaml", b"#cloud-config\n");
        write("bin.dat", b"\xff");
        write(
            "t.tpl",
            b"Hello ${upper(name)}!\n%{ for p in ports ~}\nport ${p}\n%{ endfor ~}\n",
        );
        write("if.tpl", b"%{ if on }yes%{ else }no%{ endif }");
        write("rec.tpl", b"${templatefile(\"t.tpl\", {})}");
        write("bad.tpl", b"${");
        dir
    }

    #[test]
    fn files() {
        let dir = fixture();
        with_base_dir(dir.path(), || check(dir.path().to_str().unwrap(), FILES));
    }

    #[test]
    fn base_dir_nests_and_restores() {
        let (outer, inner) = (fixture(), tempfile::tempdir().unwrap());
        std::fs::write(inner.path().join("t.tpl"), "inner").unwrap();
        let read = || eval(r#"file("t.tpl")"#);
        with_base_dir(outer.path(), || {
            assert_eq!(with_base_dir(inner.path(), read), Ok(r#""inner""#.into()));
            assert!(read().unwrap().starts_with(r#""Hello"#));
            let panicked =
                std::panic::catch_unwind(|| with_base_dir(inner.path(), || panic!("boom")));
            assert!(panicked.is_err());
            assert!(read().unwrap().starts_with(r#""Hello"#));
        });
        let cwd = std::env::current_dir().unwrap().join("t.tpl");
        assert!(read()
            .unwrap_err()
            .contains(&format!("no such file: {}", cwd.display())));
    }
}
