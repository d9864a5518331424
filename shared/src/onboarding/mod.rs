//! Retailer onboarding: what the API's tenant endpoints call. A PUT creates (or updates) the
//! retailer's isolated sending workspace at SES and its workspace item; PATCH changes the
//! retailer's settings; suspend and reinstate stop and restart its sending, in the table and at
//! SES. See docs/onboarding.md.

#[cfg(any(feature = "api", feature = "feedback"))]
mod autopause;
#[cfg(any(feature = "api", feature = "feedback"))]
mod json_merge;
#[cfg(any(feature = "api", feature = "feedback"))]
pub mod push;
#[cfg(any(feature = "api", feature = "feedback"))]
mod service;
#[cfg(any(feature = "api", feature = "feedback"))]
mod service_push;
#[cfg(feature = "api")]
mod service_templates;
#[cfg(any(feature = "api", feature = "feedback"))]
mod settings;
#[cfg(any(feature = "api", feature = "feedback"))]
pub mod workspaces;

#[cfg(any(feature = "api", feature = "feedback"))]
pub use json_merge::merge_patch;
#[cfg(any(feature = "api", feature = "feedback"))]
pub use service::*;
#[cfg(feature = "api")]
pub use service_templates::StandardTemplates;

#[cfg(test)]
mod push_tests;
#[cfg(test)]
mod race_tests;
#[cfg(test)]
mod templates_tests;
#[cfg(test)]
mod tests;
