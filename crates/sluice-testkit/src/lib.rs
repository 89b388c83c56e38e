//! `sluice-testkit`: what tests and benchmarks need to drive sluice for real, kept out of the
//! product crates. [`fake_agent`] speaks the real agent protocol (enroll, long-poll, report)
//! for many agents from one process, "applying" instantly, so a benchmark measures the control
//! plane and not the node; [`server_process`] starts a server as a child process that a test
//! can `kill -9` and start again; [`floor`] is the least a long-poll server and clients of the
//! same shape cost, the benchmarks' yardstick; [`proc_stats`] reads a process's RSS, CPU time
//! and disk writes from `/proc`; [`prometheus_text`] reads a value off a `/metrics` page;
//! [`percentile`] summarises latencies; [`nginx_fleet`] runs the story of
//! `examples/nginx-fleet/` (real nginx, agents and Prometheus on loopback).

pub mod clock;
pub mod fake_agent;
pub mod floor;
pub mod nginx_fleet;
pub mod percentile;
pub mod proc_stats;
pub mod prometheus_text;
pub mod server_process;
