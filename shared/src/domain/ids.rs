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

/// SES accepts message tag names and values of at most this many characters, each of
/// `[A-Za-z0-9_-]` (SES v2 `MessageTag`; the local endpoint does not check).
pub const MAX_MESSAGE_TAG_CHARS: usize = 256;

pub const MAX_TENANT_ID_CHARS: usize = 64;
pub const MAX_CAMPAIGN_ID_CHARS: usize = 64;
pub const MAX_VARIANT_ID_CHARS: usize = 32;
pub const MAX_TEMPLATE_ID_CHARS: usize = 64;
/// Retailers' own customer ids: long enough for the ids shops export, short enough that
/// `CONTACTS#<customer>` stays far below DynamoDB's 1,024-byte sort key.
pub const MAX_CUSTOMER_ID_CHARS: usize = 128;
pub const MAX_MESSAGE_ID_CHARS: usize = 64;
pub const MAX_BATCH_ID_CHARS: usize = 64;
pub const MAX_STORE_ID_CHARS: usize = 64;
/// Store and item ids together stay far below DynamoDB's 2,048-byte partition key.
pub const MAX_ITEM_ID_CHARS: usize = 128;
pub const MAX_MODEL_VERSION_CHARS: usize = 64;
pub const MAX_SCORE_COLUMN_CHARS: usize = 32;
pub const MAX_EXPORT_ID_CHARS: usize = 128;

// Tenant, campaign, variant and message ids are sent as SES tag values as they are.
const _: () = assert!(
    MAX_TENANT_ID_CHARS <= MAX_MESSAGE_TAG_CHARS
        && MAX_CAMPAIGN_ID_CHARS <= MAX_MESSAGE_TAG_CHARS
        && MAX_VARIANT_ID_CHARS <= MAX_MESSAGE_TAG_CHARS
        && MAX_TEMPLATE_ID_CHARS <= MAX_MESSAGE_TAG_CHARS
        && MAX_MESSAGE_ID_CHARS <= MAX_MESSAGE_TAG_CHARS
);

/// The characters an identifier may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdChars {
    /// `[A-Za-z0-9_-]`: what SES allows in a tag value and in its resource names, and safe in
    /// DynamoDB keys (joined with `#`) and S3 keys. Every id that can become a tag or a resource
    /// name uses it, so an id that parses is never refused by SES later.
    TagSafe,
    /// `[A-Za-z0-9._-]`: customer ids, which come from retailers' exports and only ever go into
    /// keys and the message id's hash, never into a tag.
    TagSafeAndDot,
}

impl IdChars {
    pub fn allows(self, byte: u8) -> bool {
        byte.is_ascii_alphanumeric()
            || byte == b'-'
            || byte == b'_'
            || (byte == b'.' && self == IdChars::TagSafeAndDot)
    }

    /// The OpenAPI `pattern` of an id of these characters.
    pub fn pattern(self) -> &'static str {
        match self {
            IdChars::TagSafe => "^[A-Za-z0-9_-]+$",
            IdChars::TagSafeAndDot => "^[A-Za-z0-9._-]+$",
        }
    }

    fn refusal(self) -> &'static str {
        match self {
            IdChars::TagSafe => "only ASCII letters, digits, '-' and '_' are allowed",
            IdChars::TagSafeAndDot => "only ASCII letters, digits, '-', '_' and '.' are allowed",
        }
    }
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr, $chars:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;
            pub const CHARS: IdChars = $chars;

            pub fn parse(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                validate_identifier(&value, $kind, $max, $chars)?;
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

        // By hand rather than derived: the derive cannot state a length bound on a newtype, and
        // the schema should say exactly what `parse` accepts.
        #[cfg(feature = "api")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(Some(1))
                    .max_length(Some($max))
                    .pattern(Some($chars.pattern()))
                    .into()
            }
        }

        #[cfg(feature = "api")]
        impl utoipa::ToSchema for $name {}
    };
}

/// Identifiers become parts of DynamoDB keys (joined with `#`), S3 keys and SES tag values, so
/// they are restricted to characters that are safe in all three.
fn validate_identifier(
    value: &str,
    kind: &'static str,
    max: usize,
    chars: IdChars,
) -> Result<(), InvalidId> {
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
    if !value.bytes().all(|b| chars.allows(b)) {
        return Err(InvalidId {
            kind,
            reason: chars.refusal(),
        });
    }
    Ok(())
}

identifier!(
    /// A retailer on the platform.
    TenantId,
    "tenant id",
    MAX_TENANT_ID_CHARS,
    IdChars::TagSafe
);
identifier!(
    CampaignId,
    "campaign id",
    MAX_CAMPAIGN_ID_CHARS,
    IdChars::TagSafe
);
identifier!(
    VariantId,
    "variant id",
    MAX_VARIANT_ID_CHARS,
    IdChars::TagSafe
);
identifier!(
    TemplateId,
    "template id",
    MAX_TEMPLATE_ID_CHARS,
    IdChars::TagSafe
);
identifier!(
    CustomerId,
    "customer id",
    MAX_CUSTOMER_ID_CHARS,
    IdChars::TagSafeAndDot
);
identifier!(
    /// Deterministic per tenant + campaign + customer + channel: see [`MessageId::derive`].
    MessageId,
    "message id",
    MAX_MESSAGE_ID_CHARS,
    IdChars::TagSafe
);
identifier!(BatchId, "batch id", MAX_BATCH_ID_CHARS, IdChars::TagSafe);
identifier!(
    /// One of a retailer's stores (a shelf the availability scores are about).
    StoreId,
    "store id",
    MAX_STORE_ID_CHARS,
    IdChars::TagSafeAndDot
);
identifier!(
    /// A retailer's item (product) id, as its catalog and exports spell it.
    ItemId,
    "item id",
    MAX_ITEM_ID_CHARS,
    IdChars::TagSafeAndDot
);
identifier!(
    /// A version of an availability model, e.g. `avail-2026-11`.
    ModelVersion,
    "model version",
    MAX_MODEL_VERSION_CHARS,
    IdChars::TagSafeAndDot
);
identifier!(
    /// The score column (DynamoDB attribute) a model version is stored in.
    ScoreColumn,
    "score column",
    MAX_SCORE_COLUMN_CHARS,
    IdChars::TagSafe
);

identifier!(
    /// One unload of a retailer's availability scores (`availability/exports/<tenant>/<id>/`).
    ExportId,
    "export id",
    MAX_EXPORT_ID_CHARS,
    IdChars::TagSafeAndDot
);

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

    /// An id of the same shape for a unit of work that is not a send batch (a launch chunk, a
    /// rebatch invocation's share of a campaign): what is counted per batch id (a campaign's
    /// usage) spreads over its shards the same way.
    pub fn of_work(parts: &[&str]) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part.as_bytes());
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
    fn ids_that_become_tags_refuse_a_dot_and_customer_ids_keep_it() {
        assert!(TenantId::parse("alpine.outfitters").is_err());
        assert!(CampaignId::parse("spring.sale").is_err());
        assert!(VariantId::parse("A.1").is_err());
        assert!(TemplateId::parse("weekly.offers").is_err());
        assert!(CampaignId::parse("spring_sale-2026").is_ok());
        assert!(CustomerId::parse("cust.0042").is_ok());
    }

    /// SES v2's rule for a tag name or value.
    fn is_valid_tag(value: &str) -> bool {
        (1..=MAX_MESSAGE_TAG_CHARS).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    proptest::proptest! {
        #[test]
        fn any_id_that_parses_is_a_valid_tag_value(value in "[ -~]{0,300}|[A-Za-z0-9._-]{1,300}") {
            for tag in [
                TenantId::parse(value.clone()).map(String::from),
                CampaignId::parse(value.clone()).map(String::from),
                VariantId::parse(value.clone()).map(String::from),
                TemplateId::parse(value.clone()).map(String::from),
                MessageId::parse(value.clone()).map(String::from),
            ]
            .into_iter()
            .flatten()
            {
                proptest::prop_assert!(is_valid_tag(&tag), "{tag:?}");
            }
        }
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
