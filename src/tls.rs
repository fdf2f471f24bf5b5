//! The process's one rustls crypto provider: ring.
//!
//! Owns: installing ring as rustls's process-wide default before anything builds a TLS
//! client. reqwest 0.13 (HTTP sinks, metrics scrape) is built with `rustls-no-provider`
//! because its default provider, aws-lc-rs, would add a C/assembly build (harder for
//! multi-arch images) and a second provider next to the ring that kube's client already
//! uses; with two providers compiled in, rustls can no longer pick one by itself and
//! kube's TLS setup would panic. reqwest reads the process default when a client is
//! built, and panics if there is none.
//!
//! Does not own certificate roots: reqwest verifies against the system store
//! (rustls-platform-verifier) plus any `ca_file` of a sink.
//!
//! Invariant: every `reqwest::Client` is built after [`install_crypto_provider`] ran;
//! the HTTP client constructors call it, so callers need not.

/// Installs ring as rustls's process default; idempotent and cheap after the first call.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An error means a provider is already installed (by an embedding program or a
        // test): any installed provider serves, so there is nothing to do.
        if rustls::crypto::ring::default_provider()
            .install_default()
            .is_err()
        {
            tracing::debug!("a rustls crypto provider was already installed");
        }
    });
}

/// A `reqwest` client builder with the crypto provider installed: the one way this
/// crate starts building an HTTP client.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With `rustls-no-provider`, building a client without an installed provider
    /// panics inside reqwest; through this builder it succeeds, also when repeated.
    #[test]
    fn builder_installs_a_provider_and_builds_clients() {
        for _ in 0..2 {
            http_client_builder().build().expect("client builds");
        }
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
