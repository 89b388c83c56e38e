//! `sluice release`: not built yet.

use crate::args::ReleaseCommand;
use crate::exit;

pub fn run(_a: &ReleaseCommand) -> u8 {
    eprintln!("error: `sluice release` is not built yet");
    exit::INTERNAL
}
