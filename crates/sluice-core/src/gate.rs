//! Gate statistics and verdicts.

pub mod mann_whitney;
