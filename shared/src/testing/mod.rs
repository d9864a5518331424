//! Test doubles and sample data, behind the `testing` feature: the in-memory adapters of every
//! port (one file per AWS adapter they stand in for), a hand-moved clock, and sample retailers,
//! templates and events. Tests, benchmarks and the dev tool enable the feature; the function
//! binaries do not, so production code cannot reach any of this.

mod archive;
#[cfg(feature = "availability")]
mod availability;
mod budget;
mod campaign_store;
mod campaigns;
mod clock;
mod email;
mod feedback;
#[cfg(feature = "availability")]
mod found_rate;
#[cfg(feature = "availability")]
pub mod optimizer_sim;
mod parked_counts;
mod push;
mod push_applications;
mod redrive_jobs;
#[cfg(feature = "api")]
mod request_quota;
pub mod retail_template;
#[cfg(feature = "api")]
mod retailer_snippets;
pub mod samples;
#[cfg(feature = "availability")]
mod score_exports;
#[cfg(feature = "availability")]
mod scoring;
mod send_log;
pub mod simulation;
mod stream;
#[cfg(feature = "availability")]
mod sync_units;
mod tenants;
mod unsubscribe;
#[cfg(feature = "api")]
mod uploads;
mod warmup;
mod workspaces;

use std::sync::Mutex;

pub use archive::MemoryArchive;
#[cfg(feature = "availability")]
pub use availability::{MemoryConfigStore, MemoryScoreStore};
pub use budget::{FixedQuota, MemoryBudgetStore};
pub use campaign_store::{MemoryCampaignStore, MemoryChunkQueue};
pub use campaigns::{MemoryAudienceSource, MemoryContactHistory};
pub use clock::ManualClock;
pub use email::{MemoryEmailProvider, ScriptedFailure};
pub use feedback::{MemoryFeedbackCounters, MemoryFeedbackLog};
#[cfg(feature = "availability")]
pub use found_rate::{MemoryFoundRateFeedback, MemoryOptimizerReports};
pub use parked_counts::MemoryParkedCounts;
pub use push::{MemoryPushEndpoints, MemoryPushProvider, ScriptedPushFailure};
pub use push_applications::{MemoryPushApplication, MemoryPushApplications};
pub use redrive_jobs::MemoryRedriveJobs;
#[cfg(feature = "api")]
pub use request_quota::MemoryRequestQuota;
#[cfg(feature = "api")]
pub use retailer_snippets::MemoryRetailerSnippets;
pub use send_log::MemorySendLog;
pub use stream::MemoryStream;
pub use tenants::MemoryDirectory;
pub use unsubscribe::{TEST_KEY_RING, unsubscribe_signer};
#[cfg(feature = "api")]
pub use uploads::MemoryUploadSigner;
pub use warmup::{MemorySendCap, MemoryWarmupStore};
pub use workspaces::{MemorySendingWorkspaces, MemoryWorkspace};
#[cfg(feature = "availability")]
pub use {
    score_exports::MemoryExportStore, scoring::MemoryScoreSource, sync_units::MemorySyncUnitQueue,
};

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
