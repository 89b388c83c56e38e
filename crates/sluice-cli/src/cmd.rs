//! One module per subcommand.

pub mod check;
pub mod release_dir;
pub mod schema;
pub mod sim;
