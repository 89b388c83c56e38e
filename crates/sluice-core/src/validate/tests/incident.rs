//! Replay of Cloudflare's 18 November 2025 feature file: ~60 unique features is normal; the
//! generated file doubled (every row twice) and passed the proxy's limit of 200.

use super::*;

const VALIDATORS: &str = "
- max_items: { files: features.json, path: /features, max: 200 }
- unique: { files: features.json, path: /features, key: name }
- max_growth: { files: features.json, max_ratio: 1.5, path: /features }
";

fn feature_file(names: impl Iterator<Item = usize>) -> String {
    let rows: Vec<_> = names
        .map(|i| {
            let ty = if i % 2 == 0 { "int" } else { "float" };
            format!(r#"{{"name":"f{i}","type":"{ty}"}}"#)
        })
        .collect();
    format!(r#"{{"features":[{}]}}"#, rows.join(","))
}

#[test]
fn good_feature_file_passes() {
    let parent = feature_file(1..=58);
    let good = feature_file(1..=60);
    let report = check(VALIDATORS, &[("features.json", &good)], Some(&[("features.json", &parent)]), &[]);
    assert_eq!(report.files_checked, 1);
    // The very first release has no parent: still fine.
    check(VALIDATORS, &[("features.json", &good)], None, &[]);
}

#[test]
fn doubled_feature_file_fails_all_three() {
    let parent = feature_file(1..=60);
    // Every row twice, then more: 2 × 110 = 220 rows with 110 duplicates.
    let doubled = feature_file((1..=110).chain(1..=110));
    let report = check(
        VALIDATORS,
        &[("features.json", &doubled)],
        Some(&[("features.json", &parent)]),
        &[
            ("max_items", "features.json", Some("/features"), "220 items at /features, limit 200"),
            (
                "unique",
                "features.json",
                Some("/features"),
                "110 duplicate items at /features by field \"name\": \"f1\" (items 0 and 110)",
            ),
            ("max_growth", "features.json", None, "in bytes"),
            (
                "max_growth",
                "features.json",
                Some("/features"),
                "grew 3.67x in items at /features (60 → 220), limit 1.5x",
            ),
        ],
    );
    let text = report.to_string();
    for line in [
        "features.json:/features: [max_items #0] 220 items at /features, limit 200",
        "features.json:/features: [unique #1] 110 duplicate items",
        "features.json:/features: [max_growth #2] grew 3.67x in items",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    let kinds: std::collections::BTreeSet<_> = report.violations.iter().map(|v| v.validator.as_str()).collect();
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["max_growth", "max_items", "unique"]);
}

#[test]
fn merely_doubled_file_is_caught_by_unique_and_growth() {
    // Exactly the 18 Nov shape before it crossed 200: 60 rows, each twice.
    let parent = feature_file(1..=60);
    let doubled = feature_file((1..=60).chain(1..=60));
    check(
        VALIDATORS,
        &[("features.json", &doubled)],
        Some(&[("features.json", &parent)]),
        &[
            ("unique", "features.json", Some("/features"), "60 duplicate items"),
            ("max_growth", "features.json", None, "grew 1.99x in bytes (1745 → 3476), limit 1.5x"),
            ("max_growth", "features.json", Some("/features"), "grew 2.00x in items at /features (60 → 120)"),
        ],
    );
}
