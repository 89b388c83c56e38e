//! Gate values for people: a few significant digits, `-` when absent.

/// `0.0123`, `120`, `2.5`, `1.2e-5`; `-` for none.
pub fn num(v: Option<f64>) -> String {
    let Some(v) = v else { return "-".to_string() };
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    if a == 0.0 {
        "0".to_string()
    } else if a < 0.001 {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        trim(format!("{v:.2}"))
    } else {
        trim(format!("{v:.4}"))
    }
}

fn trim(s: String) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

#[cfg(test)]
mod tests {
    use super::num;

    #[test]
    fn formats() {
        assert_eq!(num(None), "-");
        assert_eq!(num(Some(0.0)), "0");
        assert_eq!(num(Some(0.01)), "0.01");
        assert_eq!(num(Some(0.034_56)), "0.0346");
        assert_eq!(num(Some(2.5)), "2.5");
        assert_eq!(num(Some(120.4)), "120");
        assert_eq!(num(Some(0.000_012)), "1.2e-5");
    }
}
