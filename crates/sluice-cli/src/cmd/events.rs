//! `sluice events [--rollout ID] [--after N] [--limit N] [--follow]`: the audit log.
//!
//! Text: a table (lines with `--follow`). `--json`: a pretty array; with `--follow`, one
//! compact JSON object per line as events arrive.

use std::time::Duration;

use sluice_api::{Client, ClientError, ErrorCode, EventView};

use crate::args::EventsArgs;
use crate::connect::{block_on, client};
use crate::exit;
use crate::failure::Failure;
use crate::output::print_json;
use crate::render;

/// How often `--follow` asks for new events.
const POLL: Duration = Duration::from_millis(500);
/// Consecutive failed polls tolerated while following.
const MAX_MISSED_POLLS: u32 = 20;

pub fn run(a: &EventsArgs) -> u8 {
    match events(a) {
        Ok(()) => exit::OK,
        Err(f) => f.report(a.conn.json),
    }
}

fn events(a: &EventsArgs) -> Result<(), Failure> {
    if a.limit == 0 {
        return Err(Failure::Usage("--limit must be at least 1".into()));
    }
    let client = client(&a.conn)?;
    if a.follow {
        return block_on(follow(&client, a))?;
    }
    let events = block_on(client.events(a.after, a.limit, a.rollout.as_deref()))??;
    if a.conn.json {
        return print_json(&events);
    }
    print!("{}", render::events::table(&events));
    if events.len() as u64 >= u64::from(a.limit)
        && let Some(last) = events.last()
    {
        eprintln!("(limit reached; more with --after {})", last.seq);
    }
    Ok(())
}

async fn follow(client: &Client, a: &EventsArgs) -> Result<(), Failure> {
    let mut after = a.after;
    let mut missed = 0u32;
    loop {
        match client.events(after, a.limit, a.rollout.as_deref()).await {
            Ok(batch) => {
                missed = 0;
                for e in &batch {
                    print_event(e, a.conn.json)?;
                    after = after.max(e.seq);
                }
                if batch.len() as u64 >= u64::from(a.limit) {
                    continue; // more are waiting
                }
            }
            Err(e) if transient(&e) && missed < MAX_MISSED_POLLS => missed += 1,
            Err(e) => return Err(e.into()),
        }
        tokio::time::sleep(POLL).await;
    }
}

fn print_event(e: &EventView, json: bool) -> Result<(), Failure> {
    if json {
        let s = serde_json::to_string(e).map_err(|err| Failure::Internal(format!("failed to render JSON: {err}")))?;
        println!("{s}");
    } else {
        println!("{}", render::events::line(e));
    }
    Ok(())
}

fn transient(e: &ClientError) -> bool {
    matches!(e, ClientError::Unreachable { .. }) || e.code() == Some(ErrorCode::Unavailable)
}
