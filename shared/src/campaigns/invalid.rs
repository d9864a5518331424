//! The error of a campaign that cannot be launched: the field at fault and why.

/// A campaign that cannot be launched, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidCampaign {
    pub field: String,
    pub reason: String,
}

pub(super) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> InvalidCampaign {
    InvalidCampaign {
        field: field.into(),
        reason: reason.into(),
    }
}
