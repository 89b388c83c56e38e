//! `sluice approve ID [--reason]`: let a rollout waiting at a stage continue.

use sluice_api::CommandKind;

use super::rollout::send_command;
use crate::args::ApproveArgs;

pub fn run(a: &ApproveArgs) -> u8 {
    send_command(&a.conn, &a.id, CommandKind::Approve, a.reason.as_deref()).unwrap_or_else(|f| f.report(a.conn.json))
}
