//! AWS adapters of the ports. SDK types stay inside this module.

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod errors;
#[cfg(feature = "availability")]
pub mod found_rate;
pub mod kinesis;
#[cfg(feature = "campaigns")]
pub mod launch_queue;
pub mod s3;
#[cfg(feature = "api")]
pub mod s3_uploads;
#[cfg(feature = "availability")]
pub mod score_exports;
#[cfg(feature = "unsubscribe")]
pub mod secrets;
#[cfg(feature = "deliver")]
pub mod ses;
#[cfg(feature = "deliver")]
pub mod ses_account;
#[cfg(any(feature = "api", feature = "feedback"))]
pub mod ses_workspaces;
#[cfg(feature = "deliver")]
pub mod sns;
#[cfg(feature = "api")]
pub mod sns_applications;
#[cfg(any(feature = "campaigns", feature = "availability"))]
pub mod sqs;
#[cfg(feature = "availability")]
pub mod sync_units;

/// Connecting to any AWS endpoint gives up after this.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// One attempt of any call gives up after this (the SDK retries, within the operation timeout).
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// A whole call, retries included, gives up after this: no call can hang a function until its
/// timeout. The deliver function bounds its own calls tighter, by the time it has left.
pub const OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Loads the SDK configuration once per cold start (it resolves credentials and region; the
/// clients built from it are cheap). `AWS_ENDPOINT_URL` points every client at the local endpoint.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .load()
        .await
}
