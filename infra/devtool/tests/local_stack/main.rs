//! The dev tool's tests against the local endpoint, one module per capability, linked into one
//! binary: a test binary links the whole library and the AWS SDKs (about 80 MB each in a debug
//! build), so one per file filled the CI machine's disk. The pipeline demo stays a binary of its
//! own: `demo.rs` records every request the endpoint takes, so nothing else may run beside it.
//! The API demo runs here beside the others: what its deliveries defer when the loaded endpoint
//! misses their bounds is redriven before its report is read, and the report counts what is
//! still deferred as on its way (`demos::api_deferred`).
//! Every test provisions its own stack name (`support::test_stack`), so they run in parallel.

mod support;

mod adapters;
mod api_demo;
mod availability_tables;
mod campaigns;
mod costs;
mod events;
mod feedback;
mod found_rate;
mod lifecycle;
mod onboarding;
mod optimizer_sim;
mod push;
mod render_tool;
mod retailer_snippets;
mod score_exports;
mod scoring;
mod send_budget;
mod stream_failures;
mod templates;
mod test_send;
mod warmup;
mod warmup_sim;
