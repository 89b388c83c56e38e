//! `sluice-server`: the control plane. Not built yet.
