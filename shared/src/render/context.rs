//! What a template sees: [`RenderContext`], built per recipient from the typed domain data.
//!
//! Every view here borrows; nothing is converted to JSON or to liquid's owned `Value` per
//! recipient. The only allocation is the vector of offer views.

use std::fmt;

use liquid_core::model::{
    ArrayView, DateTime, DisplayCow, KStringCow, ObjectView, State, Value, ValueView,
};

use super::object_view::{fixed_object_view, lenient};
use super::value::{NIL, OwnedRender, OwnedSource};
use crate::domain::FieldValue;
use crate::domain::{CampaignId, Customer, MessageId, Offer, TenantWorkspace, VariantId};

/// The data one recipient's message is rendered from.
#[derive(Debug, Clone, Copy)]
pub struct RecipientContext<'a> {
    pub customer: &'a Customer,
    pub offers: &'a [Offer],
    pub workspace: &'a TenantWorkspace,
    pub campaign_id: &'a CampaignId,
    pub variant: &'a VariantId,
    pub message_id: &'a MessageId,
    pub unsubscribe_url: &'a str,
}

/// The top-level object of a render. Variables it lacks are nil, like every missing key.
#[derive(Debug)]
pub struct RenderContext<'a> {
    root: Root<'a>,
}

#[derive(Debug)]
enum Root<'a> {
    Recipient(RecipientView<'a>),
    Value(&'a FieldValue),
}

impl<'a> RenderContext<'a> {
    /// Templates see `customer` (its fields plus `id` and `email`), `offers`, `retailer`
    /// (`name`, `slug`), `campaign` (`id`, `variant`), `message_id`, `unsubscribe_url` and
    /// `brand` (nil unless given with [`RenderContext::with_brand`]).
    pub fn for_recipient(recipient: RecipientContext<'a>) -> Self {
        let customer = recipient.customer;
        RenderContext {
            root: Root::Recipient(RecipientView {
                customer: CustomerView {
                    id: customer.id.as_str(),
                    email: customer.email.as_deref(),
                    fields: &customer.fields,
                },
                offers: OffersView(recipient.offers.iter().map(OfferView::new).collect()),
                retailer: RetailerView {
                    name: &recipient.workspace.display_name,
                    slug: &recipient.workspace.slug,
                },
                campaign: CampaignView {
                    id: recipient.campaign_id.as_str(),
                    variant: recipient.variant.as_str(),
                },
                message_id: recipient.message_id.as_str(),
                unsubscribe_url: recipient.unsubscribe_url,
                brand: &NIL,
            }),
        }
    }

    /// The retailer's brand variables as `brand.*` (`workspace.settings.brand`, converted once
    /// per batch or preview with `FieldValue::from`, never per recipient).
    pub fn with_brand(mut self, brand: &'a FieldValue) -> Self {
        if let Root::Recipient(view) = &mut self.root {
            view.brand = brand;
        }
        self
    }

    /// An arbitrary object as the top level, for previews and the render tool. A value that is
    /// not an object gives a context in which every variable is nil.
    pub fn from_value(value: &'a FieldValue) -> Self {
        RenderContext {
            root: Root::Value(value),
        }
    }

    fn object(&self) -> &dyn ObjectView {
        match &self.root {
            Root::Recipient(view) => view,
            Root::Value(value @ FieldValue::Object(_)) => *value,
            Root::Value(_) => &NIL,
        }
    }
}

#[derive(Debug)]
struct RecipientView<'a> {
    customer: CustomerView<'a>,
    offers: OffersView<'a>,
    retailer: RetailerView<'a>,
    campaign: CampaignView<'a>,
    message_id: &'a str,
    unsubscribe_url: &'a str,
    brand: &'a FieldValue,
}

impl RecipientView<'_> {
    const KEYS: &'static [&'static str] = &[
        "customer",
        "offers",
        "retailer",
        "campaign",
        "message_id",
        "unsubscribe_url",
        "brand",
    ];

    fn field(&self, key: &str) -> Option<&dyn ValueView> {
        Some(match key {
            "customer" => &self.customer,
            "offers" => &self.offers,
            "retailer" => &self.retailer,
            "campaign" => &self.campaign,
            "message_id" => &self.message_id,
            "unsubscribe_url" => &self.unsubscribe_url,
            "brand" => self.brand,
            _ => return None,
        })
    }
}

fixed_object_view!(RecipientView);

#[derive(Debug)]
struct RetailerView<'a> {
    name: &'a str,
    slug: &'a str,
}

impl RetailerView<'_> {
    const KEYS: &'static [&'static str] = &["name", "slug"];

    fn field(&self, key: &str) -> Option<&dyn ValueView> {
        Some(match key {
            "name" => &self.name,
            "slug" => &self.slug,
            _ => return None,
        })
    }
}

fixed_object_view!(RetailerView);

#[derive(Debug)]
struct CampaignView<'a> {
    id: &'a str,
    variant: &'a str,
}

impl CampaignView<'_> {
    const KEYS: &'static [&'static str] = &["id", "variant"];

    fn field(&self, key: &str) -> Option<&dyn ValueView> {
        Some(match key {
            "id" => &self.id,
            "variant" => &self.variant,
            _ => return None,
        })
    }
}

fixed_object_view!(CampaignView);

#[derive(Debug)]
struct OfferView<'a> {
    item_id: &'a str,
    title: &'a str,
    url: &'a str,
    image_url: Option<&'a str>,
    price: f64,
    sale_price: Option<f64>,
    currency: &'a str,
    valid_until: Option<DateTime>,
}

impl<'a> OfferView<'a> {
    const KEYS: &'static [&'static str] = &[
        "item_id",
        "title",
        "url",
        "image_url",
        "price",
        "sale_price",
        "currency",
        "valid_until",
    ];

    fn new(offer: &'a Offer) -> Self {
        OfferView {
            item_id: &offer.item_id,
            title: &offer.title,
            url: &offer.url,
            image_url: offer.image_url.as_deref(),
            price: offer.price,
            sale_price: offer.sale_price,
            currency: &offer.currency,
            valid_until: offer.valid_until.map(liquid_date_time),
        }
    }

    fn field(&self, key: &str) -> Option<&dyn ValueView> {
        Some(match key {
            "item_id" => &self.item_id,
            "title" => &self.title,
            "url" => &self.url,
            "image_url" => &self.image_url,
            "price" => &self.price,
            "sale_price" => &self.sale_price,
            "currency" => &self.currency,
            "valid_until" => &self.valid_until,
            _ => return None,
        })
    }
}

fixed_object_view!(OfferView);

/// A date value that the `date` filter formats without parsing anything.
pub(crate) fn liquid_date_time(value: time::OffsetDateTime) -> DateTime {
    // liquid's `DateTime` has no constructor from `OffsetDateTime`, only `DerefMut` to one.
    let mut date = DateTime::default();
    *date = value;
    date
}

#[derive(Debug)]
struct CustomerView<'a> {
    id: &'a str,
    email: Option<&'a str>,
    fields: &'a FieldValue,
}

impl CustomerView<'_> {
    /// `id` and `email` are the checked values of the contract; they win over same-named fields.
    fn field(&self, key: &str) -> Option<&dyn ValueView> {
        match key {
            "id" => Some(&self.id),
            "email" if self.email.is_some() => Some(&self.email),
            _ => self.fields.get(key).map(|v| v as &dyn ValueView),
        }
    }

    fn own_keys(&self) -> impl Iterator<Item = &str> + '_ {
        let has_email = self.email.is_some();
        let typed = std::iter::once("id").chain(has_email.then_some("email"));
        let fields = match self.fields {
            FieldValue::Object(map) => Some(map.keys()),
            _ => None,
        };
        typed.chain(
            fields
                .into_iter()
                .flatten()
                .map(String::as_str)
                .filter(move |k| *k != "id" && !(has_email && *k == "email")),
        )
    }
}

impl ValueView for CustomerView<'_> {
    fn as_debug(&self) -> &dyn fmt::Debug {
        self
    }
    fn render(&self) -> DisplayCow<'_> {
        DisplayCow::Owned(Box::new(OwnedRender(self.to_value())))
    }
    fn source(&self) -> DisplayCow<'_> {
        DisplayCow::Owned(Box::new(OwnedSource(self.to_value())))
    }
    fn type_name(&self) -> &'static str {
        "object"
    }
    fn query_state(&self, state: State) -> bool {
        matches!(state, State::Truthy)
    }
    fn to_kstr(&self) -> KStringCow<'_> {
        KStringCow::from_string(self.render().to_string())
    }
    fn to_value(&self) -> Value {
        Value::Object(
            ObjectView::iter(self)
                .map(|(k, v)| (k.into_owned(), v.to_value()))
                .collect(),
        )
    }
    fn as_object(&self) -> Option<&dyn ObjectView> {
        Some(self)
    }
}

impl ObjectView for CustomerView<'_> {
    fn as_value(&self) -> &dyn ValueView {
        self
    }
    fn size(&self) -> i64 {
        self.own_keys().count() as i64
    }
    fn keys<'k>(&'k self) -> Box<dyn Iterator<Item = KStringCow<'k>> + 'k> {
        Box::new(self.own_keys().map(KStringCow::from_ref))
    }
    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        Box::new(self.own_keys().filter_map(move |k| self.field(k)))
    }
    fn iter<'k>(&'k self) -> Box<dyn Iterator<Item = (KStringCow<'k>, &'k dyn ValueView)> + 'k> {
        Box::new(
            self.own_keys()
                .filter_map(move |k| self.field(k).map(|v| (KStringCow::from_ref(k), v))),
        )
    }
    fn contains_key(&self, index: &str) -> bool {
        self.field(index).is_some()
    }
    fn get<'s>(&'s self, index: &str) -> Option<&'s dyn ValueView> {
        lenient(self.field(index), index)
    }
}

#[derive(Debug)]
struct OffersView<'a>(Vec<OfferView<'a>>);

impl OffersView<'_> {
    fn item(&self, index: i64) -> Option<&dyn ValueView> {
        let len = self.0.len() as i64;
        let index = if index < 0 { len + index } else { index };
        usize::try_from(index)
            .ok()
            .and_then(|i| self.0.as_slice().get(i))
            .map(|offer| offer as &dyn ValueView)
    }
}

impl ValueView for OffersView<'_> {
    fn as_debug(&self) -> &dyn fmt::Debug {
        self
    }
    fn render(&self) -> DisplayCow<'_> {
        DisplayCow::Owned(Box::new(OwnedRender(self.to_value())))
    }
    fn source(&self) -> DisplayCow<'_> {
        DisplayCow::Owned(Box::new(OwnedSource(self.to_value())))
    }
    fn type_name(&self) -> &'static str {
        "array"
    }
    fn query_state(&self, state: State) -> bool {
        match state {
            State::Truthy => true,
            State::DefaultValue | State::Empty | State::Blank => self.0.is_empty(),
        }
    }
    fn to_kstr(&self) -> KStringCow<'_> {
        KStringCow::from_string(self.render().to_string())
    }
    fn to_value(&self) -> Value {
        Value::Array(self.0.iter().map(|offer| offer.to_value()).collect())
    }
    fn as_array(&self) -> Option<&dyn ArrayView> {
        Some(self)
    }
}

impl ArrayView for OffersView<'_> {
    fn as_value(&self) -> &dyn ValueView {
        self
    }
    fn size(&self) -> i64 {
        self.0.len() as i64
    }
    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        Box::new(self.0.iter().map(|offer| offer as &dyn ValueView))
    }
    fn contains_key(&self, index: i64) -> bool {
        self.item(index).is_some()
    }
    fn get(&self, index: i64) -> Option<&dyn ValueView> {
        Some(self.item(index).unwrap_or(&NIL))
    }
}

impl ValueView for RenderContext<'_> {
    fn as_debug(&self) -> &dyn fmt::Debug {
        self
    }
    fn render(&self) -> DisplayCow<'_> {
        self.object().render()
    }
    fn source(&self) -> DisplayCow<'_> {
        self.object().source()
    }
    fn type_name(&self) -> &'static str {
        "object"
    }
    fn query_state(&self, state: State) -> bool {
        self.object().query_state(state)
    }
    fn to_kstr(&self) -> KStringCow<'_> {
        self.object().to_kstr()
    }
    fn to_value(&self) -> Value {
        self.object().to_value()
    }
    fn as_object(&self) -> Option<&dyn ObjectView> {
        Some(self)
    }
}

impl ObjectView for RenderContext<'_> {
    fn as_value(&self) -> &dyn ValueView {
        self
    }
    fn size(&self) -> i64 {
        self.object().size()
    }
    fn keys<'k>(&'k self) -> Box<dyn Iterator<Item = KStringCow<'k>> + 'k> {
        self.object().keys()
    }
    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        self.object().values()
    }
    fn iter<'k>(&'k self) -> Box<dyn Iterator<Item = (KStringCow<'k>, &'k dyn ValueView)> + 'k> {
        self.object().iter()
    }
    fn contains_key(&self, index: &str) -> bool {
        self.object().contains_key(index)
    }
    fn get<'s>(&'s self, index: &str) -> Option<&'s dyn ValueView> {
        self.object().get(index)
    }
}
