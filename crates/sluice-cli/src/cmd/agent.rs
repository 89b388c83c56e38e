//! `sluice agent`: not built yet.

use crate::args::AgentArgs;
use crate::exit;

pub fn run(_a: &AgentArgs) -> u8 {
    eprintln!("error: `sluice agent` is not built yet");
    exit::INTERNAL
}
