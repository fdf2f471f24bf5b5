//! Wiring of the stages for each command.
//!
//! Owns: the batch pipelines (`classify`, `replay`) and pattern example runs. Live
//! wiring comes with the Kubernetes sources.

pub mod capture;
pub mod classify;
pub mod deliver;
pub mod examples;
pub mod live;
pub mod progress;
pub mod reload;
pub mod replay;
