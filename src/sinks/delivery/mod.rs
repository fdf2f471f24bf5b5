//! The delivery machinery every sink kind shares: the per-sink worker (`worker`: bounded
//! read-ahead, write-ahead disk spool (`spool`), retry with jittered back-off (`retry`),
//! dead letters, stats (`stats`)), the router with storm control (`router`), rendering of
//! bodies (`body`), HTTP plumbing and pacing (`http`) with the SSRF guard (`ssrf`), the
//! shared HTTP section of a sink's config (`endpoint`), secret references (`secret`),
//! chat thread state (`chat`) and the coalescing webhook chats (`chat_webhook`), atomic
//! state files (`atomic`) and the state-directory lock (`lock`).
//!
//! Does not own any one kind of sink: each kind lives in its own folder
//! (`sinks/<kind>/`) with its config section, its validation and its implementation.
//!
//! Invariant: at least once (see [`crate::sinks`]): a delivery is spooled before a sink
//! sees it and acknowledged only after the sink accepted or dead-lettered it.

pub mod atomic;
pub mod body;
pub mod chat;
pub mod chat_webhook;
pub mod endpoint;
pub mod http;
pub mod lock;
pub mod retry;
pub mod router;
pub mod secret;
pub mod spool;
pub mod ssrf;
pub mod stats;
pub mod worker;
