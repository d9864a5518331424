//! The optimizer's two ports: the day's found-rate feedback (objects listed, then each read as
//! a stream of chunks, so a large object is never held whole) and the run reports. Every call
//! names the retailer; adapters: `aws::found_rate` (S3) and `testing::found_rate` (memory).

use async_trait::async_trait;
use futures::stream::BoxStream;
use time::Date;

use super::report::OptimizerReport;
use crate::domain::TenantId;
use crate::error::StoreError;

/// The bytes of one feedback object as they arrive, compressed as stored.
pub type ChunkStream = BoxStream<'static, Result<Vec<u8>, StoreError>>;

/// One object of a day's feedback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackObject {
    pub key: String,
    pub size: u64,
}

#[async_trait]
pub trait FoundRateFeedback: Send + Sync {
    /// The objects under [`keys::feedback_prefix`] of `tenant` and `day`, in key order.
    async fn objects(
        &self,
        tenant: &TenantId,
        day: Date,
    ) -> Result<Vec<FeedbackObject>, StoreError>;

    /// Reads one object that `objects` listed for the same tenant; a key outside the tenant's
    /// prefix is refused.
    async fn open(
        &self,
        tenant: &TenantId,
        object: &FeedbackObject,
    ) -> Result<ChunkStream, StoreError>;
}

#[async_trait]
pub trait OptimizerReports: Send + Sync {
    /// Stores the report at [`keys::report`] of its tenant and day, replacing an earlier one.
    async fn put(&self, report: &OptimizerReport) -> Result<(), StoreError>;
    async fn get(
        &self,
        tenant: &TenantId,
        day: Date,
    ) -> Result<Option<OptimizerReport>, StoreError>;
}

/// Where the feedback and the reports live in the bucket.
pub mod keys {
    use time::Date;

    use crate::domain::TenantId;

    pub const FEEDBACK_PREFIX: &str = "availability/feedback/";
    pub const REPORT_PREFIX: &str = "availability/optimizer/";

    /// `yyyy-mm-dd`.
    pub fn day(day: Date) -> String {
        format!(
            "{:04}-{:02}-{:02}",
            day.year(),
            u8::from(day.month()),
            day.day()
        )
    }

    /// A `yyyy-mm-dd` day.
    pub fn parse_day(text: &str) -> Option<Date> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        Date::parse(text, &format).ok()
    }

    /// `availability/feedback/<tenant>/<yyyy-mm-dd>/`.
    pub fn feedback_prefix(tenant: &TenantId, on: Date) -> String {
        format!("{FEEDBACK_PREFIX}{tenant}/{}/", day(on))
    }

    /// `availability/feedback/<tenant>/`: every day's objects of one retailer.
    pub fn tenant_feedback_prefix(tenant: &TenantId) -> String {
        format!("{FEEDBACK_PREFIX}{tenant}/")
    }

    /// `availability/optimizer/<tenant>/<yyyy-mm-dd>.json`.
    pub fn report(tenant: &TenantId, on: Date) -> String {
        format!("{REPORT_PREFIX}{tenant}/{}.json", day(on))
    }
}
