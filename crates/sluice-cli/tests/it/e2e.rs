//! End to end with real processes on loopback: a `sluice server` process, `sluice agent`
//! processes applying real releases with real hooks, and the failures an SRE must survive
//! (the server killed mid-bake, down for a minute, bad bundles, failing hooks, hung and dead
//! agents, one bad host among good ones, rollbacks whose probe fails).

mod after_the_wave;
mod bad_bundles;
mod fail_closed;
mod hooks;
mod outage;
mod refusals;
mod restart;
mod rig;
mod tokens;
