//! What a job or a supervised process is about: a thing named by its type and id (an item, a
//! webhook delivery, a channel). Types are stored data: never renamed.

use crate::ids::AssetId;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, ToSchema)]
pub struct Subject {
    /// `asset`, `webhook_delivery`, `channel` …
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

impl Subject {
    /// The type of items' subjects.
    pub const ASSET: &'static str = "asset";

    pub fn new(kind: impl Into<String>, id: impl ToString) -> Self {
        Subject {
            kind: kind.into(),
            id: id.to_string(),
        }
    }

    /// An item.
    pub fn asset(id: AssetId) -> Self {
        Subject::new(Subject::ASSET, id)
    }

    /// The item, when this is one.
    pub fn as_asset(&self) -> Option<AssetId> {
        (self.kind == Subject::ASSET)
            .then(|| self.id.parse().ok())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_and_others_are_not_items() {
        let id = AssetId::new();
        assert_eq!(Subject::asset(id).as_asset(), Some(id));
        assert_eq!(Subject::new("channel", id).as_asset(), None);
        assert_eq!(Subject::new("asset", "not-an-id").as_asset(), None);
    }
}
