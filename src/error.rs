//! The one error type of the HTTP API, rendered as RFC 9457 `application/problem+json` with a
//! machine-readable `code` the apps switch on. Causes are logged, never sent: a body says what the
//! caller can do about it, not what went wrong inside.

use std::borrow::Cow;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http_context;

/// Every machine-readable error code the API can answer with. The wire form is the snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body is not valid JSON, or not the expected shape.
    MalformedJson,
    /// 400: a query-string parameter is missing, unknown or malformed.
    InvalidQuery,
    /// 400: the request cannot be acted on as sent (see the specific code).
    BadRequest,
    /// 401: no valid credentials.
    Unauthorized,
    /// 403: authenticated, but not allowed.
    Forbidden,
    /// 404: nothing here, or nothing the caller may see.
    NotFound,
    /// 405: the path exists but not with this method (see `Allow`).
    MethodNotAllowed,
    /// 409: the request conflicts with the current state of the resource.
    Conflict,
    /// 413: the body is larger than this endpoint accepts.
    PayloadTooLarge,
    /// 415: the body's media type is not accepted here.
    UnsupportedMediaType,
    /// 422: well-formed, but the values are not acceptable (see `errors`).
    ValidationFailed,
    /// 431: the request line and headers are larger than `http.max_header_bytes`.
    HeadersTooLarge,
    /// 408: the client stopped sending its request body (or took too long over it).
    RequestTimeout,
    /// 429: too many requests; retry after `Retry-After` seconds.
    TooManyRequests,
    /// 503: the database cannot be reached right now; retry after `Retry-After` seconds.
    DatabaseUnavailable,
    /// 503: the database schema is older than this server (readiness only).
    MigrationsPending,
    /// 500: a bug. The request id in the body lets an operator find it in the logs.
    InternalError,
    /// 400: the password-reset token is unknown, used or expired.
    InvalidResetToken,
    /// 401: wrong login or password (the same for an unknown account).
    InvalidCredentials,
    /// 401: a used refresh token was presented again; its session is now revoked.
    RefreshTokenReused,
    /// 401: unknown or expired refresh token, or its session has ended.
    InvalidRefreshToken,
    /// 401: the access token's session has ended (logout, reuse, password reset, deleted account).
    SessionRevoked,
    /// 401: the account is disabled.
    AccountDisabled,
    /// 401: unknown or revoked `X-Api-Key`.
    InvalidApiKey,
    /// 401: the access token has expired; refresh it.
    TokenExpired,
    /// 401: the access token's signature does not verify.
    TokenInvalidSignature,
    /// 401: the access token was not issued by this server.
    TokenInvalidIssuer,
    /// 401: the access token is meant for another audience.
    TokenInvalidAudience,
    /// 401: the access token uses another algorithm (`alg: none` included).
    TokenInvalidAlgorithm,
    /// 401: the Authorization header is not `Bearer <JWT>`.
    TokenMalformed,
    /// 403: the current password given to confirm a change is wrong.
    WrongPassword,
    /// 409: the phone or email already has an account.
    AccountExists,
    /// 413: the photo is over 15 MB or 40 megapixels.
    PhotoTooLarge,
    /// 422: the photo cannot be decoded (corrupt or truncated).
    PhotoUnreadable,
    /// 422: no active category has this code.
    UnknownCategory,
    /// 422: the description is longer than allowed.
    DescriptionTooLong,
    /// 422: the reporter has not consented to the processing of their data.
    ConsentRequired,
    /// 422: the location is in no area this deployment serves.
    LocationOutsideJurisdiction,
    /// 422: a media id is unknown, not the caller's, expired or already attached.
    InvalidMedia,
    /// 409: this `Idempotency-Key` was used with a different request.
    IdempotencyKeyReused,
    /// 503: the photo store cannot be written right now; retry after `Retry-After` seconds.
    StorageUnavailable,
    /// 409: the action is not possible in the report's current state (or no longer: someone
    /// acted first).
    InvalidTransition,
    /// 409: this resolution was already rated.
    AlreadyRated,
    /// 409: the ticket changed since the caller read it (`If-Match` names an older version);
    /// reload and decide again.
    StaleVersion,
    /// 507: the photo store has no space left; retry after `Retry-After` seconds (an operator
    /// has to free space first).
    StorageFull,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            MalformedJson | InvalidQuery | BadRequest => StatusCode::BAD_REQUEST,
            Unauthorized => StatusCode::UNAUTHORIZED,
            Forbidden => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Conflict => StatusCode::CONFLICT,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            DatabaseUnavailable | MigrationsPending => StatusCode::SERVICE_UNAVAILABLE,
            InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            InvalidResetToken => StatusCode::BAD_REQUEST,
            InvalidCredentials => StatusCode::UNAUTHORIZED,
            RefreshTokenReused => StatusCode::UNAUTHORIZED,
            InvalidRefreshToken => StatusCode::UNAUTHORIZED,
            SessionRevoked => StatusCode::UNAUTHORIZED,
            AccountDisabled => StatusCode::UNAUTHORIZED,
            InvalidApiKey => StatusCode::UNAUTHORIZED,
            TokenExpired => StatusCode::UNAUTHORIZED,
            TokenInvalidSignature => StatusCode::UNAUTHORIZED,
            TokenInvalidIssuer => StatusCode::UNAUTHORIZED,
            TokenInvalidAudience => StatusCode::UNAUTHORIZED,
            TokenInvalidAlgorithm => StatusCode::UNAUTHORIZED,
            TokenMalformed => StatusCode::UNAUTHORIZED,
            WrongPassword => StatusCode::FORBIDDEN,
            AccountExists => StatusCode::CONFLICT,
            PhotoTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            PhotoUnreadable => StatusCode::UNPROCESSABLE_ENTITY,
            UnknownCategory => StatusCode::UNPROCESSABLE_ENTITY,
            DescriptionTooLong => StatusCode::UNPROCESSABLE_ENTITY,
            ConsentRequired => StatusCode::UNPROCESSABLE_ENTITY,
            LocationOutsideJurisdiction => StatusCode::UNPROCESSABLE_ENTITY,
            InvalidMedia => StatusCode::UNPROCESSABLE_ENTITY,
            IdempotencyKeyReused => StatusCode::CONFLICT,
            StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            InvalidTransition | AlreadyRated | StaleVersion => StatusCode::CONFLICT,
            StorageFull => StatusCode::INSUFFICIENT_STORAGE,
        }
    }

    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            MalformedJson => "malformed_json",
            InvalidQuery => "invalid_query",
            BadRequest => "bad_request",
            Unauthorized => "unauthorized",
            Forbidden => "forbidden",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            Conflict => "conflict",
            PayloadTooLarge => "payload_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            ValidationFailed => "validation_failed",
            RequestTimeout => "request_timeout",
            HeadersTooLarge => "headers_too_large",
            TooManyRequests => "too_many_requests",
            DatabaseUnavailable => "database_unavailable",
            MigrationsPending => "migrations_pending",
            InternalError => "internal_error",
            InvalidResetToken => "invalid_reset_token",
            InvalidCredentials => "invalid_credentials",
            RefreshTokenReused => "refresh_token_reused",
            InvalidRefreshToken => "invalid_refresh_token",
            SessionRevoked => "session_revoked",
            AccountDisabled => "account_disabled",
            InvalidApiKey => "invalid_api_key",
            TokenExpired => "token_expired",
            TokenInvalidSignature => "token_invalid_signature",
            TokenInvalidIssuer => "token_invalid_issuer",
            TokenInvalidAudience => "token_invalid_audience",
            TokenInvalidAlgorithm => "token_invalid_algorithm",
            TokenMalformed => "token_malformed",
            WrongPassword => "wrong_password",
            AccountExists => "account_exists",
            PhotoTooLarge => "photo_too_large",
            PhotoUnreadable => "photo_unreadable",
            UnknownCategory => "unknown_category",
            DescriptionTooLong => "description_too_long",
            ConsentRequired => "consent_required",
            LocationOutsideJurisdiction => "location_outside_jurisdiction",
            InvalidMedia => "invalid_media",
            IdempotencyKeyReused => "idempotency_key_reused",
            StorageUnavailable => "storage_unavailable",
            InvalidTransition => "invalid_transition",
            AlreadyRated => "already_rated",
            StaleVersion => "stale_version",
            StorageFull => "storage_full",
        }
    }

    /// Short, stable summary (Vietnamese, English).
    fn title(self) -> Text {
        use ErrorCode::*;
        let (vi, en) = match self {
            MalformedJson => ("Dữ liệu gửi lên không hợp lệ", "Malformed request body"),
            InvalidQuery => ("Tham số truy vấn không hợp lệ", "Invalid query parameters"),
            BadRequest => ("Yêu cầu không hợp lệ", "Bad request"),
            Unauthorized => ("Chưa đăng nhập", "Authentication required"),
            Forbidden => ("Không có quyền", "Not allowed"),
            NotFound => ("Không tìm thấy", "Not found"),
            MethodNotAllowed => ("Phương thức không được hỗ trợ", "Method not allowed"),
            Conflict => ("Xung đột dữ liệu", "Conflict"),
            PayloadTooLarge => ("Dữ liệu quá lớn", "Payload too large"),
            UnsupportedMediaType => ("Định dạng không được hỗ trợ", "Unsupported media type"),
            ValidationFailed => ("Dữ liệu không hợp lệ", "Invalid values"),
            RequestTimeout => ("Hết thời gian chờ dữ liệu", "Request timeout"),
            HeadersTooLarge => ("Phần đầu yêu cầu quá lớn", "Request headers too large"),
            TooManyRequests => ("Quá nhiều yêu cầu", "Too many requests"),
            DatabaseUnavailable => (
                "Hệ thống tạm thời gián đoạn, vui lòng thử lại sau",
                "Temporarily unavailable, please retry",
            ),
            MigrationsPending => (
                "Cơ sở dữ liệu chưa được nâng cấp",
                "Database migrations pending",
            ),
            InternalError => ("Lỗi hệ thống", "Internal error"),
            InvalidResetToken => (
                "Liên kết đặt lại mật khẩu không hợp lệ",
                "Invalid reset token",
            ),
            InvalidCredentials => ("Sai tài khoản hoặc mật khẩu", "Wrong login or password"),
            RefreshTokenReused => ("Mã làm mới đã được dùng", "Refresh token reused"),
            InvalidRefreshToken => ("Phiên đăng nhập không hợp lệ", "Invalid refresh token"),
            SessionRevoked => ("Phiên đăng nhập đã kết thúc", "Session ended"),
            AccountDisabled => ("Tài khoản đã bị khóa", "Account disabled"),
            InvalidApiKey => ("Khóa API không hợp lệ", "Invalid API key"),
            TokenExpired => ("Phiên đăng nhập đã hết hạn", "Access token expired"),
            TokenInvalidSignature => ("Mã xác thực không hợp lệ", "Invalid token signature"),
            TokenInvalidIssuer => ("Mã xác thực không hợp lệ", "Invalid token issuer"),
            TokenInvalidAudience => ("Mã xác thực không hợp lệ", "Invalid token audience"),
            TokenInvalidAlgorithm => ("Mã xác thực không hợp lệ", "Invalid token algorithm"),
            TokenMalformed => ("Mã xác thực không hợp lệ", "Malformed token"),
            WrongPassword => ("Mật khẩu hiện tại không đúng", "Wrong current password"),
            AccountExists => ("Tài khoản đã tồn tại", "Account exists"),
            PhotoTooLarge => ("Ảnh quá lớn", "Photo too large"),
            PhotoUnreadable => ("Không đọc được ảnh", "Photo unreadable"),
            UnknownCategory => ("Lĩnh vực không tồn tại", "Unknown category"),
            DescriptionTooLong => ("Nội dung quá dài", "Description too long"),
            ConsentRequired => ("Cần đồng ý xử lý dữ liệu cá nhân", "Consent required"),
            LocationOutsideJurisdiction => {
                ("Vị trí nằm ngoài địa bàn", "Location outside jurisdiction")
            }
            InvalidMedia => ("Ảnh đính kèm không hợp lệ", "Invalid media"),
            IdempotencyKeyReused => (
                "Khóa Idempotency-Key đã dùng cho yêu cầu khác",
                "Idempotency key reused with a different request",
            ),
            StorageUnavailable => ("Kho ảnh tạm thời gián đoạn", "Photo storage unavailable"),
            InvalidTransition => (
                "Không thể thực hiện thao tác này ở trạng thái hiện tại",
                "Not possible in the report's current state",
            ),
            AlreadyRated => (
                "Kết quả này đã được đánh giá",
                "This resolution was already rated",
            ),
            StaleVersion => (
                "Phản ánh đã được người khác cập nhật, vui lòng tải lại",
                "The ticket changed since you loaded it; reload it",
            ),
            StorageFull => (
                "Kho ảnh đã đầy, vui lòng thử lại sau",
                "Photo storage is full; retry later",
            ),
        };
        Text::new(vi, en)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message in both languages; the response carries the one the caller asked for.
#[derive(Debug, Clone)]
pub struct Text {
    pub vi: Cow<'static, str>,
    pub en: Cow<'static, str>,
}

impl Text {
    pub fn new(vi: impl Into<Cow<'static, str>>, en: impl Into<Cow<'static, str>>) -> Self {
        Self {
            vi: vi.into(),
            en: en.into(),
        }
    }
    fn pick(&self, lang: http_context::Lang) -> &str {
        match lang {
            http_context::Lang::Vi => &self.vi,
            http_context::Lang::En => &self.en,
        }
    }
}

/// One invalid field of a 422 (or 400) answer.
#[derive(Debug, Clone)]
pub struct FieldError {
    /// JSON path of the field, e.g. `location.lat`.
    pub field: String,
    /// Machine-readable reason, e.g. `out_of_range`.
    pub code: &'static str,
    pub message: Text,
}

/// Boxed: errors travel in every handler's `Result`, and the happy path should stay small.
#[derive(Debug)]
pub struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    code: ErrorCode,
    detail: Option<Text>,
    errors: Vec<FieldError>,
    retry_after_secs: Option<u32>,
    allow: Option<String>,
    /// Logged, never rendered.
    cause: Option<anyhow::Error>,
}

/// RFC 9457 problem details, as sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:phananh:problem:<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    /// Machine-readable code; stable, snake_case.
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
    /// The request id (also in the `X-Request-Id` header and the logs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemField {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        Self(Box::new(Inner {
            code,
            detail: None,
            errors: Vec::new(),
            retry_after_secs: None,
            allow: None,
            cause: None,
        }))
    }

    pub fn with_detail(
        mut self,
        vi: impl Into<Cow<'static, str>>,
        en: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.0.detail = Some(Text::new(vi, en));
        self
    }

    pub fn with_field(mut self, field: FieldError) -> Self {
        self.0.errors.push(field);
        self
    }

    pub fn with_cause(mut self, cause: impl Into<anyhow::Error>) -> Self {
        self.0.cause = Some(cause.into());
        self
    }

    /// Seconds the client should wait before retrying (`Retry-After`), when known.
    pub fn retry_after_secs(&self) -> Option<u32> {
        self.0.retry_after_secs
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.0.code.status()
    }

    pub fn code(&self) -> &str {
        self.0.code.as_str()
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound)
    }

    pub fn method_not_allowed(allow: String) -> Self {
        let mut e = Self::new(ErrorCode::MethodNotAllowed);
        e.0.allow = Some(allow);
        e
    }

    pub fn invalid_query(
        vi: impl Into<Cow<'static, str>>,
        en: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(ErrorCode::InvalidQuery).with_detail(vi, en)
    }

    pub fn database_unavailable(cause: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(ErrorCode::DatabaseUnavailable).with_cause(cause);
        e.0.retry_after_secs = Some(5);
        e
    }

    pub fn storage_unavailable(cause: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(ErrorCode::StorageUnavailable).with_cause(cause);
        e.0.retry_after_secs = Some(30);
        e
    }

    /// The photo store is out of space. `Retry-After` is longer than for an outage: space comes
    /// back when an operator frees it, not by itself in seconds.
    pub fn storage_full(cause: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(ErrorCode::StorageFull).with_cause(cause);
        e.0.retry_after_secs = Some(300);
        e
    }

    pub fn too_many_requests(wait: std::time::Duration) -> Self {
        let mut e = Self::new(ErrorCode::TooManyRequests).with_detail(
            "Bạn đã thử quá nhiều lần, vui lòng thử lại sau",
            "Too many attempts; try again later",
        );
        e.0.retry_after_secs = Some(u32::try_from(wait.as_secs().max(1)).unwrap_or(u32::MAX));
        e
    }

    /// A client that spent its write budget (`http.writes_per_minute`).
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        let mut e = Self::new(ErrorCode::TooManyRequests).with_detail(
            "Bạn đã gửi quá nhiều yêu cầu thay đổi dữ liệu, vui lòng thử lại sau",
            "Too many changes in a short time; try again later",
        );
        e.0.retry_after_secs = Some(u32::try_from(wait.as_secs().max(1)).unwrap_or(u32::MAX));
        e
    }

    /// The client stopped sending its body (`http.body_idle_timeout_secs`).
    pub fn body_timeout() -> Self {
        Self::new(ErrorCode::RequestTimeout).with_detail(
            "Không nhận được dữ liệu trong thời gian cho phép, vui lòng gửi lại",
            "The request body stopped arriving; send it again",
        )
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::new(ErrorCode::InternalError).with_cause(cause)
    }

    pub fn problem(&self) -> Problem {
        let lang = http_context::lang();
        let code = self.code();
        Problem {
            type_: format!("urn:phananh:problem:{code}"),
            title: self.0.code.title().pick(lang).to_owned(),
            status: self.0.code.status().as_u16(),
            code: code.to_owned(),
            detail: self.0.detail.as_ref().map(|d| d.pick(lang).to_owned()),
            errors: self
                .0
                .errors
                .iter()
                .map(|f| ProblemField {
                    field: f.field.clone(),
                    code: f.code.to_owned(),
                    message: f.message.pick(lang).to_owned(),
                })
                .collect(),
            request_id: http_context::request_id(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())?;
        if let Some(cause) = &self.0.cause {
            write!(f, ": {cause:#}")?;
        }
        Ok(())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            let cause = self.0.cause.as_ref().map(|c| format!("{c:#}"));
            if status == StatusCode::INTERNAL_SERVER_ERROR {
                tracing::error!(code = self.code(), cause, "request failed");
            } else {
                tracing::warn!(code = self.code(), cause, "dependency unavailable");
            }
        }
        let mut response = HttpResponse::build(status);
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        if let Some(secs) = self.0.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let Some(allow) = &self.0.allow {
            response.insert_header((header::ALLOW, allow.clone()));
        }
        // Serialising these plain structs cannot fail; fall back to an empty object regardless.
        let body = serde_json::to_vec(&self.problem()).unwrap_or_else(|_| b"{}".to_vec());
        response.body(body)
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind as K, Error as E};
        // A failed COMMIT whose rollback failed too is as bad as the COMMIT's own error.
        let err = match err {
            E::RollbackErrorOnCommit { commit_error, .. } => *commit_error,
            other => other,
        };
        match &err {
            E::NotFound => ApiError::not_found(),
            // diesel-async reports a failure below SQL (the socket closed, the server gone in a
            // restart) as `UnableToSendCommand`: PostgreSQL is unreachable, which is a 503.
            E::DatabaseError(K::ClosedConnection | K::UnableToSendCommand, _)
            | E::BrokenTransactionManager => ApiError::database_unavailable(err),
            E::DatabaseError(K::Unknown, info) if is_connection_failure(info.message()) => {
                ApiError::database_unavailable(err)
            }
            // Text PostgreSQL cannot store (a NUL byte): the client's input, not our bug.
            E::DatabaseError(_, info) if info.message().contains("invalid byte sequence") => {
                ApiError::new(ErrorCode::BadRequest).with_detail(
                    "Dữ liệu chứa ký tự không hợp lệ",
                    "The request contains characters that cannot be stored",
                )
            }
            _ => ApiError::internal(err),
        }
    }
}

/// tokio-postgres reports a dropped socket as an unclassified error with a recognisable message.
fn is_connection_failure(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "connection closed",
        "connection reset",
        "broken pipe",
        "error communicating with the server",
        "terminating connection",
        "the database system is",
        "timed out",
        // statement_timeout / lock_timeout: the database is too busy to answer in time
        "canceling statement due to",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

/// A photo store failure: a missing object is 404, a full store 507 `storage_full`, anything
/// else (unreachable, read-only, permission denied, not a directory) 503 `storage_unavailable`.
impl From<crate::media::store::StoreError> for ApiError {
    fn from(err: crate::media::store::StoreError) -> Self {
        use crate::media::store::StoreError;
        match err {
            StoreError::NotFound => ApiError::not_found(),
            full @ StoreError::Full(_) => ApiError::storage_full(full),
            other => ApiError::storage_unavailable(other),
        }
    }
}

/// An I/O error of the photo path outside the object store (the upload's temporary file): a full
/// disk is 507, anything else 503.
pub fn storage_io(err: std::io::Error) -> ApiError {
    if crate::media::store::is_out_of_space(&err) {
        ApiError::storage_full(err)
    } else {
        ApiError::storage_unavailable(err)
    }
}

impl From<crate::db::PoolError> for ApiError {
    fn from(err: crate::db::PoolError) -> Self {
        ApiError::database_unavailable(anyhow::anyhow!("{err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    async fn body_json(err: ApiError) -> (StatusCode, serde_json::Value, HttpResponse) {
        let resp = err.error_response();
        let status = resp.status();
        let head = HttpResponse::build(status).finish();
        let bytes = to_bytes(resp.into_body()).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap(), head)
    }

    #[actix_web::test]
    async fn internal_errors_never_leak_their_cause() {
        let err = ApiError::internal(anyhow::anyhow!("password authentication failed for user x"));
        let (status, body, _) = body_json(err).await;
        assert_eq!(status, 500);
        assert_eq!(body["code"], "internal_error");
        assert!(!body.to_string().contains("password"), "{body}");
    }

    #[actix_web::test]
    async fn problem_has_rfc9457_members_and_field_errors() {
        let err = ApiError::new(ErrorCode::ValidationFailed).with_field(FieldError {
            field: "location.lat".into(),
            code: "out_of_range",
            message: Text::new("Vĩ độ ngoài khoảng", "Latitude out of range"),
        });
        let (status, body, _) = body_json(err).await;
        assert_eq!(status, 422);
        assert_eq!(body["status"], 422);
        assert_eq!(body["code"], "validation_failed");
        assert_eq!(body["type"], "urn:phananh:problem:validation_failed");
        assert_eq!(body["errors"][0]["field"], "location.lat");
        // Vietnamese is the default language.
        assert_eq!(body["errors"][0]["message"], "Vĩ độ ngoài khoảng");
    }

    #[test]
    fn store_errors_map_full_disks_to_507_and_the_rest_to_503() {
        use crate::media::store::StoreError;
        // What object_store's local store returns: its own error (the io::Error as source)
        // inside `Error::Generic`.
        #[derive(Debug, thiserror::Error)]
        #[error("Unable to copy data to file: {source}")]
        struct Local {
            source: std::io::Error,
        }
        let wrapped = |errno: i32| object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(Local {
                source: std::io::Error::from_raw_os_error(errno),
            }),
        };
        for (errno, status, code) in [
            (libc::ENOSPC, 507, "storage_full"),
            (libc::EDQUOT, 507, "storage_full"),
            (libc::EROFS, 503, "storage_unavailable"),
            (libc::EACCES, 503, "storage_unavailable"),
            (libc::EPERM, 503, "storage_unavailable"),
            (libc::ENOTDIR, 503, "storage_unavailable"),
        ] {
            let err = ApiError::from(StoreError::from(wrapped(errno)));
            assert_eq!(
                (err.status().as_u16(), err.code()),
                (status, code),
                "{errno}"
            );
            assert!(err.retry_after_secs().is_some(), "{errno}");
        }
        let err = storage_io(std::io::Error::from_raw_os_error(libc::ENOSPC));
        assert_eq!(err.code(), "storage_full");
        let err = storage_io(std::io::Error::from_raw_os_error(libc::EIO));
        assert_eq!(err.code(), "storage_unavailable");
    }

    #[test]
    fn diesel_errors_map_to_the_right_class() {
        assert_eq!(
            ApiError::from(diesel::result::Error::NotFound).code(),
            "not_found"
        );
        assert_eq!(
            ApiError::from(diesel::result::Error::BrokenTransactionManager).code(),
            "database_unavailable"
        );
        assert_eq!(
            ApiError::from(diesel::result::Error::RollbackTransaction).code(),
            "internal_error"
        );
        // What diesel-async answers when PostgreSQL goes away mid-request (a restart).
        let closed = || {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UnableToSendCommand,
                Box::new("connection closed".to_owned()),
            )
        };
        assert_eq!(ApiError::from(closed()).code(), "database_unavailable");
        let commit = diesel::result::Error::RollbackErrorOnCommit {
            rollback_error: Box::new(closed()),
            commit_error: Box::new(closed()),
        };
        assert_eq!(ApiError::from(commit).code(), "database_unavailable");
    }
}
