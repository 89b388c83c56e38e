//! Hostile and arbitrary input: violations, never panics or hangs.

use proptest::prelude::*;

use super::*;

/// Every validator kind over every file, with a parent, so all code paths see the input.
const ALL: &str = "
- json_schema: { files: '*', schema: { type: object, properties: { a: { type: array } } } }
- max_bytes: { files: '*', max: 100000 }
- max_items: { files: '*', path: /a, max: 3 }
- unique: { files: '*', path: /a }
- unique: { files: '*', path: /a, key: k }
- max_growth: { files: '*', max_ratio: 1.5, path: /a }
- cel: { files: '*', rule: 'size(content.a) < 3 && parent.a[0] != content.a[1]' }
- cel: { files: '*', rule: 'content' }
- check: { command: 'true' }
";

const BILLION_LAUGHS: &str = r#"
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"#;

#[test]
fn yaml_alias_bomb_is_a_violation() {
    let report = check(
        "- max_items: { files: bomb.yaml, path: /i, max: 10 }",
        &[("bomb.yaml", BILLION_LAUGHS)],
        None,
        &[("max_items", "bomb.yaml", None, "alias replay limit exceeded")],
    );
    assert!(report.violations[0].message.contains("line"), "{report}");
    // Small, honest use of anchors still works.
    let yaml = "base: &base { port: 80 }\nxs: [*base, *base]\n";
    check("- max_items: { files: ok.yaml, path: /xs, max: 2 }", &[("ok.yaml", yaml)], None, &[]);
}

#[test]
fn deep_nesting_is_a_violation() {
    let v = "- max_items: { files: '*', path: '', max: 10 }";
    let deep_json = "[".repeat(100_000);
    let deep_flow = "[".repeat(100_000);
    let deep_block = "- ".repeat(10_000) + "x\n";
    check(
        v,
        &[("a.json", &deep_json), ("b.yaml", &deep_flow), ("c.yaml", &deep_block)],
        None,
        &[
            ("max_items", "a.json", None, "recursion limit exceeded"),
            ("max_items", "b.yaml", None, "invalid YAML"),
            ("max_items", "c.yaml", None, "budget breached"),
        ],
    );
}

#[test]
fn odd_but_valid_files() {
    let v = "- max_items: { files: '*', path: '', max: 10 }";
    // Empty YAML is null; multi-document YAML is refused; invalid UTF-8 is refused.
    let report = validate_release(
        &specs(v),
        &[
            ("empty.yaml".to_string(), Vec::new()),
            ("multi.yaml".to_string(), b"a: 1\n---\nb: 2\n".to_vec()),
            ("latin1.yaml".to_string(), vec![b'a', b':', b' ', 0xe9, b'\n']),
            ("dup.yaml".to_string(), b"a: 1\na: 2\n".to_vec()),
        ]
        .into_iter()
        .collect(),
        None,
    );
    let msgs: Vec<_> = report.violations.iter().map(|v| (v.file.as_str(), v.message.as_str())).collect();
    assert_eq!(msgs.len(), 4, "{report}");
    assert!(msgs[0].1.contains("duplicate mapping key"), "{report}");
    assert!(msgs[1].1.contains("null, not an array or object"), "{report}");
    assert!(msgs[2].1.contains("not valid UTF-8"), "{report}");
    assert!(msgs[3].1.contains("Documents"), "{report}");
}

fn arbitrary_release() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, Vec<u8>)> {
    let text = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        "[-\\[\\]{}:,&*!|>'\"# a-z0-9\n]{0,200}".prop_map(String::into_bytes),
        r#"\{"a": \[[0-9a-z",{}\[\]: ]{0,80}\]\}"#.prop_map(String::into_bytes),
    ];
    (text.clone(), text.clone(), text)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn never_panics_on_arbitrary_bytes((json, yaml, parent) in arbitrary_release()) {
        let validators = specs(ALL);
        let release: ReleaseFiles = [("f.json".to_string(), json.clone()), ("f.yaml".to_string(), yaml.clone())]
            .into_iter()
            .collect();
        let parent_files: ReleaseFiles = [("f.json".to_string(), parent.clone()), ("f.yaml".to_string(), json)]
            .into_iter()
            .collect();
        let report = validate_release(&validators, &release, Some(&parent_files));
        prop_assert_eq!(report.checks.len(), 1);
        prop_assert_eq!(report.files_checked, 2);
        let _ = report.to_string();
        let _ = validate_release(&validators, &release, None);
    }
}
