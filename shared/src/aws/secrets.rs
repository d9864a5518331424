//! The unsubscribe key ring in Secrets Manager: one GetSecretValue per cold start (`deliver`
//! signs with it, `api` verifies). The secret's string is the key ring's JSON
//! (`{"current": "<id>", "<id>": "<secret>", ...}`, see docs/deliverability.md, "Unsubscribe").

use crate::deliverability::unsubscribe::{KeyRing, KeyRingError};

/// Reads the key ring named by `secret_id` (its ARN in AWS, or its name).
pub async fn load_key_ring(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<KeyRing, KeyRingError> {
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        // Whatever the cause (throttled, unreachable, not found, not allowed), the cold start
        // fails with the SDK error as its source; Lambda starts the function again.
        .map_err(|error| KeyRingError::Unavailable {
            source: Box::new(error),
        })?;
    let text = output
        .secret_string()
        .ok_or_else(|| KeyRingError::Malformed {
            reason: "the secret has no SecretString".into(),
        })?;
    KeyRing::from_json(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::operation::get_secret_value::{
        GetSecretValueError, GetSecretValueOutput,
    };
    use aws_sdk_secretsmanager::types::error::ResourceNotFoundException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    #[tokio::test]
    async fn the_named_secret_is_read_and_parsed_and_a_missing_one_fails_the_start() {
        let ring = r#"{"current": "k1", "k1": "0123456789abcdef0123456789abcdef"}"#;
        let found = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
            .match_requests(|r| r.secret_id() == Some("arn:keys"))
            .then_output(move || GetSecretValueOutput::builder().secret_string(ring).build());
        let client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&found]);
        let loaded = load_key_ring(&client, "arn:keys").await.unwrap();
        assert_eq!(loaded.current_key_id(), "k1");

        let missing = mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_error(|| {
            GetSecretValueError::ResourceNotFoundException(
                ResourceNotFoundException::builder().build(),
            )
        });
        let client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&missing]);
        let error = load_key_ring(&client, "arn:keys").await.unwrap_err();
        assert!(matches!(error, KeyRingError::Unavailable { .. }));
        assert!(
            std::error::Error::source(&error).is_some(),
            "the SDK error is kept"
        );
    }
}
