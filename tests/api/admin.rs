//! Administration: the routing dry run says what a submission then does, and follows a rule
//! change at once.

use serde_json::Value;

use crate::accounts::{account_token, get_with};
use crate::helpers::{assert_problem, count, spawn_app};
use crate::reports::{report_body, submit_ok};

/// Near the seeded centroid of xã Ka Đô (no boundaries imported: nearest centroid wins).
const KA_DO: (f64, f64) = (11.7394, 108.5884);

fn explain_url(category: &str, at: (f64, f64)) -> String {
    format!(
        "/api/v1/admin/routing/explain?lat={}&lon={}&category={category}",
        at.0, at.1
    )
}

#[tokio::test]
async fn the_routing_dry_run_says_what_a_submission_then_does() {
    let app = spawn_app().await;
    let admin = account_token(&app, "admin", None).await;
    let citizen = account_token(&app, "citizen", None).await;

    let resp = get_with(&app, &explain_url("road", KA_DO), &admin).await;
    assert_eq!(resp.status(), 200);
    let explained: Value = resp.json().await.unwrap();
    assert_eq!(explained["category"], "road");
    assert_eq!(explained["area"]["code"], "24943");
    assert_eq!(explained["department"]["code"], "24943-kinh-te");
    assert!(
        explained["rule"]["number"].as_i64().is_some(),
        "{explained}"
    );
    // Nothing written by a dry run.
    assert_eq!(count(&app, "SELECT count(*) FROM reports").await, 0);

    // The submission goes exactly where the dry run said, with the same reason.
    let report = submit_ok(&app, &citizen, &report_body("road", KA_DO)).await;
    assert_eq!(report["department"]["id"], explained["department"]["id"]);
    assert_eq!(report["routing_reason"], explained["reason"]);

    // The admin points Ka Đô's road rule at the commune office: the dry run follows at once,
    // and so does the next submission.
    app.db
        .client()
        .await
        .execute(
            "UPDATE routing_rules r SET department_id = d.id, note = 'roads of Ka Đô to the office'
             FROM categories c, areas a, departments d
             WHERE r.category_id = c.id AND r.area_id = a.id
               AND c.code = 'road' AND a.code = '24943' AND d.code = '24943-van-phong'",
            &[],
        )
        .await
        .unwrap();
    let after: Value = get_with(&app, &explain_url("road", KA_DO), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["department"]["code"], "24943-van-phong", "{after}");
    assert_eq!(after["rule"]["note"], "roads of Ka Đô to the office");
    assert_eq!(after["rule"]["number"], explained["rule"]["number"]);
    assert_ne!(after["reason"], explained["reason"]);
    let second = submit_ok(&app, &citizen, &report_body("road", KA_DO)).await;
    assert_eq!(second["department"]["id"], after["department"]["id"]);
    assert_eq!(second["routing_reason"], after["reason"]);

    // Bad questions.
    for bad in [
        "/api/v1/admin/routing/explain?lat=11.7&lon=108.5",
        "/api/v1/admin/routing/explain?lat=abc&lon=108.5&category=road",
        "/api/v1/admin/routing/explain?lat=95&lon=108.5&category=road",
        "/api/v1/admin/routing/explain?lat=&lon=108.5&category=road",
        "/api/v1/admin/routing/explain?lat=11.7&lon=108.5&category=road&extra=1",
    ] {
        assert_problem(get_with(&app, bad, &admin).await, 400, "invalid_query").await;
    }
    // A well-formed question about a category that does not exist: as a submission hears it.
    assert_problem(
        get_with(
            &app,
            "/api/v1/admin/routing/explain?lat=11.7&lon=108.5&category=nope",
            &admin,
        )
        .await,
        422,
        "unknown_category",
    )
    .await;
    // Hà Nội is in no commune here: what a resident would be told.
    assert_problem(
        get_with(&app, &explain_url("road", (21.03, 105.85)), &admin).await,
        422,
        "location_outside_jurisdiction",
    )
    .await;
    // Admins only.
    let manager = account_token(&app, "manager", Some("24943-kinh-te")).await;
    assert_problem(
        get_with(&app, &explain_url("road", KA_DO), &manager).await,
        403,
        "forbidden",
    )
    .await;
}
