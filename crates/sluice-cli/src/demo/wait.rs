//! Waiting for a condition with a bound: poll `check` every `every` until it yields a value or
//! `timeout` passes. Never a sleep that hopes.

use std::future::Future;
use std::time::Duration;

/// The condition did not hold in time; `last` says what was seen last.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {timeout:?} waiting for {what} (last seen: {last})")]
pub struct TimedOut {
    pub what: String,
    pub timeout: Duration,
    pub last: String,
}

/// Poll `check` until it returns `Ok(value)`; `Err(why)` means "not yet, because why".
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, every: Duration, mut check: F) -> Result<T, TimedOut>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let mut last = String::from("nothing yet");
    let polling = async {
        loop {
            match check().await {
                Ok(v) => return v,
                Err(why) => last = why,
            }
            tokio::time::sleep(every).await;
        }
    };
    match tokio::time::timeout(timeout, polling).await {
        Ok(v) => Ok(v),
        Err(_) => Err(TimedOut { what: what.to_string(), timeout, last }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn it_returns_the_value_or_times_out_with_the_last_reason() {
        let mut n = 0;
        let v = until("three", Duration::from_secs(5), Duration::from_millis(1), || {
            n += 1;
            let n = n;
            async move { if n >= 3 { Ok(n) } else { Err(format!("n={n}")) } }
        })
        .await
        .unwrap();
        assert_eq!(v, 3);
        let e = until::<(), _, _>("never", Duration::from_millis(30), Duration::from_millis(5), || async {
            Err("nope".to_string())
        })
        .await
        .unwrap_err();
        assert!(e.to_string().contains("never") && e.to_string().contains("nope"), "{e}");
    }
}
