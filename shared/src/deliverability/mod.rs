//! Deliverability: what keeps every retailer's mail welcome at the mailbox providers.
//!
//! - [`suppression`]: a retailer's suppression list (who must never be mailed again, and why).
//! - [`counters`]: what the provider's event feedback counted, per campaign and variant and per
//!   tenant and day (the warm-up and the auto-pause read the daily ones).
//! - [`warmup`]: each retailer's warm-up plan, the daily decision and the day's send cap.
//!
//! Each port has its AWS adapter in `aws/` and its in-memory adapter in `testing/`.

pub mod counters;
pub mod suppression;
pub mod warmup;
