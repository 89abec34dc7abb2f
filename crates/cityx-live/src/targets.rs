//! The restream targets' use cases: a channel's managers list, add, change and remove the
//! partner addresses it is pushed to. The partner's key is sealed before it is stored and is
//! never returned; the address is checked through the outbound-fetch guard when it is saved
//! (and again at every connection).

use cityx_app::{App, Error, Result, url_refused};
use cityx_core::live::target::{PassphraseChange, Target, TargetFields, TargetInput, key_hint_of};
use cityx_core::{Actor, AuditAction, ChannelId, NewAudit, TargetId, policy};
use cityx_db::TargetRow;

/// Restream targets, as a context of their own.
pub struct Targets<'a> {
    app: &'a App,
}

fn too_many(e: cityx_db::Error) -> Error {
    match e {
        cityx_db::Error::WrongState {
            entity: "target", ..
        } => Error::field(
            "name",
            "too_many",
            format!(
                "a channel has at most {} targets",
                cityx_core::live::target::MAX_PER_CHANNEL
            ),
        ),
        e => e.into(),
    }
}

impl<'a> Targets<'a> {
    pub fn of(app: &'a App) -> Self {
        Targets { app }
    }

    /// The targets of a channel the caller manages.
    pub async fn list(&self, actor: &Actor, channel: ChannelId) -> Result<Vec<Target>> {
        policy::manage_channels(actor)?;
        let scope = actor.tenant_scope();
        self.app.repo().get_channel(scope, channel).await?;
        Ok(self.app.repo().list_targets(scope, channel).await?)
    }

    /// One target of a channel the caller manages.
    pub async fn get(&self, actor: &Actor, channel: ChannelId, id: TargetId) -> Result<Target> {
        policy::manage_channels(actor)?;
        Ok(self
            .app
            .repo()
            .get_target(actor.tenant_scope(), channel, id)
            .await?)
    }

    /// Adds a target to a channel the caller manages.
    pub async fn add(
        &self,
        actor: &Actor,
        channel: ChannelId,
        input: &TargetInput<'_>,
    ) -> Result<Target> {
        policy::manage_channels(actor)?;
        let fields = input.validate(true)?;
        let scope = actor.tenant_scope();
        let station = self
            .app
            .repo()
            .get_channel(scope, channel)
            .await?
            .station_id;
        self.check_address(&fields).await?;
        let id = TargetId::new();
        let key = fields.key.as_deref().unwrap_or_default();
        let sealed = self.app.sealer()?.seal(&id.to_string(), key)?;
        let hint = key_hint_of(key);
        let passphrase = self.seal_passphrase(id, &fields.passphrase)?;
        let audit = NewAudit::by(
            actor,
            AuditAction::TargetCreated,
            "target",
            id,
            Some(station),
        )
        .detail("channel", channel.to_string())
        .detail("name", fields.name.clone())
        .detail("url", fields.url.clone());
        self.app
            .repo()
            .insert_target(
                scope,
                channel,
                id,
                &TargetRow {
                    name: &fields.name,
                    url: &fields.url,
                    key: Some((&sealed, &hint)),
                    enabled: fields.enabled,
                    passphrase: passphrase.as_ref().map(Option::as_deref),
                },
                &audit,
            )
            .await
            .map_err(too_many)?;
        tracing::info!(%channel, target = %id, "restream target added");
        Ok(self.app.repo().get_target(scope, channel, id).await?)
    }

    /// Changes a target; an empty key keeps the stored one. A running push restarts with
    /// the new address or key within seconds.
    pub async fn change(
        &self,
        actor: &Actor,
        channel: ChannelId,
        id: TargetId,
        input: &TargetInput<'_>,
    ) -> Result<Target> {
        policy::manage_channels(actor)?;
        let fields = input.validate(false)?;
        let scope = actor.tenant_scope();
        let station = self
            .app
            .repo()
            .get_channel(scope, channel)
            .await?
            .station_id;
        self.app.repo().get_target(scope, channel, id).await?;
        self.check_address(&fields).await?;
        let sealed = match fields.key.as_deref() {
            Some(key) => Some((
                self.app.sealer()?.seal(&id.to_string(), key)?,
                key_hint_of(key),
            )),
            None => None,
        };
        let passphrase = self.seal_passphrase(id, &fields.passphrase)?;
        let audit = NewAudit::by(
            actor,
            AuditAction::TargetUpdated,
            "target",
            id,
            Some(station),
        )
        .detail("channel", channel.to_string())
        .detail("name", fields.name.clone())
        .detail("url", fields.url.clone())
        .detail("key_changed", sealed.is_some().to_string());
        self.app
            .repo()
            .update_target(
                scope,
                channel,
                id,
                &TargetRow {
                    name: &fields.name,
                    url: &fields.url,
                    key: sealed.as_ref().map(|(s, h)| (s.as_str(), h.as_str())),
                    enabled: fields.enabled,
                    passphrase: passphrase.as_ref().map(Option::as_deref),
                },
                &audit,
            )
            .await?;
        Ok(self.app.repo().get_target(scope, channel, id).await?)
    }

    /// Removes a target; a running push to it stops within seconds.
    pub async fn remove(&self, actor: &Actor, channel: ChannelId, id: TargetId) -> Result<()> {
        policy::manage_channels(actor)?;
        let scope = actor.tenant_scope();
        let station = self
            .app
            .repo()
            .get_channel(scope, channel)
            .await?
            .station_id;
        let target = self.app.repo().get_target(scope, channel, id).await?;
        let audit = NewAudit::by(
            actor,
            AuditAction::TargetDeleted,
            "target",
            id,
            Some(station),
        )
        .detail("channel", channel.to_string())
        .detail("name", target.name);
        self.app
            .repo()
            .delete_target(scope, channel, id, &audit)
            .await?;
        Ok(())
    }

    /// The passphrase change as stored: `None` keeps it, `Some(None)` removes it, otherwise
    /// sealed (bound to the target, apart from its key).
    fn seal_passphrase(
        &self,
        id: TargetId,
        change: &PassphraseChange,
    ) -> Result<Option<Option<String>>> {
        Ok(match change {
            PassphraseChange::Keep => None,
            PassphraseChange::Clear => Some(None),
            PassphraseChange::Set(p) => {
                Some(Some(self.app.sealer()?.seal(&passphrase_binding(id), p)?))
            }
        })
    }

    /// Refuses an address the outbound-fetch guard would refuse (a private network, a host
    /// that does not resolve), now rather than at the first push.
    async fn check_address(&self, fields: &TargetFields) -> Result<()> {
        let url = if cityx_core::live::target::is_srt(&fields.url) {
            cityx_fetch::Url::parse(&fields.url)
                .map_err(|_| Error::field("url", "bad_format", "not an srt://host:port address"))?
        } else {
            crate::rtmp_client::split_address(&fields.url)
                .map_err(|e| Error::field("url", "bad_format", e.to_string()))?
                .0
        };
        self.app
            .fetch_guard()
            .admit(&url)
            .await
            .map_err(url_refused)?;
        Ok(())
    }
}

/// What a target's sealed passphrase is bound to (not to be opened as its key).
pub(crate) fn passphrase_binding(id: TargetId) -> String {
    format!("{id}/passphrase")
}
