//! Time as plain numbers. The core never reads a clock: callers pass `now` in.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time: milliseconds since an epoch the caller chose (Unix epoch in the server,
/// simulation start in the simulator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Millis(pub u64);

impl Millis {
    pub fn saturating_sub(self, d: Dur) -> Millis {
        Millis(self.0.saturating_sub(d.0))
    }
    pub fn since(self, earlier: Millis) -> Dur {
        Dur(self.0.saturating_sub(earlier.0))
    }
}

impl std::ops::Add<Dur> for Millis {
    type Output = Millis;
    fn add(self, d: Dur) -> Millis {
        Millis(self.0.saturating_add(d.0))
    }
}

/// A duration in milliseconds. In spec files it is written as `500ms`, `30s`, `5m`, `2h`, `1d`
/// or a combination such as `1m30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub u64);

impl Dur {
    pub const ZERO: Dur = Dur(0);
    pub const fn secs(s: u64) -> Dur {
        Dur(s * 1000)
    }
    pub const fn mins(m: u64) -> Dur {
        Dur(m * 60_000)
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl std::ops::Add for Dur {
    type Output = Dur;
    fn add(self, d: Dur) -> Dur {
        Dur(self.0.saturating_add(d.0))
    }
}

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {why} (expected e.g. `500ms`, `30s`, `5m`, `1h30m`)")]
pub struct DurError {
    input: String,
    why: &'static str,
}

impl FromStr for Dur {
    type Err = DurError;
    fn from_str(s: &str) -> Result<Dur, DurError> {
        let err = |why| DurError { input: s.to_string(), why };
        let t = s.trim();
        if t.is_empty() {
            return Err(err("empty"));
        }
        if t == "0" {
            return Ok(Dur::ZERO);
        }
        let mut total: u64 = 0;
        let mut rest = t;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            if digits == 0 {
                return Err(err("a number must come before each unit"));
            }
            let n: u64 = rest[..digits].parse().map_err(|_| err("number too large"))?;
            rest = &rest[digits..];
            let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
            let factor = match &rest[..unit_len] {
                "ms" => 1,
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                "" => return Err(err("missing unit")),
                _ => return Err(err("unknown unit")),
            };
            rest = &rest[unit_len..];
            let add = n.checked_mul(factor).ok_or_else(|| err("too large"))?;
            total = total.checked_add(add).ok_or_else(|| err("too large"))?;
        }
        Ok(Dur(total))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms == 0 {
            return write!(f, "0s");
        }
        if !ms.is_multiple_of(1000) {
            return write!(f, "{ms}ms");
        }
        let mut s = ms / 1000;
        let h = s / 3600;
        s %= 3600;
        let m = s / 60;
        s %= 60;
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Dur {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9]+(ms|s|m|h|d))+$|^0$",
            "description": "A duration such as `500ms`, `30s`, `5m`, `1h30m`."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_durations() {
        for (s, ms) in [("500ms", 500), ("30s", 30_000), ("5m", 300_000), ("1h30m", 5_400_000), ("0", 0)] {
            assert_eq!(s.parse::<Dur>(), Ok(Dur(ms)), "{s}");
        }
        assert_eq!(Dur(90_000).to_string(), "1m30s");
        assert_eq!(Dur(1500).to_string(), "1500ms");
        for bad in ["", "5", "m", "5x", "-5s", "99999999999999999999s", "5 s"] {
            assert!(bad.parse::<Dur>().is_err(), "{bad:?} should be refused");
        }
    }
}
