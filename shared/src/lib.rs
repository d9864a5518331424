//! Storecast: the library behind every function. Logic lives here and is testable without AWS;
//! the functions under `functions/` only translate Lambda events and call into it.

pub mod domain;
pub mod render;
