//! What the admin resources of areas, holidays and users share: reading PATCH bodies (absent vs
//! `null`), checking short texts and dates, and turning database refusals into 409/422 instead of
//! a 500.

use std::borrow::Cow;

use actix_web::HttpResponse;
use actix_web::http::header;
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};

use crate::error::{ApiError, ErrorCode, FieldError};
use crate::routes::reports::field;

/// For `#[serde(default, deserialize_with = "nullable")]` on an `Option<Option<T>>`: absent →
/// `None` (unchanged), `null` → `Some(None)` (clear), a value → `Some(Some(v))`.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Collects the field errors of one request, to answer them all at once.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<FieldError>);

impl Problems {
    pub fn add(&mut self, name: &str, code: &'static str, vi: &str, en: &str) {
        self.0.push(field(name, code, vi, en));
    }

    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }

    /// A 422 with every field error, if there is any.
    pub fn check(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            return Ok(());
        }
        Err(self.0.into_iter().fold(
            ApiError::new(ErrorCode::ValidationFailed),
            ApiError::with_field,
        ))
    }

    /// A one-line text of 1..=`max` characters, trimmed; `None` (with an error noted) otherwise.
    pub fn text(&mut self, name: &str, raw: &str, max: usize) -> Option<String> {
        let s = raw.trim();
        if s.is_empty() || s.chars().count() > max || s.chars().any(char::is_control) {
            self.add(
                name,
                "invalid",
                &format!("Từ 1 đến {max} ký tự, một dòng"),
                &format!("1 to {max} characters on one line"),
            );
            return None;
        }
        Some(s.to_owned())
    }

    /// An optional text: empty (after trimming) means none.
    pub fn optional_text(&mut self, name: &str, raw: Option<&str>, max: usize) -> Option<String> {
        let s = raw.map(str::trim).filter(|s| !s.is_empty())?;
        self.text(name, s, max)
    }

    /// A `YYYY-MM-DD` date.
    pub fn date(&mut self, name: &str, raw: &str) -> Option<NaiveDate> {
        match NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                self.add(
                    name,
                    "invalid_date",
                    "Ngày theo dạng YYYY-MM-DD",
                    "A date as YYYY-MM-DD",
                );
                None
            }
        }
    }
}

/// 409 `conflict` saying what conflicts.
pub(crate) fn conflict(
    vi: impl Into<Cow<'static, str>>,
    en: impl Into<Cow<'static, str>>,
) -> ApiError {
    ApiError::new(ErrorCode::Conflict).with_detail(vi, en)
}

/// A database refusal as the caller's problem: a duplicate or overlap (unique, exclusion) or a
/// row still referred to (foreign key) is 409 with `vi`/`en`; a CHECK is 422; anything else as
/// usual. A constraint never becomes a 500.
pub(crate) fn refused(err: diesel::result::Error, vi: &str, en: &str) -> ApiError {
    use diesel::result::{DatabaseErrorKind as K, Error as E};
    match &err {
        E::DatabaseError(K::UniqueViolation | K::ExclusionViolation, _) => {
            conflict(vi.to_owned(), en.to_owned())
        }
        E::DatabaseError(K::ForeignKeyViolation | K::RestrictViolation, _) => conflict(
            "Dữ liệu đang được tham chiếu ở nơi khác",
            "Something else still refers to it",
        ),
        E::DatabaseError(K::CheckViolation | K::NotNullViolation, _) => {
            ApiError::new(ErrorCode::ValidationFailed).with_detail(
                "Giá trị không được cơ sở dữ liệu chấp nhận",
                "The values break a rule of the data",
            )
        }
        _ => ApiError::from(err),
    }
}

/// 200 with a JSON body, never cached.
pub(crate) fn ok_json(body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .json(body)
}

/// 201 with `Location` and a JSON body, never cached.
pub(crate) fn created_json(location: String, body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .insert_header((header::LOCATION, location))
        .json(body)
}
