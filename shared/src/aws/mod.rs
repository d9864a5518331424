//! AWS adapters of the ports. SDK types stay inside this module.

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod errors;
pub mod kinesis;
pub mod s3;
#[cfg(feature = "deliver")]
pub mod ses;
#[cfg(feature = "api")]
pub mod ses_workspaces;
#[cfg(feature = "campaigns")]
pub mod sqs;

/// Loads the SDK configuration once per cold start (it resolves credentials and region; the
/// clients built from it are cheap). `AWS_ENDPOINT_URL` points every client at the local endpoint.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
