use proptest::prelude::*;

use super::*;

fn all(body: &str) -> Result<Vec<Series>, ScrapeError> {
    parse(body.as_bytes(), &|_| true)
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn reads_a_typical_exposition() {
    let body = "\
# HELP edge_requests_total Requests served.
# TYPE edge_requests_total counter
edge_requests_total{code=\"200\",method=\"GET\"} 1027 1395066363000
edge_requests_total{code=\"503\",method=\"GET\"} 3
# a comment that is neither HELP nor TYPE

# TYPE edge_request_duration_seconds histogram
edge_request_duration_seconds_bucket{le=\"0.05\"} 24054
edge_request_duration_seconds_bucket{le=\"+Inf\"} 144320
edge_request_duration_seconds_sum 53423
edge_request_duration_seconds_count 144320
process_start_time_seconds 1.7e9
";
    let series = all(body).unwrap();
    assert_eq!(series.len(), 7);
    assert_eq!(series[0].name, "edge_requests_total");
    assert_eq!(series[0].labels, labels(&[("code", "200"), ("method", "GET")]));
    assert_eq!(series[0].value, 1027.0);
    assert_eq!(series[1].label("code"), Some("503"));
    assert_eq!(series[3].label("le"), Some("+Inf"));
    assert_eq!(series[6].value, 1.7e9);
}

#[test]
fn the_filter_keeps_only_wanted_names_but_checks_every_line() {
    let body = "a 1\nb 2\nc{x=\"1\"} 3\n";
    let kept = parse(body.as_bytes(), &|n| n == "b").unwrap();
    assert_eq!(kept, vec![Series { name: "b".into(), labels: vec![], value: 2.0 }]);
    let err = parse(b"a 1\nc{x=1} 3\nb 2\n", &|n| n == "b").unwrap_err();
    assert_eq!(err, ScrapeError::Line { line: 2, why: "expected `\"`, found `1`".into() });
}

#[test]
fn escapes_spaces_and_trailing_commas() {
    let body = "m{ a = \"x\\\"y\\\\z\\nw\" , b=\"ünï\", } 1\r\n  m2 {} 2\n\tm3\t3\t-5\n";
    let series = all(body).unwrap();
    assert_eq!(series[0].labels, labels(&[("a", "x\"y\\z\nw"), ("b", "ünï")]));
    assert_eq!(series[1], Series { name: "m2".into(), labels: vec![], value: 2.0 });
    assert_eq!(series[2].value, 3.0);
}

#[test]
fn special_values() {
    let series = all("a NaN\nb +Inf\nc -Inf\nd Inf\ne 1e-3\nf -0.5\ng 12 1.5\n").unwrap();
    assert!(series[0].value.is_nan());
    assert_eq!(series[1].value, f64::INFINITY);
    assert_eq!(series[2].value, f64::NEG_INFINITY);
    assert_eq!(series[3].value, f64::INFINITY);
    assert_eq!(series[4].value, 0.001);
    assert_eq!(series[5].value, -0.5);
    assert_eq!(series[6].value, 12.0);
}

#[test]
fn openmetrics_exemplars_and_eof_are_ignored() {
    let body = "a_total{x=\"1\"} 5 # {trace_id=\"abc\"} 1.0\n# EOF\n";
    assert_eq!(all(body).unwrap()[0].value, 5.0);
}

#[test]
fn malformed_lines_name_the_line_and_why() {
    let cases = [
        ("9bad 1", "expected a metric name"),
        ("m{9=\"x\"} 1", "expected a label name"),
        ("m{a=\"x} 1", "not closed"),
        ("m{a=\"\\t\"} 1", "unknown escape `\\t`"),
        ("m{a=\"1\",a=\"2\"} 1", "label `a` appears twice"),
        ("m{a=\"1\" b=\"2\"} 1", "expected `}`"),
        ("m", "no value"),
        ("m{a=\"1\"}", "no value"),
        ("m abc", "`abc` is not a number"),
        ("m infinity", "is not a number"),
        ("m 1 12x", "is not a timestamp"),
        ("m 1 12 extra", "unexpected `extra`"),
        ("m{a=\"1\"", "expected `}`, found the end"),
    ];
    for (line, want) in cases {
        let body = format!("ok 1\n{line}\n");
        match all(&body) {
            Err(ScrapeError::Line { line: 2, why }) => assert!(why.contains(want), "{line:?}: {why}"),
            other => panic!("{line:?}: {other:?}"),
        }
    }
}

#[test]
fn limits_hold() {
    let big = vec![b'#'; MAX_BODY_BYTES + 1];
    assert!(matches!(parse(&big, &|_| true), Err(ScrapeError::TooLarge { .. })));
    let long = format!("m{{a=\"{}\"}} 1\n", "x".repeat(MAX_LINE_BYTES));
    assert!(matches!(all(&long), Err(ScrapeError::Line { line: 1, .. })));
    let many: Vec<String> = (0..=MAX_LABELS).map(|i| format!("l{i}=\"v\"")).collect();
    let err = all(&format!("m{{{}}} 1", many.join(","))).unwrap_err();
    assert!(err.to_string().contains("more than 64 labels"), "{err}");
    assert!(matches!(parse(&[b'a', b' ', 0xff], &|_| true), Err(ScrapeError::NotUtf8 { at: 2 })));
    let series: String = (0..=MAX_SERIES).map(|i| format!("m{{i=\"{i}\"}} 1\n")).collect();
    assert!(matches!(all(&series), Err(ScrapeError::TooManySeries { .. })));
}

#[test]
fn series_keys_are_stable_and_ignore_one_label() {
    let a = Series { name: "m".into(), labels: labels(&[("b", "2"), ("a", "1\""), ("le", "0.1")]), value: 1.0 };
    let b = Series { name: "m".into(), labels: labels(&[("a", "1\""), ("b", "2"), ("le", "+Inf")]), value: 1.0 };
    assert_eq!(a.key_without("le"), "a=\"1\\\"\",b=\"2\"");
    assert_eq!(a.key_without("le"), b.key_without("le"));
    assert_ne!(a.key_without(""), b.key_without(""));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse(&body, &|_| true);
    }

    #[test]
    fn exposition_like_text_never_panics(body in "([a-z_{}=\",# \\\\\\n.+\\-0-9eEInfNa\t\r]|ü){0,400}") {
        let _ = parse(body.as_bytes(), &|_| true);
    }

    #[test]
    fn written_series_read_back(
        name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,20}",
        pairs in proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,10}", "\\PC{0,12}", 0..5),
        value in -1e12f64..1e12,
    ) {
        let rendered: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")))
            .collect();
        let body = format!("# TYPE {name} counter\n{name}{{{}}} {value}\n", rendered.join(","));
        let series = parse(body.as_bytes(), &|_| true).unwrap();
        prop_assert_eq!(series.len(), 1);
        prop_assert_eq!(&series[0].name, &name);
        let want: Vec<(String, String)> = pairs.into_iter().collect();
        prop_assert_eq!(&series[0].labels, &want);
        prop_assert_eq!(series[0].value, value);
    }
}
