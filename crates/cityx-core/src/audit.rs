//! The audit vocabulary: which events are recorded and with what. Action names are stored
//! data, so they never change once released.

use crate::ids::{StationId, UserId};
use crate::model::Actor;

/// Everything cityx records in the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    LoginOk,
    LoginFailed,
    /// A sign-in (or a check of the current password) refused for too many failures.
    LoginLimited,
    Logout,
    StationCreated,
    StationUpdated,
    UserCreated,
    UserUpdated,
    RoleChanged,
    UserDisabled,
    UserEnabled,
    PasswordChanged,
    PasswordReset,
    TokenCreated,
    TokenRevoked,
    UploadCreated,
    UploadCompleted,
    UploadTerminated,
    ImportCreated,
    AssetDeleted,
    AssetRestored,
    AssetPurged,
    RightsChanged,
    AssetAdopted,
    AssetCorrected,
    AssetWithdrawn,
    NoticeAcknowledged,
    ZoneCreated,
    ZoneUpdated,
    ZoneContributed,
    ZoneItemRemoved,
    WebhookCreated,
    WebhookDeleted,
    DeliveryRetried,
    ProcessStopped,
    ProcessStarted,
    ChannelCreated,
    ChannelUpdated,
    ChannelKeyRotated,
    ChannelDeleted,
    /// A publish refused: a wrong key, a busy channel, limits.
    PublishRefused,
    /// An item made from what a station has (a live clip, a recording).
    ItemMade,
    /// A restream target added, changed or removed (its key never in the detail).
    TargetCreated,
    TargetUpdated,
    TargetDeleted,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::LoginOk => "login_ok",
            AuditAction::LoginFailed => "login_failed",
            AuditAction::LoginLimited => "login_limited",
            AuditAction::Logout => "logout",
            AuditAction::StationCreated => "station_created",
            AuditAction::StationUpdated => "station_updated",
            AuditAction::UserCreated => "user_created",
            AuditAction::UserUpdated => "user_updated",
            AuditAction::RoleChanged => "role_changed",
            AuditAction::UserDisabled => "user_disabled",
            AuditAction::UserEnabled => "user_enabled",
            AuditAction::PasswordChanged => "password_changed",
            AuditAction::PasswordReset => "password_reset",
            AuditAction::TokenCreated => "token_created",
            AuditAction::TokenRevoked => "token_revoked",
            AuditAction::UploadCreated => "upload_created",
            AuditAction::UploadCompleted => "upload_completed",
            AuditAction::UploadTerminated => "upload_terminated",
            AuditAction::ImportCreated => "import_created",
            AuditAction::AssetDeleted => "asset_deleted",
            AuditAction::AssetRestored => "asset_restored",
            AuditAction::AssetPurged => "asset_purged",
            AuditAction::RightsChanged => "rights_changed",
            AuditAction::AssetAdopted => "asset_adopted",
            AuditAction::AssetCorrected => "asset_corrected",
            AuditAction::AssetWithdrawn => "asset_withdrawn",
            AuditAction::NoticeAcknowledged => "notice_acknowledged",
            AuditAction::ZoneCreated => "zone_created",
            AuditAction::ZoneUpdated => "zone_updated",
            AuditAction::ZoneContributed => "zone_contributed",
            AuditAction::ZoneItemRemoved => "zone_item_removed",
            AuditAction::WebhookCreated => "webhook_created",
            AuditAction::WebhookDeleted => "webhook_deleted",
            AuditAction::DeliveryRetried => "delivery_retried",
            AuditAction::ProcessStopped => "process_stopped",
            AuditAction::ProcessStarted => "process_started",
            AuditAction::ChannelCreated => "channel_created",
            AuditAction::ChannelUpdated => "channel_updated",
            AuditAction::ChannelKeyRotated => "channel_key_rotated",
            AuditAction::ChannelDeleted => "channel_deleted",
            AuditAction::PublishRefused => "publish_refused",
            AuditAction::ItemMade => "item_made",
            AuditAction::TargetCreated => "target_created",
            AuditAction::TargetUpdated => "target_updated",
            AuditAction::TargetDeleted => "target_deleted",
        }
    }
}

/// An audit entry about to be written, in the same transaction as the change it records.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAudit {
    pub actor_user_id: Option<UserId>,
    pub actor_label: String,
    pub station_id: Option<StationId>,
    pub action: AuditAction,
    pub target_type: &'static str,
    pub target_id: String,
    pub ok: bool,
    pub ip: Option<String>,
    pub detail: serde_json::Value,
}

impl NewAudit {
    /// A successful action by `actor` on a target.
    pub fn by(
        actor: &Actor,
        action: AuditAction,
        target_type: &'static str,
        target_id: impl ToString,
        station_id: Option<StationId>,
    ) -> Self {
        NewAudit {
            actor_user_id: actor.user_id,
            actor_label: actor.label.clone(),
            station_id,
            action,
            target_type,
            target_id: target_id.to_string(),
            ok: true,
            ip: actor.ip.clone(),
            detail: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn with_ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }

    pub fn failed(mut self) -> Self {
        self.ok = false;
        self
    }

    /// Adds one detail field.
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        if let serde_json::Value::Object(map) = &mut self.detail {
            map.insert(key.to_owned(), value.into());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_accumulate() {
        let a = NewAudit::by(
            &Actor::system(),
            AuditAction::RoleChanged,
            "user",
            "u1",
            None,
        )
        .detail("from", "viewer")
        .detail("to", "editor")
        .failed();
        assert_eq!(a.detail["from"], "viewer");
        assert_eq!(a.detail["to"], "editor");
        assert!(!a.ok);
        assert_eq!(a.actor_label, "system");
        assert_eq!(a.action.as_str(), "role_changed");
    }
}
