//! Compiled templates kept across invocations of a warm Lambda container.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{CompiledTemplate, RenderError};
use crate::domain::{TemplateId, TemplateRef, TemplateVersion, TenantId};

/// How long delivery trusts what it last read of a template's live pointer: a newly published
/// version reaches every warm container within this time.
pub const LIVE_POINTER_TTL: time::Duration = time::Duration::seconds(60);

/// Enough for every template a container's batches use; a cold start recompiles anyway.
const DEFAULT_CAPACITY: usize = 512;

/// The tenant is part of the key: one retailer can never be served another's template, even if
/// both use the same template id and version.
type Key = (TenantId, TemplateRef);

/// A bounded, thread-safe cache of compiled templates. When full, the oldest entry goes: template
/// versions are immutable, so age is a fair proxy for "no longer in use".
#[derive(Debug)]
pub struct TemplateCache {
    capacity: usize,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    templates: HashMap<Key, Arc<CompiledTemplate>>,
    insertion_order: VecDeque<Key>,
    /// Which version each template's live pointer named, and when that was read.
    live: HashMap<(TenantId, TemplateId), LivePointer>,
}

#[derive(Debug, Clone, Copy)]
struct LivePointer {
    version: u32,
    read_at: time::OffsetDateTime,
}

impl Default for TemplateCache {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl TemplateCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// A cache holding at most `capacity` templates (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        TemplateCache {
            capacity: capacity.max(1),
            entries: Mutex::default(),
        }
    }

    pub fn get(&self, tenant: &TenantId, template: &TemplateRef) -> Option<Arc<CompiledTemplate>> {
        self.lock()
            .templates
            .get(&(tenant.clone(), template.clone()))
            .cloned()
    }

    /// The compiled `version`, compiling it on a miss. Compilation runs outside the lock; if two
    /// threads race, the first insert wins and both get the same template.
    pub fn get_or_compile(
        &self,
        version: &TemplateVersion,
    ) -> Result<Arc<CompiledTemplate>, RenderError> {
        if let Some(template) = self.get(&version.tenant_id, &version.template) {
            return Ok(template);
        }
        let compiled = Arc::new(CompiledTemplate::compile(version)?);
        let key = (version.tenant_id.clone(), version.template.clone());
        let mut entries = self.lock();
        if let Some(existing) = entries.templates.get(&key) {
            return Ok(Arc::clone(existing));
        }
        while entries.templates.len() >= self.capacity {
            let Some(oldest) = entries.insertion_order.pop_front() else {
                break;
            };
            entries.templates.remove(&oldest);
        }
        entries.insertion_order.push_back(key.clone());
        entries.templates.insert(key, Arc::clone(&compiled));
        Ok(compiled)
    }

    /// The compiled live version of `template`, if its pointer was read less than
    /// [`LIVE_POINTER_TTL`] before `now` and that version is still cached.
    pub fn get_live(
        &self,
        tenant: &TenantId,
        template: &TemplateId,
        now: time::OffsetDateTime,
    ) -> Option<Arc<CompiledTemplate>> {
        let entries = self.lock();
        let pointer = entries.live.get(&(tenant.clone(), template.clone()))?;
        if now - pointer.read_at >= LIVE_POINTER_TTL || now < pointer.read_at {
            return None;
        }
        let key = (
            tenant.clone(),
            TemplateRef {
                id: template.clone(),
                version: pointer.version,
            },
        );
        entries.templates.get(&key).cloned()
    }

    /// Records that `version` is live as of `read_at`, and answers it compiled (compiled once per
    /// version: re-reading an unchanged pointer recompiles nothing).
    pub fn put_live(
        &self,
        version: &TemplateVersion,
        read_at: time::OffsetDateTime,
    ) -> Result<Arc<CompiledTemplate>, RenderError> {
        let compiled = self.get_or_compile(version)?;
        self.lock().live.insert(
            (version.tenant_id.clone(), version.template.id.clone()),
            LivePointer {
                version: version.template.version,
                read_at,
            },
        );
        Ok(compiled)
    }

    pub fn len(&self) -> usize {
        self.lock().templates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // Every update leaves the map consistent, so a panic elsewhere does not spoil it.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::FieldValue;
    use crate::domain::TemplateId;
    use crate::render::{RenderContext, RenderedMessage};

    fn version(tenant: &str, id: &str, number: u32, subject: &str) -> TemplateVersion {
        TemplateVersion {
            tenant_id: TenantId::parse(tenant).unwrap(),
            template: TemplateRef {
                id: TemplateId::parse(id).unwrap(),
                version: number,
            },
            subject: subject.to_owned(),
            html: String::new(),
            text: String::new(),
            push_title: None,
            push_body: None,
            variables: serde_json::Map::new(),
            schema: Vec::new(),
            overrides: serde_json::Map::new(),
            snippets: Default::default(),
        }
    }

    fn subject(template: &CompiledTemplate) -> String {
        let data = FieldValue::default();
        let mut out = RenderedMessage::default();
        template
            .render(&RenderContext::from_value(&data), &mut out)
            .unwrap();
        out.subject
    }

    #[test]
    fn given_two_tenants_with_the_same_template_ref_then_each_gets_its_own_template() {
        let cache = TemplateCache::new();
        let acme = version("acme", "welcome", 1, "ACME says hi");
        let globex = version("globex", "welcome", 1, "Globex says hi");

        let from_acme = cache.get_or_compile(&acme).unwrap();

        assert!(cache.get(&globex.tenant_id, &globex.template).is_none());
        let from_globex = cache.get_or_compile(&globex).unwrap();
        assert_eq!(subject(&from_acme), "ACME says hi");
        assert_eq!(subject(&from_globex), "Globex says hi");
        assert_eq!(
            subject(&cache.get(&acme.tenant_id, &acme.template).unwrap()),
            "ACME says hi"
        );
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn given_cached_version_when_asked_again_then_the_same_compiled_template_is_shared() {
        let cache = TemplateCache::new();
        let welcome = version("acme", "welcome", 1, "hi");

        let first = cache.get_or_compile(&welcome).unwrap();
        let second = cache.get_or_compile(&welcome).unwrap();

        assert!(Arc::ptr_eq(&first, &second));
    }

    #[test]
    fn given_full_cache_when_new_version_compiled_then_oldest_is_evicted() {
        let cache = TemplateCache::with_capacity(2);
        let v1 = version("acme", "welcome", 1, "one");
        let v2 = version("acme", "welcome", 2, "two");
        let v3 = version("acme", "welcome", 3, "three");

        for v in [&v1, &v2, &v3] {
            cache.get_or_compile(v).unwrap();
        }

        assert_eq!(cache.len(), 2);
        assert!(cache.get(&v1.tenant_id, &v1.template).is_none());
        assert!(cache.get(&v3.tenant_id, &v3.template).is_some());
    }

    #[test]
    fn given_live_pointer_read_then_it_is_trusted_for_sixty_seconds_only() {
        let cache = TemplateCache::new();
        let v2 = version("acme", "welcome", 2, "two");
        let start = time::macros::datetime!(2026-11-22 10:00:00 UTC);

        cache.put_live(&v2, start).unwrap();

        let live = |at| cache.get_live(&v2.tenant_id, &v2.template.id, at);
        assert_eq!(subject(&live(start).unwrap()), "two");
        assert!(live(start + time::Duration::seconds(59)).is_some());
        assert!(live(start + LIVE_POINTER_TTL).is_none());
        let other_tenant = TenantId::parse("globex").unwrap();
        assert!(
            cache
                .get_live(&other_tenant, &v2.template.id, start)
                .is_none()
        );
    }

    #[test]
    fn given_broken_template_when_compiled_then_error_and_nothing_cached() {
        let cache = TemplateCache::new();
        let broken = version("acme", "welcome", 1, "{% if %}");

        let error = cache.get_or_compile(&broken).unwrap_err();

        assert!(!error.is_retryable());
        assert!(cache.is_empty());
    }

    #[test]
    fn given_threads_compiling_the_same_version_then_all_share_one_template() {
        let cache = TemplateCache::new();
        let welcome = version("acme", "welcome", 1, "hi");

        let templates: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| cache.get_or_compile(&welcome).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });

        assert!(templates.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])));
        assert_eq!(cache.len(), 1);
    }
}
