//! One module per subcommand.

pub mod agent;
pub mod apply;
pub mod approve;
pub mod check;
pub mod demo;
pub mod demo_edge;
pub mod enrollment_token;
pub mod events;
pub mod release;
pub mod release_dir;
pub mod rollout;
pub mod schema;
pub mod server;
pub mod service;
pub mod sim;
pub mod targets;
pub mod token;
