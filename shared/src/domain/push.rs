//! Push devices and a retailer's push applications: the platforms a device token belongs to, and
//! the provider-side application of each platform that the retailer's pushes go out through.

use serde::{Deserialize, Serialize};

/// A customer holds at most this many device tokens in one event: each is one publish.
pub const MAX_DEVICES_PER_CUSTOMER: usize = 10;

/// The push service a device token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PushPlatform {
    /// Firebase Cloud Messaging, HTTP v1 (Android, and iOS through Firebase).
    Fcm,
    /// Apple Push Notification service, production.
    Apns,
    /// Apple Push Notification service, development builds.
    ApnsSandbox,
}

impl PushPlatform {
    pub const ALL: [PushPlatform; 3] = [
        PushPlatform::Fcm,
        PushPlatform::Apns,
        PushPlatform::ApnsSandbox,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PushPlatform::Fcm => "fcm",
            PushPlatform::Apns => "apns",
            PushPlatform::ApnsSandbox => "apns_sandbox",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == value)
    }
}

impl std::fmt::Display for PushPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One device of a customer: its token at its platform's push service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct PushDevice {
    pub platform: PushPlatform,
    pub token: String,
}

impl PushDevice {
    /// A token given without its platform (the contract's older `push_token`): 64 or more hex
    /// digits are an APNs device token, anything else an FCM registration token.
    pub fn inferred(token: &str) -> Self {
        let token = token.trim();
        let apns = token.len() >= 64 && token.bytes().all(|b| b.is_ascii_hexdigit());
        Self {
            platform: if apns {
                PushPlatform::Apns
            } else {
                PushPlatform::Fcm
            },
            token: token.to_string(),
        }
    }
}

/// A retailer's push applications at the provider (Amazon SNS platform application ARNs), one
/// per platform, created through onboarding. Delivery publishes a retailer's pushes through these
/// and no other applications.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "api", derive(utoipa::ToSchema))]
pub struct PushApplications {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fcm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apns: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apns_sandbox: Option<String>,
}

impl PushApplications {
    pub fn get(&self, platform: PushPlatform) -> Option<&str> {
        match platform {
            PushPlatform::Fcm => self.fcm.as_deref(),
            PushPlatform::Apns => self.apns.as_deref(),
            PushPlatform::ApnsSandbox => self.apns_sandbox.as_deref(),
        }
    }

    pub fn set(&mut self, platform: PushPlatform, arn: String) {
        let slot = match platform {
            PushPlatform::Fcm => &mut self.fcm,
            PushPlatform::Apns => &mut self.apns,
            PushPlatform::ApnsSandbox => &mut self.apns_sandbox,
        };
        *slot = Some(arn);
    }

    pub fn is_empty(&self) -> bool {
        PushPlatform::ALL.iter().all(|p| self.get(*p).is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_without_a_platform_is_apns_when_it_is_hex_and_fcm_otherwise() {
        let apns = "a1".repeat(32);
        assert_eq!(PushDevice::inferred(&apns).platform, PushPlatform::Apns);
        let fcm = "dGVzdA:APA91bH-abc_def";
        assert_eq!(PushDevice::inferred(fcm).platform, PushPlatform::Fcm);
        assert_eq!(PushDevice::inferred("abc123").platform, PushPlatform::Fcm);
    }

    #[test]
    fn platforms_round_trip_by_name() {
        for platform in PushPlatform::ALL {
            assert_eq!(PushPlatform::parse(platform.as_str()), Some(platform));
            let json = serde_json::to_string(&platform).unwrap();
            assert_eq!(json, format!("\"{platform}\""));
        }
    }
}
