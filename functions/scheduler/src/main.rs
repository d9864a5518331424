//! Every minute (EventBridge schedule): starts the scheduled launches that are due, holding
//! those that fall in the retailer's quiet hours, and puts deferred send batches back on the
//! stream once due. Logic: `storecast::campaigns::Campaigns::tick`.

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use storecast::config::CampaignsSettings;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let settings = CampaignsSettings::from_env()?;
    let sdk = storecast::aws::load_sdk_config().await;
    let campaigns = storecast::wiring::campaigns(&settings, &sdk);
    run(service_fn(|_event: LambdaEvent<serde_json::Value>| {
        let campaigns = &campaigns;
        async move {
            let summary = campaigns.tick().await?;
            tracing::info!(?summary, "scheduler tick");
            Ok::<_, Error>(summary)
        }
    }))
    .await
}
