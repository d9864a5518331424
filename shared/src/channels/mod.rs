//! The channels messages go out on, each a provider port with its adapters: email ([`email`],
//! raw MIME built by [`mime`], sent through SES v2 by `crate::aws::ses`) and push ([`push`],
//! published through Amazon SNS mobile push by `crate::aws::sns`).

pub mod email;
#[cfg(feature = "deliver")]
pub mod mime;
pub mod push;
