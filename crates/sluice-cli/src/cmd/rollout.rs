//! `sluice rollout start|status|pause|resume|abort|rollback|revert`.
//!
//! `start` prints the new rollout's id on stdout (details on stderr); with `--wait` it then
//! shows progress until the rollout ends. `status` shows each active rollout (or one) as a
//! table; `--watch` shows live progress until it ends. Both exit 4 when a rollout they waited
//! for ended other than completed.

use std::time::Duration;

use sluice_api::{
    Client, ClientError, CommandKind, ErrorCode, Revert, RolloutCommand as Cmd, RolloutView, StartAnswer, StartRollout,
};

use crate::args::{ConnArgs, RolloutCommand, RolloutIdArgs, RolloutRevertArgs, RolloutStartArgs, RolloutStatusArgs};
use crate::clock;
use crate::connect::{block_on, client};
use crate::exit;
use crate::failure::Failure;
use crate::output::print_json;
use crate::render::ids::short;
use crate::render::progress::Progress;
use crate::render::rollout::{completed, is_finished, phase_reason, statuses};

/// How often `--watch` and `--wait` ask the server.
const POLL: Duration = Duration::from_millis(500);
/// Consecutive failed polls (server restarting, briefly unavailable) tolerated while watching.
const MAX_MISSED_POLLS: u32 = 20;

pub fn run(c: &RolloutCommand) -> u8 {
    let (result, json) = match c {
        RolloutCommand::Start(a) => (start(a), a.conn.json),
        RolloutCommand::Status(a) => (status(a), a.conn.json),
        RolloutCommand::Pause(a) => (command(a, CommandKind::Pause), a.conn.json),
        RolloutCommand::Resume(a) => (command(a, CommandKind::Resume), a.conn.json),
        RolloutCommand::Abort(a) => (command(a, CommandKind::Abort), a.conn.json),
        RolloutCommand::Rollback(a) => (command(a, CommandKind::Rollback), a.conn.json),
        RolloutCommand::Withdraw(a) => (command(a, CommandKind::Withdraw), a.conn.json),
        RolloutCommand::Revert(a) => (revert(a), a.conn.json),
    };
    result.unwrap_or_else(|f| f.report(json))
}

/// Return a service to its previous known-good: no new release, no approvals.
fn revert(a: &RolloutRevertArgs) -> Result<u8, Failure> {
    if a.reason.trim().is_empty() {
        return Err(Failure::Usage("`rollout revert` needs --reason (recorded in the audit log)".into()));
    }
    let client = client(&a.conn)?;
    block_on(async {
        let view = client.revert(&a.service, &Revert { reason: a.reason.clone() }).await?;
        if a.conn.json && !a.wait {
            print_json(&view)?;
            return Ok(exit::OK);
        }
        if !a.conn.json {
            eprintln!(
                "reverting {} to {} (rollout {}, emergency profile, no approvals)",
                view.service,
                short(&view.release),
                view.id
            );
            println!("{}", view.id);
        }
        if !a.wait {
            return Ok(exit::OK);
        }
        let finals = watch(&client, std::slice::from_ref(&view.id), a.conn.json).await?;
        match finals.first() {
            Some(v) if a.conn.json => print_json(v)?,
            _ => eprint!("{}", statuses(&finals, clock::now())),
        }
        Ok(outcome_code(&finals))
    })?
}

fn start(a: &RolloutStartArgs) -> Result<u8, Failure> {
    if a.emergency && a.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(Failure::Usage("an emergency rollout needs --reason (recorded in the audit log)".into()));
    }
    if a.break_glass && a.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(Failure::Usage(
            "--break-glass needs --reason (recorded in the audit log and shown in status)".into(),
        ));
    }
    let client = client(&a.conn)?;
    let req = StartRollout {
        service: a.service.clone(),
        release: a.release.clone(),
        pipeline: a.pipeline.clone(),
        emergency: a.emergency,
        reason: a.reason.clone(),
        seed: None,
        queue: false,
        ..StartRollout::default() // set by the client call below
    };
    block_on(async {
        let answer = if a.no_queue {
            StartAnswer::Started(Box::new(client.start_rollout(&req).await?))
        } else {
            client.start_or_queue(&req).await?
        };
        let view = match answer {
            StartAnswer::Started(view) => *view,
            StartAnswer::Queued { queued } => {
                if a.conn.json && !a.wait {
                    print_json(&queued)?;
                    return Ok(exit::OK);
                }
                let superseded =
                    queued.superseded.as_ref().map(|s| format!(", superseding {}", short(s))).unwrap_or_default();
                eprintln!(
                    "queued {} release {} behind rollout {}{superseded}: it starts when that one ends (unless a newer release is queued after it)",
                    queued.service,
                    short(&queued.release),
                    queued.behind
                );
                if !a.wait {
                    return Ok(exit::OK);
                }
                match wait_for_queued(&client, &queued.service, &queued.release).await? {
                    Some(view) => view,
                    None => {
                        eprintln!(
                            "release {} of {} no longer waits: a newer release superseded it, or it was dropped",
                            short(&queued.release),
                            queued.service
                        );
                        return Ok(exit::ROLLED_BACK);
                    }
                }
            }
        };
        if !a.wait {
            if a.conn.json {
                print_json(&view)?;
            } else {
                eprintln!(
                    "started rollout {} of {} release {}{}: {}",
                    view.id,
                    view.service,
                    short(&view.release),
                    if view.emergency { " (EMERGENCY)" } else { "" },
                    view.phase
                );
                println!("{}", view.id);
            }
            return Ok(exit::OK);
        }
        if !a.conn.json {
            eprintln!("started rollout {} of {} release {}", view.id, view.service, short(&view.release));
            println!("{}", view.id);
        }
        let finals = watch(&client, std::slice::from_ref(&view.id), a.conn.json).await?;
        match finals.first() {
            Some(v) if a.conn.json => print_json(v)?,
            _ => eprint!("{}", statuses(&finals, clock::now())),
        }
        Ok(outcome_code(&finals))
    })?
}

/// Wait until the queued `release` of `service` starts (its rollout), or stops waiting
/// (superseded or dropped: `None`).
async fn wait_for_queued(
    client: &Client,
    service: &str,
    release: &sluice_core::release::ReleaseId,
) -> Result<Option<RolloutView>, Failure> {
    loop {
        let active = client.rollouts(true).await?;
        if let Some(v) = active.into_iter().find(|v| v.service == service && &v.release == release) {
            return Ok(Some(v));
        }
        let services = client.services().await?;
        let waiting = services
            .iter()
            .find(|s| s.service == service)
            .and_then(|s| s.queued.as_ref())
            .is_some_and(|q| &q.release == release);
        if !waiting {
            // It may have started and finished between the two reads.
            let all = client.rollouts(false).await?;
            return Ok(all.into_iter().find(|v| v.service == service && &v.release == release));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn status(a: &RolloutStatusArgs) -> Result<u8, Failure> {
    let client = client(&a.conn)?;
    block_on(async {
        let views = match &a.id {
            Some(id) => vec![client.rollout(id).await?],
            None => client.rollouts(true).await?,
        };
        if !a.watch || views.is_empty() || views.iter().all(is_finished) {
            print_views(&views, a.id.is_some(), a.conn.json)?;
            return Ok(exit::OK);
        }
        let ids: Vec<String> = views.iter().map(|v| v.id.clone()).collect();
        let finals = watch(&client, &ids, a.conn.json).await?;
        print_views(&finals, a.id.is_some(), a.conn.json)?;
        Ok(outcome_code(&finals))
    })?
}

/// Tables on stdout, or JSON: the one rollout asked for, or the list.
fn print_views(views: &[RolloutView], one: bool, json: bool) -> Result<(), Failure> {
    match (json, views.first()) {
        (true, Some(v)) if one => print_json(v),
        (true, _) => print_json(views),
        (false, _) => {
            print!("{}", statuses(views, clock::now()));
            Ok(())
        }
    }
}

/// Poll the rollouts every [`POLL`] and show their progress until every one has ended.
async fn watch(client: &Client, ids: &[String], json: bool) -> Result<Vec<RolloutView>, Failure> {
    let mut progress = Progress::new(json);
    let mut missed = 0u32;
    loop {
        match fetch(client, ids).await {
            Ok(views) => {
                missed = 0;
                progress.update(&views, clock::now());
                if views.iter().all(is_finished) {
                    progress.finish();
                    return Ok(views);
                }
            }
            Err(e) if transient(&e) && missed < MAX_MISSED_POLLS => missed += 1,
            Err(e) => {
                progress.finish();
                return Err(e.into());
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn fetch(client: &Client, ids: &[String]) -> Result<Vec<RolloutView>, ClientError> {
    let mut views = Vec::with_capacity(ids.len());
    for id in ids {
        views.push(client.rollout(id).await?);
    }
    Ok(views)
}

fn transient(e: &ClientError) -> bool {
    matches!(e, ClientError::Unreachable { .. }) || e.code() == Some(ErrorCode::Unavailable)
}

/// Exit 4 unless every watched rollout completed, saying on stderr how each other one ended.
fn outcome_code(finals: &[RolloutView]) -> u8 {
    let mut code = exit::OK;
    for v in finals.iter().filter(|v| !completed(v)) {
        let why = phase_reason(v).map(|w| format!(": {w}")).unwrap_or_default();
        eprintln!("rollout {} of {} ended {}{why}", v.id, v.service, v.phase);
        code = exit::ROLLED_BACK;
    }
    code
}

fn command(a: &RolloutIdArgs, kind: CommandKind) -> Result<u8, Failure> {
    send_command(&a.conn, &a.id, kind, a.reason.as_deref())
}

/// Send an operator command (also `sluice approve`) and print the rollout's new phase.
pub(crate) fn send_command(conn: &ConnArgs, id: &str, kind: CommandKind, reason: Option<&str>) -> Result<u8, Failure> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if kind == CommandKind::Rollback && reason.is_none() {
        return Err(Failure::Usage(
            "`rollout rollback` needs --reason (recorded in the audit log; the service is held afterwards)".into(),
        ));
    }
    let client = client(conn)?;
    let view = block_on(client.command(id, kind, &Cmd { reason: reason.map(str::to_string) }))??;
    if conn.json {
        print_json(&view)?;
    } else {
        let why = phase_reason(&view).map(|w| format!(" ({w})")).unwrap_or_default();
        println!("rollout {}: {} sent; phase {}{why}", view.id, kind.as_str(), view.phase);
    }
    Ok(exit::OK)
}
