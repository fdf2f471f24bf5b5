//! Renderers: records and findings into their output schemas.
//!
//! Owns: serialisation only. Does not decide what to emit (see `correlate`) or where
//! (see `sinks`).

pub mod chat;
pub mod colour;
pub mod ecs;
pub mod finding;
pub mod gchat;
pub mod ocsf;
pub mod report;
pub mod row;
pub mod slack;
pub mod teams;
