//! `sluice service list` and `sluice service clear-hold SERVICE --reason R`: each service's
//! standing, and the deliberate human step that lets a held service ship again.

use comfy_table::Table;
use sluice_api::{ClearHold, ServiceView};

use crate::args::{ServiceCommand, ServiceListArgs};
use crate::connect::{block_on, client};
use crate::exit;
use crate::failure::Failure;
use crate::output::print_json;
use crate::render::ids::short_or_dash;

pub fn run(c: &ServiceCommand) -> u8 {
    let (result, json) = match c {
        ServiceCommand::List(a) => (list(a), a.conn.json),
        ServiceCommand::ClearHold(a) => (
            (|| {
                if a.reason.trim().is_empty() {
                    return Err(Failure::Usage("--reason must say why it is safe to ship again".into()));
                }
                let client = client(&a.conn)?;
                let view = block_on(client.clear_hold(&a.service, &ClearHold { reason: a.reason.clone() }))??;
                if a.conn.json {
                    return print_json(&view);
                }
                println!("{}: hold cleared; known-good {}", view.service, short_or_dash(view.known_good.as_ref()));
                Ok(())
            })(),
            a.conn.json,
        ),
    };
    match result {
        Ok(()) => exit::OK,
        Err(f) => f.report(json),
    }
}

fn list(a: &ServiceListArgs) -> Result<(), Failure> {
    let client = client(&a.conn)?;
    let services = block_on(client.services())??;
    if a.conn.json {
        return print_json(&services);
    }
    print!("{}", table(&services));
    Ok(())
}

fn table(services: &[ServiceView]) -> String {
    let mut t = Table::new();
    t.set_header(["service", "known-good", "rollout", "queued", "hold"]);
    for s in services {
        let hold = s.hold.as_ref().map_or("-".to_string(), |h| {
            format!("{} failed in {}: {}", short_or_dash(Some(&h.release)), h.rollout, h.why)
        });
        let queued = s
            .queued
            .as_ref()
            .map_or("-".to_string(), |q| format!("{} behind {}", short_or_dash(Some(&q.release)), q.behind));
        t.add_row([
            s.service.clone(),
            short_or_dash(s.known_good.as_ref()),
            s.active.clone().unwrap_or_else(|| "-".into()),
            queued,
            hold,
        ]);
    }
    format!("{t}\n")
}
