//! The one integration test binary of `sluice-bundle`: bundles packed, hand-made and hostile,
//! read into memory and unpacked into a temporary directory per test.
//!
//! The modules are `#[cfg(test)]` (always true here) so clippy treats their helpers as test
//! code, where the workspace allows `unwrap`.

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod modes;
#[cfg(test)]
mod refusals;
#[cfg(test)]
mod support;
