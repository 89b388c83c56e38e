//! Why a scenario was refused: a YAML problem (with file:line:column and field path from
//! sluice-core's parser) or problems with its meaning, each with its field path and line.

use std::fmt;

use sluice_core::spec::check::Problem;
use sluice_core::spec::parse::YamlError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The file is not valid YAML of the scenario's shape, too large, or over a budget.
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// The file parsed but does not make sense: every problem found.
    #[error("{}", Render(file, problems))]
    Invalid { file: String, problems: Vec<Problem> },
}

struct Render<'a>(&'a str, &'a [Problem]);

impl fmt::Display for Render<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.1.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            match p.line {
                Some((l, c)) => write!(f, "{}:{l}:{c}: at `{}`: {}", self.0, p.path, p.message)?,
                None => write!(f, "{}: at `{}`: {}", self.0, p.path, p.message)?,
            }
        }
        Ok(())
    }
}
