//! `sluice events`: not built yet.

use crate::args::EventsArgs;
use crate::exit;

pub fn run(_a: &EventsArgs) -> u8 {
    eprintln!("error: `sluice events` is not built yet");
    exit::INTERNAL
}
