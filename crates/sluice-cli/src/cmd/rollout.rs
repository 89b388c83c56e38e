//! `sluice rollout`: not built yet.

use crate::args::RolloutCommand;
use crate::exit;

pub fn run(_a: &RolloutCommand) -> u8 {
    eprintln!("error: `sluice rollout` is not built yet");
    exit::INTERNAL
}
