//! The account's rate: SES's sending limits read once per cold start and again every refresh
//! interval, of which the budget hands out a share; a configured rate when they cannot be read.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::ports::{SendQuota, SendQuotaSource};
use crate::clock::Clock;

/// A new SES production account's maximum send rate: the rate assumed when the account's own
/// cannot be read, unless configured otherwise.
pub const SES_DEFAULT_MAX_SEND_RATE: f64 = 14.0;
/// The push budget's rate when none is configured: SNS states its Publish quota per Region (no
/// API reads it, unlike SES's GetAccount), and this stays below every Region's; a deployment sets
/// its own (`PUSH_SEND_RATE`).
pub const SNS_DEFAULT_PUSH_RATE: f64 = 300.0;
/// The part of SES's limits the budget hands out; the rest is room for the sends' timing and
/// for anything else sending from the account.
pub const DEFAULT_ACCOUNT_SHARE: f64 = 0.9;
/// SES's limits are read again this long after the last read.
pub const QUOTA_REFRESH: Duration = Duration::from_secs(300);
/// After a failed read, the fallback rate is used this long before the next try.
pub const QUOTA_RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);
/// A read of SES's limits gives up after this (the batches of the container wait for it).
pub const QUOTA_READ_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetSettings {
    /// Sends a second assumed when SES's limits cannot be read.
    pub fallback_max_send_rate: f64,
    /// The part (0 to 1] of SES's rate and daily quota the budget hands out.
    pub account_share: f64,
    pub refresh: Duration,
}

impl Default for BudgetSettings {
    fn default() -> Self {
        Self {
            fallback_max_send_rate: SES_DEFAULT_MAX_SEND_RATE,
            account_share: DEFAULT_ACCOUNT_SHARE,
            refresh: QUOTA_REFRESH,
        }
    }
}

/// What the account allows now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Allowance {
    /// Sends a second, shared by every delivery.
    Rate(f64),
    /// The day's quota (its share) is used up, as of the last read: nothing until `until`.
    Exhausted { until: OffsetDateTime },
}

impl BudgetSettings {
    pub fn allowance(&self, quota: &SendQuota, now: OffsetDateTime) -> Allowance {
        // SES answers a negative daily quota for an account without one.
        let daily = quota.max_24_hour_send * self.account_share;
        if quota.max_24_hour_send > 0.0 && quota.sent_last_24_hours >= daily {
            return Allowance::Exhausted {
                until: now + self.refresh,
            };
        }
        Allowance::Rate((quota.max_send_rate * self.account_share).max(f64::MIN_POSITIVE))
    }

    fn fallback(&self) -> Allowance {
        Allowance::Rate(self.fallback_max_send_rate * self.account_share)
    }
}

struct Reading {
    allowance: Allowance,
    next_read: OffsetDateTime,
}

/// SES's limits, cached for the container.
pub struct AccountRate {
    source: Arc<dyn SendQuotaSource>,
    settings: BudgetSettings,
    clock: Arc<dyn Clock>,
    reading: tokio::sync::Mutex<Option<Reading>>,
}

impl AccountRate {
    pub fn new(
        source: Arc<dyn SendQuotaSource>,
        settings: BudgetSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            source,
            settings,
            clock,
            reading: tokio::sync::Mutex::new(None),
        }
    }

    /// The allowance of the last read, reading SES's limits again when it is due (one read at a
    /// time per container).
    pub async fn allowance(&self) -> Allowance {
        let mut reading = self.reading.lock().await;
        let now = self.clock.now();
        if let Some(last) = reading.as_ref()
            && now < last.next_read
        {
            return last.allowance;
        }
        let read = tokio::time::timeout(QUOTA_READ_TIMEOUT, self.source.send_quota()).await;
        let read = read.unwrap_or_else(|elapsed| {
            Err(crate::error::StoreError::Unavailable {
                store: "SES account",
                source: Box::new(elapsed),
            })
        });
        let fresh = match read {
            Ok(quota) => {
                let allowance = self.settings.allowance(&quota, now);
                tracing::info!(
                    max_send_rate = quota.max_send_rate,
                    max_24_hour_send = quota.max_24_hour_send,
                    sent_last_24_hours = quota.sent_last_24_hours,
                    ?allowance,
                    "SES sending limits read"
                );
                Reading {
                    allowance,
                    next_read: now + self.settings.refresh,
                }
            }
            Err(error) => {
                let allowance = self.settings.fallback();
                tracing::warn!(%error, ?allowance, "SES sending limits unreadable; using the configured rate");
                Reading {
                    allowance,
                    next_read: now + QUOTA_RETRY_AFTER_FAILURE.min(self.settings.refresh),
                }
            }
        };
        let allowance = fresh.allowance;
        *reading = Some(fresh);
        allowance
    }
}

/// A rate as configured, for a service whose limits no API states (SNS's Publish quota): no daily
/// quota, never unreadable.
pub struct ConfiguredRate(pub f64);

#[async_trait::async_trait]
impl SendQuotaSource for ConfiguredRate {
    async fn send_quota(&self) -> Result<SendQuota, crate::error::StoreError> {
        Ok(SendQuota {
            max_send_rate: self.0,
            max_24_hour_send: -1.0,
            sent_last_24_hours: 0.0,
        })
    }
}
