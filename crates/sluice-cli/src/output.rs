//! `--json`: the API's JSON, pretty, on stdout.

use serde::Serialize;

use crate::failure::Failure;

pub(crate) fn print_json<T: Serialize + ?Sized>(v: &T) -> Result<(), Failure> {
    let s = serde_json::to_string_pretty(v).map_err(|e| Failure::Internal(format!("failed to render JSON: {e}")))?;
    println!("{s}");
    Ok(())
}
