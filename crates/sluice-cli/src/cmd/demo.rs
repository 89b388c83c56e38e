//! `sluice demo`: not built yet.

use crate::args::DemoArgs;
use crate::exit;

pub fn run(_a: &DemoArgs) -> u8 {
    eprintln!("error: `sluice demo` is not built yet");
    exit::INTERNAL
}
