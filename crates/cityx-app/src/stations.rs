//! Stations: the tenants.

use crate::{Page, PageRequest, Result};
use cityx_core::validate::StationInput;
use cityx_core::{Actor, AuditAction, NewAudit, Station, StationId, policy};

/// People: stations, users and the audit log. See [`App::people`](crate::App::people).
#[derive(Clone, Copy)]
pub struct People<'a> {
    pub(crate) stations: &'a dyn cityx_db::StationRepo,
    pub(crate) users: &'a dyn cityx_db::UserRepo,
    pub(crate) audit: &'a dyn cityx_db::AuditRepo,
    pub(crate) tokens_seen: &'a crate::auth::TokenCache,
}

/// Changes to a station; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct StationPatch {
    pub name: Option<String>,
    pub code: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub region: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    /// `private`, `exchange` or `public`.
    pub default_visibility: Option<String>,
}

/// A station's default visibility for uploads: one an uploader may choose alone (not
/// `stations`, which needs a list).
pub fn upload_visibility(field: &'static str, value: &str) -> Result<cityx_core::Visibility> {
    use cityx_core::Visibility;
    match value.parse::<Visibility>() {
        Ok(v @ (Visibility::Private | Visibility::Exchange | Visibility::Public)) => Ok(v),
        _ => Err(crate::Error::Validation(vec![cityx_core::FieldError::new(
            field,
            "bad_value",
            format!("{field} must be private, exchange or public"),
        )])),
    }
}

impl People<'_> {
    pub async fn create_station(&self, actor: &Actor, input: &StationInput<'_>) -> Result<Station> {
        policy::manage_stations(actor)?;
        let f = input.validate()?;
        let now = cityx_core::now();
        let station = f.into_station(StationId::new(), now, now);
        let audit = NewAudit::by(
            actor,
            AuditAction::StationCreated,
            "station",
            station.id,
            Some(station.id),
        )
        .detail("code", station.code.as_str())
        .detail("name", station.name.as_str());
        self.stations.insert_station(&station, &audit).await?;
        Ok(station)
    }

    pub async fn get_station(&self, actor: &Actor, id: StationId) -> Result<Station> {
        policy::read(actor)?;
        Ok(self.stations.get_station(actor.tenant_scope(), id).await?)
    }

    pub async fn station_by_code(&self, actor: &Actor, code: &str) -> Result<Station> {
        policy::read(actor)?;
        Ok(self
            .stations
            .find_station_by_code(actor.tenant_scope(), &code.trim().to_ascii_lowercase())
            .await?)
    }

    pub async fn list_stations(&self, actor: &Actor, page: &PageRequest) -> Result<Page<Station>> {
        policy::read(actor)?;
        Ok(self
            .stations
            .list_stations(actor.tenant_scope(), page)
            .await?)
    }

    /// Every member station's id, code and name: what editors need to share items with one
    /// another.
    pub async fn station_directory(&self, actor: &Actor) -> Result<Vec<StationEntry>> {
        Ok(self
            .member_stations(actor)
            .await?
            .into_iter()
            .map(|s| StationEntry {
                id: s.id,
                code: s.code,
                name: s.name,
            })
            .collect())
    }

    /// Every member station with its place and contacts, for every member to read (the web
    /// directory's cards: editors call each other about footage). Changing a station, and
    /// its quota and users, stay the hub's and its own.
    pub async fn member_stations(&self, actor: &Actor) -> Result<Vec<Station>> {
        policy::read(actor)?;
        let mut out = Vec::new();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let p = self
                .stations
                .list_stations(cityx_core::TenantScope::All, &page)
                .await?;
            out.extend(p.items);
            match p.next {
                Some(next) => page.after = Some(next),
                None => return Ok(out),
            }
        }
    }

    pub async fn update_station(
        &self,
        actor: &Actor,
        id: StationId,
        patch: &StationPatch,
    ) -> Result<Station> {
        // Look first, so that a station outside the caller's view is "not found" for
        // everyone, then check the permission.
        let old = self.stations.get_station(actor.tenant_scope(), id).await?;
        policy::manage_stations(actor)?;
        let pick = |new: &Option<String>, old: &str| new.clone().unwrap_or_else(|| old.to_owned());
        let (name, code, city, province) = (
            pick(&patch.name, &old.name),
            pick(&patch.code, &old.code),
            pick(&patch.city, &old.city),
            pick(&patch.province, &old.province),
        );
        let region = pick(&patch.region, old.region.as_str());
        let (contact_name, contact_phone, contact_email) = (
            pick(&patch.contact_name, &old.contact_name),
            pick(&patch.contact_phone, &old.contact_phone),
            pick(&patch.contact_email, &old.contact_email),
        );
        let f = StationInput {
            name: &name,
            code: &code,
            city: &city,
            province: &province,
            region: &region,
            contact_name: &contact_name,
            contact_phone: &contact_phone,
            contact_email: &contact_email,
        }
        .validate()?;
        let mut station = f.into_station(id, old.created_at, cityx_core::now());
        station.default_visibility = match patch.default_visibility.as_deref() {
            Some(v) => upload_visibility("default_visibility", v)?,
            None => old.default_visibility,
        };
        let mut changed = serde_json::Map::new();
        for (key, before, after) in [
            ("name", &old.name, &station.name),
            ("code", &old.code, &station.code),
            ("city", &old.city, &station.city),
            ("province", &old.province, &station.province),
            ("contact_name", &old.contact_name, &station.contact_name),
            ("contact_phone", &old.contact_phone, &station.contact_phone),
            ("contact_email", &old.contact_email, &station.contact_email),
        ] {
            if before != after {
                changed.insert(
                    key.to_owned(),
                    serde_json::json!({ "from": before, "to": after }),
                );
            }
        }
        if old.default_visibility != station.default_visibility {
            changed.insert(
                "default_visibility".to_owned(),
                serde_json::json!({
                    "from": old.default_visibility.as_str(),
                    "to": station.default_visibility.as_str(),
                }),
            );
        }
        if old.region != station.region {
            changed.insert(
                "region".to_owned(),
                serde_json::json!({ "from": old.region.as_str(), "to": station.region.as_str() }),
            );
        }
        let audit = NewAudit::by(actor, AuditAction::StationUpdated, "station", id, Some(id))
            .detail("changed", serde_json::Value::Object(changed));
        self.stations
            .update_station(actor.tenant_scope(), &station, &audit)
            .await?;
        self.tokens_seen.clear();
        Ok(station)
    }
}

/// A station as other members see it in the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StationEntry {
    pub id: cityx_core::StationId,
    pub code: String,
    pub name: String,
}
