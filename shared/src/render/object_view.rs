//! Shared plumbing for the typed views that templates read.

use liquid_core::model::ValueView;

use super::value::NIL;

/// What an object view answers for a key it lacks: nil, except `size`, which liquid computes
/// from the object when `get` has nothing.
pub(crate) fn lenient<'s>(
    found: Option<&'s dyn ValueView>,
    key: &str,
) -> Option<&'s dyn ValueView> {
    match found {
        Some(value) => Some(value),
        None if key == "size" => None,
        None => Some(&NIL),
    }
}

/// Implements `ValueView` and `ObjectView` for a view type with a fixed set of keys, given its
/// `KEYS` and a `field` method.
macro_rules! fixed_object_view {
    ($ty:ident) => {
        impl ::liquid_core::model::ValueView for $ty<'_> {
            fn as_debug(&self) -> &dyn ::std::fmt::Debug {
                self
            }
            fn render(&self) -> ::liquid_core::model::DisplayCow<'_> {
                ::liquid_core::model::DisplayCow::Owned(Box::new(
                    $crate::render::value::OwnedRender(::liquid_core::model::ValueView::to_value(
                        self,
                    )),
                ))
            }
            fn source(&self) -> ::liquid_core::model::DisplayCow<'_> {
                ::liquid_core::model::DisplayCow::Owned(Box::new(
                    $crate::render::value::OwnedSource(::liquid_core::model::ValueView::to_value(
                        self,
                    )),
                ))
            }
            fn type_name(&self) -> &'static str {
                "object"
            }
            fn query_state(&self, state: ::liquid_core::model::State) -> bool {
                matches!(state, ::liquid_core::model::State::Truthy)
            }
            fn to_kstr(&self) -> ::liquid_core::model::KStringCow<'_> {
                ::liquid_core::model::KStringCow::from_string(
                    ::liquid_core::model::ValueView::render(self).to_string(),
                )
            }
            fn to_value(&self) -> ::liquid_core::model::Value {
                // Collected first, so that the map is allocated once at its size (a map built
                // from the boxed iterator grows, and rehashes, several times).
                let fields: Vec<_> = Self::KEYS
                    .iter()
                    .filter_map(|k| {
                        self.field(k)
                            .map(|v| (::liquid_core::model::KString::from_static(k), v.to_value()))
                    })
                    .collect();
                ::liquid_core::model::Value::Object(fields.into_iter().collect())
            }
            fn as_object(&self) -> Option<&dyn ::liquid_core::model::ObjectView> {
                Some(self)
            }
        }

        impl ::liquid_core::model::ObjectView for $ty<'_> {
            fn as_value(&self) -> &dyn ::liquid_core::model::ValueView {
                self
            }
            fn size(&self) -> i64 {
                Self::KEYS.len() as i64
            }
            fn keys<'k>(
                &'k self,
            ) -> Box<dyn Iterator<Item = ::liquid_core::model::KStringCow<'k>> + 'k> {
                Box::new(
                    Self::KEYS
                        .iter()
                        .map(|k| ::liquid_core::model::KStringCow::from_static(k)),
                )
            }
            fn values<'k>(
                &'k self,
            ) -> Box<dyn Iterator<Item = &'k dyn ::liquid_core::model::ValueView> + 'k> {
                Box::new(Self::KEYS.iter().filter_map(move |k| self.field(k)))
            }
            fn iter<'k>(
                &'k self,
            ) -> Box<
                dyn Iterator<
                        Item = (
                            ::liquid_core::model::KStringCow<'k>,
                            &'k dyn ::liquid_core::model::ValueView,
                        ),
                    > + 'k,
            > {
                Box::new(Self::KEYS.iter().filter_map(move |k| {
                    self.field(k)
                        .map(|v| (::liquid_core::model::KStringCow::from_static(k), v))
                }))
            }
            fn contains_key(&self, index: &str) -> bool {
                self.field(index).is_some()
            }
            fn get<'s>(&'s self, index: &str) -> Option<&'s dyn ::liquid_core::model::ValueView> {
                $crate::render::object_view::lenient(self.field(index), index)
            }
        }
    };
}

pub(crate) use fixed_object_view;
