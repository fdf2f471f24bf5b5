//! Wiring of the stages for each command.
//!
//! Owns: the batch pipelines (`classify`, `replay`). Live wiring comes with the
//! Kubernetes sources.

pub mod classify;
