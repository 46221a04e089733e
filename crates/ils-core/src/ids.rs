//! Typed identifiers. Every id is a UUID (v7 for new rows, so ids sort by creation time),
//! wrapped in a newtype so that a user id can never be passed where a company id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id (UUIDv7).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            pub const fn into_uuid(self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

typed_id!(
    /// A tenant: one practice (company) and everything it owns.
    CompanyId
);
typed_id!(
    /// A person who signs in, always inside exactly one company.
    UserId
);

typed_id!(
    /// A patient of one practice.
    PatientId
);
typed_id!(
    /// A spectacle or contact-lens prescription.
    PrescriptionId
);
typed_id!(
    /// A lens order.
    OrderId
);
typed_id!(
    /// One entry of an order's timeline.
    OrderEventId
);
typed_id!(
    /// A knowledge-base document.
    DocumentId
);
typed_id!(
    /// One change record carried by sync (see `change`).
    ChangeId
);

/// One installation of ILS Desktop (or one ILS Central replica set) that stamps changes. Made
/// once at random, never 0; written as 16 hexadecimal digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId(u64);

impl DeviceId {
    /// `None` for 0, which names no device.
    pub const fn new(raw: u64) -> Option<Self> {
        if raw == 0 { None } else { Some(Self(raw)) }
    }

    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a device id (16 hexadecimal digits, not all zero)")]
pub struct BadDeviceId(pub String);

impl FromStr for DeviceId {
    type Err = BadDeviceId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadDeviceId(s.to_owned());
        if s.len() != 16 {
            return Err(bad());
        }
        u64::from_str_radix(s, 16)
            .ok()
            .and_then(Self::new)
            .ok_or_else(bad)
    }
}

impl Serialize for DeviceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_time_ordered_v7() {
        let a = CompanyId::new();
        let b = CompanyId::new();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a < b, "v7 ids created later must sort later");
    }

    #[test]
    fn round_trips_through_text_and_json() {
        let id = UserId::new();
        let parsed: UserId = id.to_string().parse().expect("display output parses");
        assert_eq!(id, parsed);
        let json = serde_json::to_string(&id).expect("serialises");
        assert_eq!(json, format!("\"{id}\""), "ids serialise as bare strings");
        assert!("not-a-uuid".parse::<UserId>().is_err());
    }
}
