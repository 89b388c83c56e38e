//! `sluice enrollment_token`: not built yet.

use crate::args::EnrollmentTokenArgs;
use crate::exit;

pub fn run(_a: &EnrollmentTokenArgs) -> u8 {
    eprintln!("error: `sluice enrollment_token` is not built yet");
    exit::INTERNAL
}
