//! Wiring of the stages for each command.
//!
//! Owns: the batch pipelines (`classify`, `replay`) and pattern example runs, the live
//! wiring (`live`, `capture`), the one stdout emitter of `replay` and `run` (`emit`) and
//! the start-up banner of `run` and `record` (`banner`), and `central`, the consumer-group
//! member over the sidecars' signals (`central`).

pub mod banner;
pub mod capture;
pub mod central;
pub mod classify;
pub mod deliver;
pub mod emit;
pub mod examples;
pub mod live;
pub mod parallel;
pub mod progress;
pub mod reload;
pub mod replay;
pub mod report;
