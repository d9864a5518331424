//! Storecast's local stack: provisions template.yaml's resources on the local endpoint, runs the
//! Kinesis and SQS event source mappings in process, the scheduler's tick, the demo campaign, and
//! the render tool.

pub mod api_demo;
pub mod campaigns;
pub mod demo;
pub mod esm;
pub mod events;
pub mod local;
pub mod local_api;
pub mod local_auth;
pub mod provision;
pub mod render_tool;
pub mod sqs_esm;
pub mod template;
