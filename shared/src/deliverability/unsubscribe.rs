//! Signed one-click unsubscribe links (RFC 8058): the token in each message's
//! `List-Unsubscribe` URL, the key ring that signs and verifies it, and the service behind the
//! API's public `/unsubscribe/{tenant}/{token}` routes.
//!
//! A token is base64url (no padding) of
//!
//! ```text
//! version (1) | key id | tenant | campaign | variant   each: length (1) + bytes
//! issued at (8, big-endian epoch seconds)
//! sealed recipient (the normalised address, AES-256-GCM-SIV, + 16-byte tag)
//! HMAC-SHA256 over everything before it (32)
//! ```
//!
//! The address never appears in the URL: it is encrypted under a key derived (HKDF-SHA256) from
//! the key ring's secret and the tenant, with everything before it as associated data. The
//! nonce is derived from that header too (so a message's link is the same each time it is
//! composed); AES-GCM-SIV is built for repeated nonces: the only thing a repeat reveals is that
//! two tokens of one campaign, variant and second carry the same address. The HMAC key is
//! derived from the same secret and the tenant, so a token of one retailer never verifies as
//! another's, and the check is constant time (`verify_slice`). See docs/deliverability.md,
//! "Unsubscribe".

use std::collections::BTreeMap;
use std::sync::Arc;

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::deliverability::counters::{CounterKey, Day, FeedbackCounters, FeedbackKind};
use crate::deliverability::suppression::{Suppression, SuppressionList, SuppressionReason};
use crate::domain::{CampaignId, MAX_EMAIL_ADDRESS_OCTETS, TenantId, VariantId};
use crate::error::{Retryable, StoreError};

type HmacSha256 = Hmac<Sha256>;

/// The token layout this build writes and reads.
pub const TOKEN_VERSION: u8 = 1;
/// How long after it was issued a link still unsubscribes: 180 days. The law asks for at least 30
/// (CAN-SPAM: an opt-out must work for 30 days after the send) and people unsubscribe from old
/// mail; a dead link only turns into a spam complaint. A retired key stays in the ring this long.
pub const MAX_TOKEN_AGE_SECONDS: i64 = 180 * 24 * 60 * 60;
/// A token issued this far ahead of the verifier's clock is still accepted (clock skew).
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;
/// Longest token accepted before decoding: the largest a valid one can be is about 640.
pub const MAX_TOKEN_CHARS: usize = 1024;
/// A key ring secret must carry at least this many bytes of key material.
pub const MIN_SECRET_BYTES: usize = 32;
/// Key ids are `[A-Za-z0-9_-]`, 1 to this many characters.
pub const MAX_KEY_ID_CHARS: usize = 16;
/// The key ring member naming the key that signs.
pub const CURRENT_KEY_MEMBER: &str = "current";

const MAC_BYTES: usize = 32;
const AEAD_TAG_BYTES: usize = 16;
const NONCE_BYTES: usize = 12;
const HKDF_SALT: &[u8] = b"storecast/unsubscribe/v1";
const MAC_INFO: &[u8] = b"mac";
const SEAL_INFO: &[u8] = b"seal";

/// Why a key ring secret cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("the key ring is not a JSON object of strings: {reason}")]
    Malformed { reason: String },
    #[error("the key ring's {CURRENT_KEY_MEMBER:?} names no key of the ring")]
    NoCurrentKey,
    #[error("key id {0:?} is not 1 to {MAX_KEY_ID_CHARS} characters of [A-Za-z0-9_-]")]
    BadKeyId(String),
    #[error("key {0:?} has fewer than {MIN_SECRET_BYTES} bytes")]
    ShortKey(String),
    #[error("the key ring could not be read")]
    Unavailable {
        #[source]
        source: crate::error::BoxError,
    },
}

impl Retryable for KeyRingError {
    fn is_retryable(&self) -> bool {
        matches!(self, KeyRingError::Unavailable { .. })
    }
}

/// Why a token was refused. None of them says anything about the address inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the unsubscribe link is malformed")]
    Malformed,
    #[error("the unsubscribe link was signed with a key that is no longer known")]
    UnknownKey,
    #[error("the unsubscribe link's signature does not match")]
    BadSignature,
    #[error("the unsubscribe link has expired")]
    Expired,
    #[error("the unsubscribe link belongs to another retailer")]
    WrongTenant,
}

impl TokenError {
    /// For metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::UnknownKey => "unknown_key",
            TokenError::BadSignature => "bad_signature",
            TokenError::Expired => "expired",
            TokenError::WrongTenant => "wrong_tenant",
        }
    }
}

/// What a link stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubscribeClaim {
    pub tenant: TenantId,
    pub campaign: CampaignId,
    pub variant: VariantId,
    /// Normalised.
    pub address: String,
    /// Epoch seconds.
    pub issued_at: i64,
}

/// The signing keys, by id, and which one signs: the JSON object
/// `{"current": "<id>", "<id>": "<secret>", ...}` kept in Secrets Manager.
pub struct KeyRing {
    current: String,
    keys: BTreeMap<String, Hkdf<Sha256>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeyRing {
    pub fn from_json(text: &str) -> Result<Self, KeyRingError> {
        let members: BTreeMap<String, String> =
            serde_json::from_str(text).map_err(|e| KeyRingError::Malformed {
                reason: e.to_string(),
            })?;
        let mut current = None;
        let mut keys = BTreeMap::new();
        for (id, secret) in members {
            if id == CURRENT_KEY_MEMBER {
                current = Some(secret);
                continue;
            }
            if id.is_empty()
                || id.len() > MAX_KEY_ID_CHARS
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(KeyRingError::BadKeyId(id));
            }
            if secret.len() < MIN_SECRET_BYTES {
                return Err(KeyRingError::ShortKey(id));
            }
            keys.insert(id, Hkdf::<Sha256>::new(Some(HKDF_SALT), secret.as_bytes()));
        }
        match current {
            Some(current) if keys.contains_key(&current) => Ok(Self { current, keys }),
            _ => Err(KeyRingError::NoCurrentKey),
        }
    }

    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    fn derive(&self, key_id: &str, tenant: &str, purpose: &[u8]) -> Option<[u8; 32]> {
        let hkdf = self.keys.get(key_id)?;
        let mut key = [0u8; 32];
        hkdf.expand_multi_info(&[purpose, b"/", tenant.as_bytes()], &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Some(key)
    }
}

/// What one link is signed for.
#[derive(Debug, Clone, Copy)]
pub struct LinkFor<'a> {
    pub tenant: &'a TenantId,
    pub campaign: &'a CampaignId,
    pub variant: &'a VariantId,
    /// Normalised with [`crate::domain::normalise_address`].
    pub address: &'a str,
    pub issued_at: i64,
}

/// Signs with the ring's current key and verifies with any key of the ring.
#[derive(Debug)]
pub struct UnsubscribeSigner {
    ring: KeyRing,
}

impl UnsubscribeSigner {
    pub fn new(ring: KeyRing) -> Self {
        Self { ring }
    }

    /// The token for one recipient's link. `None` when the address is over
    /// [`MAX_EMAIL_ADDRESS_OCTETS`] (it could not have been sent to).
    pub fn sign(&self, link: &LinkFor<'_>) -> Option<String> {
        if link.address.len() > MAX_EMAIL_ADDRESS_OCTETS {
            return None;
        }
        let key_id = self.ring.current_key_id();
        let mut token = Vec::with_capacity(256);
        token.push(TOKEN_VERSION);
        for part in [
            key_id,
            link.tenant.as_str(),
            link.campaign.as_str(),
            link.variant.as_str(),
        ] {
            token.push(part.len() as u8);
            token.extend_from_slice(part.as_bytes());
        }
        token.extend_from_slice(&link.issued_at.to_be_bytes());
        let tenant = link.tenant.as_str();
        let seal = self.ring.derive(key_id, tenant, SEAL_INFO)?;
        let sealed = Aes256GcmSiv::new(&seal.into())
            .encrypt(
                &nonce(&token),
                Payload {
                    msg: link.address.as_bytes(),
                    aad: &token,
                },
            )
            .ok()?;
        token.extend_from_slice(&sealed);
        let mut mac = self.mac(key_id, tenant)?;
        mac.update(&token);
        token.extend_from_slice(&mac.finalize().into_bytes());
        Some(URL_SAFE_NO_PAD.encode(token))
    }

    /// Checks the token's form, key, signature and age, and that it belongs to `tenant`.
    pub fn verify(
        &self,
        tenant: &TenantId,
        token: &str,
        now: i64,
    ) -> Result<UnsubscribeClaim, TokenError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| TokenError::Malformed)?;
        let header = Header::read(&bytes)?;
        let mut mac = self
            .mac(header.key_id, header.tenant)
            .ok_or(TokenError::UnknownKey)?;
        let (signed, tag) = bytes.split_at(bytes.len() - MAC_BYTES);
        mac.update(signed);
        mac.verify_slice(tag)
            .map_err(|_| TokenError::BadSignature)?;
        // Signed by us from here on.
        let claimed_tenant = TenantId::parse(header.tenant).map_err(|_| TokenError::Malformed)?;
        if &claimed_tenant != tenant {
            return Err(TokenError::WrongTenant);
        }
        if now - header.issued_at > MAX_TOKEN_AGE_SECONDS {
            return Err(TokenError::Expired);
        }
        if header.issued_at - now > MAX_CLOCK_SKEW_SECONDS {
            return Err(TokenError::Malformed);
        }
        let seal = self
            .ring
            .derive(header.key_id, header.tenant, SEAL_INFO)
            .ok_or(TokenError::UnknownKey)?;
        let (aad, sealed) = signed.split_at(header.length);
        let address = Aes256GcmSiv::new(&seal.into())
            .decrypt(&nonce(aad), Payload { msg: sealed, aad })
            .map_err(|_| TokenError::BadSignature)?;
        Ok(UnsubscribeClaim {
            tenant: claimed_tenant,
            campaign: CampaignId::parse(header.campaign).map_err(|_| TokenError::Malformed)?,
            variant: VariantId::parse(header.variant).map_err(|_| TokenError::Malformed)?,
            address: String::from_utf8(address).map_err(|_| TokenError::Malformed)?,
            issued_at: header.issued_at,
        })
    }

    fn mac(&self, key_id: &str, tenant: &str) -> Option<HmacSha256> {
        let key = self.ring.derive(key_id, tenant, MAC_INFO)?;
        Some(<HmacSha256 as Mac>::new_from_slice(&key).expect("HMAC takes any key length"))
    }
}

fn nonce(header: &[u8]) -> Nonce {
    let digest = Sha256::digest(header);
    *Nonce::from_slice(&digest[..NONCE_BYTES])
}

/// The fields before the sealed address, as borrowed from a decoded token.
struct Header<'a> {
    key_id: &'a str,
    tenant: &'a str,
    campaign: &'a str,
    variant: &'a str,
    issued_at: i64,
    /// Bytes the header takes.
    length: usize,
}

impl<'a> Header<'a> {
    fn read(bytes: &'a [u8]) -> Result<Self, TokenError> {
        let (&version, mut rest) = bytes.split_first().ok_or(TokenError::Malformed)?;
        if version != TOKEN_VERSION {
            return Err(TokenError::Malformed);
        }
        let mut parts = [""; 4];
        for part in &mut parts {
            let (&length, after) = rest.split_first().ok_or(TokenError::Malformed)?;
            let length = usize::from(length);
            if length == 0 || after.len() < length {
                return Err(TokenError::Malformed);
            }
            *part = std::str::from_utf8(&after[..length]).map_err(|_| TokenError::Malformed)?;
            rest = &after[length..];
        }
        let (time, rest) = rest.split_first_chunk::<8>().ok_or(TokenError::Malformed)?;
        // At least a one-octet address, sealed, and the MAC.
        if rest.len() < 1 + AEAD_TAG_BYTES + MAC_BYTES {
            return Err(TokenError::Malformed);
        }
        let [key_id, tenant, campaign, variant] = parts;
        Ok(Self {
            key_id,
            tenant,
            campaign,
            variant,
            issued_at: i64::from_be_bytes(*time),
            length: bytes.len() - rest.len(),
        })
    }
}

/// How an unsubscribe request ended.
#[derive(Debug, thiserror::Error)]
pub enum UnsubscribeError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the suppression list could not be updated")]
    Store(#[from] StoreError),
}

impl Retryable for UnsubscribeError {
    fn is_retryable(&self) -> bool {
        match self {
            UnsubscribeError::Token(_) => false,
            UnsubscribeError::Store(error) => error.is_retryable(),
        }
    }
}

/// What the one-click POST did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribed {
    pub claim: UnsubscribeClaim,
    /// False when the address was already on the list (a repeated click, or suppressed before).
    pub newly_added: bool,
}

/// Verifies links and suppresses their recipients.
pub struct Unsubscribes {
    signer: Arc<UnsubscribeSigner>,
    suppressions: Arc<dyn SuppressionList>,
    /// Where an unsubscribe is counted (`FeedbackKind::Unsubscribed`); `None` where no
    /// counters are wired.
    counters: Option<Arc<dyn FeedbackCounters>>,
    clock: Arc<dyn Clock>,
}

impl Unsubscribes {
    pub fn new(
        signer: Arc<UnsubscribeSigner>,
        suppressions: Arc<dyn SuppressionList>,
        counters: Option<Arc<dyn FeedbackCounters>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            signer,
            suppressions,
            counters,
            clock,
        }
    }

    /// The confirmation page's check: changes nothing.
    pub fn inspect(
        &self,
        tenant: &TenantId,
        token: &str,
    ) -> Result<UnsubscribeClaim, UnsubscribeError> {
        Ok(self
            .signer
            .verify(tenant, token, self.clock.now().unix_timestamp())?)
    }

    /// Suppresses the link's recipient for its tenant (reason `UNSUBSCRIBED`, the campaign as
    /// detail) and counts the unsubscribe once: a repeated click changes nothing.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn unsubscribe(
        &self,
        tenant: &TenantId,
        token: &str,
    ) -> Result<Unsubscribed, UnsubscribeError> {
        let now = self.clock.now().unix_timestamp();
        let claim = self.signer.verify(tenant, token, now)?;
        let newly_added = self
            .suppressions
            .add(
                &claim.tenant,
                &Suppression {
                    address: claim.address.clone(),
                    reason: SuppressionReason::Unsubscribed,
                    since: now,
                    detail: Some(claim.campaign.to_string()),
                },
            )
            .await?;
        if newly_added && let Some(counters) = &self.counters {
            let key = CounterKey {
                tenant: claim.tenant.clone(),
                campaign: claim.campaign.clone(),
                variant: claim.variant.to_string(),
                day: Day::of_epoch(now),
            };
            if let Err(error) = counters.increment(&key, FeedbackKind::Unsubscribed).await {
                // The address is suppressed, which is what matters; the count is a statistic.
                tracing::warn!(error = %crate::error::chain(&error), "unsubscribe not counted");
            }
        }
        tracing::info!(
            campaign_id = %claim.campaign,
            newly_added,
            "recipient unsubscribed"
        );
        Ok(Unsubscribed { claim, newly_added })
    }
}

#[cfg(test)]
#[path = "unsubscribe_tests.rs"]
mod tests;
