//! What the demo edge loads from its live release: `rules.json` (rules with an action),
//! `flags.json` (kill switches by rule id) and `features.json` (the bot-management feature
//! file). Every file is optional (a missing one is empty); a file that is present but broken is
//! an error the edge answers with 500s, never a panic.

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use serde::Deserialize;

/// Largest config file the edge reads.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// What a rule does with a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    Block,
    Log,
    Execute,
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rule {
    pub id: String,
    pub action: RuleAction,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// The edge's configuration, as loaded from one release directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EdgeConfig {
    pub rules: Vec<Rule>,
    /// Rule ids a kill switch turned off.
    pub killed: BTreeSet<String>,
    /// Entries in the feature file (duplicates included: the proxy preallocates per entry).
    pub features: usize,
}

#[derive(Debug, Deserialize)]
struct RulesFile {
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
struct FlagsFile {
    /// Rule id → true when the kill switch turns the rule off.
    #[serde(default)]
    kill_switches: std::collections::BTreeMap<String, bool>,
}

#[derive(Debug, Deserialize)]
struct FeaturesFile {
    features: Vec<Feature>,
}

#[derive(Debug, Deserialize)]
struct Feature {
    #[allow(dead_code)] // read so that a feature without a name is a broken file
    name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read {file}: {source}")]
    Io { file: String, source: std::io::Error },
    #[error("{file} is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge { file: String },
    #[error("{file} is not valid: {why}")]
    Invalid { file: String, why: String },
}

/// Load the config of the release in `dir` (the `current` link or a release directory).
/// A directory that does not exist yet (no release applied) is the empty config.
pub fn load(dir: &Path) -> Result<EdgeConfig, ConfigError> {
    let rules: Option<RulesFile> = read_json(dir, "rules.json")?;
    let flags: Option<FlagsFile> = read_json(dir, "flags.json")?;
    let features: Option<FeaturesFile> = read_json(dir, "features.json")?;
    Ok(EdgeConfig {
        rules: rules.map(|r| r.rules).unwrap_or_default(),
        killed: flags
            .map(|f| f.kill_switches.into_iter().filter(|(_, off)| *off).map(|(id, _)| id).collect())
            .unwrap_or_default(),
        features: features.map(|f| f.features.len()).unwrap_or(0),
    })
}

fn read_json<T: for<'de> Deserialize<'de>>(dir: &Path, file: &str) -> Result<Option<T>, ConfigError> {
    let path = dir.join(file);
    let meta = match fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ConfigError::Io { file: file.into(), source }),
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(ConfigError::TooLarge { file: file.into() });
    }
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ConfigError::Io { file: file.into(), source }),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| ConfigError::Invalid { file: file.into(), why: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (name, text) in files {
            fs::write(d.path().join(name), text).unwrap();
        }
        d
    }

    #[test]
    fn a_missing_release_is_the_empty_config() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(load(&d.path().join("current")).unwrap(), EdgeConfig::default());
    }

    #[test]
    fn the_example_release_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo/v1");
        let c = load(&dir).unwrap();
        assert!(c.rules.iter().any(|r| r.action == RuleAction::Execute));
        assert!(c.killed.is_empty());
        assert!(c.features > 0 && c.features <= 200);
    }

    #[test]
    fn kill_switches_set_to_true_turn_rules_off() {
        let d = dir_with(&[
            ("rules.json", r#"{"rules":[{"id":"a","action":"execute"},{"id":"b","action":"log","enabled":false}]}"#),
            ("flags.json", r#"{"kill_switches":{"a":true,"b":false},"other":1}"#),
        ]);
        let c = load(d.path()).unwrap();
        assert_eq!(c.rules.len(), 2);
        assert!(c.rules[0].enabled && !c.rules[1].enabled);
        assert_eq!(c.killed.iter().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn broken_files_are_errors_naming_the_file() {
        for (file, text) in [
            ("rules.json", "{not json"),
            ("rules.json", r#"{"rules":[{"id":"a","action":"explode"}]}"#),
            ("flags.json", r#"{"kill_switches":["a"]}"#),
            ("features.json", r#"{"features":[{"type":"float"}]}"#),
        ] {
            let d = dir_with(&[(file, text)]);
            let e = load(d.path()).unwrap_err();
            assert!(e.to_string().contains(file), "{e}");
        }
    }
}
