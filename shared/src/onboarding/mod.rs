//! Retailer onboarding: what the API's tenant endpoints call. A PUT creates (or updates) the
//! retailer's isolated sending workspace at SES and its workspace item; PATCH changes the
//! retailer's settings; suspend and reinstate stop and restart its sending, in the table and at
//! SES. See docs/onboarding.md.

#[cfg(feature = "api")]
mod service;
#[cfg(feature = "api")]
pub mod workspaces;

#[cfg(feature = "api")]
pub use service::*;

#[cfg(test)]
mod tests;
