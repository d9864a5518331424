//! Every minute (EventBridge schedule): starts the scheduled launches that are due, holding
//! those that fall in the retailer's quiet hours, and puts deferred send batches back on the
//! stream once due, every few seconds for most of the minute. Logic:
//! `storecast::campaigns::Campaigns::scheduler_minute`.

use std::time::{Duration, SystemTime};

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use storecast::campaigns::SCHEDULER_MINUTE;
use storecast::config::CampaignsSettings;

/// Left of the function's timeout when the last pass over the deferred batches starts.
const TIMEOUT_MARGIN: Duration = Duration::from_secs(8);

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let settings = CampaignsSettings::from_env()?;
    let sdk = storecast::aws::load_sdk_config().await;
    let campaigns = storecast::wiring::campaigns(&settings, &sdk);
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let campaigns = &campaigns;
        async move {
            let left = event
                .context
                .deadline()
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .saturating_sub(TIMEOUT_MARGIN);
            let summary = campaigns
                .scheduler_minute(left.min(SCHEDULER_MINUTE))
                .await?;
            tracing::info!(?summary, "scheduler minute");
            Ok::<_, Error>(summary)
        }
    }))
    .await
}
