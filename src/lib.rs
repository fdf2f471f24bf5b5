//! fluxsight: a log-and-event stream processor for Flux.
//!
//! # Layout
//! Data flows one way: sources → parse → classify → correlate → render → sinks.
//! - [`record`]: the typed record every stage shares.
//! - [`sources`]: where lines come from (files, stdin).
//! - [`parse`]: one parser per input form; pure, no tokio.
//! - [`classify`]: rule tables from `patterns/`, secret redaction.
//! - [`correlate`]: sans-IO correlation into findings and audit records.
//! - [`delivery`]: the units that flow to sinks (finding, audit record, group, digest).
//! - [`signal`]: what a sidecar publishes for `fluxsight central`: classified, redacted
//!   records and heartbeats in a versioned wire schema.
//! - [`fleet`]: fleet findings (stage 2 of `central`): partials keyed by fleet key, and
//!   the sans-IO fleet correlator over them.
//! - [`render`]: output rows and finding schemas.
//! - [`sinks`]: delivery: stdout, file, webhook, Slack, Alertmanager, Kafka; spool, retry, routes.
//! - [`config`]: the pipeline file as one checked whole, composed from every section.
//! - [`pipeline`]: the wiring of each command.
//! - [`spec_error`]: the config error type and field locator every config section uses.
//! - [`time`]: the clock (`now_ms`), RFC 3339 formatting, Go durations.
//! - [`tls`]: the process's rustls crypto provider (ring), installed before any HTTP client.

pub mod classify;
pub mod config;
pub mod correlate;
pub mod delivery;
pub mod fleet;
pub mod parse;
pub mod pipeline;
pub mod record;
pub mod render;
pub mod server;
pub mod signal;
pub mod sinks;
pub mod sources;
pub mod spec_error;
pub mod sym;
pub mod telemetry;
pub mod time;
pub mod tls;
