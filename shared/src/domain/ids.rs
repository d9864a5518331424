//! Identifiers: newtypes parsed at the edge, so a value of `TenantId` has been checked once and
//! travels explicitly into every key, span and call after that.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{BatchGroup, Channel};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {kind}: {reason}")]
pub struct InvalidId {
    pub kind: &'static str,
    pub reason: &'static str,
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
        #[serde(try_from = "String", into = "String")]
        #[cfg_attr(feature = "api", schema(value_type = String))]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                validate_identifier(&value, $kind, $max)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// Identifiers become parts of DynamoDB keys (joined with `#`), S3 keys and SES tag values, so
/// they are restricted to characters that are safe in all three.
fn validate_identifier(value: &str, kind: &'static str, max: usize) -> Result<(), InvalidId> {
    if value.is_empty() {
        return Err(InvalidId {
            kind,
            reason: "empty",
        });
    }
    if value.len() > max {
        return Err(InvalidId {
            kind,
            reason: "too long",
        });
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(InvalidId {
            kind,
            reason: "only ASCII letters, digits, '-', '_' and '.' are allowed",
        });
    }
    Ok(())
}

identifier!(
    /// A retailer on the platform.
    TenantId,
    "tenant id",
    64
);
identifier!(CampaignId, "campaign id", 64);
identifier!(VariantId, "variant id", 32);
identifier!(TemplateId, "template id", 64);
identifier!(CustomerId, "customer id", 128);
identifier!(
    /// Deterministic per tenant + campaign + customer + channel: see [`MessageId::derive`].
    MessageId,
    "message id",
    64
);
identifier!(BatchId, "batch id", 64);

impl MessageId {
    /// The idempotency key of one message: the same customer in the same campaign on the same
    /// channel always gets the same id, however often the campaign event is redelivered.
    pub fn derive(
        tenant: &TenantId,
        campaign: &CampaignId,
        customer: &CustomerId,
        channel: Channel,
    ) -> Self {
        let mut hasher = Sha256::new();
        for part in [
            tenant.as_str(),
            campaign.as_str(),
            customer.as_str(),
            channel.as_str(),
        ] {
            hasher.update(part.as_bytes());
            hasher.update([0u8]);
        }
        let digest = hasher.finalize();
        Self(hex(&digest[..16]))
    }
}

impl BatchId {
    /// A batch is identified by its content: the same recipients of the same group get the same
    /// id, so a rebatch that is retried writes a batch the delivery side recognises.
    pub fn derive(group: &BatchGroup, message_ids: &[&MessageId]) -> Self {
        let mut hasher = Sha256::new();
        for part in [
            group.tenant_id.as_str(),
            group.campaign_id.as_str(),
            group.variant.as_str(),
            group.channel.as_str(),
            group.template.id.as_str(),
        ] {
            hasher.update(part.as_bytes());
            hasher.update([0u8]);
        }
        hasher.update(group.template.version.to_be_bytes());
        for id in message_ids {
            hasher.update(id.as_str().as_bytes());
            hasher.update([0u8]);
        }
        Self(hex(&hasher.finalize()[..12]))
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_reject_key_separators_and_empty_values() {
        assert!(TenantId::parse("acme-outdoor").is_ok());
        assert_eq!(
            TenantId::parse("").unwrap_err().reason,
            "empty",
            "an empty tenant id must never reach a key"
        );
        assert!(TenantId::parse("a#b").is_err());
        assert!(TenantId::parse("a/b").is_err());
        assert!(CampaignId::parse("x".repeat(65)).is_err());
    }

    #[test]
    fn message_id_is_stable_and_separates_its_parts() {
        let t = TenantId::parse("t1").unwrap();
        let c = CampaignId::parse("c1").unwrap();
        let a = MessageId::derive(&t, &c, &CustomerId::parse("u1").unwrap(), Channel::Email);
        let b = MessageId::derive(&t, &c, &CustomerId::parse("u1").unwrap(), Channel::Email);
        let push = MessageId::derive(&t, &c, &CustomerId::parse("u1").unwrap(), Channel::Push);
        assert_eq!(a, b);
        assert_ne!(a, push);
        let shifted = MessageId::derive(
            &TenantId::parse("t1c").unwrap(),
            &CampaignId::parse("1").unwrap(),
            &CustomerId::parse("u1").unwrap(),
            Channel::Email,
        );
        assert_ne!(a, shifted, "parts are separated, not concatenated");
        assert_eq!(a.as_str().len(), 32);
    }
}
