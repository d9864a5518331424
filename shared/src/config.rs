//! Configuration read from the environment once per cold start; a missing value fails the start.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or(ConfigError::Missing(name))
}

fn optional_number(name: &'static str, default: u64) -> Result<u64, ConfigError> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => {
            value.trim().parse().map_err(|e| ConfigError::Invalid {
                name,
                reason: format!("{value:?}: {e}"),
            })
        }
        _ => Ok(default),
    }
}

#[derive(Debug, Clone)]
pub struct RebatchSettings {
    pub send_batches_stream: String,
    pub archive_bucket: String,
}

impl RebatchSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            send_batches_stream: required("SEND_BATCHES_STREAM")?,
            archive_bucket: required("ARCHIVE_BUCKET")?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct DeliverSettings {
    pub tenants_table: String,
    pub delivery_table: String,
    pub archive_bucket: String,
    pub sending_domain: String,
    pub send_concurrency: usize,
    pub lease_margin: Duration,
}

impl DeliverSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            tenants_table: required("TENANTS_TABLE")?,
            delivery_table: required("DELIVERY_TABLE")?,
            archive_bucket: required("ARCHIVE_BUCKET")?,
            sending_domain: required("SENDING_DOMAIN")?,
            send_concurrency: optional_number("SEND_CONCURRENCY", 16)?.clamp(1, 256) as usize,
            lease_margin: Duration::from_secs(optional_number("LEASE_MARGIN_SECONDS", 30)?),
        })
    }

    #[cfg(any())]
    pub fn delivery_config(&self) -> crate::deliver::DeliveryConfig {
        let mut config = crate::deliver::DeliveryConfig::new(&self.sending_domain);
        config.send_concurrency = self.send_concurrency;
        config.lease_margin = self.lease_margin;
        config
    }
}
