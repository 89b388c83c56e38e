//! `sluice release list` and what `release create` reports.

use sluice_api::{ReleaseCreated, ReleaseView};

use super::ids::{short, short_or_dash};
use super::utc::iso8601;

pub fn table(releases: &[ReleaseView]) -> String {
    if releases.is_empty() {
        return "no releases\n".to_string();
    }
    let mut t = super::table(&["release", "created", "by", "parent", "size", "files", "message"]);
    for r in releases {
        t.add_row(vec![
            short(&r.id),
            iso8601(r.created_at),
            r.created_by.clone(),
            short_or_dash(r.parent.as_ref()),
            r.size.to_string(),
            r.files.len().to_string(),
            r.message.clone(),
        ]);
    }
    format!("{t}\n")
}

/// The lines `release create` prints on stderr about the stored release.
pub fn created(c: &ReleaseCreated) -> String {
    let r = &c.release;
    format!(
        "{} release {} of {}: {} files, {} bytes, parent {}; {} files validated{}\n",
        if c.created { "created" } else { "already stored:" },
        short(&r.id),
        r.service,
        r.files.len(),
        r.size,
        short_or_dash(r.parent.as_ref()),
        c.validation.files_checked,
        if c.validation.checks.is_empty() {
            String::new()
        } else {
            format!(", {} check commands run by agents before switching", c.validation.checks.len())
        }
    )
}
