//! The records cityx keeps about stations and people, and the caller of a request.

use crate::ids::{AuditId, StationId, TokenId, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// What a user may do. Hub roles belong to the network operator and have no station;
/// station roles belong to exactly one station.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the platform: stations, every user, every token.
    HubAdmin,
    /// Runs topic zones, joint events and reviews; reads everything, manages no people.
    HubEditor,
    /// Manages the users and tokens of one station.
    StationAdmin,
    /// Contributes, searches and adopts for one station.
    Editor,
    /// Reads what one station may read.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::HubAdmin,
        Role::HubEditor,
        Role::StationAdmin,
        Role::Editor,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::HubAdmin => "hub_admin",
            Role::HubEditor => "hub_editor",
            Role::StationAdmin => "station_admin",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
        }
    }

    /// Hub roles see the whole network and have no station.
    pub fn is_hub(self) -> bool {
        matches!(self, Role::HubAdmin | Role::HubEditor)
    }

    /// The most a token of a user with this role may be granted.
    pub fn grantable_scopes(self) -> ScopeSet {
        match self {
            Role::HubAdmin | Role::StationAdmin => ScopeSet::ALL,
            Role::HubEditor | Role::Editor => ScopeSet::of(&[Scope::Read, Scope::Write]),
            Role::Viewer => ScopeSet::of(&[Scope::Read]),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

from_name!(Role);

/// A name that is not one of an enumeration's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value `{0}`")]
pub struct UnknownName(pub String);

/// What a token may be used for, on top of what its user's role allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read anything the role may read.
    Read,
    /// Change content (items, zones, adoptions) the role may change.
    Write,
    /// Manage stations, users and tokens the role may manage.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Scope::Read => 1,
            Scope::Write => 2,
            Scope::Admin => 4,
        }
    }
}

from_name!(Scope);

/// A set of scopes, stored as space-separated names (`"read write"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ScopeSet(u8);

impl ScopeSet {
    pub const ALL: ScopeSet = ScopeSet(7);
    pub const NONE: ScopeSet = ScopeSet(0);

    pub fn of(scopes: &[Scope]) -> Self {
        ScopeSet(scopes.iter().fold(0, |acc, s| acc | s.bit()))
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn is_subset_of(self, other: ScopeSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn intersect(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 & other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// Space-separated names, the stored form.
    pub fn to_names(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }

    /// Parses the stored form; unknown names are an error.
    pub fn parse_names(s: &str) -> Result<Self, UnknownName> {
        let mut set = ScopeSet::NONE;
        for name in s.split_whitespace() {
            set.0 |= name.parse::<Scope>()?.bit();
        }
        Ok(set)
    }

    pub fn to_vec(self) -> Vec<Scope> {
        self.iter().collect()
    }
}

/// The seven geographic regions that China's broadcasters group provinces into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    North,
    Northeast,
    East,
    Central,
    South,
    Southwest,
    Northwest,
}

impl Region {
    pub const ALL: [Region; 7] = [
        Region::North,
        Region::Northeast,
        Region::East,
        Region::Central,
        Region::South,
        Region::Southwest,
        Region::Northwest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Region::North => "north",
            Region::Northeast => "northeast",
            Region::East => "east",
            Region::Central => "central",
            Region::South => "south",
            Region::Southwest => "southwest",
            Region::Northwest => "northwest",
        }
    }

    /// The usual Chinese name (华北 …).
    pub fn zh(self) -> &'static str {
        match self {
            Region::North => "华北",
            Region::Northeast => "东北",
            Region::East => "华东",
            Region::Central => "华中",
            Region::South => "华南",
            Region::Southwest => "西南",
            Region::Northwest => "西北",
        }
    }
}

from_name!(Region);

/// A member station: a tenant of the platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Station {
    pub id: StationId,
    /// Display name, e.g. 杭州电视台.
    pub name: String,
    /// Short unique code, lowercase letters, digits and hyphens, e.g. `hztv`.
    pub code: String,
    pub city: String,
    pub province: String,
    pub region: Region,
    pub contact_name: String,
    pub contact_phone: String,
    pub contact_email: String,
    /// Who may see a new upload unless its uploader chooses otherwise: `private`,
    /// `exchange` or `public`.
    pub default_visibility: crate::Visibility,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A person who signs in. Never serialised with its password hash: that stays in the
/// database layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    pub id: UserId,
    /// Lowercased; unique across the platform.
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// `null` for hub roles.
    pub station_id: Option<StationId>,
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<OffsetDateTime>,
}

/// How a token came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// Named, created in the UI, the API or `cityx admin`.
    Api,
    /// Issued by `POST /api/v1/auth/token` for a script that signed in with a password.
    Login,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Api => "api",
            TokenKind::Login => "login",
        }
    }
}

impl FromStr for TokenKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "api" => Ok(TokenKind::Api),
            "login" => Ok(TokenKind::Login),
            _ => Err(UnknownName(s.to_owned())),
        }
    }
}

/// A bearer token as listed: never the secret, only its first characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ApiToken {
    pub id: TokenId,
    pub user_id: UserId,
    /// The owner's station, `null` for hub users.
    pub station_id: Option<StationId>,
    pub name: String,
    pub kind: TokenKind,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    #[serde(serialize_with = "ser_scopes")]
    #[schema(value_type = Vec<Scope>)]
    pub scopes: ScopeSet,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

fn ser_scopes<S: serde::Serializer>(s: &ScopeSet, ser: S) -> Result<S::Ok, S::Error> {
    ser.collect_seq(s.iter())
}

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: AuditId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The user who acted; `null` for the system and for failed logins of unknown emails.
    pub actor_user_id: Option<UserId>,
    /// Email of the actor, or `system`.
    pub actor_label: String,
    /// The station the change concerns, `null` for hub-wide events.
    pub station_id: Option<StationId>,
    /// Stable action name, e.g. `login_failed`, `user_created`.
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub ok: bool,
    pub ip: Option<String>,
    /// Action-specific details as a JSON object.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// The authenticated caller of a request, a CLI command or a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// `None` for the system itself (`cityx admin`, start-up).
    pub user_id: Option<UserId>,
    /// Email of the user, or `system`.
    pub label: String,
    pub role: Role,
    pub station_id: Option<StationId>,
    /// What this credential may do; a session or the system has all its role allows.
    pub scopes: ScopeSet,
    /// The token used, when the caller presented one.
    pub token_id: Option<TokenId>,
    /// The network address the caller came from, for the audit log.
    pub ip: Option<String>,
}

impl Actor {
    /// The operator at the console (`cityx admin`), acting as a hub admin.
    pub fn system() -> Self {
        Actor {
            user_id: None,
            label: "system".to_owned(),
            role: Role::HubAdmin,
            station_id: None,
            scopes: ScopeSet::ALL,
            token_id: None,
            ip: None,
        }
    }

    /// The signed-in user of a web session: everything the role allows.
    pub fn for_user(user: &User, token_id: Option<TokenId>, scopes: ScopeSet) -> Self {
        Actor {
            user_id: Some(user.id),
            label: user.email.clone(),
            role: user.role,
            station_id: user.station_id,
            scopes: scopes.intersect(user.role.grantable_scopes()),
            token_id,
            ip: None,
        }
    }

    /// The same caller, coming from `ip`.
    pub fn from_ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }

    /// The rows this caller may see.
    pub fn tenant_scope(&self) -> TenantScope {
        match (self.role.is_hub(), self.station_id) {
            (true, _) => TenantScope::All,
            (false, Some(s)) => TenantScope::Station(s),
            // A station role without a station sees nothing; the database forbids this
            // combination, so this is only a safe default.
            (false, None) => TenantScope::Nothing,
        }
    }
}

/// Which tenant rows a repository call may touch. Every repository read and write of tenant
/// data takes one, so that a station can never reach another station's rows even if a handler
/// forgets a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TenantScope {
    /// The hub and the system: every station.
    All,
    /// One station's rows only.
    Station(StationId),
    /// No rows at all.
    Nothing,
}

impl TenantScope {
    /// Whether a row belonging to `station` (`None` = a hub row) is inside this scope.
    pub fn admits(self, station: Option<StationId>) -> bool {
        match self {
            TenantScope::All => true,
            TenantScope::Station(s) => station == Some(s),
            TenantScope::Nothing => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_names_round_trip() {
        let s = ScopeSet::of(&[Scope::Admin, Scope::Read]);
        assert_eq!(s.to_names(), "read admin");
        assert_eq!(ScopeSet::parse_names("read admin"), Ok(s));
        assert_eq!(ScopeSet::parse_names(""), Ok(ScopeSet::NONE));
        assert!(ScopeSet::parse_names("read root").is_err());
    }

    #[test]
    fn scope_subsets() {
        let rw = ScopeSet::of(&[Scope::Read, Scope::Write]);
        assert!(ScopeSet::of(&[Scope::Read]).is_subset_of(rw));
        assert!(!ScopeSet::ALL.is_subset_of(rw));
        assert!(ScopeSet::NONE.is_subset_of(rw));
    }

    #[test]
    fn roles_parse_and_grant() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
        assert!(!Role::Viewer.grantable_scopes().contains(Scope::Write));
        assert!(Role::StationAdmin.grantable_scopes().contains(Scope::Admin));
        assert!(!Role::HubEditor.grantable_scopes().contains(Scope::Admin));
    }

    #[test]
    fn actor_scopes_never_exceed_role() {
        let user = User {
            id: UserId::new(),
            email: "v@example.cn".into(),
            display_name: "v".into(),
            role: Role::Viewer,
            station_id: Some(StationId::new()),
            disabled: false,
            created_at: crate::now(),
            updated_at: crate::now(),
            last_login_at: None,
        };
        let a = Actor::for_user(&user, None, ScopeSet::ALL);
        assert_eq!(a.scopes, ScopeSet::of(&[Scope::Read]));
        assert_eq!(
            a.tenant_scope(),
            TenantScope::Station(user.station_id.unwrap_or_default())
        );
    }

    #[test]
    fn tenant_scope_admits() {
        let s = StationId::new();
        assert!(TenantScope::All.admits(None));
        assert!(TenantScope::Station(s).admits(Some(s)));
        assert!(!TenantScope::Station(s).admits(Some(StationId::new())));
        assert!(!TenantScope::Station(s).admits(None));
        assert!(!TenantScope::Nothing.admits(Some(s)));
    }
}
