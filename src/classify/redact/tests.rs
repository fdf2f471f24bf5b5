//! Redaction tests: fixed cases plus property tests over generated credentials.

use std::borrow::Cow;

use proptest::prelude::*;

use super::{redact, redact_record, REDACTED};
use crate::record::Record;

#[test]
fn fixed_cases() {
    let cases: &[(&str, &str)] = &[
        (
            "clone https://user:s3cr3tT0ken@github.com/org/repo failed",
            "clone https://[REDACTED]@github.com/org/repo failed",
        ),
        (
            "https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/x",
            "https://[REDACTED]@github.com/x",
        ),
        (
            "Authorization: Bearer abc.def.ghi-jkl_mno",
            "Authorization: Bearer [REDACTED]",
        ),
        ("password=hunter2 user=bob", "password=[REDACTED] user=bob"),
        (
            r#"{"password":"hunter2","user":"bob"}"#,
            r#"{"password":"[REDACTED]","user":"bob"}"#,
        ),
        ("key AKIAIOSFODNN7EXAMPLE here", "key [REDACTED] here"),
        (
            "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
            "https://hooks.slack.com/services/[REDACTED]",
        ),
        (
            "AccountName=a;AccountKey=k3y+/abc==;EndpointSuffix=core.windows.net",
            "AccountName=a;AccountKey=[REDACTED];EndpointSuffix=core.windows.net",
        ),
        (
            "https://a.blob.core.windows.net/c?sv=2022-11-02&sig=abc%2Bdef%3D&se=1",
            "https://a.blob.core.windows.net/c?sv=2022-11-02&sig=[REDACTED]&se=1",
        ),
        (
            "client-key-data: LS0tLS1CRUdJTi",
            "client-key-data: [REDACTED]",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(redact(input), *want, "input {input}");
    }
}

/// API-key headers, Stripe keys, and the Azure and AWS shapes, in the forms they
/// take in logs: header lines, `key=value` pairs, JSON and Python-dict reprs, URLs.
#[test]
fn api_key_cloud_and_stripe_shapes() {
    let cases: &[(&str, &str)] = &[
        ("X-Api-Key: abcdefghij", "X-Api-Key: [REDACTED]"),
        ("x-api-key=abcdefghij&page=2", "x-api-key=[REDACTED]&page=2"),
        (
            r#"{"X-Api-Key": "sk_live_4eC39HqLyjWDarjtT1zdp7dc"}"#,
            r#"{"X-Api-Key": "[REDACTED]"}"#,
        ),
        (
            "{'x-api-key': 'abcdefghij'}",
            "{'x-api-key': '[REDACTED]'}",
        ),
        (
            "apikey sk_live_4eC39HqLyjWDarjtT1zdp7dc rejected",
            "apikey [REDACTED] rejected",
        ),
        ("charge with sk_test_abcdefghijkl", "charge with [REDACTED]"),
        ("rk_live_abcdefghijkl and pk_live_abcdefghijkl", "[REDACTED] and [REDACTED]"),
        (
            "Ocp-Apim-Subscription-Key: abcdefabcdef",
            "Ocp-Apim-Subscription-Key: [REDACTED]",
        ),
        (
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=abc+def=",
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=[REDACTED]",
        ),
        (
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024&X-Amz-Security-Token=FQoGZXIvYXdzEPT",
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=[REDACTED]&X-Amz-Signature=[REDACTED]&X-Amz-Security-Token=[REDACTED]",
        ),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = [REDACTED]",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(redact(input), *want, "input {input}");
    }
}

/// The stray-bracket bug: a bare value stopped at `]` but not at `[`, so `[REDACTED]`
/// (or any bracketed value, as in Go's `map[Header:[value]]`) was cut to `[REDACTED`
/// and replaced, leaving its `]` behind (`private_token=[REDACTED]]`), and a value with
/// a `]` inside left its tail (`token=abc]def` → `token=[REDACTED]]def`).
#[test]
fn bracketed_values_leave_no_stray_bracket() {
    let cases: &[(&str, &str)] = &[
        ("private_token=[REDACTED]", "private_token=[REDACTED]"),
        ("private_token=[abc123]", "private_token=[REDACTED]"),
        ("token=abc]def x", "token=[REDACTED] x"),
        (
            "map[X-Api-Key:[abcdef] Accept:[*/*]]",
            "map[X-Api-Key:[REDACTED] Accept:[*/*]]",
        ),
        // The Stripe family redacts the list item first; the header's value is then the
        // list `[[REDACTED]]`, kept whole.
        (
            "map[X-Api-Key:[sk_live_4eC39HqLyjWDarjtT1zdp7dc] Accept:[*/*]]",
            "map[X-Api-Key:[[REDACTED]] Accept:[*/*]]",
        ),
        (
            "map[token:abc123 user:bob]",
            "map[token:[REDACTED] user:bob]",
        ),
        (
            "map[Authorization:[Bearer abc] Accept:[*/*]]",
            "map[Authorization:[Bearer [REDACTED]] Accept:[*/*]]",
        ),
        (r#"{"token": [REDACTED]}"#, r#"{"token": [REDACTED]}"#),
        ("Authorization: [REDACTED]", "Authorization: [REDACTED]"),
    ];
    for (input, want) in cases {
        let once = redact(input);
        assert_eq!(once, *want, "input {input}");
        assert_eq!(redact(&once), once, "not idempotent on {input}");
    }
}

#[test]
fn benign_texts_are_borrowed() {
    let benign = [
        "failed to checkout and determine revision: unable to clone 'ssh://git@github.com/org/repo': ssh: handshake failed",
        "error logging into ACR error exchanging token: unexpected status code 429 from exchange request",
        "failed to get secret 'flux-system/github-token': secrets \"github-token\" not found",
        "Basic authentication failed for user",
        "cannot get Kustomization SOPS age decryption Secret 'flux-system/sops-age'",
        "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\"",
        "stored artifact with revision 'latest@sha256:1eabc9a4' from 'oci://ghcr.io/org/app'",
        "Reconciliation finished in 2.31s, next run in 10m0s",
    ];
    for b in benign {
        assert!(
            matches!(redact(b), Cow::Borrowed(_)),
            "changed: {b} -> {}",
            redact(b)
        );
    }
}

#[test]
fn pem_block_is_removed_whole() {
    let s = "key: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAAAAAA\n-----END OPENSSH PRIVATE KEY----- done";
    let out = redact(s);
    assert!(!out.contains("b3BlbnNzaC1"), "{out}");
    assert!(out.ends_with(" done"), "{out}");
}

#[test]
fn record_fields_are_redacted_in_place() {
    let mut rec = Record {
        msg: "token=abcdef123456".into(),
        error: Some("https://u:p4ss@example.com".into()),
        fields: vec![("url".into(), "https://u:p4ss@example.com".into())],
        ..Default::default()
    };
    redact_record(&mut rec);
    assert_eq!(rec.msg, "token=[REDACTED]");
    assert_eq!(rec.error.as_deref(), Some("https://[REDACTED]@example.com"));
    assert_eq!(rec.fields[0].1, "https://[REDACTED]@example.com");
}

/// Random surrounding text that cannot itself form or extend a credential.
fn filler() -> impl Strategy<Value = String> {
    "[a-z ,.]{0,40}"
}

/// A token body with at least one digit, so it cannot appear in the filler by chance.
fn body(min: usize, max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[A-Za-z0-9]{{{},{}}}", min - 1, max - 1))
        .unwrap()
        .prop_map(|s| format!("7{s}"))
}

fn upper_body(len: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[A-Z0-9]{{{}}}", len - 1))
        .unwrap()
        .prop_map(|s| format!("7{s}"))
}

/// (text containing the secret, the secret).
fn credential() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        body(8, 30).prop_map(|p| (format!("https://deploy:{p}@github.com/org/repo"), p)),
        body(20, 40).prop_map(|t| (format!("https://{t}@gitlab.com/org/repo.git"), t)),
        body(20, 60).prop_map(|t| (format!("Authorization: Bearer {t}"), t)),
        body(20, 60).prop_map(|t| (format!("sent bearer {t} to registry"), t)),
        body(12, 40).prop_map(|t| (format!("Authorization: Basic {t}=="), t)),
        body(6, 30).prop_map(|t| (format!("password={t}"), t)),
        body(6, 30).prop_map(|t| (format!("passwd = {t}"), t)),
        body(6, 30).prop_map(|t| (format!("token={t}"), t)),
        body(6, 30).prop_map(|t| (format!("client_secret: {t}"), t)),
        body(6, 30).prop_map(|t| (format!("api_key={t}"), t)),
        body(6, 30).prop_map(|t| (format!("apikey:{t}"), t)),
        body(6, 30).prop_map(|t| (format!("access_key={t}"), t)),
        body(6, 30).prop_map(|t| (format!("{{\"password\":\"{t}\"}}"), t)),
        body(6, 30).prop_map(|t| (format!("{{\"token\": \"{t}\"}}"), t)),
        body(16, 64).prop_map(|t| (
            format!("-----BEGIN RSA PRIVATE KEY-----\n{t}\n{t}\n-----END RSA PRIVATE KEY-----"),
            t
        )),
        (
            prop::sample::select(vec!["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]),
            body(36, 36)
        )
            .prop_map(|(p, t)| (format!("{p}{t}"), t)),
        body(22, 82).prop_map(|t| (format!("github_pat_{t}"), t)),
        body(20, 20).prop_map(|t| (format!("glpat-{t}"), t)),
        (
            prop::sample::select(vec!["xoxb-", "xoxp-", "xoxa-", "xapp-"]),
            body(10, 40)
        )
            .prop_map(|(p, t)| (format!("{p}{t}"), t)),
        body(24, 24).prop_map(|t| (
            format!("https://hooks.slack.com/services/T0123ABCD/B0123ABCD/{t}"),
            t
        )),
        (prop::sample::select(vec!["AKIA", "ASIA"]), upper_body(16))
            .prop_map(|(p, t)| (format!("{p}{t}"), t)),
        (body(10, 30), body(10, 40), body(20, 43))
            .prop_map(|(a, b, c)| (format!("eyJ{a}.eyJ{b}.{c}"), format!("{b}.{c}"))),
        upper_body(58).prop_map(|t| (format!("AGE-SECRET-KEY-1{t}"), t)),
        body(35, 35).prop_map(|t| (format!("AIza{t}"), t)),
        body(40, 86).prop_map(|t| (
            format!("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={t}==;EndpointSuffix=core.windows.net"),
            t
        )),
        body(30, 44).prop_map(|t| (
            format!("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey={t}="),
            t
        )),
        body(30, 44).prop_map(|t| (
            format!("https://acct.blob.core.windows.net/c?sv=2022-11-02&sp=r&sig={t}%3D&se=2026"),
            t
        )),
        body(40, 80).prop_map(|t| (format!("    client-key-data: LS0t{t}"), t)),
        body(20, 60).prop_map(|t| (format!("{{\"private_key\": \"{t}\"}}"), t)),
        body(8, 30).prop_map(|t| (format!("https://registry.example.com/v2/?user=bob&password={t}&x=1"), t)),
        (
            prop::sample::select(vec!["X-Api-Key: ", "x-api-key=", "API-KEY:", "apikey = "]),
            body(8, 40)
        )
            .prop_map(|(k, t)| (format!("{k}{t}"), t)),
        body(8, 40).prop_map(|t| (format!("{{\"x-api-key\": \"{t}\"}}"), t)),
        body(8, 40).prop_map(|t| (format!("map[X-Api-Key:[{t}] Accept:[*/*]]"), t)),
        body(8, 40).prop_map(|t| (format!("Ocp-Apim-Subscription-Key: {t}"), t)),
        (
            prop::sample::select(vec!["sk_live_", "sk_test_", "rk_live_", "pk_live_"]),
            body(24, 99)
        )
            .prop_map(|(p, t)| (format!("{p}{t}"), t)),
        body(40, 40).prop_map(|t| (format!("aws_secret_access_key = {t}"), t)),
        body(64, 64).prop_map(|t| (format!("&X-Amz-Signature={t}&x=1"), t)),
        body(40, 200).prop_map(|t| (format!("?X-Amz-Security-Token={t}"), t)),
        (upper_body(16), body(8, 8)).prop_map(|(k, d)| (
            format!("X-Amz-Credential=ASIA{k}%2F{d}%2Fus-east-1%2Fs3%2Faws4_request"),
            format!("{k}%2F{d}")
        )),
        body(6, 30).prop_map(|t| (format!("private_token=[{t}]"), t)),
    ]
}

proptest! {
    #[test]
    fn generated_secrets_never_leak((cred, secret) in credential(), pre in filler(), post in filler()) {
        let text = format!("{pre} {cred} {post}");
        let out = redact(&text);
        prop_assert!(!out.contains(&secret), "leaked {secret:?} in {out:?}");
        prop_assert!(out.contains(REDACTED));
    }

    #[test]
    fn redaction_is_idempotent((cred, _) in credential(), pre in filler(), post in filler()) {
        let text = format!("{pre} {cred} {post}");
        let once = redact(&text).into_owned();
        prop_assert_eq!(redact(&once), once.as_str());
        prop_assert!(!once.contains("[REDACTED]]") || text.contains("]]"), "stray bracket in {:?}", once);
    }

    #[test]
    fn text_without_secrets_is_unchanged(s in "[a-zA-Z0-9 .,;()/'_-]{0,200}") {
        prop_assert!(matches!(redact(&s), Cow::Borrowed(_)), "changed {s:?} -> {:?}", redact(&s));
    }
}
