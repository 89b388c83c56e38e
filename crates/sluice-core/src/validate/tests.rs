//! Data-driven tests of the validators: each case is a validators list (as spec YAML), the
//! release files, the parent's files and the violations expected, in order.

mod incident;
mod robust;
mod spec;

use super::*;

/// One expected violation: validator kind, file, JSON pointer, a fragment of the message.
type Exp = (&'static str, &'static str, Option<&'static str>, &'static str);

fn files(list: &[(&str, &str)]) -> ReleaseFiles {
    list.iter().map(|(p, c)| (p.to_string(), c.as_bytes().to_vec())).collect()
}

fn specs(yaml: &str) -> Vec<ValidatorSpec> {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("bad validators YAML: {e}\n{yaml}"))
}

/// Validates `release` (and its `parent`) with the validators in `validators` (spec YAML) and
/// asserts the violations are exactly `expect`, in order. Returns the report for more checks.
fn check(
    validators: &str,
    release: &[(&str, &str)],
    parent: Option<&[(&str, &str)]>,
    expect: &[Exp],
) -> ValidationReport {
    let validators = specs(validators);
    for v in &validators {
        check_validator_spec(v).unwrap_or_else(|e| panic!("spec should be valid: {e}"));
    }
    let parent = parent.map(files);
    let report = validate_release(&validators, &files(release), parent.as_ref());
    let got: Vec<_> = report.violations.iter().map(|v| v.to_string()).collect();
    assert_eq!(report.violations.len(), expect.len(), "violations:\n{report}");
    for (v, (kind, file, path, fragment)) in report.violations.iter().zip(expect) {
        assert_eq!(v.validator, *kind, "{got:#?}");
        assert_eq!(v.file, *file, "{got:#?}");
        assert_eq!(v.path.as_deref(), *path, "{got:#?}");
        assert!(v.message.contains(fragment), "{:?} lacks {fragment:?}", v.message);
    }
    assert_eq!(report.is_ok(), expect.is_empty());
    report
}

const SCHEMA: &str = r#"
- json_schema:
    files: "*.json"
    schema:
      type: object
      required: [port]
      properties:
        port: { type: integer, minimum: 1, maximum: 65535 }
        name: { type: string }
"#;

#[test]
fn json_schema() {
    check(SCHEMA, &[("a.json", r#"{"port": 80}"#)], None, &[]);
    check(
        SCHEMA,
        &[("a.json", r#"{"port": "80", "name": 7}"#), ("b.json", "{}")],
        None,
        &[
            ("json_schema", "a.json", Some("/name"), "is not of type \"string\""),
            ("json_schema", "a.json", Some("/port"), "is not of type \"integer\""),
            ("json_schema", "b.json", Some(""), "\"port\" is a required property"),
        ],
    );
    let yaml = "- json_schema: { files: app.yaml, schema: { type: object, required: [port] } }";
    check(yaml, &[("app.yaml", "port: 80\n")], None, &[]);
    check(yaml, &[("app.yaml", "- 1\n")], None, &[("json_schema", "app.yaml", Some(""), "not of type")]);
}

#[test]
fn max_bytes() {
    let v = "- max_bytes: { files: 'bin/*', max: 4 }";
    check(v, &[("bin/a", "1234"), ("bin/b", "")], None, &[]);
    check(v, &[("bin/a", "12345"), ("bin/b", "1")], None, &[("max_bytes", "bin/a", None, "5 bytes, limit 4")]);
}

#[test]
fn max_items() {
    let v = "- max_items: { files: f.json, path: /xs, max: 2 }";
    check(v, &[("f.json", r#"{"xs": [1, 2]}"#)], None, &[]);
    check(v, &[("f.json", r#"{"xs": {"a": 1, "b": 2}}"#)], None, &[]);
    check(
        v,
        &[("f.json", r#"{"xs": [1, 2, 3]}"#)],
        None,
        &[("max_items", "f.json", Some("/xs"), "3 items at /xs, limit 2")],
    );
    check(v, &[("f.json", r#"{"ys": []}"#)], None, &[("max_items", "f.json", Some("/xs"), "/xs does not exist")]);
    check(
        v,
        &[("f.json", r#"{"xs": "abc"}"#)],
        None,
        &[("max_items", "f.json", Some("/xs"), "/xs is a string, not an array or object")],
    );
    check(v, &[("f.json", "[]")], None, &[("max_items", "f.json", Some("/xs"), "the document is an array")]);
    let root = "- max_items: { files: f.yaml, path: '', max: 1 }";
    check(root, &[("f.yaml", "- 1\n- 2\n")], None, &[("max_items", "f.yaml", Some(""), "2 items at /, limit 1")]);
    let deep = "- max_items: { files: f.json, path: /a/1/b~1c, max: 0 }";
    check(
        deep,
        &[("f.json", r#"{"a": [0, {"b/c": [1]}]}"#)],
        None,
        &[("max_items", "f.json", Some("/a/1/b~1c"), "1 items at /a/1/b~1c")],
    );
    check(
        deep,
        &[("f.json", r#"{"a": [0]}"#)],
        None,
        &[("max_items", "f.json", Some("/a/1/b~1c"), "/a/1 does not exist: the array has 1 items")],
    );
}

#[test]
fn unique() {
    let whole = "- unique: { files: f.json, path: /xs }";
    check(whole, &[("f.json", r#"{"xs": [1, "1", {"a": 1}, {"a": 2}]}"#)], None, &[]);
    check(
        whole,
        &[("f.json", r#"{"xs": [{"a": 1}, 2, {"a": 1}]}"#)],
        None,
        &[("unique", "f.json", Some("/xs"), r#"1 duplicate items at /xs: {"a":1} (items 0 and 2)"#)],
    );
    let key = "- unique: { files: f.json, path: /xs, key: name }";
    check(key, &[("f.json", r#"{"xs": [{"name": "a", "v": 1}, {"name": "b", "v": 1}]}"#)], None, &[]);
    check(
        key,
        &[("f.json", r#"{"xs": [{"name": "a"}, {"name": "b"}, {"name": "a"}, {"nom": "c"}, 5]}"#)],
        None,
        &[
            ("unique", "f.json", Some("/xs"), "2 of 5 items at /xs have no field \"name\": items 3, 4"),
            ("unique", "f.json", Some("/xs"), "1 duplicate items at /xs by field \"name\": \"a\" (items 0 and 2)"),
        ],
    );
    let ptr = "- unique: { files: f.json, path: /xs, key: /id/n }";
    check(
        ptr,
        &[("f.json", r#"{"xs": [{"id": {"n": 1}}, {"id": {"n": 1}}]}"#)],
        None,
        &[("unique", "f.json", Some("/xs"), "by key /id/n: 1 (items 0 and 1)")],
    );
    check(
        key,
        &[("f.json", r#"{"xs": {"name": "a"}}"#)],
        None,
        &[("unique", "f.json", Some("/xs"), "/xs is an object, not an array")],
    );
}

const GROWTH: &str = "- max_growth: { files: '*.json', max_ratio: 1.5, path: /xs, min_bytes: 10 }";

#[test]
fn max_growth() {
    let parent = [("f.json", r#"{"xs": [1, 2, 3, 4]}"#), ("tiny.json", "[]"), ("bad.json", "{")];
    // Same size, a new file, a tiny parent file, an unparseable parent file: all fine.
    let ok = [
        ("f.json", r#"{"xs": [5, 6, 7, 8]}"#),
        ("new.json", r#"{"xs": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}"#),
        ("tiny.json", r#"{"xs": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}"#),
    ];
    check(GROWTH, &ok, Some(&parent), &[]);
    // No parent at all (the first release): nothing to compare against.
    check(GROWTH, &[("f.json", &format!(r#"{{"xs": [{}]}}"#, "1,".repeat(99) + "1"))], None, &[]);
    // Items grow 4 → 7 (1.75x) while bytes grow 20 → 26 (1.3x): only the item count fails.
    check(
        GROWTH,
        &[("f.json", r#"{"xs": [1,2,3,4,5,6,7]}"#)],
        Some(&parent),
        &[("max_growth", "f.json", Some("/xs"), "grew 1.75x in items at /xs (4 → 7), limit 1.5x")],
    );
    // Both bytes and items.
    check(
        GROWTH,
        &[("f.json", r#"{"xs": [1, 2, 3, 4, 5, 6, 7, 8, 9]}"#)],
        Some(&parent),
        &[
            ("max_growth", "f.json", None, "in bytes (20 → 35)"),
            ("max_growth", "f.json", Some("/xs"), "grew 2.25x in items at /xs (4 → 9)"),
        ],
    );
    // The parent does not parse: the byte check still applies, the item check cannot.
    let bad_parent = [("f.json", "{not json at all!!")];
    check(
        GROWTH,
        &[("f.json", r#"{"xs": [1, 2, 3, 4, 5, 6, 7, 8, 9]}"#)],
        Some(&bad_parent),
        &[("max_growth", "f.json", None, "grew 1.94x in bytes")],
    );
    // Bytes only, binary files.
    let bytes = "- max_growth: { files: 'bin/**', max_ratio: 2 }";
    check(
        bytes,
        &[("bin/x/y", "12345")],
        Some(&[("bin/x/y", "12")]),
        &[("max_growth", "bin/x/y", None, "grew 2.50x in bytes (2 → 5), limit 2x")],
    );
    check(bytes, &[("bin/x/y", "1234")], Some(&[("bin/x/y", "12")]), &[]);
    // The release lacks the path.
    check(
        GROWTH,
        &[("f.json", r#"{"ys": []}"#)],
        Some(&parent),
        &[("max_growth", "f.json", Some("/xs"), "/xs does not exist")],
    );
}

#[test]
fn cel() {
    let v = r#"
- cel:
    files: "*.json"
    rule: "size(content.xs) <= 3 && content.xs.all(x, x > 0) && size > 0 && file.endsWith('.json')"
"#;
    check(v, &[("f.json", r#"{"xs": [1, 2, 3]}"#)], None, &[]);
    check(v, &[("f.json", r#"{"xs": [1, 2, 3, 4]}"#)], None, &[("cel", "f.json", None, "is false")]);
    let msg = "- cel: { files: f.json, rule: 'content.port + 1 > 1024', message: port must be above 1023 }";
    check(msg, &[("f.json", r#"{"port": 1024}"#)], None, &[]);
    check(msg, &[("f.json", r#"{"port": 80}"#)], None, &[("cel", "f.json", None, "port must be above 1023")]);
    check(msg, &[("f.json", r#"{"pot": 80}"#)], None, &[("cel", "f.json", None, "failed")]);
    let not_bool = "- cel: { files: f.json, rule: 'content.port' }";
    check(
        not_bool,
        &[("f.json", r#"{"port": 80}"#)],
        None,
        &[("cel", "f.json", None, "returned int Int(80), not a bool")],
    );
    let parent = "- cel: { files: f.json, rule: 'parent == null || size(content.xs) >= size(parent.xs)' }";
    check(parent, &[("f.json", r#"{"xs": [1]}"#)], None, &[]);
    check(
        parent,
        &[("f.json", r#"{"xs": [1]}"#)],
        Some(&[("f.json", r#"{"xs": [1, 2]}"#)]),
        &[("cel", "f.json", None, "is false")],
    );
    // No `content` in the rule: binaries are fine.
    let sizes = "- cel: { files: blob.bin, rule: 'parent_size == null || size <= parent_size * 2' }";
    check(sizes, &[("blob.bin", "abc")], None, &[]);
    check(sizes, &[("blob.bin", "abcde")], Some(&[("blob.bin", "ab")]), &[("cel", "blob.bin", None, "is false")]);
    let regex = "- cel: { files: f.yaml, rule: \"content.all(k, k.matches('^[a-z_]+$'))\" }";
    check(regex, &[("f.yaml", "good_key: 1\n")], None, &[]);
    check(regex, &[("f.yaml", "Bad-Key: 1\n")], None, &[("cel", "f.yaml", None, "is false")]);
}

#[test]
fn check_commands_are_returned_not_run() {
    let v = "- check: { command: 'nginx -t -c {release}/nginx.conf', timeout: 30s }\n- check: { command: 'true' }";
    let report = check(v, &[("nginx.conf", "events {}")], None, &[]);
    assert_eq!(
        report.checks,
        vec![
            CheckCommand { index: 0, command: "nginx -t -c {release}/nginx.conf".into(), timeout: Some(Dur::secs(30)) },
            CheckCommand { index: 1, command: "true".into(), timeout: None },
        ]
    );
    assert_eq!(report.files_checked, 0);
}

#[test]
fn globs() {
    let star = "- max_bytes: { files: '*.json', max: 100 }";
    // `*` does not cross `/`: conf/a.json is not matched, so nothing is.
    check(
        star,
        &[("conf/a.json", "{}")],
        None,
        &[("max_bytes", "*.json", None, "no file matches glob \"*.json\" (the release has 1 files)")],
    );
    let deep = "- max_bytes: { files: 'conf/**/*.json', max: 1 }";
    check(
        deep,
        &[("conf/a.json", "{}"), ("conf/x/y/b.json", "{}"), ("other.json", "{}")],
        None,
        &[("max_bytes", "conf/a.json", None, "2 bytes"), ("max_bytes", "conf/x/y/b.json", None, "2 bytes")],
    );
    // Every content validator reports a glob that matches nothing, max_growth included.
    let all = "
- json_schema: { files: typo.json, schema: true }
- max_items: { files: typo.json, path: /a, max: 1 }
- unique: { files: typo.json, path: /a }
- max_growth: { files: typo.json, max_ratio: 2 }
- cel: { files: typo.json, rule: 'true' }
";
    let report = check(
        all,
        &[("real.json", "{}")],
        None,
        &[
            ("json_schema", "typo.json", None, "no file matches"),
            ("max_items", "typo.json", None, "no file matches"),
            ("unique", "typo.json", None, "no file matches"),
            ("max_growth", "typo.json", None, "no file matches"),
            ("cel", "typo.json", None, "no file matches"),
        ],
    );
    let indices: Vec<_> = report.violations.iter().map(|v| v.index).collect();
    assert_eq!(indices, [0, 1, 2, 3, 4]);
}

#[test]
fn unreadable_files_are_reported_once() {
    let v = "
- max_items: { files: '*', path: /a, max: 5 }
- unique: { files: '*', path: /a }
";
    let report = check(
        v,
        &[("a.json", "{\"a\": [1,\n 2,,]}"), ("b.yaml", "a: [1, 2\n"), ("c.txt", "a"), ("d.JSON", "{\"a\": []}")],
        None,
        &[
            ("max_items", "a.json", None, "cannot parse: invalid JSON: expected value at line 2 column 4"),
            ("max_items", "b.yaml", None, "cannot parse: invalid YAML: unclosed bracket '[' at line 1, column 4"),
            ("max_items", "c.txt", None, "content validators need a .json, .yaml or .yml file"),
        ],
    );
    assert_eq!(report.files_checked, 4);
}

#[test]
fn invalid_specs_are_violations_too() {
    let bad = vec![ValidatorSpec::MaxItems { files: "[".into(), path: "xs".into(), max: 1 }];
    let report = validate_release(&bad, &files(&[("f.json", "{}")]), None);
    assert_eq!(report.violations.len(), 1);
    assert!(report.violations[0].message.starts_with("invalid validator: max_items: "), "{report}");
}

#[test]
fn report_display() {
    let v = "- max_items: { files: f.json, path: /xs, max: 1 }\n- max_bytes: { files: f.json, max: 3 }";
    let report = check(
        v,
        &[("f.json", r#"{"xs": [1, 2]}"#)],
        None,
        &[("max_items", "f.json", Some("/xs"), "2 items"), ("max_bytes", "f.json", None, "14 bytes")],
    );
    assert_eq!(
        report.to_string(),
        "f.json:/xs: [max_items #0] 2 items at /xs, limit 1\nf.json: [max_bytes #1] 14 bytes, limit 3"
    );
    let ok = check(v, &[("f.json", "[]")], None, &[("max_items", "f.json", Some("/xs"), "does not exist")]);
    assert!(ok.to_string().starts_with("f.json:/xs: [max_items #0] /xs does not exist"));
    let json = serde_json::to_string(&report).unwrap();
    assert_eq!(serde_json::from_str::<ValidationReport>(&json).unwrap(), report);
}

#[test]
fn compiled_validators_are_reusable() {
    let validators = Validators::new(&specs("- max_items: { files: f.json, path: /xs, max: 1 }"));
    for n in 0..3 {
        let xs = vec!["0"; n].join(",");
        let report = validators.validate(&files(&[("f.json", &format!(r#"{{"xs": [{xs}]}}"#))]), None);
        assert_eq!(report.is_ok(), n <= 1, "{report}");
    }
}
