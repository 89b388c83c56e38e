//! `sluice demo [--once] [--json] [--keep]`: the embedded control plane, a local fleet and the
//! scripted story (see `crate::demo`).

use std::time::Duration;

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
    let code = rt.block_on(demo::run(Options { once: a.once, json: a.json, keep: a.keep }));
    // Everything the demo started is stopped by now; do not wait on idle pool threads.
    rt.shutdown_timeout(Duration::from_millis(500));
    code
}
