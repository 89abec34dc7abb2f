//! How durations are written in configuration: whole seconds, hours or days under keys that
//! say the unit (`lease_secs`, `expiry_hours`). The option types that each crate owns use
//! these with serde's `with`, so the settings compose them instead of copying them.

use serde::{Deserialize, Deserializer, Serializer};
use std::time::Duration;

macro_rules! unit {
    ($name:ident, $secs:expr, $what:literal) => {
        #[doc = concat!("A `Duration` as whole ", $what, ".")]
        pub mod $name {
            use super::*;

            pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_u64(d.as_secs() / $secs)
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
                let n = u64::deserialize(d)?;
                n.checked_mul($secs)
                    .map(Duration::from_secs)
                    .ok_or_else(|| serde::de::Error::custom(concat!("too many ", $what)))
            }
        }
    };
}

unit!(secs, 1, "seconds");
unit!(hours, 3600, "hours");

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct T {
        #[serde(with = "secs")]
        a: Duration,
        #[serde(with = "hours")]
        b: Duration,
    }

    #[test]
    fn durations_read_and_write_in_their_unit() {
        let t: T = serde_json::from_str(r#"{"a": 90, "b": 12}"#).expect("parse");
        assert_eq!(t.a, Duration::from_secs(90));
        assert_eq!(t.b, Duration::from_secs(12 * 3600));
        assert_eq!(
            serde_json::to_string(&t).expect("write"),
            r#"{"a":90,"b":12}"#
        );
        assert!(serde_json::from_str::<T>(r#"{"a": 1, "b": 18446744073709551615}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"a": -1, "b": 1}"#).is_err());
    }
}
