//! Storecast's local stack: provisions template.yaml's resources on the local endpoint, runs the
//! Kinesis event source mappings in process, the demo campaign, and the render tool.

pub mod demo;
pub mod esm;
pub mod events;
pub mod local;
pub mod local_auth;
pub mod provision;
pub mod render_tool;
pub mod template;
