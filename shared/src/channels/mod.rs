//! The channels messages go out on, each a provider port with its adapters: email today
//! ([`email`], raw MIME built by [`mime`], sent through SES v2 by `crate::aws::ses`).

pub mod email;
#[cfg(feature = "deliver")]
pub mod mime;
