//! `sluice server`: not built yet.

use crate::args::ServerArgs;
use crate::exit;

pub fn run(_a: &ServerArgs) -> u8 {
    eprintln!("error: `sluice server` is not built yet");
    exit::INTERNAL
}
