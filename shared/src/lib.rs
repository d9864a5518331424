//! Storecast: the library behind every function. Logic lives here and is testable without AWS;
//! the functions under `functions/` only translate Lambda events and call into it. Where each
//! capability lives: docs/architecture.md, "Where things live".

#[cfg(feature = "api")]
pub mod api;
#[cfg(feature = "availability")]
pub mod availability;
pub mod aws;
#[cfg(feature = "campaigns")]
pub mod campaigns;
pub mod channels;
pub mod clock;
pub mod config;
pub mod costs;
pub mod deliverability;
pub mod directory;
pub mod domain;
pub mod error;
#[cfg(feature = "scoring-http")]
pub mod http;
pub mod metrics;
pub mod onboarding;
pub mod pipeline;
pub mod random;
#[cfg(any(feature = "campaigns", feature = "availability"))]
pub mod ranged_lines;
#[cfg(feature = "render")]
pub mod render;
pub mod templates;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod wiring;
