//! `sluice targets`: not built yet.

use crate::args::TargetsArgs;
use crate::exit;

pub fn run(_a: &TargetsArgs) -> u8 {
    eprintln!("error: `sluice targets` is not built yet");
    exit::INTERNAL
}
