//! Send budgets shared by every concurrent delivery (docs/deliverability.md, "Send budgets"):
//! the account's SES rate, read from SES, above a share for each tenant that is sending.
//!
//! - [`gcra`]: the state and its conditional writes, the same for every store: a GCRA per scope
//!   (the account, each tenant's assured share, a tenant's own ceiling).
//! - [`plan`]: how a take is decided: a batch's sends in one write, paced by the account,
//!   charged to the tenant's share or borrowed.
//! - [`ports`]: the shared state ([`BudgetStore`]) and SES's limits ([`SendQuotaSource`]).
//! - [`account`]: the account's rate, read again every refresh interval, with a fallback.
//! - [`announce`]: a tenant counted in the shares as soon as its batches are written (by the
//!   rebatcher), before it takes.
//! - [`service`]: a take: the plan, the conditional write, a new plan if another delivery came
//!   first.
//!
//! Delivery takes a batch's sends after the warm-up cap and before any send
//! (`pipeline::deliver`), waits for the sends it was granted up to [`MAX_BUDGET_WAIT`], and
//! defers what the budget cannot give within it.

pub mod account;
pub mod announce;
pub mod gcra;
pub mod plan;
pub mod ports;
pub mod service;

pub use account::{AccountRate, Allowance, BudgetSettings, ConfiguredRate};
pub use announce::{BudgetAnnouncer, ChannelAnnouncers};
pub use gcra::{BudgetState, BudgetWrite, TatChange, TenantBudget};
pub use ports::{BudgetStore, BudgetWritten, SendQuota, SendQuotaSource};
pub use service::{BudgetAnswer, BudgetCounts, SendBudgets, Waits};

/// A delivery waits at most this long for the sends the budget grants it (and never past the
/// time its invocation may still send); what cannot go within it is deferred.
pub const MAX_BUDGET_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

#[cfg(test)]
mod tests;
