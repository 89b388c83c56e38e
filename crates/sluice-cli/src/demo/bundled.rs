//! The demo's spec and releases, compiled into the binary (from `examples/demo/`) so that
//! `sluice demo` runs from any directory. They are written into the demo's directory, and
//! read back from there as any release directory is.

use std::fs;
use std::path::{Path, PathBuf};

/// The spec `sluice demo` applies.
pub const SPEC: &str = include_str!("../../../../examples/demo/sluice.yaml");
/// The service in [`SPEC`] whose releases the demo ships.
pub const SERVICE: &str = "edge";
/// The files of a release of [`SERVICE`] (the spec's `files`).
pub const FILES: [&str; 3] = ["rules.json", "flags.json", "features.json"];

macro_rules! release {
    ($name:literal) => {
        (
            $name,
            [
                include_str!(concat!("../../../../examples/demo/", $name, "/rules.json")),
                include_str!(concat!("../../../../examples/demo/", $name, "/flags.json")),
                include_str!(concat!("../../../../examples/demo/", $name, "/features.json")),
            ],
        )
    };
}

/// Each release directory: its name and the contents of [`FILES`].
pub const RELEASES: [(&str, [&str; 3]); 5] = [
    release!("v1"),
    release!("v2-good"),
    release!("v3-killswitch"),
    release!("v4-features-doubled"),
    release!("v5-cve"),
];

/// Write the spec and every release under `root`; returns the directory holding the releases.
pub fn write(root: &Path) -> std::io::Result<PathBuf> {
    fs::write(root.join("sluice.yaml"), SPEC)?;
    let releases = root.join("releases");
    for (name, contents) in RELEASES {
        let dir = releases.join(name);
        fs::create_dir_all(&dir)?;
        for (file, text) in FILES.iter().zip(contents) {
            fs::write(dir.join(file), text)?;
        }
    }
    Ok(releases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_spec_names_the_service_and_its_files() {
        let spec = sluice_core::spec::parse_spec("sluice.yaml", SPEC).unwrap();
        let service = &spec.services[SERVICE];
        assert_eq!(service.files, FILES.map(String::from));
        assert!(spec.pipelines.contains_key("bootstrap") && spec.pipelines.contains_key(&service.pipeline));
    }

    #[test]
    fn releases_are_written_as_directories() {
        let d = tempfile::tempdir().unwrap();
        let releases = write(d.path()).unwrap();
        for (name, _) in RELEASES {
            for f in FILES {
                assert!(releases.join(name).join(f).is_file(), "{name}/{f}");
            }
        }
        assert!(d.path().join("sluice.yaml").is_file());
    }
}
