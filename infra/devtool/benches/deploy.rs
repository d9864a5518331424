//! Deploy throughput: 100 templates × 350 retailers published to the local endpoint (moto).
//!
//! `infra/scripts/with-local-stack.sh cargo bench -p storecast-dev --bench deploy`
//! (`DEPLOY_TEMPLATES` and `DEPLOY_RETAILERS` change the sizes). Without `--bench`, as under
//! `cargo test --all-targets`, it is a smoke run of 3 templates × 5 retailers. Prints the time of a first
//! deploy (everything new), of a re-run (everything unchanged), and of a deploy after a catalog
//! change of one template.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use futures::StreamExt;
use storecast::directory::TenantAdmin;
use storecast::domain::TemplateId;
use storecast::templates::Catalog;
use storecast::templates::deploy::{DeployOptions, deploy};
use storecast::testing::samples::sample_workspace;
use storecast_dev::local::provision::provision;
use storecast_dev::local::template::{Resolution, Stack};
use storecast_dev::local::{Clients, Endpoint};

fn size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The standard catalog's templates repeated under numbered ids up to `count` templates.
fn catalog_of(count: usize) -> Result<Catalog> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let standard = Catalog::load(&root.join("templates/catalog.yaml"))?;
    let templates = (0..count)
        .map(|i| {
            let mut template = standard.templates[i % standard.templates.len()].clone();
            template.id = TemplateId::parse(format!("{}-{i:03}", template.id))?;
            Ok(template)
        })
        .collect::<Result<_>>()?;
    Ok(Catalog {
        templates,
        snippets: standard.snippets,
        snippet_descriptions: standard.snippet_descriptions,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let templates = size("DEPLOY_TEMPLATES", if benchmarking { 100 } else { 3 });
    let retailers = size("DEPLOY_RETAILERS", if benchmarking { 350 } else { 5 });
    let endpoint = Endpoint::from_env().context(
        "the deploy bench needs the local endpoint: \
         infra/scripts/with-local-stack.sh cargo bench -p storecast-dev --bench deploy",
    )?;
    let sdk = endpoint.sdk_config().await;
    let clients = Clients::new(&sdk);
    let resolution = Resolution {
        stack_name: format!("bench-deploy-{}", std::process::id()),
        ..Resolution::default()
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let stack = Stack::load(&root.join("template.yaml"), &resolution)?;
    let sending_domain = stack.function("deliver")?.environment["SENDING_DOMAIN"].clone();
    provision(&clients, &stack, &sending_domain).await?;
    let table = storecast::aws::dynamodb::TenantsTable::new(
        clients.dynamodb.clone(),
        &stack.table("TenantsTable")?.name,
    );
    let workspaces: Vec<_> = (0..retailers)
        .map(|i| sample_workspace(&format!("retailer-{i:04}"), &sending_domain))
        .collect();
    let mut puts = futures::stream::iter(&workspaces)
        .map(|w| table.put_workspace(w))
        .buffer_unordered(16);
    while let Some(result) = puts.next().await {
        result?;
    }
    let mut catalog = catalog_of(templates)?;
    println!(
        "deploy bench: {templates} templates × {retailers} retailers on {}",
        endpoint.url
    );

    for run in [
        "first deploy (all new)",
        "re-run (all unchanged)",
        "one template changed",
    ] {
        if run == "one template changed" {
            catalog.templates[0]
                .sources
                .html
                .push_str("<!-- revised -->");
        }
        let started = Instant::now();
        let report = deploy(&catalog, &table, &table, &DeployOptions::default()).await?;
        let elapsed = started.elapsed();
        anyhow::ensure!(report.is_success(), "{}", report.to_text());
        println!(
            "{run:<24} {:>7.1} s  {:>6} versions published ({:.0} versions/s)",
            elapsed.as_secs_f64(),
            report.published,
            report.published as f64 / elapsed.as_secs_f64().max(1e-9)
        );
    }
    Ok(())
}
