use crate::error::{ApiResult, ErrorBody};
use crate::http::{ApiJson, Caller, ClientInfo, HttpState};
use axum::Json;
use axum::extract::State;
use cityx_core::{Role, Scope, Station, User};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    #[schema(example = "editor@hztv.cn", format = "email")]
    pub email: String,
    #[schema(max_length = 256)]
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Always `Bearer`.
    pub token_type: &'static str,
}

/// Exchange an email and password for a bearer token.
///
/// The token carries every scope the user's role allows and expires after
/// `auth.login_token_ttl_hours`. Repeated failures for one email or from one address are
/// refused with `429 rate_limited` for a while.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", security(()),
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Wrong email or password", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 429, description = "Too many failures", body = ErrorBody),
    ))]
pub async fn token(
    State(st): State<HttpState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<TokenRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let t = st
        .app
        .access()
        .issue_login_token(&req.email, &req.password, client.ip.as_deref())
        .await?;
    Ok(Json(TokenResponse {
        token: t.secret.expose().to_owned(),
        expires_at: t.expires_at,
        token_type: "Bearer",
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub user: User,
    /// The user's station; absent for hub users.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub station: Option<Station>,
    pub role: Role,
    /// What the presented credential may do.
    pub scopes: Vec<Scope>,
}

/// Who the caller is.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Account disabled or scope missing", body = ErrorBody),
    ))]
pub async fn me(State(st): State<HttpState>, Caller(actor): Caller) -> ApiResult<Json<Me>> {
    let id = actor.user_id.ok_or(crate::error::ApiError::from_code(
        crate::error::ErrorCode::Forbidden,
    ))?;
    let user = st.app.people().get_user(&actor, id).await?;
    let station = match user.station_id {
        Some(s) => Some(st.app.people().get_station(&actor, s).await?),
        None => None,
    };
    Ok(Json(Me {
        role: user.role,
        scopes: actor.scopes.to_vec(),
        user,
        station,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[schema(max_length = 256)]
    pub current_password: String,
    /// At least 10 characters.
    #[schema(min_length = 10, max_length = 256)]
    pub new_password: String,
}

/// What a password change ended.
#[derive(Serialize, ToSchema)]
pub struct PasswordChanged {
    /// How many of the caller's API tokens were revoked (all of them, the one used
    /// included, and what they made).
    pub tokens_revoked: u64,
}

/// Change the caller's own password. Needs a web session or a token with the `admin` scope;
/// wrong current passwords count toward the sign-in limit. Ends all of the caller's web
/// sessions and revokes all of their API tokens, the one used included.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth",
    request_body = PasswordChange,
    responses(
        (status = 200, description = "Changed", body = PasswordChanged),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Account disabled, or a token without the admin scope", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Wrong current password or weak new one", body = ErrorBody),
    ))]
pub async fn change_password(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiJson(req): ApiJson<PasswordChange>,
) -> ApiResult<Json<PasswordChanged>> {
    let tokens_revoked = st
        .app
        .access()
        .change_own_password(&actor, &req.current_password, &req.new_password)
        .await?;
    Ok(Json(PasswordChanged { tokens_revoked }))
}
