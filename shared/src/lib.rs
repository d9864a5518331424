//! Storecast: the library behind every function. Logic lives here and is testable without AWS;
//! the functions under `functions/` only translate Lambda events and call into it.

pub mod api;
pub mod aws;
pub mod campaigns;
pub mod clock;
pub mod config;
pub mod deliver;
pub mod domain;
pub mod error;
pub mod kinesis;
pub mod memory;
pub mod metrics;
pub mod mime;
pub mod onboarding;
pub mod ports;
pub mod rebatch;
pub mod redrive;
pub mod render;
pub mod samples;
pub mod send_log;
pub mod stream;
pub mod templates;
pub mod wiring;
