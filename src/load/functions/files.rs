//! Files and paths: `file`, `filebase64`, `filesha256`, `fileexists`, `fileset`,
//! `templatefile`, `templatestring`, `abspath`, `basename`, `dirname`, and the base directory
//! relative paths resolve against. Every read and listing goes through the load's snapshot
//! (`load/snapshot.rs`) and its file-size limit.

use std::borrow::Cow;
use std::cell::RefCell;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hcl::eval::FuncArgs;
use hcl::Value;

use super::args::{str_fn, Args, FnResult};
use crate::load::limits;
use crate::load::snapshot::{self, Entry};

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
pub(super) struct PathArg<'a> {
    func: &'static str,
    raw: Cow<'a, str>,
    pub(super) path: PathBuf,
}

impl<'a> PathArg<'a> {
    pub(super) fn new(func: &'static str, a: &'a [Value]) -> Result<Self, String> {
        let raw = a.text(0)?;
        let path = resolve(&raw);
        Ok(PathArg { func, raw, path })
    }

    pub(super) fn fail<T>(&self, msg: impl std::fmt::Display) -> Result<T, String> {
        Err(format!("{}({:?}): {msg}", self.func, self.raw))
    }

    /// The file's bytes as this load first read them (see [`crate::load::snapshot`]).
    fn read(&self) -> Result<Vec<u8>, String> {
        let shown = self.path.display();
        match snapshot::read(&self.path) {
            Entry::File(bytes) => Ok(bytes.to_vec()),
            Entry::Missing => self.fail(format_args!("no such file: {shown}")),
            Entry::Directory => self.fail(format_args!("{shown} is a directory, not a file")),
            Entry::Error(e) => self.fail(format_args!("cannot read {shown}: {e}")),
        }
    }

    pub(super) fn read_text(&self) -> Result<String, String> {
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

pub(super) fn filesha256(a: FuncArgs) -> FnResult {
    use sha2::Digest as _;
    let bytes = PathArg::new("filesha256", &a)?.read()?;
    Ok(Value::from(hex::encode(sha2::Sha256::digest(bytes))))
}

/// The regular files under `path` whose path relative to it matches `pattern` (`*`, `**`, `?`,
/// `[…]`, `{a,b}`), relative to it, sorted.
pub(super) fn fileset(a: FuncArgs) -> FnResult {
    let arg = PathArg::new("fileset", &a)?;
    let pattern = a.text(1)?;
    let re = glob(&pattern).or_else(|e| arg.fail(e))?;
    let max = usize::try_from(limits::MAX_ELEMENTS).unwrap_or(usize::MAX);
    let files = match snapshot::read(&arg.path) {
        Entry::Missing => return Ok(Value::Array(Vec::new())),
        Entry::Directory => snapshot::list(&arg.path, max).or_else(|e| arg.fail(e))?,
        Entry::File(_) => {
            return arg.fail(format_args!(
                "{} is a file, not a directory",
                arg.path.display()
            ))
        }
        Entry::Error(e) => {
            return arg.fail(format_args!("cannot read {}: {e}", arg.path.display()))
        }
    };
    Ok(Value::Array(
        files
            .iter()
            .filter(|f| re.is_match(f))
            .map(|f| Value::from(f.as_str()))
            .collect(),
    ))
}

/// A glob pattern as a regular expression over `/`-separated relative paths.
fn glob(pattern: &str) -> Result<regex::Regex, String> {
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.trim_start_matches("./").chars().collect();
    let mut i = 0;
    let mut braces = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                if chars.get(i + 2) == Some(&'/') {
                    re.push_str("(?:[^/]*/)*");
                    i += 3;
                } else {
                    re.push_str(".*");
                    i += 2;
                }
                continue;
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                let end = chars[i..]
                    .iter()
                    .position(|&c| c == ']')
                    .ok_or("unclosed `[` in the pattern")?;
                let class: String = chars[i + 1..i + end].iter().collect();
                let class = class
                    .strip_prefix(['!', '^'])
                    .map_or(class.clone(), |c| format!("^{c}"));
                re.push('[');
                re.push_str(&class.replace('\\', "\\\\"));
                re.push(']');
                i += end + 1;
                continue;
            }
            '{' => {
                braces += 1;
                re.push_str("(?:");
            }
            '}' if braces > 0 => {
                braces -= 1;
                re.push(')');
            }
            ',' if braces > 0 => re.push('|'),
            '\\' if i + 1 < chars.len() => {
                re.push_str(&regex::escape(&chars[i + 1].to_string()));
                i += 2;
                continue;
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    if braces > 0 {
        return Err("unclosed `{` in the pattern".into());
    }
    re.push('$');
    regex::Regex::new(&re).map_err(|e| format!("invalid pattern: {e}"))
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
        templatefile("rec.tpl", {})                              => !cannot recursively call a template function
        templatefile("bad.tpl", {})                              => !templatefile("bad.tpl"): invalid template syntax in {dir}/bad.tpl
        abspath("x/../y")                                        => "{dir}/y"
        templatestring("Hi $${upper(name)}", {name = "web"})     => "Hi WEB"
        templatestring("%{ for p in ps }${p};%{ endfor }", {ps = [1, 2]}) => !undefined variable
        templatestring("$${", {})                                => !invalid template syntax
        templatestring("$${templatefile(\"t.tpl\", {})}", {})    => !cannot recursively call a template function
        filesha256("bin.dat")                                    => "a8100ae6aa1940d0b663bb31cd466142ebbdbd5187131b92d93818987832eb89"
        fileset("{dir}", "*.tpl")                                => ["bad.tpl","if.tpl","rec.tpl","t.tpl"]
        fileset("{dir}", "**/*.yaml")                            => ["cloud-init/web.yaml"]
        fileset("{dir}", "[bc]*")                                => ["bad.tpl","bin.dat"]
        fileset("{dir}/missing", "*")                            => []
        fileset("{dir}/bin.dat", "*")                            => !is a file, not a directory
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
