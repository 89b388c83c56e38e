//! `sluice schema`: the spec file's JSON Schema, generated from the types.

use crate::exit;

pub fn run() -> u8 {
    match serde_json::to_string_pretty(&sluice_core::spec::Spec::json_schema()) {
        Ok(s) => {
            println!("{s}");
            exit::OK
        }
        Err(e) => {
            eprintln!("error: failed to render the schema: {e}");
            exit::INTERNAL
        }
    }
}
