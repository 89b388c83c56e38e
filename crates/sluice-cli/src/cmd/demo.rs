//! `sluice demo [--once] [--json] [--keep]`: the embedded control plane, a local fleet and the
//! scripted story (see `crate::demo`).

use crate::args::DemoArgs;
use crate::demo::{self, Options};
use crate::exit;

pub fn run(a: &DemoArgs) -> u8 {
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return exit::INTERNAL;
        }
    };
    rt.block_on(demo::run(Options { once: a.once, json: a.json, keep: a.keep }))
}
