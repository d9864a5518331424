//! Deliverability: what keeps every retailer's mail welcome at the mailbox providers.
//!
//! - [`suppression`]: a retailer's suppression list (who must never be mailed again, and why).
//! - [`counters`]: what the provider's event feedback counted, per campaign and variant and per
//!   tenant and day (the warm-up and the auto-pause read the daily ones).
//! - [`import`]: a retailer's CSV import into its list.
//! - [`unsubscribe`]: signed one-click unsubscribe links, their key ring, and the service that
//!   suppresses a link's recipient.
//! - [`ses_events`]: SES's event records as EventBridge delivers them, read.
//! - [`feedback`]: applying them: the send log's feedback, the counters, suppression.
//! - [`autopause`]: suspending a retailer whose rates cross the pause thresholds.
//! - [`warmup`]: each retailer's warm-up plan, the daily decision and the day's send cap.
//! - [`frequency_cap`]: the retailer's frequency cap at send time: each recipient sent takes a
//!   contact atomically (the campaigns engine reads the same history as a pre-filter).
//! - [`budget`]: the send budgets: the account's SES rate shared by every delivery, over each
//!   sending retailer's share.
//! - [`report`]: a retailer's warm-up and daily counts and rates, for the API and the console.
//!
//! Each port has its AWS adapter in `aws/` and its in-memory adapter in `testing/`.

pub mod autopause;
pub mod budget;
pub mod counters;
pub mod feedback;
pub mod frequency_cap;
#[cfg(feature = "api")]
pub mod import;
#[cfg(any(feature = "campaigns", feature = "deliver"))]
pub mod quiet_hours;
pub mod report;
pub mod ses_events;
pub mod suppression;
#[cfg(feature = "unsubscribe")]
pub mod unsubscribe;
pub mod warmup;
