//! Publishing the standard catalog to every retailer it targets (`storecast-dev
//! deploy-templates`, run by CI/CD).
//!
//! Per retailer: every template it gets is rebuilt with the retailer's current overrides (read
//! from its live heads), compiled and rendered with sample data and the retailer's brand. Any
//! error fails that retailer only: none of its templates is published, the other retailers'
//! are. Versions whose content did not change are skipped. Everything that changed is then
//! written in bulk: versions first, live pointers after.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;
use serde_json::Map;

use super::{Catalog, CatalogTemplate, TemplateError};
use crate::directory::WorkspaceListing;
use crate::domain::content_hash;
use crate::domain::{TemplateId, TemplateVersion, TenantId, TenantWorkspace};
use crate::error::StoreError;
use crate::render::{CompiledTemplate, RenderError};
use crate::templates::ports::{LiveHead, RetailerSnippetStore, TemplatePublisher};
use crate::templates::snippets::repin;

/// Live heads are read for this many retailers at once.
const HEAD_READ_CONCURRENCY: usize = 16;
/// Retailers whose versions are built and written together.
const PUBLISH_GROUP_RETAILERS: usize = 50;

#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    /// Report what would change; write nothing.
    pub dry_run: bool,
    /// Only these retailers (all onboarded ones the catalog targets when empty).
    pub tenants: Vec<TenantId>,
}

/// One template that gets a new version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateChange {
    pub template: TemplateId,
    /// The live version it replaces (`None`: first publish).
    pub from: Option<u32>,
    pub to: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetailerReport {
    pub tenant: String,
    pub changed: Vec<TemplateChange>,
    pub unchanged: Vec<TemplateId>,
    /// Overrides of variables the catalog no longer declares, dropped: `template.variable`.
    pub dropped_overrides: Vec<String>,
    /// Why this retailer was not deployed; empty when it was.
    pub errors: Vec<String>,
}

impl RetailerReport {
    pub fn failed(&self) -> bool {
        !self.errors.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeployReport {
    pub dry_run: bool,
    pub retailers: Vec<RetailerReport>,
    /// Versions written (0 in a dry run).
    pub published: usize,
}

impl DeployReport {
    pub fn failed_retailers(&self) -> usize {
        self.retailers.iter().filter(|r| r.failed()).count()
    }

    pub fn is_success(&self) -> bool {
        self.failed_retailers() == 0
    }

    /// A human-readable report: one line per retailer, then every change and error.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let verb = if self.dry_run {
            "would publish"
        } else {
            "published"
        };
        let _ = writeln!(
            out,
            "{:<28} {:>8} {:>10}  status",
            "retailer", "changed", "unchanged"
        );
        for r in &self.retailers {
            let status = if r.failed() { "FAILED" } else { "ok" };
            let _ = writeln!(
                out,
                "{:<28} {:>8} {:>10}  {status}",
                r.tenant,
                r.changed.len(),
                r.unchanged.len()
            );
        }
        for r in &self.retailers {
            for c in &r.changed {
                let from = c.from.map_or("none".to_string(), |v| format!("v{v}"));
                let _ = writeln!(
                    out,
                    "{}: {verb} {} {from} -> v{}",
                    r.tenant, c.template, c.to
                );
            }
            for d in &r.dropped_overrides {
                let _ = writeln!(
                    out,
                    "{}: dropped override {d} (no longer declared)",
                    r.tenant
                );
            }
            for e in &r.errors {
                let _ = writeln!(out, "{}: ERROR {e}", r.tenant);
            }
        }
        let changed: usize = self.retailers.iter().map(|r| r.changed.len()).sum();
        let _ = writeln!(
            out,
            "{} retailers, {changed} template versions {verb}, {} retailers failed",
            self.retailers.len(),
            self.failed_retailers()
        );
        out
    }
}

/// Deploys `catalog`. Per-retailer problems are in the report; an `Err` means the store failed
/// (listing, reading heads or writing), and a re-run resumes (unchanged content is skipped).
pub async fn deploy(
    catalog: &Catalog,
    workspaces: &dyn WorkspaceListing,
    publisher: &dyn TemplatePublisher,
    options: &DeployOptions,
) -> Result<DeployReport, StoreError> {
    deploy_with_snippets(catalog, workspaces, publisher, None, options).await
}

/// [`deploy`], each retailer's versions pinning from the library's snippets with the retailer's
/// own over them (`snippets`; the library's alone when `None`), as the retailer's own publishes
/// do: a deploy never drops a retailer's snippet from its templates.
pub async fn deploy_with_snippets(
    catalog: &Catalog,
    workspaces: &dyn WorkspaceListing,
    publisher: &dyn TemplatePublisher,
    snippets: Option<&dyn RetailerSnippetStore>,
    options: &DeployOptions,
) -> Result<DeployReport, StoreError> {
    let onboarded = workspaces.workspaces().await?;
    let mut reports = Vec::new();
    let mut targets: Vec<TenantWorkspace> = Vec::new();
    if options.tenants.is_empty() {
        targets = onboarded
            .into_iter()
            .filter(|w| catalog.for_tenant(&w.tenant_id).next().is_some())
            .collect();
    } else {
        let mut by_id: HashMap<TenantId, TenantWorkspace> = onboarded
            .into_iter()
            .map(|w| (w.tenant_id.clone(), w))
            .collect();
        for tenant in &options.tenants {
            match by_id.remove(tenant) {
                Some(workspace) => targets.push(workspace),
                None => reports.push(RetailerReport {
                    tenant: tenant.to_string(),
                    errors: vec!["no onboarded workspace with this tenant id".into()],
                    ..RetailerReport::default()
                }),
            }
        }
    }
    deploy_to_with_snippets(
        catalog,
        targets,
        reports,
        publisher,
        snippets,
        options.dry_run,
    )
    .await
}

/// Deploys `catalog` to `targets` (onboarding calls it for the one retailer it creates), with
/// `reports` of retailers already refused.
pub async fn deploy_to(
    catalog: &Catalog,
    targets: Vec<TenantWorkspace>,
    reports: Vec<RetailerReport>,
    publisher: &dyn TemplatePublisher,
    dry_run: bool,
) -> Result<DeployReport, StoreError> {
    deploy_to_with_snippets(catalog, targets, reports, publisher, None, dry_run).await
}

async fn deploy_to_with_snippets(
    catalog: &Catalog,
    targets: Vec<TenantWorkspace>,
    mut reports: Vec<RetailerReport>,
    publisher: &dyn TemplatePublisher,
    snippets: Option<&dyn RetailerSnippetStore>,
    dry_run: bool,
) -> Result<DeployReport, StoreError> {
    type Read = Result<(Vec<LiveHead>, BTreeMap<String, String>), StoreError>;
    let heads: Vec<(TenantWorkspace, Read)> = futures::stream::iter(targets)
        .map(|workspace| async move {
            let read = async {
                let heads = publisher.live_heads(&workspace.tenant_id).await?;
                let own = match snippets {
                    Some(store) => store.retailer_snippets(&workspace.tenant_id).await?,
                    None => Vec::new(),
                };
                Ok((heads, own.into_iter().map(|s| (s.name, s.source)).collect()))
            }
            .await;
            (workspace, read)
        })
        .buffered(HEAD_READ_CONCURRENCY)
        .collect()
        .await;
    let mut own_snippets = HashMap::new();
    let heads = heads
        .into_iter()
        .map(|(workspace, read)| {
            read.map(|(heads, own)| {
                own_snippets.insert(workspace.tenant_id.clone(), own);
                (workspace, heads)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut builder = VersionBuilder {
        own_snippets,
        ..VersionBuilder::default()
    };
    let mut published = 0;
    // Built and written a group of retailers at a time, so the deploy holds a group's versions
    // in memory, not every retailer's (35,000 versions of 10 KB would be 350 MB).
    for group in heads.chunks(PUBLISH_GROUP_RETAILERS) {
        let mut to_publish = Vec::new();
        for (workspace, heads) in group {
            let span = tracing::info_span!("deploy", tenant_id = %workspace.tenant_id);
            let _entered = span.enter();
            let (report, versions) = builder.retailer(catalog, workspace, heads);
            if report.failed() {
                tracing::warn!(errors = ?report.errors, "retailer not deployed");
            } else {
                to_publish.extend(versions);
            }
            reports.push(report);
        }
        if !dry_run && !to_publish.is_empty() {
            published += publish_renumbering(
                catalog,
                publisher,
                &mut builder,
                group,
                &mut reports,
                to_publish,
            )
            .await?;
        }
    }
    reports.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    Ok(DeployReport {
        dry_run,
        retailers: reports,
        published,
    })
}

/// How many times versions refused by a concurrent publish are renumbered and written again.
pub const PUBLISH_ATTEMPTS: usize = 3;

/// Publishes `versions` (of the retailers in `group`); a retailer with a version refused
/// because a marketer saved the template meanwhile has its live heads read again and its
/// changed templates rebuilt on them (keeping the marketer's values, numbered after their
/// version), at most [`PUBLISH_ATTEMPTS`] times; still refused after that is an error in its
/// report. Answers the versions written.
async fn publish_renumbering(
    catalog: &Catalog,
    publisher: &dyn TemplatePublisher,
    builder: &mut VersionBuilder,
    group: &[(TenantWorkspace, Vec<LiveHead>)],
    reports: &mut [RetailerReport],
    mut versions: Vec<TemplateVersion>,
) -> Result<usize, StoreError> {
    let mut published = 0;
    for attempt in 1..=PUBLISH_ATTEMPTS {
        let refused = publisher.publish_all(&versions).await?;
        published += versions.len() - refused.len();
        if refused.is_empty() {
            break;
        }
        let refused: Vec<TemplateVersion> =
            refused.into_iter().map(|i| versions[i].clone()).collect();
        versions = Vec::new();
        let tenants: std::collections::BTreeSet<&TenantId> =
            refused.iter().map(|v| &v.tenant_id).collect();
        for tenant in tenants {
            let Some((workspace, _)) = group.iter().find(|(w, _)| &w.tenant_id == tenant) else {
                continue;
            };
            let report = reports
                .iter_mut()
                .find(|r| r.tenant == tenant.as_str())
                .expect("every retailer of the group has a report");
            let refused_ids: Vec<&TemplateId> = refused
                .iter()
                .filter(|v| &v.tenant_id == tenant)
                .map(|v| &v.template.id)
                .collect();
            if attempt == PUBLISH_ATTEMPTS {
                report.errors.push(format!(
                    "{} kept being published concurrently; deploy again",
                    refused_ids
                        .iter()
                        .map(|id| id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                report
                    .changed
                    .retain(|c| !refused_ids.contains(&&c.template));
                continue;
            }
            tracing::info!(tenant_id = %tenant, "templates published concurrently; renumbering");
            let heads = publisher.live_heads(tenant).await?;
            let (rebuilt, mut rebuilt_versions) = builder.retailer(catalog, workspace, &heads);
            rebuilt_versions.retain(|v| refused_ids.contains(&&v.template.id));
            report
                .changed
                .retain(|c| !refused_ids.contains(&&c.template));
            report.changed.extend(
                rebuilt
                    .changed
                    .into_iter()
                    .filter(|c| refused_ids.contains(&&c.template)),
            );
            report.errors.extend(rebuilt.errors);
            versions.extend(rebuilt_versions);
        }
        if versions.is_empty() {
            break;
        }
    }
    Ok(published)
}

/// Builds and checks versions, compiling each (template, effective values) once and hashing each
/// (template, overrides) once: most retailers share the defaults.
#[derive(Default)]
struct VersionBuilder {
    compiled: HashMap<(TemplateId, String), Result<Arc<CompiledTemplate>, RenderError>>,
    hashes: HashMap<(TemplateId, String), String>,
    /// Each retailer's own snippets (name to source), over the library's for that retailer.
    own_snippets: HashMap<TenantId, BTreeMap<String, String>>,
}

impl VersionBuilder {
    fn retailer(
        &mut self,
        catalog: &Catalog,
        workspace: &TenantWorkspace,
        heads: &[LiveHead],
    ) -> (RetailerReport, Vec<TemplateVersion>) {
        let tenant = &workspace.tenant_id;
        let mut report = RetailerReport {
            tenant: tenant.to_string(),
            ..RetailerReport::default()
        };
        let heads: BTreeMap<&TemplateId, &LiveHead> =
            heads.iter().map(|h| (&h.template.id, h)).collect();
        let mut versions = Vec::new();
        for template in catalog.for_tenant(tenant) {
            let head = heads.get(&template.id).copied();
            let dropped = &mut report.dropped_overrides;
            match self.version(&catalog.snippets, template, workspace, head, dropped) {
                Ok(Some(version)) => {
                    report.changed.push(TemplateChange {
                        template: template.id.clone(),
                        from: head.map(|h| h.template.version),
                        to: version.template.version,
                    });
                    versions.push(version);
                }
                Ok(None) => report.unchanged.push(template.id.clone()),
                Err(error) => report.errors.push(format!("{}: {error}", template.id)),
            }
        }
        (report, versions)
    }

    /// The new version of `template` for the retailer, `None` when the live one has the same
    /// content.
    fn version(
        &mut self,
        catalog_snippets: &BTreeMap<String, String>,
        template: &CatalogTemplate,
        workspace: &TenantWorkspace,
        head: Option<&LiveHead>,
        dropped: &mut Vec<String>,
    ) -> Result<Option<TemplateVersion>, TemplateError> {
        let tenant = &workspace.tenant_id;
        // Overrides of variables the catalog dropped go with them; a kept variable whose value
        // no longer fits its (changed) type fails the retailer, to be fixed by hand.
        let mut overrides = Map::new();
        for (name, value) in head.map(|h| &h.overrides).into_iter().flatten() {
            if template.schema.iter().any(|spec| &spec.name == name) {
                overrides.insert(name.clone(), value.clone());
            } else {
                dropped.push(format!("{}.{name}", template.id));
            }
        }
        let number = head.map_or(1, |h| h.template.version + 1);
        let mut version = template.version_for(tenant, number, &overrides)?;
        let mut overrides_key = serde_json::to_string(&version.overrides).unwrap_or_default();
        if let Some(own) = self.own_snippets.get(tenant).filter(|own| !own.is_empty()) {
            let mut union = catalog_snippets.clone();
            union.extend(
                own.iter()
                    .map(|(name, source)| (name.clone(), source.clone())),
            );
            repin(&mut version, &union);
            // Versions pinning other snippets are other content: compiled and hashed apart.
            overrides_key.push_str(&serde_json::to_string(&version.snippets).unwrap_or_default());
        }
        let key = (template.id.clone(), overrides_key);
        let hash = self
            .hashes
            .entry(key.clone())
            .or_insert_with(|| content_hash(&version));
        let unchanged = head.is_some_and(|h| &h.content_hash == hash);
        let compiled = self
            .compiled
            .entry(key)
            .or_insert_with(|| CompiledTemplate::compile(&version).map(Arc::new))
            .clone()?;
        // Rendered with this retailer's brand even when unchanged: a brand edit can break a
        // template that rendered before, and the retailer should hear of it at deploy time.
        super::service::render_compiled_check(&compiled, tenant, Some(workspace))?;
        if unchanged {
            return Ok(None);
        }
        Ok(Some(version))
    }
}

#[cfg(test)]
mod tests;
