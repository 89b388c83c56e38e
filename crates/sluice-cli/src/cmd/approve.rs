//! `sluice approve`: not built yet.

use crate::args::ApproveArgs;
use crate::exit;

pub fn run(_a: &ApproveArgs) -> u8 {
    eprintln!("error: `sluice approve` is not built yet");
    exit::INTERNAL
}
