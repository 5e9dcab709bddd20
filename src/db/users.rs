//! `users`: accounts of residents, staff, managers, admins.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::users;
use crate::domain::account::{Role, UserStatus};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: Uuid,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub full_name: String,
    pub password_hash: Option<String>,
    pub role: Role,
    pub department_id: Option<Uuid>,
    pub status: UserStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// A resident's choice: push notifications on or off.
    pub push_enabled: bool,
    /// Staff: `immediate` (an email per ticket event) or `digest` (one at 07:30).
    pub email_mode: String,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: Uuid,
    pub phone: Option<&'a str>,
    pub email: Option<&'a str>,
    pub full_name: &'a str,
    pub password_hash: Option<&'a str>,
    pub role: Role,
    pub department_id: Option<Uuid>,
}

/// Inserts; `Ok(None)` when the phone or email already belongs to an account.
pub async fn insert(conn: &mut AsyncPgConnection, new: &NewUser<'_>) -> QueryResult<Option<User>> {
    diesel::insert_into(users::table)
        .values(new)
        .on_conflict_do_nothing()
        .returning(User::as_returning())
        .get_result(conn)
        .await
        .optional()
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

/// By normalised phone or email.
pub async fn find_by_login(
    conn: &mut AsyncPgConnection,
    phone: Option<&str>,
    email: Option<&str>,
) -> QueryResult<Option<User>> {
    let mut q = users::table.select(User::as_select()).into_boxed();
    match (phone, email) {
        (Some(p), _) => q = q.filter(users::phone.eq(p.to_owned())),
        (None, Some(e)) => q = q.filter(users::email.eq(e.to_owned())),
        (None, None) => return Ok(None),
    }
    q.first(conn).await.optional()
}

/// Stores an upgraded hash after a successful login.
pub async fn upgrade_hash(conn: &mut AsyncPgConnection, id: Uuid, hash: &str) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::password_hash.eq(hash))
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn set_password(conn: &mut AsyncPgConnection, id: Uuid, hash: &str) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::password_hash.eq(hash))
        .execute(conn)
        .await
        .map(|_| ())
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct ProfileChange<'a> {
    pub full_name: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub email: Option<&'a str>,
    pub push_enabled: Option<bool>,
    pub email_mode: Option<&'a str>,
}

impl ProfileChange<'_> {
    pub fn is_empty(&self) -> bool {
        self.full_name.is_none()
            && self.phone.is_none()
            && self.email.is_none()
            && self.push_enabled.is_none()
            && self.email_mode.is_none()
    }
}

/// `Ok(None)` when the new phone or email belongs to someone else.
pub async fn update_profile(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    change: &ProfileChange<'_>,
) -> QueryResult<Option<User>> {
    let result = diesel::update(users::table.find(id))
        .set(change)
        .returning(User::as_returning())
        .get_result(conn)
        .await;
    match result {
        Ok(u) => Ok(Some(u)),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Disables an account and ends its sessions at once (one transaction).
pub async fn disable(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    use diesel_async::AsyncConnection;
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let n = diesel::update(
            users::table
                .find(id)
                .filter(users::status.eq(UserStatus::Active)),
        )
        .set(users::status.eq(UserStatus::Disabled))
        .execute(conn)
        .await?;
        super::sessions::revoke_all_of_user(conn, id, "account disabled").await?;
        Ok(n > 0)
    })
    .await
}

/// Erases what identifies the person; the row (and later their reports) stays.
pub async fn anonymise(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((
            users::phone.eq(None::<String>),
            users::email.eq(None::<String>),
            users::full_name.eq(""),
            users::password_hash.eq(None::<String>),
            users::status.eq(UserStatus::Deleted),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn active_admins(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    users::table
        .filter(users::role.eq(Role::Admin))
        .filter(users::status.eq(UserStatus::Active))
        .count()
        .get_result(conn)
        .await
}

/// Addresses that hear of a department's tickets: the department's own mailbox, and every
/// active staff member and manager of it with an email address. Lower-cased, no repeats.
pub async fn department_recipients(
    conn: &mut AsyncPgConnection,
    department: Uuid,
) -> QueryResult<Vec<String>> {
    use super::schema::departments;
    let mut out: Vec<String> = departments::table
        .find(department)
        .select(departments::email)
        .first::<Option<String>>(conn)
        .await
        .optional()?
        .flatten()
        .into_iter()
        .collect();
    let people: Vec<Option<String>> = users::table
        .filter(users::department_id.eq(department))
        .filter(users::status.eq(UserStatus::Active))
        .filter(users::role.eq_any([Role::Staff, Role::Manager]))
        .filter(users::email.is_not_null())
        .filter(users::email_mode.eq("immediate"))
        .order(users::created_at)
        .select(users::email)
        .load(conn)
        .await?;
    out.extend(people.into_iter().flatten());
    let mut seen = std::collections::HashSet::new();
    out.retain(|e| seen.insert(e.to_lowercase()));
    Ok(out)
}

/// What `GET /admin/users` filters on.
#[derive(Debug, Default, Clone)]
pub struct UserFilter {
    pub role: Option<Role>,
    pub department: Option<Uuid>,
    pub status: Option<UserStatus>,
    /// Part of the name, email or phone, any case.
    pub q: Option<String>,
    /// Keyset cursor: accounts older than this one (ids are UUIDv7, so id order is age order).
    pub before: Option<Uuid>,
}

/// Newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    filter: &UserFilter,
    limit: i64,
) -> QueryResult<Vec<User>> {
    let mut q = users::table
        .select(User::as_select())
        .order(users::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(r) = filter.role {
        q = q.filter(users::role.eq(r));
    }
    if let Some(d) = filter.department {
        q = q.filter(users::department_id.eq(d));
    }
    if let Some(s) = filter.status {
        q = q.filter(users::status.eq(s));
    }
    if let Some(text) = &filter.q {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        q = q.filter(
            users::full_name
                .ilike(pattern.clone())
                .or(users::email.ilike(pattern.clone()))
                .or(users::phone.ilike(pattern)),
        );
    }
    if let Some(before) = filter.before {
        q = q.filter(users::id.lt(before));
    }
    q.load(conn).await
}

/// Locks the row of every active admin until the transaction ends, so that two admins demoting
/// or disabling each other at once cannot leave the deployment without one. Returns their ids.
pub async fn lock_active_admins(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Uuid>> {
    users::table
        .filter(users::role.eq(Role::Admin))
        .filter(users::status.eq(UserStatus::Active))
        .select(users::id)
        .for_update()
        .load(conn)
        .await
}

/// An admin's change to an account: `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct AdminChange {
    pub full_name: Option<String>,
    pub role: Option<Role>,
    pub department_id: Option<Option<Uuid>>,
    pub status: Option<UserStatus>,
}

pub async fn admin_update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    change: &AdminChange,
) -> QueryResult<User> {
    diesel::update(users::table.find(id))
        .set(change)
        .returning(User::as_returning())
        .get_result(conn)
        .await
}
