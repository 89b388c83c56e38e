//! `sluice apply`: not built yet.

use crate::args::ApplyArgs;
use crate::exit;

pub fn run(_a: &ApplyArgs) -> u8 {
    eprintln!("error: `sluice apply` is not built yet");
    exit::INTERNAL
}
