//! One chunk of a campaign launch per launch-queue message: the audience rows of a byte range
//! become campaign events. Logic: `storecast::campaigns::Campaigns::handle_chunk_messages`.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use storecast::config::CampaignsSettings;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let settings = CampaignsSettings::from_env()?;
    let sdk = storecast::aws::load_sdk_config().await;
    let campaigns = storecast::wiring::campaigns(&settings, &sdk);
    run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let campaigns = &campaigns;
        async move { Ok::<_, Error>(campaigns.handle_chunk_messages(event.payload).await) }
    }))
    .await
}
