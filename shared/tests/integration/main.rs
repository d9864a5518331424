//! The library's tests through its public API (in-memory adapters, no endpoint), one module per
//! capability, linked into one binary: a test binary links the whole library (about 80 MB each in a
//! debug build), so one per file filled the CI machine's disk.

mod api;
mod availability_optimizer;
mod deliver;
mod deliver_costs;
mod deliver_frequency_cap;
mod deliver_late_contacts;
mod deliver_snippets;
mod golden_liquid;
mod simulation;
mod support;
mod warmup;
