//! Full sync of item-availability scores. On its schedule: every configured retailer's new
//! exports planned into units on the queue; from the queue: one unit synced. Logic:
//! `storecast::availability::sync` and `storecast::availability::sync_lambda`.

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use storecast::availability::settings::ScoreSyncSettings;
use storecast::availability::sync_lambda::{SyncInvocation, plan_all, process_units};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let settings = ScoreSyncSettings::from_env()?;
    let sdk = storecast::aws::load_sdk_config().await;
    let (sync, retailers) = storecast::wiring::score_sync(&settings, &sdk);
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let (sync, retailers) = (&sync, &retailers);
        async move {
            match SyncInvocation::of(event.payload) {
                SyncInvocation::Units(batch) => {
                    Ok::<_, Error>(serde_json::to_value(process_units(sync, batch).await)?)
                }
                SyncInvocation::Plan => {
                    let summary = plan_all(sync, retailers.as_ref()).await?;
                    tracing::info!(?summary, "sync planned");
                    summary.failures_as_error()?;
                    Ok(serde_json::to_value(summary)?)
                }
            }
        }
    }))
    .await
}
