//! The one integration test binary of `sluice-agent`: real files, real hook processes, real
//! sockets, each test in its own temporary directory.
//!
//! The modules are `#[cfg(test)]` (always true here) so clippy treats their helpers as test
//! code, where the workspace allows `unwrap`.

#[cfg(test)]
mod apply;
#[cfg(test)]
mod retention;
#[cfg(test)]
mod support;
