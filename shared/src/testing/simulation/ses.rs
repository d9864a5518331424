//! SES as a delivery sees it, in virtual time: a latency per call, an account-wide maximum send
//! rate (a token bucket; a send past it is throttled) that GetAccount states, throttling storms,
//! and the faults an invocation was dealt (an answer lost after SES accepted the email, a crash
//! right after).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;

use super::invocation::{self, FaultAction, FaultPoint};
use super::{Faults, Ledger, VirtualClock};
use crate::channels::email::{EmailProvider, OutboundEmail};
use crate::clock::Clock;
use crate::deliverability::budget::{SendQuota, SendQuotaSource};
use crate::error::{Message, SendError, StoreError};

pub struct SimSes {
    pub rate_per_second: f64,
    pub latency: (Duration, Duration),
    pub clock: Arc<VirtualClock>,
    pub faults: Arc<Faults>,
    pub ledger: Arc<Ledger>,
    bucket: Mutex<(f64, time::OffsetDateTime)>,
}

impl SimSes {
    pub fn new(
        rate_per_second: f64,
        latency: (Duration, Duration),
        clock: Arc<VirtualClock>,
        faults: Arc<Faults>,
        ledger: Arc<Ledger>,
    ) -> Self {
        let now = clock.now();
        Self {
            rate_per_second,
            latency,
            clock,
            faults,
            ledger,
            bucket: Mutex::new((rate_per_second, now)),
        }
    }

    /// Takes one token from the account's bucket (refilled at the rate, one second of burst).
    fn admit(&self) -> bool {
        let now = self.clock.now();
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = (now - bucket.1).as_seconds_f64().max(0.0);
        bucket.0 = (bucket.0 + elapsed * self.rate_per_second).min(self.rate_per_second);
        bucket.1 = now;
        if bucket.0 >= 1.0 {
            bucket.0 -= 1.0;
            true
        } else {
            false
        }
    }

    fn latency(&self) -> Duration {
        let (low, high) = self.latency;
        self.faults.rng(|rng| rng.random_range(low..=high))
    }
}

fn throttled() -> SendError {
    SendError::Throttled {
        source: Message::boxed("Maximum sending rate exceeded."),
    }
}

#[async_trait]
impl EmailProvider for SimSes {
    async fn send(&self, email: &OutboundEmail) -> Result<String, SendError> {
        tokio::time::sleep(self.latency()).await;
        if self.faults.ses_storm(self.clock.now()) || !self.admit() {
            self.ledger.throttled();
            return Err(throttled());
        }
        let message_id = email
            .tags
            .iter()
            .find(|(name, _)| name == "message_id")
            .map(|(_, value)| value.clone())
            .unwrap_or_default();
        let provider_id = self.ledger.accepted(&message_id, self.clock.now());
        invocation::note_accepted(&message_id);
        if invocation::strike(FaultPoint::LostAnswer) == Some(FaultAction::LoseAnswer) {
            // Accepted, and the answer never arrives: the caller's timeout decides.
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
        if invocation::strike(FaultPoint::AfterSend) == Some(FaultAction::Crash) {
            return invocation::crash().await;
        }
        Ok(provider_id)
    }
}

/// GetAccount's `SendQuota`: the account's maximum send rate, no daily quota in the way.
#[async_trait]
impl SendQuotaSource for SimSes {
    async fn send_quota(&self) -> Result<SendQuota, StoreError> {
        Ok(SendQuota {
            max_send_rate: self.rate_per_second,
            max_24_hour_send: -1.0,
            sent_last_24_hours: 0.0,
        })
    }
}
