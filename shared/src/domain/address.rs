//! What an address must be before it reaches a key or a send: bounded, and plausibly an
//! address. An export row that fails these is the retailer's data to fix, not a launch failure.

/// RFC 5321 (4.5.3.1.3): a path is at most 256 octets with its angle brackets, so an address at
/// most 254. It also keeps `SUPPRESSED#<address>` far below DynamoDB's 1,024-byte sort key.
pub const MAX_EMAIL_ADDRESS_OCTETS: usize = 254;
/// RFC 5321 (4.5.3.1.1): the local part is at most 64 octets.
pub const MAX_LOCAL_PART_OCTETS: usize = 64;
/// Device tokens are far shorter (APNs 64 hex digits, FCM about 160 characters); the bound keeps
/// a push campaign's suppression key within DynamoDB's sort key limit.
pub const MAX_PUSH_TOKEN_BYTES: usize = 512;

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidAddress {
    #[error("email address of {0} octets is over the {MAX_EMAIL_ADDRESS_OCTETS}-octet limit")]
    TooLong(usize),
    #[error("email address needs exactly one '@'")]
    NotOneAt,
    #[error("email address has an empty local part or one over {MAX_LOCAL_PART_OCTETS} octets")]
    LocalPart,
    #[error("email address domain must be a dotted name")]
    Domain,
    #[error("email address may not contain spaces or control characters")]
    Whitespace,
    #[error("push token of {0} bytes is over the {MAX_PUSH_TOKEN_BYTES}-byte limit")]
    PushTokenTooLong(usize),
}

/// A plausible addr-spec: one `@`, a local part of 1 to 64 octets, a domain with a dot between
/// non-empty labels, no spaces or control characters, at most 254 octets. Deliberately not the
/// full RFC 5322 grammar: SES refuses the rest per message, and this only has to stop rows that
/// would break a key or can never be delivered.
pub fn check_email_address(address: &str) -> Result<(), InvalidAddress> {
    if address.len() > MAX_EMAIL_ADDRESS_OCTETS {
        return Err(InvalidAddress::TooLong(address.len()));
    }
    if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(InvalidAddress::Whitespace);
    }
    let Some((local, domain)) = address.split_once('@') else {
        return Err(InvalidAddress::NotOneAt);
    };
    if domain.contains('@') {
        return Err(InvalidAddress::NotOneAt);
    }
    if local.is_empty() || local.len() > MAX_LOCAL_PART_OCTETS {
        return Err(InvalidAddress::LocalPart);
    }
    if !domain.contains('.') || domain.split('.').any(str::is_empty) {
        return Err(InvalidAddress::Domain);
    }
    Ok(())
}

pub fn check_push_token(token: &str) -> Result<(), InvalidAddress> {
    if token.len() > MAX_PUSH_TOKEN_BYTES {
        return Err(InvalidAddress::PushTokenTooLong(token.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_addresses_pass() {
        for address in [
            "ann@example.com",
            "o'brien+news@mail.example.co.uk",
            &format!("{}@example.com", "a".repeat(64)),
            &format!("a@{}.com", "b".repeat(248)),
        ] {
            assert_eq!(check_email_address(address), Ok(()), "{address}");
        }
    }

    #[test]
    fn addresses_that_would_break_a_key_or_never_deliver_are_refused() {
        let cases = [
            (
                format!("a@{}.com", "b".repeat(249)),
                InvalidAddress::TooLong(255),
            ),
            ("ann.example.com".into(), InvalidAddress::NotOneAt),
            ("ann@x@example.com".into(), InvalidAddress::NotOneAt),
            ("@example.com".into(), InvalidAddress::LocalPart),
            (
                format!("{}@example.com", "a".repeat(65)),
                InvalidAddress::LocalPart,
            ),
            ("ann@localhost".into(), InvalidAddress::Domain),
            ("ann@example..com".into(), InvalidAddress::Domain),
            ("ann@example.com.".into(), InvalidAddress::Domain),
            ("ann smith@example.com".into(), InvalidAddress::Whitespace),
            ("ann@exa\u{0}mple.com".into(), InvalidAddress::Whitespace),
        ];
        for (address, expected) in cases {
            assert_eq!(check_email_address(&address), Err(expected), "{address:?}");
        }
    }

    #[test]
    fn push_tokens_are_bounded() {
        assert!(check_push_token(&"f".repeat(163)).is_ok());
        assert!(check_push_token(&"f".repeat(MAX_PUSH_TOKEN_BYTES + 1)).is_err());
    }
}
