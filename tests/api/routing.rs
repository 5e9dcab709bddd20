//! Routing against the real database: imported commune boundaries, the seeded rules and the
//! holidays table, as report intake will use them.

use chrono::{NaiveDate, TimeZone};
use phananh::domain::calendar::vietnam;
use phananh::domain::routing::{AreaIndex, Rule, choose_rule};
use phananh::domain::{Boundary, DeadlineUnit};

use crate::helpers::{TestDb, import_areas, shared_data};

#[tokio::test]
async fn points_in_each_real_commune_route_to_that_communes_department() {
    let db = TestDb::new().await;
    let file = shared_data("boundaries/don-duong-communes.geojson");
    let out = import_areas(&file, &db.url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut conn = phananh::db::connect(&db.url).await.unwrap();
    let index = AreaIndex::new(phananh::db::areas::load_shapes(&mut conn).await.unwrap());
    let rules: Vec<Rule> = phananh::db::routing_rules::list_active(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(Rule::from)
        .collect();
    let client = db.client().await;
    let road: uuid::Uuid = client
        .query_one("SELECT id FROM categories WHERE code = 'road'", &[])
        .await
        .unwrap()
        .get(0);
    let security: uuid::Uuid = client
        .query_one("SELECT id FROM categories WHERE code = 'security'", &[])
        .await
        .unwrap()
        .get(0);
    let today = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();

    let fc: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    for feature in fc["features"].as_array().unwrap() {
        let code = feature["properties"]["code"].as_str().unwrap();
        let point = Boundary::from_geojson(&feature["geometry"])
            .unwrap()
            .interior_point();
        let located = index
            .locate(point, today, 0.0)
            .unwrap_or_else(|| panic!("{code} not found"));
        assert_eq!(located.area.code, code);
        for (category, kind) in [(road, "kinh-te"), (security, "cong-an")] {
            let rule = choose_rule(&rules, category, located.area.id).unwrap();
            let dept: String = client
                .query_one(
                    "SELECT code FROM departments WHERE id = $1",
                    &[&rule.department_id],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(dept, format!("{code}-{kind}"));
        }
    }
    // A category without a rule for the area falls back to triage.
    let new_category: uuid::Uuid = client
        .query_one(
            "INSERT INTO categories (id, code, name_vi, name_en, deadline_amount) VALUES (gen_random_uuid(), 'new_thing', 'Mới', 'New', 5) RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let ka_do = index
        .locate(
            phananh::domain::Coordinates::parse(11.7394, 108.5884).unwrap(),
            today,
            0.0,
        )
        .unwrap();
    let rule = choose_rule(&rules, new_category, ka_do.area.id).unwrap();
    let dept: String = client
        .query_one(
            "SELECT code FROM departments WHERE id = $1",
            &[&rule.department_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(dept, "triage");
    // Outside Đơn Dương (Đà Lạt's centre, not imported here): nowhere.
    assert!(
        index
            .locate(
                phananh::domain::Coordinates::parse(11.9404, 108.4583).unwrap(),
                today,
                0.0
            )
            .is_none()
    );
}

#[tokio::test]
async fn deadlines_follow_the_holidays_table() {
    let db = TestDb::new().await;
    db.client()
        .await
        .batch_execute(
            "INSERT INTO holidays (day, kind, name) VALUES
               ('2026-04-30', 'day_off', 'Ngày Giải phóng miền Nam'),
               ('2026-05-01', 'day_off', 'Quốc tế Lao động'),
               ('2026-05-09', 'working_day', 'Làm bù')",
        )
        .await
        .unwrap();
    let mut conn = phananh::db::connect(&db.url).await.unwrap();
    let calendar = phananh::db::holidays::load_calendar(&mut conn)
        .await
        .unwrap();
    // Wednesday 29 April 2026, 10:00 + 2 working days: Thursday 30 and Friday 1 are off,
    // so Monday 4 May and Tuesday 5 May, 10:00.
    let submitted = vietnam()
        .with_ymd_and_hms(2026, 4, 29, 10, 0, 0)
        .unwrap()
        .to_utc();
    let due = calendar.due_at(submitted, 2, DeadlineUnit::WorkingDays);
    assert_eq!(
        due,
        vietnam()
            .with_ymd_and_hms(2026, 5, 5, 10, 0, 0)
            .unwrap()
            .to_utc()
    );
    // Friday 8 May 10:00 + 1 day: Saturday 9 May is a make-up working day.
    let submitted = vietnam()
        .with_ymd_and_hms(2026, 5, 8, 10, 0, 0)
        .unwrap()
        .to_utc();
    assert_eq!(
        calendar.due_at(submitted, 1, DeadlineUnit::WorkingDays),
        vietnam()
            .with_ymd_and_hms(2026, 5, 9, 10, 0, 0)
            .unwrap()
            .to_utc()
    );
    // The table refuses a "day off" on a Sunday: the calendar's data stays coherent.
    let bad = db
        .client()
        .await
        .execute(
            "INSERT INTO holidays (day, kind, name) VALUES ('2026-05-10', 'day_off', 'Chủ nhật')",
            &[],
        )
        .await;
    assert!(bad.is_err());
}
