//! Whole stacks through parsing and evaluation: what may refer to what, in any order, and
//! stacks as large as generated ones get. (Malformed stacks go through the binary in
//! `tests/bad_stacks.rs`.)

use std::path::Path;

use super::*;
use crate::stack::Stack;

const STACK_BLOCK: &str = "stack \"shop\" {\n  region = \"us-east-1\"\n}\n";

/// Writes `files` (name, text) into a fresh directory and loads it as a stack.
fn load_files(files: &[(&str, &str)]) -> Result<Stack, String> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    load_dir(dir.path())
}

fn load_dir(dir: &Path) -> Result<Stack, String> {
    load(dir, &Inputs::default())
        .map(|(_, stack)| stack)
        .map_err(|d| d.short())
}

/// The outputs of a stack, as compact JSON by name.
fn outputs(stack: &Stack) -> Vec<(String, String)> {
    stack
        .outputs
        .iter()
        .map(|o| (o.name.clone(), o.value.to_string()))
        .collect()
}

/// `(case, files, outputs)`: every case loads, and its outputs are as given.
#[test]
fn names_may_be_used_before_they_are_declared() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [(&'a str, &'a str)]);
    let cases: &[Case] = &[
        (
            "a local refers to an earlier one in the same block",
            &[(
                "main.hcl",
                "locals {\n  a = \"x\"\n  b = local.a\n}\noutput \"b\" { value = local.b }\n",
            )],
            &[("b", r#""x""#)],
        ),
        (
            "and to a later one",
            &[(
                "main.hcl",
                "locals {\n  b = local.a\n  a = \"x\"\n}\noutput \"b\" { value = local.b }\n",
            )],
            &[("b", r#""x""#)],
        ),
        (
            "a chain in both directions across blocks",
            &[(
                "main.hcl",
                "locals {\n  c = \"${local.b}c\"\n  a = \"a\"\n}\nlocals {\n  d = \"${local.c}d\"\n  b = \"${local.a}b\"\n}\noutput \"d\" { value = local.d }\n",
            )],
            &[("d", r#""abcd""#)],
        ),
        (
            "across files",
            &[
                ("a.hcl", "locals {\n  both = \"${local.first}+${local.second}\"\n  first = \"1\"\n}\noutput \"both\" { value = local.both }\n"),
                ("b.hcl", "locals {\n  second = upper(local.first)\n}\n"),
            ],
            &[("both", r#""1+1""#)],
        ),
        (
            "locals and lookups in either direction",
            &[(
                "main.hcl",
                "locals {\n  ami = image.app.id\n  name = \"app-${var.v}\"\n}\nvariable \"v\" { default = \"1\" }\nimage \"app\" {\n  owners = [\"self\"]\n  name = local.name\n}\noutput \"ami\" { value = local.ami }\noutput \"name\" { value = local.name }\n",
            )],
            &[("ami", r#""(known after lookup)""#), ("name", r#""app-1""#)],
        ),
        (
            "locals using resources and modules",
            &[(
                "main.hcl",
                "locals {\n  tg = target_group.web.name\n  url = module.api.url\n}\ntarget_group \"web\" {\n  vpc_id = \"vpc-1\"\n  port = 80\n}\nmodule \"api\" {\n  source = \"./api\"\n  name = local.tg\n}\noutput \"url\" { value = local.url }\n",
            )],
            &[("url", r#""http://shop-web/""#)],
        ),
        (
            "a `for` variable named like a root is not a reference",
            &[(
                "main.hcl",
                "locals {\n  l = [for local in [1, 2] : local * 2]\n  m = { for var, v in { a = 1 } : var => v }\n}\noutput \"l\" { value = local.l }\noutput \"m\" { value = local.m }\n",
            )],
            &[("l", "[2,4]"), ("m", r#"{"a":1}"#)],
        ),
    ];
    let mut failures = Vec::new();
    for (case, files, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stack.hcl"), STACK_BLOCK).unwrap();
        for (name, text) in *files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let api = dir.path().join("api");
        std::fs::create_dir(&api).unwrap();
        std::fs::write(
            api.join("main.hcl"),
            "variable \"name\" {}\noutput \"url\" { value = \"http://${var.name}/\" }\n",
        )
        .unwrap();
        match load_dir(dir.path()) {
            Ok(stack) => {
                let mut got = outputs(&stack);
                got.sort();
                let mut want: Vec<(String, String)> = want
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                want.sort();
                if got != want {
                    failures.push(format!("{case}: outputs {got:?}, want {want:?}"));
                }
            }
            Err(e) => failures.push(format!("{case}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Generated stacks of the sizes a generator produces load (in time close to linear in their
/// size; timing is left to the report, a test would fail on a slow machine).
#[test]
fn large_generated_stacks_load() {
    let mut tags = String::from("stack \"big\" {\n  region = \"us-east-1\"\n  tags = {\n");
    for i in 0..60_000 {
        tags.push_str(&format!("    k{i} = \"v{i}\"\n"));
    }
    tags.push_str("  }\n}\n");
    let stack = load_files(&[("main.hcl", &tags)]).expect("60k tags load");
    assert_eq!(stack.tags.len(), 60_000);
    assert_eq!(stack.tags["k59999"], "v59999");

    let mut chain = format!("{STACK_BLOCK}locals {{\n  l0 = 1\n");
    for i in 1..5_000 {
        chain.push_str(&format!("  l{i} = local.l{} + 1\n", i - 1));
    }
    chain.push_str("}\noutput \"last\" { value = local.l4999 }\n");
    let stack = load_files(&[("main.hcl", &chain)]).expect("5000 chained locals load");
    assert_eq!(outputs(&stack), [("last".to_string(), "5000".to_string())]);

    // The same chain written backwards, each local before the one it uses.
    let mut lines: Vec<&str> = chain.lines().collect();
    let end = lines.len() - 2; // before `}` and the output
    lines[4..end].reverse(); // after the stack block and `locals {`
    let stack = load_files(&[("main.hcl", &lines.join("\n"))]).expect("reversed chain loads");
    assert_eq!(outputs(&stack), [("last".to_string(), "5000".to_string())]);
}

/// Limits that cannot be shown with a small fixture file.
#[test]
fn limits_on_files_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let big = std::fs::File::create(dir.path().join("big.txt")).unwrap();
    big.set_len(limits::MAX_FILE_BYTES + 1).unwrap();
    let deep = (0..=limits::MAX_DEPTH).fold(String::from("1"), |s, _| format!("[{s}]"));
    let mut nesting = format!("{STACK_BLOCK}locals {{\n  l0 = 1\n");
    for i in 1..=limits::MAX_DEPTH + 1 {
        nesting.push_str(&format!("  l{i} = [local.l{}]\n", i - 1));
    }
    nesting.push('}');
    let cases = [
        (
            format!("{STACK_BLOCK}locals {{\n  x = file(\"big.txt\")\n}}\n"),
            "more than the limit of 16 MiB for a file read while loading",
        ),
        (
            format!("{STACK_BLOCK}locals {{\n  x = {deep}\n}}\n"),
            "nesting depth; expected at most 64 nested levels",
        ),
        (
            nesting,
            "main.hcl:70:9: cannot evaluate `l65`: lists and maps are nested deeper than the limit of 64 levels",
        ),
        (
            format!("{STACK_BLOCK}locals {{\n  x = split(\"\", format(\"%10000s\", \"\"))\n  y = flatten([for i in range(200) : local.x])\n}}\n"),
            "cannot evaluate `y`: error calling function `flatten`: a value holds more than the limit of 1000000 elements",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(dir.path().join("main.hcl"), &text).unwrap();
        let got = load_dir(dir.path());
        assert!(
            matches!(&got, Err(e) if e.contains(want)),
            "want an error with {want:?}, got {got:?}"
        );
    }
    // A stack file over the limit is not read.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.hcl"), STACK_BLOCK).unwrap();
    let big = std::fs::File::create(dir.path().join("big.hcl")).unwrap();
    big.set_len(limits::MAX_FILE_BYTES + 1).unwrap();
    let got = load_dir(dir.path());
    assert!(
        matches!(&got, Err(e) if e.contains("cannot read") && e.contains("big.hcl: it has 16777217 bytes")),
        "{got:?}"
    );
}

/// A value that cannot be computed is reported where it fails, not again at every use.
#[test]
fn failures_are_reported_once() {
    let cases = [
        (
            "locals {\n  a = file(\"missing.txt\")\n  b = upper(local.a)\n}\noutput \"b\" { value = local.b }\n",
            "main.hcl:5:7: cannot evaluate `a`",
        ),
        (
            "locals {\n  a = local.b\n  b = local.a\n  c = local.a\n}\noutput \"c\" { value = local.c }\n",
            "main.hcl:5:7: local values depend on each other in a cycle: local.a → local.b → local.a",
        ),
        (
            "locals {\n  bad = { (local.list) = 1 }\n  list = [1]\n}\n",
            "main.hcl:5:9: cannot evaluate `bad`: unexpected list; expected a string, boolean or number as an object key",
        ),
    ];
    for (text, want) in cases {
        let got = load_files(&[("main.hcl", &format!("{STACK_BLOCK}{text}"))]);
        match &got {
            Err(e) if e.lines().count() == 1 && e.contains(want) => {}
            _ => panic!("want one problem {want:?}, got {got:?}"),
        }
    }
}

/// Writes `files` (path, text), subdirectories included, into a fresh directory and loads it.
fn load_tree(files: &[(&str, &str)]) -> Result<Stack, String> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    load_dir(dir.path())
}

const SERVICE_MODULE: &str = r#"
variable "name" {}
target_group "tg" {
  vpc_id = "vpc-1"
  port   = 80
}
server_group "svc" {
  image         = "ami-1"
  instance_type = "t3.micro"
  capacity      = 1
  subnets       = ["subnet-1"]
  target_groups = [target_group.tg]
}
server_group "worker" {
  image         = "ami-1"
  instance_type = "t3.micro"
  capacity      = 1
  subnets       = ["subnet-1"]
  depends_on    = [server_group.svc]
}
module "inner" {
  source = "./inner"
}
output "server_group" { value = server_group.svc }
"#;

const INNER_MODULE: &str = r#"
server_group "deep" {
  image         = "ami-1"
  instance_type = "t3.micro"
  capacity      = 1
  subnets       = ["subnet-1"]
}
"#;

/// `depends_on = [module.NAME]` waits for every server group in the module (its own modules'
/// included); `module.NAME.server_group.X` and `module.NAME.target_group.X` name one resource
/// wherever a reference to one is accepted. `(case, web's attributes, depends_on, target groups)`.
#[test]
fn module_resources_can_be_named_and_waited_for() {
    let cases: &[(&str, &str, &[&str], &[&str])] = &[
        (
            "a whole module",
            "depends_on = [module.api]",
            &[
                "module.api.module.inner.server_group.deep",
                "module.api.server_group.svc",
                "module.api.server_group.worker",
            ],
            &[],
        ),
        (
            "one server group of a module, and a plain one",
            "depends_on = [module.api.server_group.worker, server_group.db]",
            &["module.api.server_group.worker", "server_group.db"],
            &[],
        ),
        (
            "a module's target group",
            "target_groups = [module.api.target_group.tg]",
            &[],
            &["module.api.target_group.tg"],
        ),
        (
            "an output named server_group is still the output",
            "target_groups = []\n  tags = { of = module.api.server_group.name }",
            &[],
            &[],
        ),
    ];
    for (case, attrs, depends_on, target_groups) in cases {
        let root = format!(
            "{STACK_BLOCK}module \"api\" {{\n  source = \"./api\"\n  name = \"api\"\n}}\n\
             server_group \"db\" {{\n  image = \"ami-1\"\n  instance_type = \"t3.micro\"\n  capacity = 1\n  subnets = [\"subnet-1\"]\n}}\n\
             server_group \"web\" {{\n  image = \"ami-1\"\n  instance_type = \"t3.micro\"\n  capacity = 1\n  subnets = [\"subnet-1\"]\n  {attrs}\n}}\n"
        );
        let stack = load_tree(&[
            ("main.hcl", &root),
            ("api/main.hcl", SERVICE_MODULE),
            ("api/inner/main.hcl", INNER_MODULE),
        ])
        .unwrap_or_else(|e| panic!("{case}: {e}"));
        let web = stack
            .server_groups
            .iter()
            .find(|g| g.address == "server_group.web")
            .unwrap();
        assert_eq!(web.depends_on, *depends_on, "{case}");
        assert_eq!(web.target_groups, *target_groups, "{case}");
        if attrs.contains("tags") {
            assert_eq!(
                web.tags.get("of").map(String::as_str),
                Some("shop-api-svc"),
                "{case}"
            );
        }
    }
}

/// Sensitivity follows values: `(case, expression, sensitive)` for an output's value, and
/// `(expression, sensitive tag keys)` for a server group's tags.
#[test]
fn values_derived_from_sensitive_ones_are_sensitive() {
    let head = "variable \"pw\" {\n  sensitive = true\n  default = \"s3cr3t\"\n}\n\
                variable \"plain\" {\n  default = \"p\"\n}\n\
                locals {\n  up = upper(var.pw)\n  obj = { a = var.pw, b = \"x\" }\n  \
                list = [\"x\", var.pw]\n}\n\
                module \"m\" {\n  source = \"./m\"\n  secret = var.pw\n  plain = var.plain\n}\n";
    let module = "variable \"secret\" {}\nvariable \"plain\" {}\n\
                  output \"derived\" { value = \"k-${var.secret}\" }\n\
                  output \"plain\" { value = var.plain }\n\
                  output \"declared\" {\n  value = var.plain\n  sensitive = true\n}\n";
    let outputs = [
        ("the variable", "var.pw", true),
        ("another variable", "var.plain", false),
        ("a function of it", "local.up", true),
        ("its base64", "base64encode(var.pw)", true),
        ("an interpolation", "\"pw=${var.pw}\"", true),
        ("its length", "length(var.pw)", true),
        ("an object holding it", "local.obj", true),
        ("the entry holding it", "local.obj.a", true),
        ("the other entry", "local.obj.b", false),
        ("the other entry, by index", "local.obj[\"b\"]", false),
        ("a list element", "local.list[1]", true),
        ("another list element", "local.list[0]", false),
        (
            "a conditional on it",
            "var.pw == \"x\" ? \"a\" : \"b\"",
            true,
        ),
        ("a conditional choosing it", "true ? var.pw : \"b\"", true),
        ("a module output computed from it", "module.m.derived", true),
        ("a module output that is not", "module.m.plain", false),
        (
            "a module output declared sensitive",
            "module.m.declared",
            true,
        ),
        ("a for over it", "[for c in [var.pw] : c]", true),
    ];
    let mut text = String::from(head);
    for (i, (_, expr, _)) in outputs.iter().enumerate() {
        text.push_str(&format!("output \"o{i}\" {{\n  value = {expr}\n}}\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.hcl"), format!("{STACK_BLOCK}{text}")).unwrap();
    std::fs::create_dir(dir.path().join("m")).unwrap();
    std::fs::write(dir.path().join("m/main.hcl"), module).unwrap();
    let stack = load_dir(dir.path()).unwrap();
    for (i, (case, expr, sensitive)) in outputs.iter().enumerate() {
        let o = &stack.outputs[i];
        assert_eq!(o.sensitive, *sensitive, "{case}: {expr}");
    }

    let tags = [
        ("{ a = var.pw, b = \"x\" }", &["a"][..]),
        ("{ a = \"x\" }", &[][..]),
        ("merge({ a = var.pw }, { b = \"x\" })", &["a", "b"][..]),
        ("{ a = \"k=${local.up}\", b = local.obj.b }", &["a"][..]),
    ];
    for (expr, keys) in tags {
        let dir = tempfile::tempdir().unwrap();
        let group = format!(
            "server_group \"web\" {{\n  image = \"ami-12345678\"\n  instance_type = \"t3.micro\"\n  \
             capacity = {{ min = 1, desired = 1, max = 2 }}\n  subnets = [\"subnet-1\"]\n  \
             tags = {expr}\n}}\n"
        );
        std::fs::write(
            dir.path().join("main.hcl"),
            format!("{STACK_BLOCK}{head}{group}"),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("m")).unwrap();
        std::fs::write(dir.path().join("m/main.hcl"), module).unwrap();
        let stack = load_dir(dir.path()).unwrap();
        let got: Vec<&str> = stack
            .sensitive
            .tag_keys(&["server_group.web"])
            .into_iter()
            .collect();
        assert_eq!(got, keys, "{expr}");
    }
}

#[test]
fn regions_and_their_bake_come_from_the_stack_block_and_variables() {
    let stack = load_files(&[(
        "main.hcl",
        "variable \"bake\" {\n  default = \"15m\"\n}\nstack \"shop\" {\n  regions     = [\"us-east-1\", \"eu-west-1\", \"us-gov-west-1\"]\n  region_bake = var.bake\n}\n",
    )])
    .unwrap();
    assert_eq!(stack.regions, ["us-east-1", "eu-west-1", "us-gov-west-1"]);
    assert_eq!(stack.region_bake, Some(std::time::Duration::from_secs(900)));
    assert_eq!(stack.region, None);
    // A stack of one region has no list and no bake.
    let one = load_files(&[("main.hcl", STACK_BLOCK)]).unwrap();
    assert!(one.regions.is_empty() && one.region_bake.is_none());
}

const GROUP_BODY: &str = "  image = \"ami-1\"\n  instance_type = \"t3.micro\"\n  capacity = 1\n";

/// `count` and `for_each` make one resource per copy, each with its address, its AWS name,
/// and the values `count.index`, `each.key` and `each.value` gave it.
#[test]
fn count_and_for_each_make_one_resource_per_copy() {
    let text = format!(
        "{STACK_BLOCK}\
         target_group \"shard\" {{\n  count = 2\n  vpc_id = \"vpc-1\"\n  port = 8000 + count.index\n}}\n\
         server_group \"shard\" {{\n  count = length(target_group.shard)\n{GROUP_BODY}  subnets = [\"subnet-1\"]\n  target_groups = [target_group.shard[count.index]]\n}}\n\
         server_group \"zone\" {{\n  for_each = local.zones\n{GROUP_BODY}  subnets = [each.value]\n  tags = {{ zone = each.key }}\n  depends_on = [server_group.shard]\n}}\n\
         server_group \"none\" {{\n  count = 0\n{GROUP_BODY}  subnets = [\"subnet-1\"]\n}}\n\
         server_group \"after\" {{\n{GROUP_BODY}  subnets = [\"subnet-1\"]\n  depends_on = [server_group.zone]\n}}\n\
         locals {{\n  zones = {{ a = \"subnet-a\", b = \"subnet-b\" }}\n}}\n\
         output \"tg_names\" {{ value = target_group.shard[*].name }}\n\
         output \"zone_b\" {{ value = server_group.zone[\"b\"].name }}\n"
    );
    let stack = load_files(&[("main.hcl", &text)]).unwrap();
    let groups: Vec<(&str, &str, Vec<String>, Vec<String>)> = stack
        .server_groups
        .iter()
        .map(|g| {
            (
                g.address.as_str(),
                g.key.as_str(),
                g.target_groups.clone(),
                g.depends_on.clone(),
            )
        })
        .collect();
    let strings = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let want = vec![
        (
            "server_group.shard[0]",
            "shard-0",
            strings(&["target_group.shard[0]"]),
            vec![],
        ),
        (
            "server_group.shard[1]",
            "shard-1",
            strings(&["target_group.shard[1]"]),
            vec![],
        ),
        (
            "server_group.zone[\"a\"]",
            "zone-a",
            vec![],
            strings(&["server_group.shard[0]", "server_group.shard[1]"]),
        ),
        (
            "server_group.zone[\"b\"]",
            "zone-b",
            vec![],
            strings(&["server_group.shard[0]", "server_group.shard[1]"]),
        ),
        (
            "server_group.after",
            "after",
            vec![],
            strings(&["server_group.zone[\"a\"]", "server_group.zone[\"b\"]"]),
        ),
    ];
    assert_eq!(groups, want);
    let zone_b = &stack.server_groups[3];
    assert_eq!(zone_b.subnets, ["subnet-b"]);
    assert_eq!(zone_b.tags.get("zone").map(String::as_str), Some("b"));
    let tgs: Vec<(&str, &str, u16)> = stack
        .target_groups
        .iter()
        .map(|t| (t.address.as_str(), t.name.as_str(), t.port))
        .collect();
    assert_eq!(
        tgs,
        [
            ("target_group.shard[0]", "shop-shard-0", 8000),
            ("target_group.shard[1]", "shop-shard-1", 8001)
        ]
    );
    assert_eq!(
        outputs(&stack),
        [
            (
                "tg_names".to_string(),
                r#"["shop-shard-0","shop-shard-1"]"#.to_string()
            ),
            ("zone_b".to_string(), r#""shop-zone-b""#.to_string()),
        ]
    );
}

/// Mistakes with `count` and `for_each`: `(case, block attributes, problem)`, one problem
/// each, at its place.
#[test]
fn count_and_for_each_mistakes_are_located() {
    let cases: &[(&str, &str, &str)] = &[
        ("both", "count = 2\n  for_each = toset([\"a\"])", "main.hcl:6:3: server_group \"web\" sets both `count` and `for_each`"),
        ("negative", "count = -1", "main.hcl:5:11: `count` must be a whole number, found number -1"),
        ("not a number", "count = \"many\"", "main.hcl:5:11: `count` must be a whole number"),
        ("too many", "count = 1001", "main.hcl:5:11: `count` is 1001, out of range"),
        ("a list", "for_each = [1, 2]", "main.hcl:5:14: `for_each` must be a map, or a set of strings"),
        ("a string", "for_each = \"a\"", "main.hcl:5:14: `for_each` must be a map, or a set of strings"),
        ("a key twice", "for_each = [\"a\", \"a\"]", "`for_each` has the key \"a\" twice"),
        ("a key AWS cannot name", "for_each = { \"a b\" = 1 }", "`for_each` key \"a b\" cannot be part of an AWS name"),
        ("count.index without count", "tags = { i = count.index }", "main.hcl:5:16: `count.index` is not known here"),
        ("each without for_each", "tags = { k = each.key }", "main.hcl:5:16: `each.key` is not known here"),
        ("each in a counted block", "count = 1\n  tags = { k = each.key }", "`each.key` is not known here"),
        ("count.something", "count = 1\n  tags = { k = count.nope }", "reference to undeclared attribute of \"nope\""),
        ("known only after apply", "count = target_group.tg.arn", "`count` depends on a value known only after apply"),
        ("for_each keys known only after apply", "for_each = { (target_group.tg.arn) = 1 }", "`for_each` depends on a value known only after apply"),
        ("a sensitive count", "count = var.secret", "`count` is derived from a sensitive value"),
        ("a copy's name beside a plain group", "count = 2", "server_group.web-1 and server_group.web[1] would both be the server group \"shop-web-1\""),
        ("a cycle through count", "count = length(local.n)", "depend on each other in a cycle"),
    ];
    let mut wrong = Vec::new();
    for (case, attrs, want) in cases {
        let text = format!(
            "{STACK_BLOCK}\
             server_group \"web\" {{\n  {attrs}\n{GROUP_BODY}  subnets = [\"subnet-1\"]\n}}\n\
             target_group \"tg\" {{\n  vpc_id = \"vpc-1\"\n  port = 80\n}}\n\
             variable \"secret\" {{\n  default = 1\n  sensitive = true\n}}\n\
             locals {{\n  n = server_group.web\n}}\n{}",
            if case.contains("plain group") {
                format!("server_group \"web-1\" {{\n{GROUP_BODY}  subnets = [\"subnet-1\"]\n}}\n")
            } else {
                String::new()
            }
        );
        let got = load_files(&[("main.hcl", &text)]);
        match &got {
            Err(e) if e.lines().count() == 1 && e.contains(want) => {}
            _ => wrong.push(format!("{case}: want one problem {want:?}, got {got:?}")),
        }
    }
    // Copies of a target group with one `name`.
    let text = format!(
        "{STACK_BLOCK}target_group \"tg\" {{\n  count = 2\n  name = \"fixed\"\n  vpc_id = \"vpc-1\"\n  port = 80\n}}\n"
    );
    let got = load_files(&[("main.hcl", &text)]);
    let want = "main.hcl:6:10: target_group.tg[1] and target_group.tg[0] would both be the target group \"fixed\" in AWS";
    match &got {
        Err(e) if e.lines().count() == 1 && e.contains(want) => {}
        _ => wrong.push(format!("one name: want one problem {want:?}, got {got:?}")),
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
