//! `phananh user create` and `phananh apikey create`: bootstrapping accounts without SQL.

use std::io::Read;

use anyhow::{Context, bail};
use uuid::Uuid;

use super::{say, with_database};
use crate::auth::password::PasswordHasher;
use crate::config::Settings;
use crate::db;
use crate::domain::account::{ApiKeyPurpose, Role};
use crate::domain::identity::{Email, FullName, NewPassword, Phone};
use crate::startup;

pub struct UserSpec {
    pub role: String,
    pub department: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub full_name: Option<String>,
}

pub async fn create_user(settings: &Settings, spec: UserSpec) -> anyhow::Result<()> {
    let role = Role::parse(&spec.role).with_context(|| {
        format!(
            "unknown role {:?}: use citizen, staff, manager or admin",
            spec.role
        )
    })?;
    if role == Role::Ioc {
        bail!("the IOC signs in with an API key: use `phananh apikey create --name ioc`");
    }
    if role.needs_department() != spec.department.is_some() {
        bail!("--department CODE is required for staff and managers, and only for them");
    }
    let email = spec
        .email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!(e.message_en()))?;
    let phone = spec
        .phone
        .as_deref()
        .map(Phone::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!(e.message_en()))?;
    if email.is_none() && phone.is_none() {
        bail!("give --email or --phone");
    }
    let default_name = email
        .as_ref()
        .map(|e| e.local_part().to_owned())
        .unwrap_or_else(|| role.as_str().to_owned());
    let name = FullName::parse(spec.full_name.as_deref().unwrap_or(&default_name))
        .map_err(|e| anyhow::anyhow!(e.message_en()))?;
    let mut raw = String::new();
    std::io::stdin()
        .read_to_string(&mut raw)
        .context("reading the password from standard input")?;
    let raw = raw.trim_end_matches(['\n', '\r']);
    let password = NewPassword::parse(raw, &[])
        .map_err(|e| anyhow::anyhow!("password refused: {}", e.message_en()))?;
    let hash = PasswordHasher::new(1).hash(password.expose()).await?;

    with_database(settings, async |url| {
        startup::prepare_database(url).await?;
        let mut conn = db::connect(url).await?;
        let department_id = match &spec.department {
            Some(code) => Some(
                db::departments::id_by_code(&mut conn, code)
                    .await?
                    .with_context(|| {
                        format!("no department with code {code:?} (see GET /api/v1/departments)")
                    })?,
            ),
            None => None,
        };
        let user = db::users::insert(
            &mut conn,
            &db::users::NewUser {
                id: Uuid::now_v7(),
                phone: phone.as_ref().map(Phone::as_str),
                email: email.as_ref().map(Email::as_str),
                full_name: name.as_str(),
                password_hash: Some(&hash),
                role,
                department_id,
            },
        )
        .await?
        .context("an account with this email or phone already exists")?;
        // Made at the server's terminal: the system is the actor. No contact values in the log.
        db::audit::record(
            &mut conn,
            db::audit::Change {
                subject_user_id: Some(user.id),
                ..db::audit::Change::of(
                    db::audit::Actor::System,
                    "user.create",
                    "user",
                    user.id,
                    None::<&()>,
                    Some(&serde_json::json!({
                        "id": user.id,
                        "role": role,
                        "department_id": department_id,
                        "via": "cli",
                    })),
                )
            },
        )
        .await?;
        tracing::info!(user = %user.id, role = role.as_str(), "created user");
        say(&format!(
            "created {} {} ({})",
            role.as_str(),
            user.id,
            user.email.or(user.phone).unwrap_or_default()
        ))
    })
    .await
}

/// Prints the new key once; only its hash is stored.
pub async fn create_api_key(
    settings: &Settings,
    name: &str,
    purpose: ApiKeyPurpose,
) -> anyhow::Result<()> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        bail!("--name must be 1 to 100 characters");
    }
    let (key, hash, prefix) = crate::auth::tokens::new_api_key();
    with_database(settings, async |url| {
        startup::prepare_database(url).await?;
        let mut conn = db::connect(url).await?;
        let created = db::api_keys::insert(&mut conn, name, purpose, &hash, &prefix).await?;
        db::audit::record(
            &mut conn,
            db::audit::Change::of(
                db::audit::Actor::System,
                "api_key.create",
                "api_key",
                created.id,
                None::<&()>,
                Some(&serde_json::json!({
                    "id": created.id,
                    "name": created.name,
                    "purpose": created.purpose,
                    "prefix": created.prefix,
                    "via": "cli",
                })),
            ),
        )
        .await?;
        tracing::info!(api_key = %created.id, name, ?purpose, "created API key");
        say(&key)
    })
    .await
}

pub async fn disable_user(
    settings: &Settings,
    email: Option<&str>,
    phone: Option<&str>,
) -> anyhow::Result<()> {
    let email = email
        .map(Email::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!(e.message_en()))?;
    let phone = phone
        .map(Phone::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!(e.message_en()))?;
    if email.is_none() == phone.is_none() {
        bail!("give exactly one of --email or --phone");
    }
    with_database(settings, async |url| {
        startup::prepare_database(url).await?;
        let mut conn = db::connect(url).await?;
        let user = db::users::find_by_login(
            &mut conn,
            phone.as_ref().map(Phone::as_str),
            email.as_ref().map(Email::as_str),
        )
        .await?
        .context("no such account")?;
        let changed = db::users::disable(&mut conn, user.id).await?;
        tracing::info!(user = %user.id, changed, "disabled user");
        say(&format!(
            "{} {}",
            if changed {
                "disabled"
            } else {
                "already not active:"
            },
            user.id
        ))
    })
    .await
}

pub async fn revoke_api_keys(settings: &Settings, name: &str) -> anyhow::Result<()> {
    with_database(settings, async |url| {
        startup::prepare_database(url).await?;
        let mut conn = db::connect(url).await?;
        let n = db::api_keys::revoke_by_name(&mut conn, name.trim()).await?;
        tracing::info!(name, revoked = n, "revoked API keys");
        say(&format!("revoked {n} key(s) named {name:?}"))
    })
    .await
}
