//! The standard template library and retailer-specific template versions.
//!
//! - [`catalog`]: `templates/catalog.yaml` and the sources beside it, parsed and checked.
//! - A retailer-specific version is a catalog template with the retailer's own variable values
//!   (overrides) over the template's defaults, published as an immutable [`TemplateVersion`]
//!   with a live pointer per tenant and template ([`crate::templates::ports::TemplatePublisher`]).
//! - [`snippets`]: which snippets of the library a template reaches; its versions pin them.
//! - [`retailer_snippets`]: a retailer's own snippets, over the library's for that retailer.
//! - [`service::TemplateService`]: what the API calls (variables, saving them, previews).
//! - [`test_send`]: a template mailed to an address of the retailer's seed list.
//! - [`deploy`]: publishes the catalog to every retailer it targets (`storecast-dev
//!   deploy-templates`).
//!
//! See docs/templates.md.

#[cfg(feature = "api")]
pub mod catalog;
#[cfg(feature = "api")]
pub mod deploy;
pub mod ports;
#[cfg(feature = "api")]
pub mod retailer_snippets;
#[cfg(feature = "api")]
pub mod sample_recipient;
#[cfg(feature = "api")]
pub mod service;
#[cfg(feature = "api")]
pub mod snippets;
#[cfg(feature = "api")]
pub mod test_send;
#[cfg(feature = "api")]
mod variables;

#[cfg(feature = "api")]
pub use catalog::{Catalog, CatalogError, CatalogTemplate, RetailerSelection};
#[cfg(feature = "api")]
pub use service::{
    Preview, PreviewCustomer, PreviewRequest, PushPayloadPreview, PushPreview, RenderedTest,
    TEST_SEND_CAMPAIGN, TemplateService, TemplateVariables,
};
#[cfg(feature = "api")]
pub use test_send::{TestSendError, TestSendRequest, TestSends, TestSent};

#[cfg(feature = "api")]
pub use variables::*;

#[cfg(all(test, feature = "api"))]
mod pinning_tests;
#[cfg(all(test, feature = "api"))]
mod retailer_snippets_tests;
