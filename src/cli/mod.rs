//! The command line, binary side only (not part of the library): [`args`] is the clap
//! surface, each other file wires one command family, [`common`] holds what they share
//! (the one pipeline loader, the one sink summary). `anyhow` lives here and in
//! `main.rs` only; every command returns the process exit code.

pub mod args;
pub mod central;
pub mod client;
pub mod common;
pub mod docs;
pub mod drain;
pub mod explain;
pub mod get;
pub mod live;
pub mod replay;
pub mod validate;
