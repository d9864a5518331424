//! A retailer's settings checked as a whole (a PUT's, or a PATCH's result), and the seed list
//! normalised: what onboarding refuses before anything is written.

use super::workspaces::MAX_RESOURCE_NAME_CHARS;
use crate::domain::{
    MAX_FREQUENCY_CAP_WINDOW_DAYS, MAX_SEED_ADDRESSES, MAX_SEND_WEIGHT, SendShare, TenantSettings,
    check_email_address, normalise_address,
};

/// Brand variables: at most this many top-level keys ...
pub const MAX_BRAND_KEYS: usize = 50;
/// ... and at most this many bytes as JSON (they travel with every template render).
pub const MAX_BRAND_BYTES: usize = 16 * 1024;

/// A setting that is not valid; `field` names it as the request body does
/// (`settings.timezone`, `seed_list[2]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidSetting {
    pub field: String,
    pub reason: String,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> InvalidSetting {
    InvalidSetting {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The seed list as it is stored: each address trimmed and lower-cased, the first of each kept
/// in the order given.
pub fn normalise_seed_list(addresses: &[String]) -> Vec<String> {
    let mut kept: Vec<String> = Vec::with_capacity(addresses.len());
    for address in addresses {
        let address = normalise_address(address);
        if !kept.contains(&address) {
            kept.push(address);
        }
    }
    kept
}

/// Each entry an email address, at most [`MAX_SEED_ADDRESSES`] of them (after
/// [`normalise_seed_list`]).
fn validate_seed_list(field: &str, addresses: &[String]) -> Result<(), InvalidSetting> {
    if addresses.len() > MAX_SEED_ADDRESSES {
        return Err(invalid(
            field,
            format!("at most {MAX_SEED_ADDRESSES} addresses"),
        ));
    }
    for (index, address) in addresses.iter().enumerate() {
        if let Err(error) = check_email_address(address) {
            return Err(invalid(format!("{field}[{index}]"), error.to_string()));
        }
    }
    Ok(())
}

fn validate_send_share(field: &str, share: SendShare) -> Result<(), InvalidSetting> {
    if !(1..=MAX_SEND_WEIGHT).contains(&share.weight) {
        return Err(invalid(
            format!("{field}.weight"),
            format!("must be 1 to {MAX_SEND_WEIGHT}"),
        ));
    }
    if share.max_per_second == Some(0) {
        return Err(invalid(
            format!("{field}.max_per_second"),
            "must be at least 1",
        ));
    }
    Ok(())
}

/// `prefix` is `settings.` for a PUT body and empty for a PATCH, so the field names the body's.
pub fn validate_settings(prefix: &str, settings: &TenantSettings) -> Result<(), InvalidSetting> {
    let field = |name: &str| format!("{prefix}{name}");
    if jiff::tz::TimeZone::get(&settings.timezone).is_err() {
        return Err(invalid(
            field("timezone"),
            format!("{:?} is not an IANA time zone", settings.timezone),
        ));
    }
    if let Some(quiet) = settings.quiet_hours {
        if quiet.start_hour > 23 {
            return Err(invalid(field("quiet_hours.start_hour"), "must be 0 to 23"));
        }
        if quiet.end_hour > 23 {
            return Err(invalid(field("quiet_hours.end_hour"), "must be 0 to 23"));
        }
        if quiet.start_hour == quiet.end_hour {
            return Err(invalid(
                field("quiet_hours"),
                "start_hour and end_hour must differ",
            ));
        }
    }
    if let Some(cap) = settings.frequency_cap {
        if cap.max_messages < 1 {
            return Err(invalid(
                field("frequency_cap.max_messages"),
                "must be at least 1",
            ));
        }
        if !(1..=MAX_FREQUENCY_CAP_WINDOW_DAYS).contains(&cap.window_days) {
            return Err(invalid(
                field("frequency_cap.window_days"),
                format!("must be 1 to {MAX_FREQUENCY_CAP_WINDOW_DAYS}"),
            ));
        }
    }
    if let Some(pool) = &settings.sending_pool
        && (pool.is_empty()
            || pool.len() > MAX_RESOURCE_NAME_CHARS
            || !pool
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        return Err(invalid(
            field("sending_pool"),
            "must be 1 to 64 ASCII letters, digits, '-' or '_'",
        ));
    }
    if let Some(plan) = settings.warmup
        && let Err(error) = crate::deliverability::warmup::Ladder::new(plan)
    {
        return Err(invalid(
            field(&format!("warmup.{}", error.field)),
            error.reason,
        ));
    }
    if let Some(share) = settings.send_budget {
        validate_send_share(&field("send_budget"), share)?;
    }
    validate_seed_list(&field("seed_list"), &settings.seed_list)?;
    validate_brand(&field("brand"), &settings.brand)
}

fn validate_brand(
    field: &str,
    brand: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), InvalidSetting> {
    if brand.len() > MAX_BRAND_KEYS {
        return Err(invalid(field, format!("at most {MAX_BRAND_KEYS} keys")));
    }
    let bytes = serde_json::to_vec(brand).map_or(usize::MAX, |json| json.len());
    if bytes > MAX_BRAND_BYTES {
        return Err(invalid(
            field,
            format!("at most {MAX_BRAND_BYTES} bytes as JSON"),
        ));
    }
    Ok(())
}
