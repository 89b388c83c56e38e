//! `sluice enrollment-token --count N [--ttl 1h]`: one-time tokens for new agents, one per line
//! on stdout.

use sluice_api::NewEnrollmentTokens;
use sluice_core::time::Dur;

use crate::args::EnrollmentTokenArgs;
use crate::connect::{block_on, client};
use crate::exit;
use crate::failure::Failure;
use crate::output::print_json;
use crate::render::utc::duration;

/// More than this many tokens at once is almost certainly a typo.
const MAX_COUNT: u32 = 10_000;

pub fn run(a: &EnrollmentTokenArgs) -> u8 {
    match tokens(a) {
        Ok(()) => exit::OK,
        Err(f) => f.report(a.conn.json),
    }
}

fn tokens(a: &EnrollmentTokenArgs) -> Result<(), Failure> {
    if a.count == 0 || a.count > MAX_COUNT {
        return Err(Failure::Usage(format!("--count must be between 1 and {MAX_COUNT}, not {}", a.count)));
    }
    let ttl_ms = match &a.ttl {
        Some(t) => {
            let d: Dur = t.parse().map_err(|e| Failure::Usage(format!("--ttl: {e}")))?;
            if d.0 == 0 {
                return Err(Failure::Usage("--ttl must be longer than 0".into()));
            }
            Some(d.0)
        }
        None => None,
    };
    let client = client(&a.conn)?;
    let made = block_on(client.enrollment_tokens(&NewEnrollmentTokens { count: a.count, ttl_ms }))??;
    if a.conn.json {
        return print_json(&made);
    }
    for t in &made.tokens {
        println!("{t}");
    }
    let validity = ttl_ms.map_or_else(|| "until used".to_string(), |ms| format!("for {}", duration(ms)));
    eprintln!("{} one-time enrollment tokens, valid {validity}", made.tokens.len());
    Ok(())
}
