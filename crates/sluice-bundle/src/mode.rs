//! File modes in a bundle. Only the executable bit travels: every file is `0644` or `0755`,
//! so the same files always pack to the same bytes, and no bundle can make a setuid, setgid,
//! sticky or group- or world-writable file, whatever its manifest says.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// The mode of one file of a release.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// `0644`: read-write for the owner, readable by all. The default, and what a manifest
    /// line without a `mode` means.
    #[default]
    Regular,
    /// `0755`: like [`Mode::Regular`], and executable by all.
    Executable,
}

/// The modes of a release's files by path; a file not listed is [`Mode::Regular`].
pub type Modes = BTreeMap<String, Mode>;

impl Mode {
    /// The permission bits written to disk: `0o644` or `0o755`.
    pub const fn bits(self) -> u32 {
        match self {
            Mode::Regular => 0o644,
            Mode::Executable => 0o755,
        }
    }

    /// The normalised mode of any permission bits: executable when anyone may execute it.
    /// Every other bit (setuid, setgid, sticky, write for group or others) is dropped.
    pub const fn from_bits(bits: u32) -> Mode {
        if bits & 0o111 != 0 { Mode::Executable } else { Mode::Regular }
    }

    /// Whether this is the default, [`Mode::Regular`] (not written to manifests).
    pub fn is_regular(&self) -> bool {
        *self == Mode::Regular
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.bits())
    }
}

/// Written as a string of octal digits: `"0755"`.
impl Serialize for Mode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Read from a string of one to four octal digits, normalised by [`Mode::from_bits`].
impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let octal = !text.is_empty() && text.len() <= 4 && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
        match u32::from_str_radix(&text, 8) {
            Ok(bits) if octal => Ok(Mode::from_bits(bits)),
            _ => Err(de::Error::custom(format!("mode {text:?} is not a file mode of one to four octal digits"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_executable_bit_survives() {
        for (bits, mode) in [
            (0o644, Mode::Regular),
            (0o600, Mode::Regular),
            (0o666, Mode::Regular),
            (0o4644, Mode::Regular),
            (0o755, Mode::Executable),
            (0o700, Mode::Executable),
            (0o100, Mode::Executable),
            (0o4777, Mode::Executable),
            (0o6777, Mode::Executable),
        ] {
            assert_eq!(Mode::from_bits(bits), mode, "{bits:o}");
        }
        assert_eq!((Mode::Regular.bits(), Mode::Executable.bits()), (0o644, 0o755));
    }

    #[test]
    fn reads_and_writes_octal_strings() {
        assert_eq!(serde_json::to_string(&Mode::Executable).unwrap(), "\"0755\"");
        assert_eq!(serde_json::to_string(&Mode::Regular).unwrap(), "\"0644\"");
        for (text, mode) in [("\"0755\"", Mode::Executable), ("\"644\"", Mode::Regular), ("\"4777\"", Mode::Executable)]
        {
            assert_eq!(serde_json::from_str::<Mode>(text).unwrap(), mode, "{text}");
        }
        for bad in ["\"\"", "\"0789\"", "\"07755\"", "\"rwx\"", "493", "\"-1\"", "\"+755\""] {
            assert!(serde_json::from_str::<Mode>(bad).is_err(), "{bad}");
        }
    }
}
