//! `render`: renders a template folder for each line of a JSON-lines file, exactly as delivery
//! does (same parser, filters, lenient lookups and variable baking). The snippets its `render`
//! and `include` tags name come from the `snippets/` folder beside the template's folder, as in
//! the template library, and are pinned as publishing pins them.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};
use storecast::domain::FieldValue;
use storecast::render::{CompiledTemplate, RenderContext, RenderedMessage, TemplateSources};
use storecast::templates::snippets::pinned_snippets;

#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub template: PathBuf,
    pub shared: Option<PathBuf>,
    pub data: PathBuf,
    pub out: Option<PathBuf>,
    pub bench: bool,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct RenderSummary {
    pub recipients: usize,
    pub files_written: usize,
    pub recipients_per_second: f64,
}

fn read_part(dir: &Path, name: &str) -> Result<Option<String>> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

pub fn load_template(dir: &Path) -> Result<TemplateSources> {
    let required = |name: &str| -> Result<String> {
        read_part(dir, name)?.with_context(|| format!("{} has no {name}", dir.display()))
    };
    Ok(TemplateSources {
        subject: required("subject.liquid")?,
        html: required("email.html.liquid")?,
        text: required("email.txt.liquid")?,
        push_title: read_part(dir, "push_title.liquid")?,
        push_body: read_part(dir, "push_body.liquid")?,
    })
}

/// The snippets of the library the template folder `dir` belongs to: every
/// `../snippets/<name>.liquid` (none when there is no such folder).
pub fn load_snippets(dir: &Path) -> Result<BTreeMap<String, String>> {
    let folder = dir
        .join("..")
        .join(storecast::templates::catalog::SNIPPETS_FOLDER);
    let entries = match std::fs::read_dir(&folder) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(error) => return Err(error).with_context(|| format!("reading {}", folder.display())),
    };
    let mut snippets = BTreeMap::new();
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".liquid"))
        else {
            continue;
        };
        let source = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        snippets.insert(name.to_owned(), source);
    }
    Ok(snippets)
}

/// The template folder `dir` compiled as publishing compiles it: with the snippets it reaches.
pub fn compile_template(
    dir: &Path,
    variables: &Map<String, Value>,
) -> Result<(TemplateSources, CompiledTemplate)> {
    let sources = load_template(dir)?;
    let parts = [&sources.subject, &sources.html, &sources.text]
        .into_iter()
        .chain(sources.push_title.iter())
        .chain(sources.push_body.iter())
        .map(String::as_str);
    let snippets = pinned_snippets(parts, &load_snippets(dir)?);
    let template = CompiledTemplate::compile_sources_with_snippets(&sources, variables, &snippets)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((sources, template))
}

pub fn run(options: &RenderOptions) -> Result<RenderSummary> {
    let mut shared = match &options.shared {
        Some(path) => read_shared_context(path)?,
        None => Map::new(),
    };
    // The retailer's variables are baked into the template, as when a version is published.
    let variables = match shared.remove("vars") {
        Some(Value::Object(vars)) => vars,
        Some(_) => bail!("\"vars\" in the shared context must be an object"),
        None => Map::new(),
    };
    let (_, template) = compile_template(&options.template, &variables)?;
    let contexts = read_contexts(&options.data, &shared)?;
    let mut summary = RenderSummary {
        recipients: contexts.len(),
        ..RenderSummary::default()
    };
    if options.bench {
        summary.recipients_per_second = render_rate(&template, &contexts)?;
        return Ok(summary);
    }
    let out = options
        .out
        .as_ref()
        .context("--out is required unless --bench")?;
    summary.files_written = write_rendered(&template, &contexts, out)?;
    Ok(summary)
}

/// The context every recipient shares (`--shared`): a JSON object.
fn read_shared_context(path: &Path) -> Result<Map<String, Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    match serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))? {
        Value::Object(map) => Ok(map),
        _ => bail!("{} must hold a JSON object", path.display()),
    }
}

/// One context per non-blank line of `data`, each over the shared context (its own fields win).
fn read_contexts(data: &Path, shared: &Map<String, Value>) -> Result<Vec<FieldValue>> {
    let file = std::fs::File::open(data).with_context(|| format!("opening {}", data.display()))?;
    let mut contexts = Vec::new();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let Value::Object(own) = serde_json::from_str(&line)
            .with_context(|| format!("line {} of {} is not JSON", number + 1, data.display()))?
        else {
            bail!(
                "line {} of {} is not a JSON object",
                number + 1,
                data.display()
            );
        };
        let mut merged = shared.clone();
        merged.extend(own);
        contexts.push(serde_json::from_value::<FieldValue>(Value::Object(merged))?);
    }
    Ok(contexts)
}

/// Recipients rendered per second, over about 20,000 renders (at least one round of all).
fn render_rate(template: &CompiledTemplate, contexts: &[FieldValue]) -> Result<f64> {
    let mut rendered = RenderedMessage::default();
    let rounds = (20_000 / contexts.len().max(1)).max(1);
    let started = std::time::Instant::now();
    for _ in 0..rounds {
        for context in contexts {
            template
                .render(&RenderContext::from_value(context), &mut rendered)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok((rounds * contexts.len()) as f64 / elapsed)
}

/// Writes each recipient's parts as `<index>.<part>` in `out`; answers the files written.
fn write_rendered(
    template: &CompiledTemplate,
    contexts: &[FieldValue],
    out: &Path,
) -> Result<usize> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut rendered = RenderedMessage::default();
    let mut files_written = 0;
    for (index, context) in contexts.iter().enumerate() {
        template
            .render(&RenderContext::from_value(context), &mut rendered)
            .map_err(|e| anyhow::anyhow!("recipient {index}: {e}"))?;
        let mut parts = vec![
            ("subject", Some(&rendered.subject)),
            ("email.html", Some(&rendered.html)),
            ("email.txt", Some(&rendered.text)),
        ];
        parts.push(("push_title", rendered.push_title.as_ref()));
        parts.push(("push_body", rendered.push_body.as_ref()));
        for (part, text) in parts {
            if let Some(text) = text {
                std::fs::write(out.join(format!("{index}.{part}")), text)?;
                files_written += 1;
            }
        }
        if template.has_push() {
            files_written += write_push_messages(&rendered, context, index, out)?;
        }
    }
    Ok(files_written)
}

/// The message delivery would publish to a device of each platform, as `<index>.push.<platform>.json`
/// (or why it would be refused: over the platform's size limit); the deep link is the first
/// offer's `url`.
fn write_push_messages(
    rendered: &RenderedMessage,
    context: &FieldValue,
    index: usize,
    out: &Path,
) -> Result<usize> {
    use storecast::channels::push::{PushContent, provider_message};
    let context = serde_json::to_value(context)?;
    let message_id = format!("render-{index}");
    let content = PushContent {
        title: rendered.push_title.as_deref().unwrap_or_default(),
        body: rendered.push_body.as_deref().unwrap_or_default(),
        campaign_id: "render",
        message_id: &message_id,
        deep_link: context.pointer("/offers/0/url").and_then(Value::as_str),
    };
    for platform in storecast::domain::PushPlatform::ALL {
        let text = provider_message(platform, &content)
            .unwrap_or_else(|error| format!("refused: {error}"));
        std::fs::write(out.join(format!("{index}.push.{platform}.json")), text)?;
    }
    Ok(storecast::domain::PushPlatform::ALL.len())
}
