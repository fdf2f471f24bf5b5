//! Test kits for fluxsight, kept out of the shipped library and binary.
//!
//! - [`gen`]: deterministic generated Flux traffic for the benches, the memory and load
//!   tests and the scripts (`fluxsight-gen`, this crate's binary).
//! - [`fuzzing`]: the fuzz harnesses behind `fuzz/fuzz_targets/`, replayed under
//!   `cargo test` by `tests/fuzz_regressions.rs`.
//!
//! Both use only fluxsight's public API; nothing in `fluxsight` depends on this crate
//! (it is a dev-dependency of the main crate), so a kit can never leak into a release.

/// Fuzz harnesses for `fuzz/` and `tests/fuzz_regressions.rs`; not a stable API.
pub mod fuzzing;
pub mod gen;
