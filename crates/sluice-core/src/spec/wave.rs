//! Wave sizes: `1%`, `10%`, `100%` of a stage, or an absolute count of targets. Sizes are
//! cumulative: `[1, "10%", "100%"]` means one target, then a tenth of the stage, then all.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WaveSize {
    /// A share of the stage's targets, in percent (0 < p ≤ 100).
    Percent(f64),
    /// An absolute number of targets (≥ 1).
    Count(u64),
}

impl WaveSize {
    /// How many targets of a stage of `n` the wave covers, cumulatively: at least one when the
    /// stage has any, never more than `n`.
    pub fn targets_of(self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let want = match self {
            WaveSize::Percent(p) => ((p / 100.0) * n as f64).ceil() as usize,
            WaveSize::Count(c) => usize::try_from(c).unwrap_or(usize::MAX),
        };
        want.clamp(1, n)
    }

    fn parse(s: &str) -> Result<WaveSize, String> {
        let t = s.trim();
        if let Some(p) = t.strip_suffix('%') {
            let v: f64 =
                p.trim().parse().map_err(|_| format!("invalid wave size {s:?}: expected e.g. `10%` or a count"))?;
            if !(v > 0.0 && v <= 100.0) {
                return Err(format!("invalid wave size {s:?}: a percentage must be in (0, 100]"));
            }
            Ok(WaveSize::Percent(v))
        } else {
            let c: u64 = t.parse().map_err(|_| format!("invalid wave size {s:?}: expected e.g. `10%` or a count"))?;
            if c == 0 {
                return Err(format!("invalid wave size {s:?}: a count must be at least 1"));
            }
            Ok(WaveSize::Count(c))
        }
    }
}

impl fmt::Display for WaveSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaveSize::Percent(p) => write!(f, "{p}%"),
            WaveSize::Count(c) => write!(f, "{c}"),
        }
    }
}

impl Serialize for WaveSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            WaveSize::Percent(_) => s.collect_str(self),
            WaveSize::Count(c) => s.serialize_u64(*c),
        }
    }
}

impl<'de> Deserialize<'de> for WaveSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<WaveSize, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = WaveSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a wave size: a percentage such as \"10%\" or a count of targets")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<WaveSize, E> {
                if v == 0 {
                    return Err(E::custom("a wave count must be at least 1"));
                }
                Ok(WaveSize::Count(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<WaveSize, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("a wave count must be at least 1"))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<WaveSize, E> {
                WaveSize::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for WaveSize {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "WaveSize".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Cumulative wave size: a percentage of the stage (`\"10%\"`) or a count of targets.",
            "oneOf": [
                {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?%$"},
                {"type": "integer", "minimum": 1}
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wave_sizes_cover_at_least_one_and_at_most_all() {
        assert_eq!(WaveSize::Percent(1.0).targets_of(40), 1);
        assert_eq!(WaveSize::Percent(10.0).targets_of(40), 4);
        assert_eq!(WaveSize::Percent(100.0).targets_of(40), 40);
        assert_eq!(WaveSize::Count(5).targets_of(3), 3);
        assert_eq!(WaveSize::Count(5).targets_of(0), 0);
        assert!(WaveSize::parse("0%").is_err());
        assert!(WaveSize::parse("101%").is_err());
        assert!(WaveSize::parse("abc").is_err());
    }
}
