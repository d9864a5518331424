//! A fixed unsubscribe key ring for tests, benches and previews run in process. Never used by a
//! function binary (the `testing` feature is not theirs): they read theirs from Secrets Manager.

use std::sync::Arc;

use crate::deliverability::unsubscribe::{KeyRing, UnsubscribeSigner};

/// The key ring of [`unsubscribe_signer`], as it would be stored in the secret.
pub const TEST_KEY_RING: &str =
    r#"{"current": "test1", "test1": "storecast-test-unsubscribe-key-0123456789abcdef"}"#;

pub fn unsubscribe_signer() -> Arc<UnsubscribeSigner> {
    Arc::new(UnsubscribeSigner::new(
        KeyRing::from_json(TEST_KEY_RING).expect("the test key ring is valid"),
    ))
}
