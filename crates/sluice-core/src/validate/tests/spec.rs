//! The spec side: deserialising validators from YAML, `kind`, and `check_validator_spec`.

use super::*;

#[test]
fn validators_deserialise_from_yaml() {
    let yaml = r#"
- json_schema:
    files: "conf/*.yaml"
    schema: { type: object }
- max_bytes: { files: "*.bin", max: 1048576 }
- max_items: { files: features.json, path: /features, max: 200 }
- unique: { files: features.json, path: /features, key: name }
- unique: { files: features.json, path: /features }
- max_growth: { files: "*.json", max_ratio: 1.5 }
- max_growth: { files: "*.json", max_ratio: 2, path: /features, min_bytes: 1024 }
- cel: { files: features.json, rule: "size(content.features) > 0", message: no features }
- check: { command: "nginx -t -c {release}/nginx.conf", timeout: 30s }
- check: { command: "true" }
"#;
    let got = specs(yaml);
    let kinds: Vec<_> = got.iter().map(ValidatorSpec::kind).collect();
    assert_eq!(
        kinds,
        [
            "json_schema",
            "max_bytes",
            "max_items",
            "unique",
            "unique",
            "max_growth",
            "max_growth",
            "cel",
            "check",
            "check"
        ]
    );
    assert_eq!(got[2], ValidatorSpec::MaxItems { files: "features.json".into(), path: "/features".into(), max: 200 });
    assert_eq!(got[4], ValidatorSpec::Unique { files: "features.json".into(), path: "/features".into(), key: None });
    assert_eq!(got[5], ValidatorSpec::MaxGrowth { files: "*.json".into(), max_ratio: 1.5, path: None, min_bytes: 0 });
    assert_eq!(
        got[8],
        ValidatorSpec::Check { command: "nginx -t -c {release}/nginx.conf".into(), timeout: Some(Dur::secs(30)) }
    );
    assert_eq!(got[0].files(), Some("conf/*.yaml"));
    assert_eq!(got[9].files(), None);
    for v in &got {
        assert_eq!(check_validator_spec(v), Ok(()), "{v:?}");
    }
    // Round trip through JSON (the API's wire format) and YAML.
    let json = serde_json::to_string(&got).unwrap();
    assert_eq!(serde_json::from_str::<Vec<ValidatorSpec>>(&json).unwrap(), got);
    let yaml = serde_saphyr::to_string(&got).unwrap();
    assert_eq!(serde_saphyr::from_str::<Vec<ValidatorSpec>>(&yaml).unwrap(), got);
}

#[test]
fn unknown_fields_and_kinds_are_errors() {
    for bad in [
        "- max_items: { files: f.json, path: /xs, max: 200, maximum: 100 }",
        "- max_items: { files: f.json, path: /xs }",
        "- max_itmes: { files: f.json, path: /xs, max: 200 }",
        "- unique: { files: f.json, path: /xs, keys: name }",
        "- check: { command: x, timeout: 30 }",
        "- check: { command: x, timeout: soon }",
    ] {
        let err = serde_saphyr::from_str::<Vec<ValidatorSpec>>(bad);
        assert!(err.is_err(), "{bad} should not deserialise: {err:?}");
    }
    let err = serde_saphyr::from_str::<Vec<ValidatorSpec>>(
        "- max_items: { files: f.json, path: /xs, max: 200, maximum: 100 }",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("maximum"), "{err}");
}

#[test]
fn json_schema_of_the_spec_is_generated() {
    let schema = serde_json::to_value(schemars::schema_for!(Vec<ValidatorSpec>)).unwrap();
    let text = schema.to_string();
    for kind in ["json_schema", "max_bytes", "max_items", "unique", "max_growth", "cel", "check"] {
        assert!(text.contains(&format!("\"{kind}\"")), "{kind} missing from schema");
    }
}

#[test]
fn check_validator_spec_says_what_is_wrong() {
    let cases: &[(&str, &str)] = &[
        ("- max_bytes: { files: 'a[', max: 1 }", "max_bytes: files: invalid glob \"a[\""),
        ("- max_bytes: { files: '', max: 1 }", "max_bytes: files: the glob is empty"),
        (
            "- max_items: { files: f.json, path: features, max: 1 }",
            "max_items: path: JSON pointer \"features\" must be empty or start with '/'",
        ),
        ("- unique: { files: f.json, path: /a~2, key: name }", "'~' not followed by 0 or 1"),
        ("- unique: { files: f.json, path: /a, key: '' }", "unique: key: empty"),
        ("- unique: { files: f.json, path: /a, key: /b~ }", "unique: key: JSON pointer"),
        (
            "- max_growth: { files: f.json, max_ratio: 0 }",
            "max_growth: max_ratio must be a finite number above 0, not 0",
        ),
        ("- max_growth: { files: f.json, max_ratio: -1.5 }", "above 0"),
        ("- max_growth: { files: f.json, max_ratio: .inf }", "above 0"),
        ("- max_growth: { files: f.json, max_ratio: 2, path: x }", "max_growth: path: JSON pointer"),
        ("- json_schema: { files: f.json, schema: { type: 12 } }", "json_schema: schema: invalid JSON Schema"),
        ("- json_schema: { files: f.json, schema: [1] }", "must be an object or a boolean"),
        (
            "- json_schema: { files: f.json, schema: { $ref: 'https://example.com/s.json' } }",
            "json_schema: schema: invalid JSON Schema",
        ),
        ("- cel: { files: f.json, rule: 'content.a >' }", "cel: rule: does not parse"),
        ("- cel: { files: f.json, rule: ' ' }", "cel: rule: empty"),
        ("- check: { command: '  ' }", "check: command is empty"),
        ("- check: { command: x, timeout: '0' }", "timeout must be more than 0s"),
    ];
    for (yaml, want) in cases {
        let v = specs(yaml);
        let err = check_validator_spec(&v[0]).expect_err(yaml);
        assert!(err.contains(want), "{yaml}: {err:?} lacks {want:?}");
    }
}
