//! Lazy refresh of item-availability scores: the stale scores of items shown in search,
//! fetched from the scoring service and written. Logic: `storecast::availability::refresh`.

use aws_lambda_events::event::kinesis::KinesisEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use storecast::availability::settings::ScoreRefreshSettings;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let settings = ScoreRefreshSettings::from_env()?;
    let sdk = storecast::aws::load_sdk_config().await;
    let refresher = storecast::wiring::score_refresh(&settings, &sdk)?;
    run(service_fn(|event: LambdaEvent<KinesisEvent>| {
        let refresher = &refresher;
        async move { Ok::<_, Error>(refresher.handle(event.payload).await?) }
    }))
    .await
}
