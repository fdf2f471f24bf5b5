//! Sources: where records come from (files and stdin now; Kubernetes later).
//!
//! Owns: reading input into lines with bounded memory. Does not parse.

pub mod file;
