//! `routing_rules`: category × area → department.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::routing_rules;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = routing_rules, check_for_backend(diesel::pg::Pg))]
pub struct RoutingRule {
    pub id: Uuid,
    pub category_id: Option<Uuid>,
    pub area_id: Option<Uuid>,
    pub department_id: Uuid,
    pub priority: i32,
    pub active: bool,
    pub note: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Short number people can cite ("quy tắc #12").
    pub number: i32,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = routing_rules)]
pub struct NewRoutingRule<'a> {
    pub id: Uuid,
    pub category_id: Option<Uuid>,
    pub area_id: Option<Uuid>,
    pub department_id: Uuid,
    pub priority: i32,
    pub note: &'a str,
}

pub async fn list_active(conn: &mut AsyncPgConnection) -> QueryResult<Vec<RoutingRule>> {
    routing_rules::table
        .filter(routing_rules::active.eq(true))
        .select(RoutingRule::as_select())
        .load(conn)
        .await
}

/// Inserts unless a rule for the same (category, area) pair exists.
pub async fn insert_if_absent(
    conn: &mut AsyncPgConnection,
    new: &NewRoutingRule<'_>,
) -> QueryResult<bool> {
    let n = diesel::insert_into(routing_rules::table)
        .values(new)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(n == 1)
}

impl From<&RoutingRule> for crate::domain::routing::Rule {
    fn from(r: &RoutingRule) -> Self {
        crate::domain::routing::Rule {
            id: r.id,
            category_id: r.category_id,
            area_id: r.area_id,
            department_id: r.department_id,
            priority: r.priority,
        }
    }
}

/// Where a report of `category` submitted in `area` goes, as `POST /api/v1/reports` routes it:
/// the most specific of `rules` (the active ones) whose department is active, else the triage
/// desk, with the rule that decided (none for the triage fallback). `None` when there is neither.
pub async fn route<'r>(
    conn: &mut AsyncPgConnection,
    rules: &'r [RoutingRule],
    category: Uuid,
    area: Uuid,
) -> QueryResult<Option<(super::departments::Department, Option<&'r RoutingRule>)>> {
    use crate::domain::routing::{Rule, choose_rule};
    let domain_rules: Vec<Rule> = rules.iter().map(Rule::from).collect();
    if let Some(rule) = choose_rule(&domain_rules, category, area)
        && let Some(d) = super::departments::find(conn, rule.department_id)
            .await?
            .filter(|d| d.active)
    {
        return Ok(Some((d, rules.iter().find(|r| r.id == rule.id))));
    }
    Ok(super::departments::triage_desk(conn)
        .await?
        .map(|d| (d, None)))
}

/// For each category with category rules, the kind of department most of its active rules send
/// it to (Open311's service `group`).
pub async fn department_kind_by_category(
    conn: &mut AsyncPgConnection,
) -> QueryResult<std::collections::HashMap<Uuid, crate::domain::DepartmentKind>> {
    use super::schema::departments;
    let pairs: Vec<(Option<Uuid>, crate::domain::DepartmentKind)> = routing_rules::table
        .inner_join(departments::table)
        .filter(routing_rules::active.eq(true))
        .filter(departments::active.eq(true))
        .filter(routing_rules::category_id.is_not_null())
        .select((routing_rules::category_id, departments::kind))
        .load(conn)
        .await?;
    let mut counts: std::collections::HashMap<(Uuid, crate::domain::DepartmentKind), i64> =
        Default::default();
    for (category, kind) in pairs {
        if let Some(category) = category {
            *counts.entry((category, kind)).or_default() += 1;
        }
    }
    let mut best: std::collections::HashMap<Uuid, (crate::domain::DepartmentKind, i64)> =
        Default::default();
    for ((category, kind), n) in counts {
        let slot = best.entry(category).or_insert((kind, n));
        // Ties go to the kind listed first, so the answer does not depend on hash order.
        if n > slot.1 || (n == slot.1 && kind.slug() < slot.0.slug()) {
            *slot = (kind, n);
        }
    }
    Ok(best.into_iter().map(|(c, (k, _))| (c, k)).collect())
}

/// A rule with the codes of what it names (administration).
#[derive(Debug, Clone)]
pub struct RuleWithCodes {
    pub rule: RoutingRule,
    pub category_code: Option<String>,
    pub area_code: Option<String>,
    pub department_code: String,
}

/// What `GET /admin/routing-rules` filters on (codes; `None` = any).
#[derive(Debug, Default, Clone)]
pub struct RuleFilter {
    pub category: Option<String>,
    pub area: Option<String>,
    pub department: Option<String>,
    pub active: Option<bool>,
}

fn with_codes(
    rows: Vec<(RoutingRule, Option<String>, Option<String>, String)>,
) -> Vec<RuleWithCodes> {
    rows.into_iter()
        .map(
            |(rule, category_code, area_code, department_code)| RuleWithCodes {
                rule,
                category_code,
                area_code,
                department_code,
            },
        )
        .collect()
}

/// Rules with their codes, by number, optionally filtered (`id` for one rule).
async fn load_with_codes(
    conn: &mut AsyncPgConnection,
    id: Option<Uuid>,
    filter: &RuleFilter,
) -> QueryResult<Vec<RuleWithCodes>> {
    use super::schema::{areas, categories, departments};
    let mut q = routing_rules::table
        .left_join(categories::table)
        .left_join(areas::table)
        .inner_join(departments::table)
        .order(routing_rules::number)
        .select((
            RoutingRule::as_select(),
            categories::code.nullable(),
            areas::code.nullable(),
            departments::code,
        ))
        .into_boxed();
    if let Some(id) = id {
        q = q.filter(routing_rules::id.eq(id));
    }
    if let Some(c) = &filter.category {
        q = q.filter(categories::code.eq(c.clone()));
    }
    if let Some(a) = &filter.area {
        q = q.filter(areas::code.eq(a.clone()));
    }
    if let Some(d) = &filter.department {
        q = q.filter(departments::code.eq(d.clone()));
    }
    if let Some(active) = filter.active {
        q = q.filter(routing_rules::active.eq(active));
    }
    Ok(with_codes(q.load(conn).await?))
}

/// Every rule (inactive ones included) matching `filter`, by number.
pub async fn list_with_codes(
    conn: &mut AsyncPgConnection,
    filter: &RuleFilter,
) -> QueryResult<Vec<RuleWithCodes>> {
    load_with_codes(conn, None, filter).await
}

pub async fn find_with_codes(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<RuleWithCodes>> {
    Ok(load_with_codes(conn, Some(id), &RuleFilter::default())
        .await?
        .into_iter()
        .next())
}

/// The rule, locked until the end of the transaction (a change reads it first).
pub async fn find_for_update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<RoutingRule>> {
    routing_rules::table
        .find(id)
        .select(RoutingRule::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// The rule for exactly this (category, area) pair (`None` = any), active or not.
pub async fn find_by_pair(
    conn: &mut AsyncPgConnection,
    category_id: Option<Uuid>,
    area_id: Option<Uuid>,
) -> QueryResult<Option<RoutingRule>> {
    let mut q = routing_rules::table
        .select(RoutingRule::as_select())
        .into_boxed();
    q = match category_id {
        Some(c) => q.filter(routing_rules::category_id.eq(c)),
        None => q.filter(routing_rules::category_id.is_null()),
    };
    q = match area_id {
        Some(a) => q.filter(routing_rules::area_id.eq(a)),
        None => q.filter(routing_rules::area_id.is_null()),
    };
    q.first(conn).await.optional()
}

/// Inserts and returns the new rule; `None` when a rule for the same pair exists already.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    new: &NewRoutingRule<'_>,
) -> QueryResult<Option<RoutingRule>> {
    diesel::insert_into(routing_rules::table)
        .values(new)
        .on_conflict_do_nothing()
        .returning(RoutingRule::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// What an administrator may change (the pair never changes); `None` leaves a column alone.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = routing_rules)]
pub struct RuleChange {
    pub department_id: Option<Uuid>,
    pub priority: Option<i32>,
    pub note: Option<String>,
    pub active: Option<bool>,
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    change: &RuleChange,
) -> QueryResult<RoutingRule> {
    diesel::update(routing_rules::table.find(id))
        .set(change)
        .returning(RoutingRule::as_returning())
        .get_result(conn)
        .await
}

/// Active rules that send reports to department `id`, by number.
pub async fn active_numbers_for_department(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Vec<i32>> {
    routing_rules::table
        .filter(routing_rules::department_id.eq(id))
        .filter(routing_rules::active.eq(true))
        .order(routing_rules::number)
        .select(routing_rules::number)
        .load(conn)
        .await
}
