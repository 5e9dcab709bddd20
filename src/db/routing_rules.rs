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
        if n > slot.1 {
            *slot = (kind, n);
        }
    }
    Ok(best.into_iter().map(|(c, (k, _))| (c, k)).collect())
}
