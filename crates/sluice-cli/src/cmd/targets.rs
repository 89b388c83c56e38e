//! `sluice targets`: every enrolled target, its labels and OS, whether it is connected, and
//! per service what it runs, should run and falls back to.

use crate::args::TargetsArgs;
use crate::connect::{block_on, client};
use crate::exit;
use crate::failure::Failure;
use crate::output::print_json;
use crate::render;

pub fn run(a: &TargetsArgs) -> u8 {
    match targets(a) {
        Ok(()) => exit::OK,
        Err(f) => f.report(a.conn.json),
    }
}

fn targets(a: &TargetsArgs) -> Result<(), Failure> {
    let client = client(&a.conn)?;
    let targets = block_on(client.targets())??;
    if a.conn.json {
        return print_json(&targets);
    }
    print!("{}", render::targets::table(&targets));
    Ok(())
}
