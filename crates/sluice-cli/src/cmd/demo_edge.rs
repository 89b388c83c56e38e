//! `sluice demo_edge`: not built yet.

use crate::args::DemoEdgeArgs;
use crate::exit;

pub fn run(_a: &DemoEdgeArgs) -> u8 {
    eprintln!("error: `sluice demo_edge` is not built yet");
    exit::INTERNAL
}
