use super::TokenList;
use crate::error::{ApiResult, ErrorBody};
use crate::http::{ApiJson, ApiPath, ApiQuery, Caller, HttpState};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cityx_app::NewToken;
use cityx_core::{ApiToken, Scope, ScopeSet, TokenId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TokenListParams {
    /// Only this user's tokens (admins); others always see only their own.
    pub user_id: Option<UserId>,
    /// Also list revoked and expired tokens.
    #[serde(default)]
    pub include_inactive: bool,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    #[param(
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    pub cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    #[schema(example = "newsroom importer")]
    pub name: String,
    /// At most the scopes of the credential making the request.
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
    /// 1 to `auth.api_token_max_days`; `auth.api_token_default_days` when absent.
    #[schema(minimum = 1)]
    pub expires_in_days: Option<u32>,
    /// Whose token (admins); the caller's own when absent.
    pub user_id: Option<UserId>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    pub token: ApiToken,
    /// The secret, shown only this once. Send as `Authorization: Bearer <secret>`.
    pub secret: String,
}

/// List tokens: one's own, or, for admins, those of the users they manage.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(TokenListParams),
    responses(
        (status = 200, description = "A page of tokens (never their secrets)", body = TokenList),
        (status = 400, description = "Bad query or cursor", body = ErrorBody),
        (status = 422, description = "`limit` out of range", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Another user's tokens without the right", body = ErrorBody),
    ))]
pub async fn list(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiQuery(q): ApiQuery<TokenListParams>,
) -> ApiResult<Json<TokenList>> {
    let page = cityx_app::page_request(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        st.app
            .access()
            .list_tokens(&actor, q.user_id, q.include_inactive, &page)
            .await?
            .into(),
    ))
}

/// Create a named token. The secret is in the answer and nowhere else.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateToken,
    responses(
        (status = 201, description = "Created", body = CreatedToken),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "More scopes than the caller has, or not the caller's to give", body = ErrorBody),
        (status = 404, description = "No such user visible to the caller", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiJson(b): ApiJson<CreateToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let req = NewToken {
        name: b.name,
        scopes: ScopeSet::of(&b.scopes),
        expires_in_days: b.expires_in_days,
        user_id: b.user_id,
    };
    let (token, secret) = st.app.access().create_token(&actor, &req).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token,
            secret: secret.expose().to_owned(),
        }),
    ))
}

/// Revoke a token. Revoking a revoked token is not an error.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = TokenId, Path, description = "Token id")),
    responses(
        (status = 200, description = "Revoked", body = ApiToken),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 404, description = "No such token the caller may revoke", body = ErrorBody),
    ))]
pub async fn revoke(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<TokenId>,
) -> ApiResult<Json<ApiToken>> {
    Ok(Json(st.app.access().revoke_token(&actor, id).await?))
}
