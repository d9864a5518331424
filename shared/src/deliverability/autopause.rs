//! Auto-pause: a retailer whose bounce or complaint rate crosses the pause thresholds is
//! suspended (our status and its SES configuration set's sending), its batches parked until an
//! operator reinstates it. One careless retailer must not reach SES's account-level review,
//! which would stop every retailer.

use async_trait::async_trait;

use super::counters::FeedbackCounts;
use crate::domain::TenantId;
use crate::error::StoreError;

/// SES puts an account under review at a 5 % bounce rate and a 0.1 % complaint rate; the
/// defaults pause a retailer exactly there, over at least `min_sent` messages (below that, a
/// handful of bounces is noise, not a list problem).
#[derive(Debug, Clone, PartialEq)]
pub struct PauseThresholds {
    pub min_sent: u64,
    /// Permanent bounces per message sent.
    pub hard_bounce_rate: f64,
    pub complaint_rate: f64,
}

impl Default for PauseThresholds {
    fn default() -> Self {
        Self {
            min_sent: 500,
            hard_bounce_rate: 0.05,
            complaint_rate: 0.001,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum PauseDecision {
    Healthy,
    Pause(String),
}

impl PauseThresholds {
    /// Decides on the counts of the window (today and yesterday).
    pub fn decide(&self, counts: &FeedbackCounts) -> PauseDecision {
        if counts.sent < self.min_sent {
            return PauseDecision::Healthy;
        }
        let bounce = counts.hard_bounce_rate();
        let complaint = counts.complaint_rate();
        if bounce >= self.hard_bounce_rate {
            return PauseDecision::Pause(format!(
                "hard bounce rate {:.2} % over {} sends reached {:.2} %",
                bounce * 100.0,
                counts.sent,
                self.hard_bounce_rate * 100.0
            ));
        }
        if complaint >= self.complaint_rate {
            return PauseDecision::Pause(format!(
                "complaint rate {:.3} % over {} sends reached {:.3} %",
                complaint * 100.0,
                counts.sent,
                self.complaint_rate * 100.0
            ));
        }
        PauseDecision::Healthy
    }
}

/// Suspends a retailer's sending.
#[async_trait]
pub trait TenantPauser: Send + Sync {
    /// Answers true when the tenant was active and is now suspended.
    async fn pause(&self, tenant: &TenantId, reason: &str) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(sent: u64, hard_bounced: u64, complained: u64) -> FeedbackCounts {
        FeedbackCounts {
            sent,
            hard_bounced,
            complained,
            ..FeedbackCounts::default()
        }
    }

    #[test]
    fn pauses_at_the_review_levels_and_not_below() {
        let thresholds = PauseThresholds::default();
        assert_eq!(
            thresholds.decide(&counts(1000, 49, 0)),
            PauseDecision::Healthy
        );
        assert!(matches!(
            thresholds.decide(&counts(1000, 50, 0)),
            PauseDecision::Pause(reason) if reason.contains("hard bounce rate 5.00 %")
        ));
        assert_eq!(
            thresholds.decide(&counts(10_000, 0, 9)),
            PauseDecision::Healthy
        );
        assert!(matches!(
            thresholds.decide(&counts(10_000, 0, 10)),
            PauseDecision::Pause(reason) if reason.contains("complaint rate")
        ));
    }

    #[test]
    fn too_few_sends_never_pause() {
        let thresholds = PauseThresholds::default();
        assert_eq!(
            thresholds.decide(&counts(499, 400, 100)),
            PauseDecision::Healthy
        );
    }
}
