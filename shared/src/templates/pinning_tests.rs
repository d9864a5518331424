//! Snippets through publishing: the catalog checks them, a version pins the ones it reaches, and
//! a later snippet edit never changes a version already published.

use std::collections::HashMap;
use std::sync::Arc;

use super::deploy::{DeployOptions, deploy};
use super::{Catalog, CatalogError, TemplateService};
use crate::directory::TenantAdmin;
use crate::domain::{FieldValue, TemplateId, TemplateRef, TenantId};
use crate::render::{CompiledTemplate, RenderContext, RenderedMessage};
use crate::templates::ports::TemplateStore;
use crate::testing::MemoryDirectory;
use crate::testing::samples::sample_workspace;

const YAML: &str = "snippets:
  footer: { description: the footer }
  signature: {}
templates:
  uses:
    parts: [subject, email.html, email.txt]
    retailers: all
    variables:
      sender: { type: string, default: The team }
  plain:
    parts: [subject, email.html, email.txt]
    retailers: all
";

fn files(footer: &str) -> HashMap<String, String> {
    [
        ("snippets/footer.liquid", footer),
        ("snippets/signature.liquid", "-- {{ vars.sender }}"),
        ("uses/subject.liquid", "Hello"),
        (
            "uses/email.html.liquid",
            "<p>hi</p>{% render 'footer', link: unsubscribe_url %}",
        ),
        ("uses/email.txt.liquid", "hi\n{% render 'footer' %}"),
        ("plain/subject.liquid", "Plain"),
        ("plain/email.html.liquid", "<p>plain</p>"),
        ("plain/email.txt.liquid", "plain"),
    ]
    .into_iter()
    .map(|(path, source)| (path.to_owned(), source.to_owned()))
    .collect()
}

fn parse(yaml: &str, files: HashMap<String, String>) -> Result<Catalog, CatalogError> {
    Catalog::parse(yaml, |path| {
        files
            .get(path)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, path.to_owned()))
    })
}

fn catalog(footer: &str) -> Catalog {
    parse(YAML, files(footer)).unwrap()
}

fn problems(result: Result<Catalog, CatalogError>) -> Vec<String> {
    match result {
        Err(CatalogError::Invalid { problems }) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

fn id(id: &str) -> TemplateId {
    TemplateId::parse(id).unwrap()
}

fn alpine() -> TenantId {
    TenantId::parse("alpine").unwrap()
}

fn render_html(version: &crate::domain::TemplateVersion) -> String {
    let template = CompiledTemplate::compile(version).unwrap();
    let context: FieldValue =
        serde_json::from_value(serde_json::json!({"unsubscribe_url": "https://u.example/x"}))
            .unwrap();
    let mut out = RenderedMessage::default();
    template
        .render(&RenderContext::from_value(&context), &mut out)
        .unwrap();
    out.html
}

#[test]
fn a_template_pins_the_snippets_it_reaches_and_they_render_with_its_variables() {
    let catalog = catalog("<a href=\"{{ link }}\">u</a>{% render 'signature' %}");

    let uses = catalog.template(&id("uses")).unwrap();
    let plain = catalog.template(&id("plain")).unwrap();

    assert_eq!(
        uses.snippets.keys().collect::<Vec<_>>(),
        ["footer", "signature"]
    );
    assert!(plain.snippets.is_empty(), "plain reaches no snippet");
    assert_eq!(catalog.snippets.len(), 2);
    let version = uses.version_for(&alpine(), 1, &Default::default()).unwrap();
    assert_eq!(version.snippets, uses.snippets);
    assert_eq!(
        render_html(&version),
        "<p>hi</p><a href=\"https://u.example/x\">u</a>-- The team"
    );
}

#[test]
fn a_missing_snippet_is_a_catalog_problem_naming_it() {
    let mut files = files("bye");
    files.insert(
        "plain/email.html.liquid".into(),
        "<p>{% render 'fotter' %}</p>".into(),
    );

    let problems = problems(parse(YAML, files));

    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with("plain: email.html"),
        "{}",
        problems[0]
    );
    assert!(
        problems[0].contains("the snippet `fotter` does not exist"),
        "{}",
        problems[0]
    );
}

#[test]
fn a_declared_snippet_without_its_file_or_with_a_bad_name_is_a_problem() {
    let yaml = YAML.replace(
        "  signature: {}",
        "  signature: {}\n  Bad/Name: {}\n  gone: {}",
    );

    let problems = problems(parse(&yaml, files("bye")));

    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].contains("snippet name \"Bad/Name\""),
        "{problems:#?}"
    );
    assert!(
        problems[1].contains("cannot read snippets/gone.liquid"),
        "{problems:#?}"
    );
}

#[test]
fn a_snippet_using_a_variable_its_template_does_not_declare_is_a_problem() {
    let problems = problems(parse(YAML, files("{{ vars.missing }}")));

    assert_eq!(
        problems,
        ["uses: snippet footer uses vars.missing, which is not declared"]
    );
}

#[test]
fn a_version_whose_pinned_snippet_is_gone_does_not_compile_and_the_error_names_it() {
    let catalog = catalog("bye");
    let mut version = catalog
        .template(&id("uses"))
        .unwrap()
        .version_for(&alpine(), 1, &Default::default())
        .unwrap();
    version.snippets.remove("footer");

    let error = CompiledTemplate::compile(&version).unwrap_err();

    assert!(
        error
            .to_string()
            .contains("the snippet `footer` does not exist"),
        "{error}"
    );
}

#[test]
fn the_standard_templates_share_the_librarys_header_and_footers() {
    let catalog = super::catalog::standard().unwrap();
    for template in &catalog.templates {
        let expected: &[&str] = if template.id.as_str() == "weekly-offers" {
            &[]
        } else {
            &["footer", "header", "text_footer"]
        };
        assert_eq!(
            template.snippets.keys().collect::<Vec<_>>(),
            expected,
            "{}",
            template.id
        );
    }
}

#[tokio::test]
async fn given_a_snippet_edit_then_published_versions_keep_theirs_and_only_templates_using_it_are_republished()
 {
    let directory = Arc::new(MemoryDirectory::default());
    directory
        .put_workspace(&sample_workspace("alpine", "mail.storecast.example"))
        .await
        .unwrap();
    let options = DeployOptions::default();
    let first = deploy(
        &catalog("old footer"),
        directory.as_ref(),
        directory.as_ref(),
        &options,
    )
    .await
    .unwrap();
    assert_eq!(first.published, 2, "{}", first.to_text());

    let second = deploy(
        &catalog("new footer"),
        directory.as_ref(),
        directory.as_ref(),
        &options,
    )
    .await
    .unwrap();

    assert!(second.is_success(), "{}", second.to_text());
    let alpine_report = &second.retailers[0];
    assert_eq!(alpine_report.unchanged, [id("plain")]);
    assert_eq!(alpine_report.changed.len(), 1);
    assert_eq!(alpine_report.changed[0].template, id("uses"));
    let pinned = directory
        .template_version(
            &alpine(),
            &TemplateRef {
                id: id("uses"),
                version: 1,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(render_html(&pinned), "<p>hi</p>old footer");
    let live = directory
        .live_template(&alpine(), &id("uses"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.template.version, 2);
    assert_eq!(render_html(&live), "<p>hi</p>new footer");

    // A marketer's save publishes the live version's snippets, not the library's of the day.
    let service = TemplateService::new(
        directory.clone(),
        directory.clone(),
        crate::testing::unsubscribe_signer(),
    );
    let sender = serde_json::json!({"sender": "Anna"});
    service
        .set_variables(&alpine(), &id("uses"), sender.as_object().unwrap().clone())
        .await
        .unwrap();
    let saved = directory
        .live_template(&alpine(), &id("uses"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.template.version, 3);
    assert_eq!(saved.snippets, live.snippets);
}
