//! fluxsight: a log-and-event stream processor for Flux.
//!
//! # Layout
//! Data flows one way: sources → parse → classify → correlate → render → sinks.
//! - [`record`]: the typed record every stage shares.
//! - [`parse`]: one parser per input form; pure, no tokio.
//! - [`classify`]: rule tables from `patterns/`, secret redaction.
//! - [`render`]: output rows and finding schemas.

pub mod classify;
pub mod parse;
pub mod record;
pub mod render;
