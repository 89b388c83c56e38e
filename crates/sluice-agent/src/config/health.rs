//! The health sources of a service besides its own metrics endpoint: synthetic HTTP `probes`
//! (traffic where the service has none of its own) and a `command` whose output is a number.
//!
//! ```yaml
//! services:
//!   nginx-conf:
//!     probes:
//!       - url: http://127.0.0.1:8081/
//!         rate: 10/s          # or `every: 100ms`; default 5/s; at most 100/s, at least 1/h
//!         timeout: 1s         # default 1s, at most 10s
//!     command: {run: "sh snippet", every: 5s, timeout: 2s, metric: queue_depth}
//! ```

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use sluice_core::time::Dur;

/// The highest probe rate (per probe URL).
pub const MAX_PROBE_RATE_PER_SEC: f64 = 100.0;
/// The longest probe period (the lowest rate, 1/h).
pub const MAX_PROBE_PERIOD: Dur = Dur(3_600_000);
/// The longest probe timeout.
pub const MAX_PROBE_TIMEOUT: Dur = Dur(10_000);
/// The shortest period of a command source.
pub const MIN_COMMAND_EVERY: Dur = Dur(100);

/// One synthetic probe: GET `url` at a steady rate.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    pub url: String,
    /// Requests per unit of time (`10/s`, `30/m`, `60/h`, or a bare number per second).
    #[serde(default)]
    pub rate: Option<Rate>,
    /// The time between two requests (instead of `rate`).
    #[serde(default)]
    pub every: Option<Dur>,
    /// How long one request may take (default 1s); past it, the request counts as `error`.
    #[serde(default = "default_probe_timeout")]
    pub timeout: Dur,
}

fn default_probe_timeout() -> Dur {
    Dur::secs(1)
}

impl ProbeConfig {
    /// The time between two requests: `every`, else 1/`rate`, else 200ms (5/s).
    pub fn period(&self) -> Duration {
        match (&self.every, &self.rate) {
            (Some(every), _) => Duration::from_millis(every.0),
            (None, Some(rate)) => rate.period(),
            (None, None) => Duration::from_millis(200),
        }
    }

    /// The first thing wrong with this probe: the field and why.
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        if let Some(why) = super::url_problem(&self.url, &["http://", "https://"]) {
            return Some(("url", why));
        }
        if self.rate.is_some() && self.every.is_some() {
            return Some(("every", "give `rate` or `every`, not both".into()));
        }
        let field = if self.every.is_some() { "every" } else { "rate" };
        let period = self.period();
        if period < Duration::from_secs_f64(1.0 / MAX_PROBE_RATE_PER_SEC) {
            return Some((field, format!("more than {MAX_PROBE_RATE_PER_SEC}/s per probe")));
        }
        if period > Duration::from_millis(MAX_PROBE_PERIOD.0) {
            return Some((field, "less than 1/h".into()));
        }
        if self.timeout == Dur::ZERO {
            return Some(("timeout", "the timeout is 0".into()));
        }
        if self.timeout > MAX_PROBE_TIMEOUT {
            return Some(("timeout", format!("{} is longer than {MAX_PROBE_TIMEOUT}", self.timeout)));
        }
        None
    }
}

/// A rate: `count` events per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_sec: f64,
}

impl Rate {
    /// The time between two events (saturating for tiny rates).
    pub fn period(&self) -> Duration {
        Duration::try_from_secs_f64(1.0 / self.per_sec).unwrap_or(Duration::MAX)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", self.per_sec)
    }
}

impl std::str::FromStr for Rate {
    type Err = String;

    /// `N/s`, `N/m` (or `/min`), `N/h`, or `N` (per second); `N` a positive number.
    fn from_str(s: &str) -> Result<Rate, String> {
        let bad = || format!("`{}` is not a rate (like `10/s`, `30/m`, `60/h`)", s.escape_debug());
        let (count, unit) = s.split_once('/').unwrap_or((s, "s"));
        let seconds = match unit.trim() {
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        let count: f64 = count.trim().parse().map_err(|_| bad())?;
        rate(count / seconds).ok_or_else(|| format!("`{}`: a rate must be a positive number", s.escape_debug()))
    }
}

fn rate(per_sec: f64) -> Option<Rate> {
    (per_sec.is_finite() && per_sec > 0.0).then_some(Rate { per_sec })
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rate, D::Error> {
        struct RateVisitor;
        impl Visitor<'_> for RateVisitor {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a rate like `10/s`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Rate, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Rate, E> {
                rate(v).ok_or_else(|| E::custom("a rate must be a positive number"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Rate, E> {
                self.visit_f64(v as f64)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Rate, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(RateVisitor)
    }
}

/// A command whose output is a health figure: the number on the first line of its stdout, or,
/// when it prints none, 0 for exit status 0 and 1 otherwise (a timeout, a signal, or a command
/// that cannot start count as 1).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    /// Run with `sh -c` in the service's directory; `{current}` is the live release.
    pub run: String,
    /// The time between the end of one run and the start of the next (default 5s).
    #[serde(default = "default_command_every")]
    pub every: Dur,
    /// How long one run may take (default 2s); its process group is killed past it.
    #[serde(default = "default_command_timeout")]
    pub timeout: Dur,
    /// The key of `Sample.metrics` the figure goes to.
    pub metric: String,
}

fn default_command_every() -> Dur {
    Dur::secs(5)
}

fn default_command_timeout() -> Dur {
    Dur::secs(2)
}

impl CommandConfig {
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        if self.run.trim().is_empty() {
            return Some(("run", "the command is empty".into()));
        }
        if self.every < MIN_COMMAND_EVERY {
            return Some(("every", format!("{} is shorter than {MIN_COMMAND_EVERY}", self.every)));
        }
        if self.timeout == Dur::ZERO {
            return Some(("timeout", "the timeout is 0".into()));
        }
        if !super::is_metric_name(&self.metric) {
            return Some(("metric", super::metric_name_why(&self.metric)));
        }
        if [crate::sampler::SCRAPE_OK, crate::synthetic::ERROR_RATE, crate::synthetic::LATENCY_P99_MS]
            .contains(&self.metric.as_str())
        {
            return Some(("metric", format!("`{}` is a name the agent reports itself", self.metric)));
        }
        None
    }
}
