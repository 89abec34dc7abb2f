//! Topic zones (专区): the hub creates and changes them; stations contribute their own items
//! while a zone is open; everyone reads them, each item under its rights.

use crate::{Error, Result};
use cityx_core::zone::ZoneFields;
use cityx_core::{
    Actor, AssetId, AuditAction, NewAudit, TenantScope, Zone, ZoneId, ZoneInput, ZoneItem, policy,
};

/// Topic zones. See [`App::zones`](crate::App::zones).
#[derive(Clone, Copy)]
pub struct Zones<'a> {
    pub(crate) zones: &'a dyn cityx_db::ZoneRepo,
    pub(crate) exchange: &'a dyn cityx_db::ExchangeRepo,
}

/// Items a zone page lists at most.
const ZONE_PAGE_ITEMS: u32 = 200;

/// A zone and the items of it the reader may see.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ZoneView {
    pub zone: Zone,
    /// The zone's items the caller may see, latest first.
    pub items: Vec<ZoneItem>,
}

impl Zones<'_> {
    /// Checks a zone's fields against the database: the cover is an item that everyone who
    /// reads zones may see (ready, shared with every station, not under embargo), so that
    /// no private item's id shows through a zone; invited stations exist.
    async fn zone_fields(&self, input: &ZoneInput<'_>) -> Result<ZoneFields> {
        let fields = input.validate()?;
        if let Some(cover) = fields.cover_asset_id
            && !self.cover_visible(TenantScope::Nothing, cover).await?
        {
            return Err(Error::field(
                "cover_asset_id",
                "not_shared",
                "the cover must be a ready item shared with every station and not under embargo",
            ));
        }
        Ok(fields)
    }

    async fn cover_visible(&self, scope: TenantScope, cover: AssetId) -> Result<bool> {
        match self
            .exchange
            .get_visible_asset(scope, cover, cityx_core::now())
            .await
        {
            Ok(a) => Ok(a.deleted_at.is_none()),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// A zone as `actor` may read it: a cover whose rights have narrowed since it was
    /// chosen is left out.
    async fn as_seen_by(&self, actor: &Actor, mut zone: Zone) -> Result<Zone> {
        let scope = actor.tenant_scope();
        // The hub sees every item: no read needed.
        if let Some(cover) = zone.cover_asset_id
            && scope != TenantScope::All
            && !self.cover_visible(scope, cover).await?
        {
            zone.cover_asset_id = None;
        }
        Ok(zone)
    }

    fn unknown_station(e: cityx_db::Error) -> Error {
        match e {
            cityx_db::Error::NotFound { entity: "station" } => Error::field(
                "invited",
                "unknown_station",
                "invited names a station that does not exist",
            ),
            e => e.into(),
        }
    }

    /// Creates a zone: the hub's roles.
    pub async fn create_zone(&self, actor: &Actor, input: &ZoneInput<'_>) -> Result<Zone> {
        policy::manage_zones(actor)?;
        let fields = self.zone_fields(input).await?;
        let id = ZoneId::new();
        let by = actor.user_id.ok_or(Error::Forbidden)?;
        let audit = NewAudit::by(actor, AuditAction::ZoneCreated, "zone", id, None)
            .detail("title", fields.title.clone());
        self.zones
            .insert_zone(id, &fields, by, &audit)
            .await
            .map_err(Self::unknown_station)?;
        tracing::info!(zone = %id, "zone created");
        Ok(self.zones.get_zone(id).await?)
    }

    /// Changes a zone's fields and invitations: the hub's roles.
    pub async fn update_zone(
        &self,
        actor: &Actor,
        id: ZoneId,
        input: &ZoneInput<'_>,
    ) -> Result<Zone> {
        policy::manage_zones(actor)?;
        let fields = self.zone_fields(input).await?;
        let audit = NewAudit::by(actor, AuditAction::ZoneUpdated, "zone", id, None);
        self.zones
            .update_zone(id, &fields, &audit)
            .await
            .map_err(Self::unknown_station)?;
        Ok(self.zones.get_zone(id).await?)
    }

    /// Every zone, latest window first: anyone signed in.
    pub async fn list_zones(&self, actor: &Actor) -> Result<Vec<Zone>> {
        policy::read(actor)?;
        let mut zones = Vec::new();
        for zone in self.zones.list_zones(200).await? {
            zones.push(self.as_seen_by(actor, zone).await?);
        }
        Ok(zones)
    }

    /// A zone with the items of it the caller may see.
    pub async fn get_zone(&self, actor: &Actor, id: ZoneId) -> Result<ZoneView> {
        policy::read(actor)?;
        let zone = self
            .as_seen_by(actor, self.zones.get_zone(id).await?)
            .await?;
        let items = self
            .zones
            .zone_items(actor.tenant_scope(), id, cityx_core::now(), ZONE_PAGE_ITEMS)
            .await?;
        Ok(ZoneView { zone, items })
    }

    /// Contributes one of the caller's station's items to an open zone. Contributing it
    /// again changes nothing (`false`).
    pub async fn contribute_to_zone(
        &self,
        actor: &Actor,
        zone: ZoneId,
        asset: AssetId,
    ) -> Result<bool> {
        policy::contribute(actor)?;
        let station = actor.station_id.ok_or(Error::Forbidden)?;
        let by = actor.user_id.ok_or(Error::Forbidden)?;
        let audit = NewAudit::by(
            actor,
            AuditAction::ZoneContributed,
            "zone",
            zone,
            Some(station),
        )
        .detail("asset", asset.to_string());
        match self
            .zones
            .add_zone_item(station, zone, asset, by, &audit)
            .await
        {
            Err(cityx_db::Error::WrongState { entity: "zone", .. }) => Err(Error::ZoneClosed),
            r => Ok(r?),
        }
    }

    /// Takes an item out of a zone: its station's contributors, or the hub's roles for any.
    pub async fn remove_from_zone(
        &self,
        actor: &Actor,
        zone: ZoneId,
        asset: AssetId,
    ) -> Result<()> {
        let scope = if policy::manage_zones(actor).is_ok() {
            TenantScope::All
        } else {
            policy::contribute(actor)?;
            actor.tenant_scope()
        };
        let audit = NewAudit::by(actor, AuditAction::ZoneItemRemoved, "zone", zone, None)
            .detail("asset", asset.to_string());
        Ok(self
            .zones
            .remove_zone_item(scope, zone, asset, &audit)
            .await?)
    }
}
