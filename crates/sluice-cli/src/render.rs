//! How the server's views are shown: tables and lines as strings (pure, tested from fixtures),
//! and live progress for `--watch`.

pub mod events;
pub mod ids;
pub mod numbers;
pub mod progress;
pub mod releases;
pub mod rollout;
pub mod targets;
pub mod utc;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};

/// A table with a header row, in the style every command uses.
pub(crate) fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Disabled).set_header(header.to_vec());
    t
}
