//! `/api/v1` handlers. Each handler parses, calls one `cityx-app` use case and shapes the
//! answer; none holds business rules.

pub mod assets;
pub mod audit;
pub mod auth;
pub mod exchange;
pub mod files;
pub mod follows;
pub mod imports;
pub mod live;
pub mod live_targets;
pub mod notices;
pub mod processes;
pub mod stations;
pub mod system;
pub mod tokens;
pub mod uploads;
pub mod users;
pub mod webhooks;
pub mod zones;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Keyset pagination parameters shared by every list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// At most this many items (1–500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    pub cursor: Option<String>,
}

macro_rules! list_type {
    ($name:ident, $item:ty) => {
        /// One page of a list.
        #[derive(Serialize, ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass as `cursor` for the next page; absent on the last page.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub next_cursor: Option<String>,
        }

        impl From<cityx_app::Page<$item>> for $name {
            fn from(p: cityx_app::Page<$item>) -> Self {
                $name {
                    items: p.items,
                    next_cursor: p.next.map(|u| u.to_string()),
                }
            }
        }
    };
}

list_type!(StationList, cityx_core::Station);
list_type!(UserList, cityx_core::User);
list_type!(TokenList, cityx_core::ApiToken);
list_type!(AuditList, cityx_core::AuditEntry);
list_type!(AdoptionList, cityx_core::Adoption);
list_type!(NoticeList, cityx_core::Notice);
