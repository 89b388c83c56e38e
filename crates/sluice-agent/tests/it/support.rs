//! Fixtures: release files.

use sluice_core::release::ReleaseFiles;

pub fn files(list: &[(&str, &str)]) -> ReleaseFiles {
    list.iter().map(|(p, c)| (p.to_string(), c.as_bytes().to_vec())).collect()
}
