//! Domain types and the versioned message contracts between the functions. Nothing here knows
//! about AWS, HTTP or Liquid.

mod address;
mod contracts;
mod fields;
mod ids;
mod push;
mod template;
mod tenant;

pub use address::*;
pub use contracts::*;
pub use fields::FieldValue;
pub(crate) use ids::hex;
pub use ids::*;
pub use push::*;
pub use template::*;
pub use tenant::*;

/// The provider's batch size: SES bulk sends and our delivery batches carry at most this many
/// recipients.
pub const PROVIDER_BATCH_SIZE: usize = 50;

/// Version of the `campaign-event` and `send-batch` contracts this build writes. Readers accept
/// every version up to this one.
pub const CONTRACT_VERSION: u16 = 1;
