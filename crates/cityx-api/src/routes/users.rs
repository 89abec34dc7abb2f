use super::UserList;
use crate::error::{ApiResult, ErrorBody};
use crate::http::{ApiJson, ApiPath, ApiQuery, Caller, HttpState};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cityx_app::{NewUser, UserPatch};
use cityx_core::{Role, StationId, User, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListParams {
    /// Only users of this station.
    pub station_id: Option<StationId>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    #[param(
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    pub cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[schema(example = "editor@hztv.cn", format = "email")]
    pub email: String,
    #[schema(example = "张编辑", min_length = 1, max_length = 100)]
    pub display_name: String,
    pub role: Role,
    /// Required for station roles, absent for hub roles.
    pub station_id: Option<StationId>,
    /// At least 10 characters; generated and returned once when absent.
    #[schema(min_length = 10, max_length = 256)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedUser {
    pub user: User,
    /// Present when the server generated the password; shown only this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub display_name: Option<String>,
    /// Within the same kind: hub roles stay hub roles, station roles stay station roles.
    pub role: Option<Role>,
    /// A disabled user cannot sign in; their sessions end at once.
    pub disabled: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    /// At least 10 characters; generated and returned once when absent.
    #[schema(min_length = 10, max_length = 256)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PasswordResetResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_password: Option<String>,
    /// How many of the user's API tokens the reset revoked (all of them, and what they made).
    pub tokens_revoked: u64,
}

/// List users: hub users see everyone, station admins their station.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserListParams),
    responses(
        (status = 200, description = "A page of users", body = UserList),
        (status = 400, description = "Bad query or cursor", body = ErrorBody),
        (status = 422, description = "`limit` out of range", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Role or scope does not allow", body = ErrorBody),
    ))]
pub async fn list(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiQuery(q): ApiQuery<UserListParams>,
) -> ApiResult<Json<UserList>> {
    let page = cityx_app::page_request(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        st.app
            .people()
            .list_users(&actor, q.station_id, &page)
            .await?
            .into(),
    ))
}

/// Create a user. Hub admins create anyone; station admins create station roles in their
/// own station.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = CreatedUser),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Role or scope does not allow", body = ErrorBody),
        (status = 409, description = "Email taken", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiJson(b): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<CreatedUser>)> {
    let (user, generated_password) = st
        .app
        .people()
        .create_user(
            &actor,
            &NewUser {
                email: b.email,
                display_name: b.display_name,
                role: b.role.as_str().to_owned(),
                station_id: b.station_id,
                password: b.password,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            user,
            generated_password,
        }),
    ))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = UserId, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Scope missing", body = ErrorBody),
        (status = 404, description = "No such user visible to the caller", body = ErrorBody),
    ))]
pub async fn get(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<UserId>,
) -> ApiResult<Json<User>> {
    Ok(Json(st.app.people().get_user(&actor, id).await?))
}

/// Change a user's name, role or whether they are disabled.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UpdateUser,
    params(("id" = UserId, Path, description = "User id")),
    responses(
        (status = 200, description = "Changed", body = User),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Role or scope does not allow", body = ErrorBody),
        (status = 404, description = "No such user visible to the caller", body = ErrorBody),
        (status = 409, description = "Own role or account", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
    ))]
pub async fn update(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(b): ApiJson<UpdateUser>,
) -> ApiResult<Json<User>> {
    let patch = UserPatch {
        display_name: b.display_name,
        role: b.role.map(|r| r.as_str().to_owned()),
        disabled: b.disabled,
    };
    Ok(Json(st.app.people().update_user(&actor, id, &patch).await?))
}

/// Set a user's password (an administrator's reset). Ends the user's web sessions and
/// revokes every one of their API tokens.
#[utoipa::path(post, path = "/api/v1/users/{id}/password", tag = "users", request_body = ResetPassword,
    params(("id" = UserId, Path, description = "User id")),
    responses(
        (status = 200, description = "Reset", body = PasswordResetResult),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Role or scope does not allow", body = ErrorBody),
        (status = 404, description = "No such user visible to the caller", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Weak password", body = ErrorBody),
    ))]
pub async fn reset_password(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(b): ApiJson<ResetPassword>,
) -> ApiResult<Json<PasswordResetResult>> {
    let (generated_password, tokens_revoked) = st
        .app
        .people()
        .reset_password(&actor, id, b.password.as_deref())
        .await?;
    Ok(Json(PasswordResetResult {
        generated_password,
        tokens_revoked,
    }))
}
