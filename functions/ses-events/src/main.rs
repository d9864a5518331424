//! SES's email-sending events, from the EventBridge rule on the default bus: the send log's
//! feedback, the counters, suppression and the auto-pause. An event that cannot be applied is
//! kept as a dead letter and answered as done; only a store failure fails the invocation, so
//! Lambda's asynchronous retries (then the on-failure queue) keep the event.
//! Logic: `storecast::deliverability::feedback::Feedback`.

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use storecast::config::FeedbackSettings;
use storecast::deliverability::feedback::FeedbackSummary;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let settings = FeedbackSettings::from_env()?;
    let sdk = storecast::aws::load_sdk_config().await;
    let feedback = storecast::wiring::feedback(&settings, &sdk);
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let feedback = &feedback;
        async move {
            let mut summary = FeedbackSummary::default();
            let applied = feedback.apply(&event.payload, &mut summary).await?;
            tracing::info!(?applied, ?summary, "SES event applied");
            Ok::<_, Error>(summary)
        }
    }))
    .await
}
