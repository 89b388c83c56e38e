//! Reading one value off a Prometheus text page (`GET /metrics`), enough for a benchmark to
//! take a counter or a histogram's `_sum`/`_count` before and after something.

/// The value of the unlabelled series `name` (`sluice_store_commit_seconds_sum`), or `None` if
/// the page has no such line or its value does not parse.
pub fn value(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, rest) = l.split_once(' ')?;
        if series != name {
            return None;
        }
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_unlabelled_series_only() {
        let page = "# HELP x_seconds a histogram\n# TYPE x_seconds histogram\n\
                    x_seconds_sum 0.25\nx_seconds_count 4\nx_seconds_bucket{le=\"0.1\"} 3\n\
                    y_total{a=\"b\"} 2\ny_total 7 1700000000\n";
        assert_eq!(value(page, "x_seconds_sum"), Some(0.25));
        assert_eq!(value(page, "x_seconds_count"), Some(4.0));
        assert_eq!(value(page, "y_total"), Some(7.0));
        assert_eq!(value(page, "x_seconds"), None);
        assert_eq!(value(page, "z"), None);
    }
}
