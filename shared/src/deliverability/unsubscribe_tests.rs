use std::sync::Arc;

use super::*;
use crate::testing::{ManualClock, MemoryDirectory, MemoryFeedbackCounters};

const NOW: i64 = 1_760_000_000;
const SECRET_1: &str = "k1-secret-0123456789abcdefghijklmnopqrstuvwxyz";
const SECRET_2: &str = "k2-secret-ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210";

fn ring(json: serde_json::Value) -> KeyRing {
    KeyRing::from_json(&json.to_string()).unwrap()
}

fn signer_k1() -> UnsubscribeSigner {
    UnsubscribeSigner::new(ring(serde_json::json!({"current": "k1", "k1": SECRET_1})))
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn campaign() -> CampaignId {
    CampaignId::parse("spring").unwrap()
}

fn variant() -> VariantId {
    VariantId::parse("B").unwrap()
}

fn token_for(signer: &UnsubscribeSigner, tenant_id: &str, address: &str, issued_at: i64) -> String {
    signer
        .sign(&LinkFor {
            tenant: &tenant(tenant_id),
            campaign: &campaign(),
            variant: &variant(),
            address,
            issued_at,
        })
        .unwrap()
}

#[test]
fn a_signed_link_verifies_to_its_claim_and_hides_the_address() {
    let signer = signer_k1();
    let token = token_for(&signer, "alpine", "zoe@example.com", NOW);
    assert!(!token.contains("zoe"), "{token}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "URL-safe: {token}"
    );
    assert!(token.len() < 200, "compact: {} chars", token.len());
    // The same message composed twice gets the same link.
    assert_eq!(token, token_for(&signer, "alpine", "zoe@example.com", NOW));
    let claim = signer.verify(&tenant("alpine"), &token, NOW + 60).unwrap();
    assert_eq!(
        claim,
        UnsubscribeClaim {
            tenant: tenant("alpine"),
            campaign: campaign(),
            variant: variant(),
            address: "zoe@example.com".into(),
            issued_at: NOW,
        }
    );
}

#[test]
fn the_largest_link_stays_under_the_token_limit() {
    let signer = signer_k1();
    let long = "t".repeat(crate::domain::MAX_TENANT_ID_CHARS);
    let address = format!("{}@{}.example", "l".repeat(64), "d".repeat(180));
    assert_eq!(address.len(), 253);
    let token = signer
        .sign(&LinkFor {
            tenant: &tenant(&long),
            campaign: &CampaignId::parse("c".repeat(64)).unwrap(),
            variant: &VariantId::parse("v".repeat(32)).unwrap(),
            address: &address,
            issued_at: NOW,
        })
        .unwrap();
    assert!(token.len() <= MAX_TOKEN_CHARS, "{}", token.len());
    assert_eq!(
        signer.verify(&tenant(&long), &token, NOW).unwrap().address,
        address
    );
    let too_long = format!("{}@x.example", "a".repeat(250));
    assert!(
        signer
            .sign(&LinkFor {
                tenant: &tenant("alpine"),
                campaign: &campaign(),
                variant: &variant(),
                address: &too_long,
                issued_at: NOW,
            })
            .is_none()
    );
}

#[test]
fn a_forged_or_tampered_token_is_refused() {
    let signer = signer_k1();
    let token = token_for(&signer, "alpine", "zoe@example.com", NOW);
    let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
    // Every single flipped byte is caught: header, sealed address or MAC.
    for at in 0..bytes.len() {
        bytes[at] ^= 0x01;
        let forged = URL_SAFE_NO_PAD.encode(&bytes);
        let refused = signer.verify(&tenant("alpine"), &forged, NOW).unwrap_err();
        assert!(
            matches!(
                refused,
                TokenError::BadSignature | TokenError::Malformed | TokenError::UnknownKey
            ),
            "byte {at}: {refused:?}"
        );
        bytes[at] ^= 0x01;
    }
    // A token made with another secret under the same key id.
    let impostor = UnsubscribeSigner::new(ring(serde_json::json!({
        "current": "k1", "k1": "someone-else-s-secret-of-sufficient-length!!"
    })));
    let forged = token_for(&impostor, "alpine", "zoe@example.com", NOW);
    assert_eq!(
        signer.verify(&tenant("alpine"), &forged, NOW),
        Err(TokenError::BadSignature)
    );
    for garbage in ["", "not base64!", "AQID", &"A".repeat(MAX_TOKEN_CHARS + 1)] {
        assert_eq!(
            signer.verify(&tenant("alpine"), garbage, NOW),
            Err(TokenError::Malformed),
            "{garbage:?}"
        );
    }
}

#[test]
fn a_token_of_another_tenant_never_verifies_for_this_one() {
    let signer = signer_k1();
    let harbor = token_for(&signer, "harbor", "zoe@example.com", NOW);
    assert_eq!(
        signer.verify(&tenant("alpine"), &harbor, NOW),
        Err(TokenError::WrongTenant)
    );
    // Rewriting the tenant inside the token breaks the signature: each tenant's MAC key differs.
    let mut bytes = URL_SAFE_NO_PAD.decode(&harbor).unwrap();
    let at = bytes
        .windows(6)
        .position(|w| w == b"harbor")
        .expect("tenant in header");
    bytes[at..at + 6].copy_from_slice(b"alpine");
    assert_eq!(
        signer.verify(&tenant("alpine"), &URL_SAFE_NO_PAD.encode(&bytes), NOW),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn an_expired_or_future_token_is_refused() {
    let signer = signer_k1();
    let token = token_for(&signer, "alpine", "zoe@example.com", NOW);
    assert!(
        signer
            .verify(&tenant("alpine"), &token, NOW + MAX_TOKEN_AGE_SECONDS)
            .is_ok()
    );
    assert_eq!(
        signer.verify(&tenant("alpine"), &token, NOW + MAX_TOKEN_AGE_SECONDS + 1),
        Err(TokenError::Expired)
    );
    assert!(
        signer
            .verify(&tenant("alpine"), &token, NOW - MAX_CLOCK_SKEW_SECONDS)
            .is_ok()
    );
    assert_eq!(
        signer.verify(&tenant("alpine"), &token, NOW - MAX_CLOCK_SKEW_SECONDS - 1),
        Err(TokenError::Malformed)
    );
}

#[test]
fn rotation_signs_with_the_new_key_and_still_accepts_the_old_until_it_leaves_the_ring() {
    let before = signer_k1();
    let old = token_for(&before, "alpine", "zoe@example.com", NOW);
    let rotated = UnsubscribeSigner::new(ring(serde_json::json!({
        "current": "k2", "k1": SECRET_1, "k2": SECRET_2
    })));
    let new = token_for(&rotated, "alpine", "zoe@example.com", NOW);
    assert_ne!(old, new);
    assert!(rotated.verify(&tenant("alpine"), &old, NOW).is_ok());
    assert!(rotated.verify(&tenant("alpine"), &new, NOW).is_ok());
    assert_eq!(
        before.verify(&tenant("alpine"), &new, NOW),
        Err(TokenError::UnknownKey)
    );
    let retired =
        UnsubscribeSigner::new(ring(serde_json::json!({"current": "k2", "k2": SECRET_2})));
    assert_eq!(
        retired.verify(&tenant("alpine"), &old, NOW),
        Err(TokenError::UnknownKey)
    );
}

#[test]
fn a_key_ring_without_a_usable_current_key_is_refused() {
    for (json, expected) in [
        ("[]", "not a JSON object"),
        (r#"{"k1": "x"}"#, "fewer than"),
        (&format!(r#"{{"k1": "{SECRET_1}"}}"#), "names no key"),
        (
            &format!(r#"{{"current": "k2", "k1": "{SECRET_1}"}}"#),
            "names no key",
        ),
        (
            &format!(r#"{{"current": "k#1", "k#1": "{SECRET_1}"}}"#),
            "is not 1 to",
        ),
    ] {
        let error = KeyRing::from_json(json).unwrap_err();
        assert!(error.to_string().contains(expected), "{json}: {error}");
    }
    let debug = format!(
        "{:?}",
        ring(serde_json::json!({"current": "k1", "k1": SECRET_1}))
    );
    assert!(!debug.contains(SECRET_1), "{debug}");
}

struct World {
    unsubscribes: Unsubscribes,
    directory: Arc<MemoryDirectory>,
    counters: Arc<MemoryFeedbackCounters>,
    signer: Arc<UnsubscribeSigner>,
}

fn world() -> World {
    let directory = Arc::new(MemoryDirectory::default());
    let counters = Arc::new(MemoryFeedbackCounters::default());
    let signer = Arc::new(signer_k1());
    let clock = Arc::new(ManualClock::new(
        time::OffsetDateTime::from_unix_timestamp(NOW + 3600).unwrap(),
    ));
    World {
        unsubscribes: Unsubscribes::new(
            signer.clone(),
            directory.clone(),
            Some(counters.clone()),
            clock,
        ),
        directory,
        counters,
        signer,
    }
}

#[tokio::test]
async fn unsubscribing_suppresses_once_and_counts_once() {
    let w = world();
    let token = token_for(&w.signer, "alpine", "zoe@example.com", NOW);
    let alpine = tenant("alpine");
    let claim = w.unsubscribes.inspect(&alpine, &token).unwrap();
    assert_eq!(claim.address, "zoe@example.com");
    assert_eq!(
        w.directory.get(&alpine, "zoe@example.com").await.unwrap(),
        None,
        "inspecting changes nothing"
    );
    let first = w.unsubscribes.unsubscribe(&alpine, &token).await.unwrap();
    assert!(first.newly_added);
    let second = w.unsubscribes.unsubscribe(&alpine, &token).await.unwrap();
    assert!(!second.newly_added);
    let entry = w
        .directory
        .get(&alpine, "zoe@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.reason, SuppressionReason::Unsubscribed);
    assert_eq!(entry.detail.as_deref(), Some("spring"));
    assert_eq!(entry.since, NOW + 3600);
    let counts = w
        .counters
        .campaign_counts(&alpine, &campaign())
        .await
        .unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!(counts[0].0, "B");
    assert_eq!(counts[0].1.unsubscribed, 1);
}

#[tokio::test]
async fn another_tenants_token_suppresses_nothing_anywhere() {
    let w = world();
    let harbor_token = token_for(&w.signer, "harbor", "zoe@example.com", NOW);
    let refused = w
        .unsubscribes
        .unsubscribe(&tenant("alpine"), &harbor_token)
        .await
        .unwrap_err();
    assert!(matches!(
        refused,
        UnsubscribeError::Token(TokenError::WrongTenant)
    ));
    assert!(!refused.is_retryable());
    for t in ["alpine", "harbor"] {
        assert_eq!(
            w.directory
                .get(&tenant(t), "zoe@example.com")
                .await
                .unwrap(),
            None
        );
    }
    let counts = w
        .counters
        .campaign_counts(&tenant("alpine"), &campaign())
        .await
        .unwrap();
    assert!(counts.is_empty());
}

#[tokio::test]
async fn an_address_already_suppressed_keeps_its_first_reason_and_is_not_counted() {
    let w = world();
    let alpine = tenant("alpine");
    w.directory
        .add(
            &alpine,
            &Suppression {
                address: "zoe@example.com".into(),
                reason: SuppressionReason::HardBounce,
                since: NOW - 10,
                detail: None,
            },
        )
        .await
        .unwrap();
    let token = token_for(&w.signer, "alpine", "zoe@example.com", NOW);
    let answer = w.unsubscribes.unsubscribe(&alpine, &token).await.unwrap();
    assert!(!answer.newly_added);
    let entry = w.directory.get(&alpine, "zoe@example.com").await.unwrap();
    assert_eq!(entry.unwrap().reason, SuppressionReason::HardBounce);
    assert!(
        w.counters
            .campaign_counts(&alpine, &campaign())
            .await
            .unwrap()
            .is_empty()
    );
}
