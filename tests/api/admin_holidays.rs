//! Administration of the working-time calendar: days off and make-up working days, the year's
//! suggested public holidays (the same code as `phananh holidays suggest`), and a new entry
//! moving the next report's deadline at once.

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use serde_json::{Value, json};

use crate::accounts::account_token;
use crate::admin_areas::{audit_rows, call, only_admins, outsiders};
use crate::helpers::{assert_problem, count, spawn_app};
use crate::reports::{report_body, submit_ok};

/// Near the seeded centroid of xã Ka Đô.
const KA_DO: (f64, f64) = (11.7394, 108.5884);

#[tokio::test]
async fn holidays_are_added_read_changed_and_removed_with_an_audit_line_each() {
    let app = spawn_app().await;
    let admin = account_token(&app, "admin", None).await;
    let a = Some(admin.as_str());

    // Wednesday 10 March 2027 off.
    let resp = call(
        &app,
        "POST",
        "/api/v1/admin/holidays",
        a,
        Some(json!({"day": "2027-03-10", "kind": "day_off", "name": "Nghỉ theo quyết định của tỉnh"})),
    )
    .await;
    assert_eq!(resp.status(), 201);
    assert_eq!(
        resp.headers()["location"].to_str().unwrap(),
        "/api/v1/admin/holidays/2027-03-10"
    );
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["day"], "2027-03-10");
    assert_eq!(created["kind"], "day_off");
    let path = "/api/v1/admin/holidays/2027-03-10";
    let read: Value = call(&app, "GET", path, a, None).await.json().await.unwrap();
    assert_eq!(read, created);
    // Saturday 13 March 2027 worked.
    let sat = call(
        &app,
        "POST",
        "/api/v1/admin/holidays",
        a,
        Some(json!({"day": "2027-03-13", "kind": "working_day", "name": "Làm bù"})),
    )
    .await;
    assert_eq!(sat.status(), 201);
    let list: Value = call(&app, "GET", "/api/v1/admin/holidays?year=2027", a, None)
        .await
        .json()
        .await
        .unwrap();
    let days: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["day"].as_str().unwrap())
        .collect();
    assert_eq!(days, ["2027-03-10", "2027-03-13"]);
    let other_year: Value = call(&app, "GET", "/api/v1/admin/holidays?year=2031", a, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(other_year["items"], json!([]));
    for bad in ["?year=abc", "?year=2027&colour=red"] {
        assert_problem(
            call(
                &app,
                "GET",
                &format!("/api/v1/admin/holidays{bad}"),
                a,
                None,
            )
            .await,
            400,
            "invalid_query",
        )
        .await;
    }
    let audit = audit_rows(&app, "holiday", "2027-03-10").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].0, "holiday.create");
    assert_eq!(audit[0].1, None);
    assert_eq!(
        audit[0].2.as_ref().unwrap()["name"],
        "Nghỉ theo quyết định của tỉnh"
    );

    // The same day again: 409.
    let dup = call(
        &app,
        "POST",
        "/api/v1/admin/holidays",
        a,
        Some(json!({"day": "2027-03-10", "kind": "day_off", "name": "Lần hai"})),
    )
    .await;
    assert_problem(dup, 409, "conflict").await;
    // Values that are not acceptable.
    for (body, field) in [
        (
            json!({"day": "2027-03-13", "kind": "day_off", "name": "Thứ Bảy"}),
            "kind",
        ),
        (
            json!({"day": "2027-03-11", "kind": "working_day", "name": "Thứ Năm"}),
            "kind",
        ),
        (
            json!({"day": "2027-02-30", "kind": "day_off", "name": "A"}),
            "day",
        ),
        (
            json!({"day": "2027-03-11", "kind": "holiday", "name": "A"}),
            "kind",
        ),
        (
            json!({"day": "2027-03-11", "kind": "day_off", "name": " "}),
            "name",
        ),
    ] {
        let problem = assert_problem(
            call(
                &app,
                "POST",
                "/api/v1/admin/holidays",
                a,
                Some(body.clone()),
            )
            .await,
            422,
            "validation_failed",
        )
        .await;
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{body} → {problem}"
        );
    }
    assert_problem(
        call(
            &app,
            "POST",
            "/api/v1/admin/holidays",
            a,
            Some(json!({"day": "2027-03-11", "kind": "day_off", "name": "A", "paid": true})),
        )
        .await,
        400,
        "malformed_json",
    )
    .await;
    assert_problem(
        call(&app, "PATCH", path, a, Some(json!({"day": "2027-03-12"}))).await,
        400,
        "malformed_json",
    )
    .await;

    // Renamed: audited before → after. Turned into a working day on a Wednesday: 422.
    let renamed: Value = call(
        &app,
        "PATCH",
        path,
        a,
        Some(json!({"name": "Nghỉ lễ tỉnh"})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(renamed["name"], "Nghỉ lễ tỉnh");
    assert_problem(
        call(&app, "PATCH", path, a, Some(json!({"kind": "working_day"}))).await,
        422,
        "validation_failed",
    )
    .await;
    let unchanged = call(
        &app,
        "PATCH",
        path,
        a,
        Some(json!({"name": "Nghỉ lễ tỉnh"})),
    )
    .await;
    assert_eq!(unchanged.status(), 200);
    let audit = audit_rows(&app, "holiday", "2027-03-10").await;
    assert_eq!(
        audit.len(),
        2,
        "a change that changes nothing is not audited"
    );
    assert_eq!(audit[1].0, "holiday.update");
    assert_eq!(
        audit[1].1.as_ref().unwrap()["name"],
        "Nghỉ theo quyết định của tỉnh"
    );
    assert_eq!(audit[1].2.as_ref().unwrap()["name"], "Nghỉ lễ tỉnh");

    // Removed for real.
    assert_eq!(call(&app, "DELETE", path, a, None).await.status(), 204);
    assert_problem(call(&app, "GET", path, a, None).await, 404, "not_found").await;
    assert_problem(call(&app, "DELETE", path, a, None).await, 404, "not_found").await;
    assert_problem(
        call(&app, "GET", "/api/v1/admin/holidays/tomorrow", a, None).await,
        404,
        "not_found",
    )
    .await;
    let audit = audit_rows(&app, "holiday", "2027-03-10").await;
    assert_eq!(audit[2].0, "holiday.delete");
    assert_eq!(audit[2].1.as_ref().unwrap()["name"], "Nghỉ lễ tỉnh");
    assert_eq!(audit[2].2, None);

    // Only admins.
    let who = outsiders(&app).await;
    only_admins(&app, &who, "GET", "/api/v1/admin/holidays", None).await;
    only_admins(&app, &who, "GET", "/api/v1/admin/holidays/2027-03-13", None).await;
    only_admins(
        &app,
        &who,
        "POST",
        "/api/v1/admin/holidays",
        Some(json!({"day": "2027-03-11", "kind": "day_off", "name": "A"})),
    )
    .await;
    only_admins(
        &app,
        &who,
        "PATCH",
        "/api/v1/admin/holidays/2027-03-13",
        Some(json!({"name": "B"})),
    )
    .await;
    only_admins(
        &app,
        &who,
        "DELETE",
        "/api/v1/admin/holidays/2027-03-13",
        None,
    )
    .await;
    only_admins(
        &app,
        &who,
        "POST",
        "/api/v1/admin/holidays/suggest?year=2027",
        None,
    )
    .await;
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM holidays WHERE extract(year FROM day) = 2027"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn suggest_adds_the_years_public_holidays_and_keeps_an_admins_entries() {
    let app = spawn_app().await;
    let admin = account_token(&app, "admin", None).await;
    let a = Some(admin.as_str());
    // The admin decided 16 February 2026 differently: it stays.
    let own = call(
        &app,
        "POST",
        "/api/v1/admin/holidays",
        a,
        Some(json!({"day": "2026-02-16", "kind": "day_off", "name": "Quyết định của UBND"})),
    )
    .await;
    assert_eq!(own.status(), 201);

    let resp = call(
        &app,
        "POST",
        "/api/v1/admin/holidays/suggest?year=2026",
        a,
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["year"], 2026);
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 11);
    let item = |day: &str| items.iter().find(|i| i["day"] == day).unwrap().clone();
    assert_eq!(item("2026-02-16")["added"], false);
    assert_eq!(item("2026-02-17")["added"], true);
    assert_eq!(item("2026-02-17")["name"], "Tết Nguyên Đán (mùng 1)");
    assert_eq!(
        item("2026-04-27")["kind"],
        "day_off",
        "Giỗ Tổ on a Sunday: Monday off"
    );
    let listed: Value = call(&app, "GET", "/api/v1/admin/holidays?year=2026", a, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 11);
    assert_eq!(listed["items"][1]["name"], "Quyết định của UBND");
    let audit = audit_rows(&app, "holiday", "2026").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].0, "holiday.import");
    assert_eq!(
        audit[0].2.as_ref().unwrap()["added"]
            .as_array()
            .unwrap()
            .len(),
        10
    );

    // Again: nothing added, nothing audited.
    let again: Value = call(
        &app,
        "POST",
        "/api/v1/admin/holidays/suggest?year=2026",
        a,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(
        again["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["added"] == false)
    );
    assert_eq!(audit_rows(&app, "holiday", "2026").await.len(), 1);
    for bad in ["", "?year=", "?year=abc", "?year=12", "?year=2026&month=1"] {
        assert_problem(
            call(
                &app,
                "POST",
                &format!("/api/v1/admin/holidays/suggest{bad}"),
                a,
                None,
            )
            .await,
            400,
            "invalid_query",
        )
        .await;
    }
}

/// The first weekday after today in Vietnam.
fn next_weekday(now: DateTime<Utc>) -> chrono::NaiveDate {
    let mut day = now
        .with_timezone(&phananh::domain::calendar::vietnam())
        .date_naive()
        + Duration::days(1);
    while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
        day += Duration::days(1);
    }
    day
}

#[tokio::test]
async fn a_day_off_added_through_the_api_moves_the_next_reports_deadline() {
    let app = spawn_app().await;
    let admin = account_token(&app, "admin", None).await;
    let citizen = account_token(&app, "citizen", None).await;
    let first = submit_ok(&app, &citizen, &report_body("road", KA_DO)).await;
    let due_before: DateTime<Utc> = first["due_at"].as_str().unwrap().parse().unwrap();

    let day = next_weekday(Utc::now());
    let resp = call(
        &app,
        "POST",
        "/api/v1/admin/holidays",
        Some(&admin),
        Some(json!({"day": day.to_string(), "kind": "day_off", "name": "Nghỉ đột xuất"})),
    )
    .await;
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);

    let second = submit_ok(&app, &citizen, &report_body("road", KA_DO)).await;
    let due_after: DateTime<Utc> = second["due_at"].as_str().unwrap().parse().unwrap();
    assert!(
        due_after - due_before >= Duration::hours(20),
        "one working day later: {due_before} → {due_after}"
    );
    // The report already in the queue keeps its deadline.
    let kept: DateTime<Utc> = app
        .db
        .client()
        .await
        .query_one(
            "SELECT due_at FROM reports WHERE id = $1",
            &[&uuid::Uuid::parse_str(first["id"].as_str().unwrap()).unwrap()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, due_before);
}
