//! Administration of the reference data: categories, departments and routing rules — create,
//! read, list, update, conflicts, deactivation and reactivation, validation, the audit row of
//! every change, who may do it, and a rule change reaching a second server process at once.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::accounts::{account_token, get_with};
use crate::helpers::{TestApp, TestDb, assert_problem, phananh_command, spawn_app, spawn_app_with};
use crate::reports::{report_body, submit, submit_ok};

/// Near the seeded centroid of xã Ka Đô (no boundaries imported: nearest centroid wins).
const KA_DO: (f64, f64) = (11.7394, 108.5884);

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method.parse().unwrap(), app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

/// The response's JSON after checking its status and that it is not cached.
async fn json_ok(resp: reqwest::Response, status: u16) -> Value {
    let got = resp.status().as_u16();
    let url = resp.url().to_string();
    let cache = resp
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "{url}: {text}");
    assert_eq!(cache.as_deref(), Some("private, no-store"), "{url}");
    serde_json::from_str(&text).unwrap()
}

/// One audit row: action, before, after, actor role.
#[derive(Debug)]
struct Audit {
    action: String,
    entity_type: String,
    before: Option<Value>,
    after: Option<Value>,
    actor_role: Option<String>,
}

async fn audit_rows(app: &TestApp, entity_id: &str) -> Vec<Audit> {
    app.db
        .client()
        .await
        .query(
            "SELECT action, entity_type, before::text, after::text, actor_role::text
             FROM audit_log WHERE entity_id = $1 ORDER BY at, id",
            &[&entity_id],
        )
        .await
        .unwrap()
        .into_iter()
        .map(|r| Audit {
            action: r.get(0),
            entity_type: r.get(1),
            before: r
                .get::<_, Option<String>>(2)
                .map(|s| serde_json::from_str(&s).unwrap()),
            after: r
                .get::<_, Option<String>>(3)
                .map(|s| serde_json::from_str(&s).unwrap()),
            actor_role: r.get(4),
        })
        .collect()
}

async fn id_of(app: &TestApp, sql: &str) -> String {
    let id: uuid::Uuid = app
        .db
        .client()
        .await
        .query_one(sql, &[])
        .await
        .unwrap()
        .get(0);
    id.to_string()
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

fn new_category(code: &str) -> Value {
    json!({
        "code": code,
        "name_vi": "Lấn chiếm vỉa hè",
        "name_en": "Pavement encroachment",
        "deadline": {"amount": 5, "unit": "working_days"},
    })
}

#[tokio::test]
async fn categories_are_created_read_listed_changed_deactivated_and_reactivated() {
    let app = spawn_app().await;
    let admin = account_token(&app, "admin", None).await;
    let a = Some(admin.as_str());

    // Create.
    let resp = send(
        &app,
        "POST",
        "/api/v1/admin/categories",
        a,
        Some(new_category("pavement")),
    )
    .await;
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let created = json_ok(resp, 201).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/admin/categories/{id}"));
    assert_eq!(created["code"], "pavement");
    assert_eq!(created["name_en"], "Pavement encroachment");
    assert_eq!(created["description"], "");
    assert_eq!(
        created["deadline"],
        json!({"amount": 5, "unit": "working_days"})
    );
    assert_eq!(created["urgent"], false);
    assert_eq!(created["public"], true);
    assert_eq!(created["active"], true);
    assert_eq!(created["sort_order"], 0);
    assert!(created["created_at"].is_string() && created["updated_at"].is_string());

    // Read, list; residents see it at once.
    let read = json_ok(get_with(&app, &location, &admin).await, 200).await;
    assert_eq!(read, created);
    let list = json_ok(
        get_with(&app, "/api/v1/admin/categories", &admin).await,
        200,
    )
    .await;
    assert_eq!(list["next_cursor"], Value::Null);
    assert_eq!(list["items"].as_array().unwrap().len(), 19);
    assert!(list["items"].as_array().unwrap().contains(&created));
    let public: Vec<Value> = app.get("/api/v1/categories").await.json().await.unwrap();
    assert!(public.iter().any(|c| c["code"] == "pavement"));

    // Update: absent fields stay.
    let patched = json_ok(
        send(
            &app,
            "PATCH",
            &location,
            a,
            Some(json!({
                "name_en": "Pavements",
                "description": "Hàng quán lấn chiếm vỉa hè",
                "deadline": {"amount": 8, "unit": "working_hours"},
                "urgent": true,
                "sort_order": 7,
            })),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(patched["name_en"], "Pavements");
    assert_eq!(patched["name_vi"], "Lấn chiếm vỉa hè");
    assert_eq!(
        patched["deadline"],
        json!({"amount": 8, "unit": "working_hours"})
    );
    assert_eq!(patched["urgent"], true);
    assert_eq!(patched["sort_order"], 7);
    assert_eq!(patched["code"], "pavement");
    // An empty change, or one that changes nothing, answers the category and writes nothing.
    let same = json_ok(
        send(&app, "PATCH", &location, a, Some(json!({}))).await,
        200,
    )
    .await;
    assert_eq!(same, patched);
    json_ok(
        send(&app, "PATCH", &location, a, Some(json!({"urgent": true}))).await,
        200,
    )
    .await;

    // Conflict: the code is taken (by a seeded category too).
    for code in ["pavement", "road"] {
        let body = assert_problem(
            send(
                &app,
                "POST",
                "/api/v1/admin/categories",
                a,
                Some(new_category(code)),
            )
            .await,
            409,
            "conflict",
        )
        .await;
        assert!(body["detail"].as_str().unwrap().contains(code), "{body}");
    }

    // Validation: every bad value named at once.
    let body = assert_problem(
        send(
            &app,
            "POST",
            "/api/v1/admin/categories",
            a,
            Some(json!({
                "code": "Bad-Code",
                "name_vi": "  ",
                "name_en": "x".repeat(201),
                "deadline": {"amount": 0, "unit": "weeks"},
                "sort_order": 5_000_000,
            })),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let mut got = fields(&body);
    got.sort();
    assert_eq!(
        got,
        [
            "code",
            "deadline.amount",
            "deadline.unit",
            "name_en",
            "name_vi",
            "sort_order"
        ]
    );
    assert_problem(
        send(
            &app,
            "PATCH",
            &location,
            a,
            Some(json!({"deadline": {"amount": 1001, "unit": "working_days"}})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    // Unknown fields (the code is not changeable, so not a PATCH field).
    let mut extra = new_category("other_thing");
    extra["colour"] = json!("red");
    assert_problem(
        send(&app, "POST", "/api/v1/admin/categories", a, Some(extra)).await,
        400,
        "malformed_json",
    )
    .await;
    assert_problem(
        send(
            &app,
            "PATCH",
            &location,
            a,
            Some(json!({"code": "renamed"})),
        )
        .await,
        400,
        "malformed_json",
    )
    .await;
    // Unknown and malformed ids.
    let unknown = format!("/api/v1/admin/categories/{}", uuid::Uuid::now_v7());
    assert_problem(get_with(&app, &unknown, &admin).await, 404, "not_found").await;
    assert_problem(
        send(&app, "PATCH", &unknown, a, Some(json!({"urgent": false}))).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        send(&app, "DELETE", &unknown, a, None).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        get_with(&app, "/api/v1/admin/categories/not-a-uuid", &admin).await,
        404,
        "not_found",
    )
    .await;

    // Deactivate: still listed here, gone from the public catalog; twice changes nothing.
    let gone = json_ok(send(&app, "DELETE", &location, a, None).await, 200).await;
    assert_eq!(gone["active"], false);
    let again = json_ok(send(&app, "DELETE", &location, a, None).await, 200).await;
    assert_eq!(again, gone);
    let list = json_ok(
        get_with(&app, "/api/v1/admin/categories", &admin).await,
        200,
    )
    .await;
    assert!(list["items"].as_array().unwrap().contains(&gone));
    let public: Vec<Value> = app.get("/api/v1/categories").await.json().await.unwrap();
    assert!(!public.iter().any(|c| c["code"] == "pavement"));
    // Reactivate.
    let back = json_ok(
        send(&app, "PATCH", &location, a, Some(json!({"active": true}))).await,
        200,
    )
    .await;
    assert_eq!(back["active"], true);

    // The audit trail: one row per change, none for the no-ops, before → after.
    let rows = audit_rows(&app, &id).await;
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "category.create",
            "category.update",
            "category.deactivate",
            "category.reactivate"
        ]
    );
    assert!(rows.iter().all(|r| r.entity_type == "category"));
    assert!(
        rows.iter()
            .all(|r| r.actor_role.as_deref() == Some("admin"))
    );
    assert_eq!(rows[0].before, None);
    assert_eq!(rows[0].after.as_ref(), Some(&created));
    assert_eq!(rows[1].before.as_ref(), Some(&created));
    assert_eq!(rows[1].after.as_ref(), Some(&patched));
    assert_eq!(rows[2].before.as_ref().unwrap()["active"], true);
    assert_eq!(rows[2].after.as_ref(), Some(&gone));
    assert_eq!(rows[3].before.as_ref(), Some(&gone));
    assert_eq!(rows[3].after.as_ref(), Some(&back));
}

#[tokio::test]
async fn a_deactivated_category_is_refused_for_new_reports_and_kept_by_old_ones() {
    let app = spawn_app().await;
    let admin = account_token(&app, "admin", None).await;
    let citizen = account_token(&app, "citizen", None).await;
    let old = submit_ok(&app, &citizen, &report_body("road", KA_DO)).await;
    let road = id_of(&app, "SELECT id FROM categories WHERE code = 'road'").await;
    let path = format!("/api/v1/admin/categories/{road}");

    let gone = json_ok(send(&app, "DELETE", &path, Some(&admin), None).await, 200).await;
    assert_eq!(gone["active"], false);
    let body = assert_problem(
        submit(&app, &citizen, &report_body("road", KA_DO), None).await,
        422,
        "unknown_category",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "category");
    // The report made before keeps its category, publicly and for its owner.
    let read: Value = app
        .get(&format!("/api/v1/reports/{}", old["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["category"], "road", "{read}");
    let mine: Value = get_with(&app, "/api/v1/me/reports", &citizen)
        .await
        .json()
        .await
        .unwrap();
    assert!(mine.to_string().contains("\"road\""), "{mine}");

    // Reactivated, it is accepted again at once.
    json_ok(
        send(
            &app,
            "PATCH",
            &path,
            Some(&admin),
            Some(json!({"active": true})),
        )
        .await,
        200,
    )
    .await;
    submit_ok(&app, &citizen, &report_body("road", KA_DO)).await;
}

#[tokio::test]
async fn departments_are_created_read_listed_changed_deactivated_and_reactivated() {
    let app = spawn_app().await;
    let admin = account_token(&app, "admin", None).await;
    let a = Some(admin.as_str());
    let ka_do = id_of(&app, "SELECT id FROM areas WHERE code = '24943'").await;

    let resp = send(
        &app,
        "POST",
        "/api/v1/admin/departments",
        a,
        Some(json!({
            "code": "24943-moi-truong",
            "name": "Tổ môi trường xã Ka Đô",
            "kind": "kinh_te",
            "area_id": ka_do,
            "email": "MoiTruong@KaDo.example.vn",
        })),
    )
    .await;
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let created = json_ok(resp, 201).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/admin/departments/{id}"));
    assert_eq!(created["code"], "24943-moi-truong");
    assert_eq!(created["kind"], "kinh_te");
    assert_eq!(created["area_id"], ka_do.as_str());
    assert_eq!(created["area_code"], "24943");
    assert_eq!(created["email"], "moitruong@kado.example.vn");
    assert_eq!(created["active"], true);

    let read = json_ok(get_with(&app, &location, &admin).await, 200).await;
    assert_eq!(read, created);
    let list = json_ok(
        get_with(&app, "/api/v1/admin/departments", &admin).await,
        200,
    )
    .await;
    assert_eq!(list["next_cursor"], Value::Null);
    assert!(list["items"].as_array().unwrap().contains(&created));
    // A jurisdiction-wide desk: no area.
    let desk = json_ok(
        send(
            &app,
            "POST",
            "/api/v1/admin/departments",
            a,
            Some(json!({"code": "hotline", "name": "Đường dây nóng", "kind": "other"})),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(desk["area_id"], Value::Null);
    assert_eq!(desk["area_code"], Value::Null);
    assert_eq!(desk["email"], Value::Null);

    // Update: null clears the area and the email; absent fields stay.
    let patched = json_ok(
        send(
            &app,
            "PATCH",
            &location,
            a,
            Some(json!({"name": "Tổ môi trường", "kind": "other", "area_id": null, "email": null})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(patched["name"], "Tổ môi trường");
    assert_eq!(patched["kind"], "other");
    assert_eq!(patched["area_id"], Value::Null);
    assert_eq!(patched["area_code"], Value::Null);
    assert_eq!(patched["email"], Value::Null);
    assert_eq!(patched["code"], "24943-moi-truong");
    let same = json_ok(
        send(&app, "PATCH", &location, a, Some(json!({}))).await,
        200,
    )
    .await;
    assert_eq!(same, patched);

    // Conflicts: the code is taken; rules still route to a department; the last triage desk.
    for code in ["24943-moi-truong", "24943-kinh-te"] {
        let body = assert_problem(
            send(
                &app,
                "POST",
                "/api/v1/admin/departments",
                a,
                Some(json!({"code": code, "name": "X", "kind": "other"})),
            )
            .await,
            409,
            "conflict",
        )
        .await;
        assert!(body["detail"].as_str().unwrap().contains(code), "{body}");
    }
    let kinh_te = id_of(
        &app,
        "SELECT id FROM departments WHERE code = '24943-kinh-te'",
    )
    .await;
    let body = assert_problem(
        send(
            &app,
            "DELETE",
            &format!("/api/v1/admin/departments/{kinh_te}"),
            a,
            None,
        )
        .await,
        409,
        "conflict",
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains('#'),
        "names the rules: {body}"
    );
    assert_problem(
        send(
            &app,
            "PATCH",
            &format!("/api/v1/admin/departments/{kinh_te}"),
            a,
            Some(json!({"active": false})),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    // The triage desk: first its catch-all rule goes elsewhere, then it is the last desk.
    let triage = id_of(&app, "SELECT id FROM departments WHERE code = 'triage'").await;
    let catch_all = id_of(
        &app,
        "SELECT id FROM routing_rules WHERE category_id IS NULL AND area_id IS NULL",
    )
    .await;
    json_ok(
        send(
            &app,
            "PATCH",
            &format!("/api/v1/admin/routing-rules/{catch_all}"),
            a,
            Some(json!({"department_id": desk["id"]})),
        )
        .await,
        200,
    )
    .await;
    let triage_path = format!("/api/v1/admin/departments/{triage}");
    assert_problem(
        send(&app, "DELETE", &triage_path, a, None).await,
        409,
        "conflict",
    )
    .await;
    assert_problem(
        send(
            &app,
            "PATCH",
            &triage_path,
            a,
            Some(json!({"kind": "other"})),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    assert_eq!(
        json_ok(get_with(&app, &triage_path, &admin).await, 200).await["active"],
        true
    );

    // Validation.
    let body = assert_problem(
        send(
            &app,
            "POST",
            "/api/v1/admin/departments",
            a,
            Some(json!({
                "code": "-Bad",
                "name": "",
                "kind": "ministry",
                "area_id": uuid::Uuid::now_v7(),
                "email": "not-an-email",
            })),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let mut got = fields(&body);
    got.sort();
    assert_eq!(got, ["code", "email", "kind", "name"]);
    let body = assert_problem(
        send(
            &app,
            "POST",
            "/api/v1/admin/departments",
            a,
            Some(json!({"code": "ok-code", "name": "OK", "kind": "other", "area_id": uuid::Uuid::now_v7()})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&body), ["area_id"]);
    assert_problem(
        send(
            &app,
            "PATCH",
            &location,
            a,
            Some(json!({"area_id": uuid::Uuid::now_v7()})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        send(&app, "PATCH", &location, a, Some(json!({"kind": "bogus"}))).await,
        422,
        "validation_failed",
    )
    .await;
    // Unknown fields; the code never changes.
    assert_problem(
        send(
            &app,
            "POST",
            "/api/v1/admin/departments",
            a,
            Some(json!({"code": "x1", "name": "X", "kind": "other", "phone": "0263"})),
        )
        .await,
        400,
        "malformed_json",
    )
    .await;
    assert_problem(
        send(
            &app,
            "PATCH",
            &location,
            a,
            Some(json!({"code": "renamed"})),
        )
        .await,
        400,
        "malformed_json",
    )
    .await;
    let unknown = format!("/api/v1/admin/departments/{}", uuid::Uuid::now_v7());
    assert_problem(get_with(&app, &unknown, &admin).await, 404, "not_found").await;
    assert_problem(
        send(&app, "DELETE", &unknown, a, None).await,
        404,
        "not_found",
    )
    .await;

    // Deactivate (twice is a no-op), reactivate.
    let gone = json_ok(send(&app, "DELETE", &location, a, None).await, 200).await;
    assert_eq!(gone["active"], false);
    assert_eq!(
        json_ok(send(&app, "DELETE", &location, a, None).await, 200).await,
        gone
    );
    let list = json_ok(
        get_with(&app, "/api/v1/admin/departments", &admin).await,
        200,
    )
    .await;
    assert!(list["items"].as_array().unwrap().contains(&gone));
    let public: Vec<Value> = app.get("/api/v1/departments").await.json().await.unwrap();
    assert!(!public.iter().any(|d| d["code"] == "24943-moi-truong"));
    let back = json_ok(
        send(&app, "PATCH", &location, a, Some(json!({"active": true}))).await,
        200,
    )
    .await;
    assert_eq!(back["active"], true);

    let rows = audit_rows(&app, &id).await;
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "department.create",
            "department.update",
            "department.deactivate",
            "department.reactivate"
        ]
    );
    assert!(rows.iter().all(|r| r.entity_type == "department"));
    assert!(
        rows.iter()
            .all(|r| r.actor_role.as_deref() == Some("admin"))
    );
    assert_eq!(rows[0].before, None);
    assert_eq!(rows[0].after.as_ref(), Some(&created));
    assert_eq!(rows[1].before.as_ref(), Some(&created));
    assert_eq!(rows[1].after.as_ref(), Some(&patched));
    assert_eq!(rows[2].after.as_ref(), Some(&gone));
    assert_eq!(rows[3].before.as_ref(), Some(&gone));
    assert_eq!(rows[3].after.as_ref(), Some(&back));
    // Refused changes left no row.
    assert!(audit_rows(&app, &kinh_te).await.is_empty());
    assert!(audit_rows(&app, &triage).await.is_empty());
}

#[tokio::test]
async fn routing_rules_are_created_read_listed_changed_deactivated_and_reactivated() {
    let app = spawn_app().await;
    let admin = account_token(&app, "admin", None).await;
    let a = Some(admin.as_str());
    let ka_do = id_of(&app, "SELECT id FROM areas WHERE code = '24943'").await;
    let office = id_of(
        &app,
        "SELECT id FROM departments WHERE code = '24943-van-phong'",
    )
    .await;
    let category = json_ok(
        send(
            &app,
            "POST",
            "/api/v1/admin/categories",
            a,
            Some(new_category("pavement")),
        )
        .await,
        201,
    )
    .await;
    let category_id = category["id"].as_str().unwrap().to_owned();

    // Before the rule, a pavement report in Ka Đô goes by the broader rules.
    let explain = format!(
        "/api/v1/admin/routing/explain?lat={}&lon={}&category=pavement",
        KA_DO.0, KA_DO.1
    );
    let before: Value = get_with(&app, &explain, &admin).await.json().await.unwrap();
    assert!(before["rule"]["number"].as_i64().is_some(), "{before}");

    let resp = send(
        &app,
        "POST",
        "/api/v1/admin/routing-rules",
        a,
        Some(json!({
            "category_id": category_id,
            "area_id": ka_do,
            "department_id": office,
            // JSON Schema's integer: 3.0 is 3 (a JavaScript or Python client may write it so).
            "priority": 3.0,
            "note": "vỉa hè Ka Đô: văn phòng xã",
        })),
    )
    .await;
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let created = json_ok(resp, 201).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/admin/routing-rules/{id}"));
    assert!(created["number"].as_i64().is_some());
    assert_eq!(created["category_code"], "pavement");
    assert_eq!(created["area_code"], "24943");
    assert_eq!(created["department_id"], office.as_str());
    assert_eq!(created["department_code"], "24943-van-phong");
    assert_eq!(created["priority"], 3);
    assert_eq!(created["active"], true);
    assert_eq!(created["note"], "vỉa hè Ka Đô: văn phòng xã");
    // A fraction is not an integer.
    assert_problem(
        send(&app, "PATCH", &location, a, Some(json!({"priority": 2.5}))).await,
        400,
        "malformed_json",
    )
    .await;
    // It decides at once.
    let now: Value = get_with(&app, &explain, &admin).await.json().await.unwrap();
    assert_eq!(now["department"]["code"], "24943-van-phong");
    assert_eq!(now["rule"]["number"], created["number"]);

    let read = json_ok(get_with(&app, &location, &admin).await, 200).await;
    assert_eq!(read, created);

    // List and filters.
    let all = json_ok(
        get_with(&app, "/api/v1/admin/routing-rules", &admin).await,
        200,
    )
    .await;
    assert_eq!(all["next_cursor"], Value::Null);
    let items = all["items"].as_array().unwrap();
    assert!(items.contains(&created));
    let numbers: Vec<i64> = items
        .iter()
        .map(|r| r["number"].as_i64().unwrap())
        .collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "by number");
    let filtered = json_ok(
        get_with(
            &app,
            "/api/v1/admin/routing-rules?category=pavement&area=24943&department=24943-van-phong&active=true",
            &admin,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(filtered["items"], json!([created]));
    let by_department = json_ok(
        get_with(
            &app,
            "/api/v1/admin/routing-rules?department=24943-van-phong",
            &admin,
        )
        .await,
        200,
    )
    .await;
    assert!(
        by_department["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["department_code"] == "24943-van-phong")
    );
    let inactive = json_ok(
        get_with(&app, "/api/v1/admin/routing-rules?active=false", &admin).await,
        200,
    )
    .await;
    assert_eq!(inactive["items"], json!([]));
    for bad in ["?active=maybe", "?colour=red"] {
        assert_problem(
            get_with(&app, &format!("/api/v1/admin/routing-rules{bad}"), &admin).await,
            400,
            "invalid_query",
        )
        .await;
    }

    // Conflicts: the same pair again (any department); the catch-all cannot be deactivated.
    let body = assert_problem(
        send(
            &app,
            "POST",
            "/api/v1/admin/routing-rules",
            a,
            Some(json!({"category_id": category_id, "area_id": ka_do, "department_id": office})),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    let cited = format!("#{}", created["number"]);
    assert!(body["detail"].as_str().unwrap().contains(&cited), "{body}");
    assert_problem(
        send(
            &app,
            "POST",
            "/api/v1/admin/routing-rules",
            a,
            Some(json!({"department_id": office})),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    let catch_all = id_of(
        &app,
        "SELECT id FROM routing_rules WHERE category_id IS NULL AND area_id IS NULL",
    )
    .await;
    let catch_all_path = format!("/api/v1/admin/routing-rules/{catch_all}");
    assert_problem(
        send(&app, "DELETE", &catch_all_path, a, None).await,
        409,
        "conflict",
    )
    .await;
    assert_problem(
        send(
            &app,
            "PATCH",
            &catch_all_path,
            a,
            Some(json!({"active": false})),
        )
        .await,
        409,
        "conflict",
    )
    .await;

    // Validation: unknown references, an inactive department, bad priority and note.
    let closed = json_ok(
        send(
            &app,
            "POST",
            "/api/v1/admin/departments",
            a,
            Some(json!({"code": "closed-desk", "name": "Closed", "kind": "other"})),
        )
        .await,
        201,
    )
    .await;
    let closed_path = format!(
        "/api/v1/admin/departments/{}",
        closed["id"].as_str().unwrap()
    );
    json_ok(send(&app, "DELETE", &closed_path, a, None).await, 200).await;
    let body = assert_problem(
        send(
            &app,
            "POST",
            "/api/v1/admin/routing-rules",
            a,
            Some(json!({
                "category_id": uuid::Uuid::now_v7(),
                "area_id": uuid::Uuid::now_v7(),
                "department_id": uuid::Uuid::now_v7(),
                "priority": 100_000,
                "note": "line\nbreak",
            })),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let mut got = fields(&body);
    got.sort();
    assert_eq!(
        got,
        [
            "area_id",
            "category_id",
            "department_id",
            "note",
            "priority"
        ]
    );
    let body = assert_problem(
        send(
            &app,
            "POST",
            "/api/v1/admin/routing-rules",
            a,
            Some(json!({"category_id": category_id, "department_id": closed["id"]})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["code"], "inactive");
    assert_problem(
        send(
            &app,
            "PATCH",
            &location,
            a,
            Some(json!({"department_id": closed["id"]})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        send(
            &app,
            "PATCH",
            &location,
            a,
            Some(json!({"department_id": uuid::Uuid::now_v7()})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    // Unknown fields: the pair never changes.
    assert_problem(
        send(
            &app,
            "POST",
            "/api/v1/admin/routing-rules",
            a,
            Some(json!({"department_id": office, "weight": 1})),
        )
        .await,
        400,
        "malformed_json",
    )
    .await;
    assert_problem(
        send(&app, "PATCH", &location, a, Some(json!({"area_id": null}))).await,
        400,
        "malformed_json",
    )
    .await;
    let unknown = format!("/api/v1/admin/routing-rules/{}", uuid::Uuid::now_v7());
    assert_problem(get_with(&app, &unknown, &admin).await, 404, "not_found").await;
    assert_problem(
        send(&app, "DELETE", &unknown, a, None).await,
        404,
        "not_found",
    )
    .await;

    // Update.
    let kinh_te = id_of(
        &app,
        "SELECT id FROM departments WHERE code = '24943-kinh-te'",
    )
    .await;
    let patched = json_ok(
        send(
            &app,
            "PATCH",
            &location,
            a,
            Some(json!({"department_id": kinh_te, "priority": -2, "note": "về phòng kinh tế"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(patched["department_code"], "24943-kinh-te");
    assert_eq!(patched["priority"], -2);
    assert_eq!(patched["note"], "về phòng kinh tế");
    assert_eq!(patched["number"], created["number"]);
    assert_eq!(
        json_ok(
            send(&app, "PATCH", &location, a, Some(json!({}))).await,
            200
        )
        .await,
        patched
    );

    // Deactivate: routing falls back at once; reactivate.
    let gone = json_ok(send(&app, "DELETE", &location, a, None).await, 200).await;
    assert_eq!(gone["active"], false);
    assert_eq!(
        json_ok(send(&app, "DELETE", &location, a, None).await, 200).await,
        gone
    );
    let fallen: Value = get_with(&app, &explain, &admin).await.json().await.unwrap();
    assert_eq!(
        fallen["rule"]["number"], before["rule"]["number"],
        "{fallen}"
    );
    let inactive = json_ok(
        get_with(&app, "/api/v1/admin/routing-rules?active=false", &admin).await,
        200,
    )
    .await;
    assert_eq!(inactive["items"], json!([gone]));
    // Reactivating towards an inactive department is refused; with an active one it works.
    assert_problem(
        send(
            &app,
            "PATCH",
            &location,
            a,
            Some(json!({"active": true, "department_id": closed["id"]})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let back = json_ok(
        send(&app, "PATCH", &location, a, Some(json!({"active": true}))).await,
        200,
    )
    .await;
    assert_eq!(back["active"], true);

    let rows = audit_rows(&app, &id).await;
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "routing_rule.create",
            "routing_rule.update",
            "routing_rule.deactivate",
            "routing_rule.reactivate"
        ]
    );
    assert!(rows.iter().all(|r| r.entity_type == "routing_rule"));
    assert!(
        rows.iter()
            .all(|r| r.actor_role.as_deref() == Some("admin"))
    );
    assert_eq!(rows[0].before, None);
    assert_eq!(rows[0].after.as_ref(), Some(&created));
    assert_eq!(rows[1].before.as_ref(), Some(&created));
    assert_eq!(rows[1].after.as_ref(), Some(&patched));
    assert_eq!(rows[2].before.as_ref(), Some(&patched));
    assert_eq!(rows[2].after.as_ref(), Some(&gone));
    assert_eq!(rows[3].before.as_ref(), Some(&gone));
    assert_eq!(rows[3].after.as_ref(), Some(&back));
    assert!(audit_rows(&app, &catch_all).await.is_empty());
}

#[tokio::test]
async fn only_admins_may_manage_the_reference_data() {
    let app = spawn_app().await;
    let ioc_key = "phk_catalog-test-key-for-the-ioc-0123456789";
    app.db
        .client()
        .await
        .execute(
            "INSERT INTO api_keys (id, name, key_hash, prefix) VALUES (gen_random_uuid(), 'ioc', $1, 'phk_catalo')",
            &[&phananh::auth::tokens::hash_token(ioc_key)],
        )
        .await
        .unwrap();
    let mut callers: Vec<(&str, Option<(&str, String)>)> = vec![("anonymous", None)];
    callers.push(("ioc", Some(("X-Api-Key", ioc_key.to_owned()))));
    for role in ["citizen", "staff", "manager"] {
        let department = (role != "citizen").then_some("24943-kinh-te");
        let token = account_token(&app, role, department).await;
        callers.push((role, Some(("Authorization", format!("Bearer {token}")))));
    }
    let road = id_of(&app, "SELECT id FROM categories WHERE code = 'road'").await;
    let kinh_te = id_of(
        &app,
        "SELECT id FROM departments WHERE code = '24943-kinh-te'",
    )
    .await;
    let rule = id_of(&app, "SELECT id FROM routing_rules ORDER BY number LIMIT 1").await;
    let mut calls: Vec<(&str, String, Option<Value>)> = Vec::new();
    for (base, id, body) in [
        ("categories", &road, new_category("by_intruder")),
        (
            "departments",
            &kinh_te,
            json!({"code": "intruder", "name": "X", "kind": "other"}),
        ),
        ("routing-rules", &rule, json!({"department_id": kinh_te})),
    ] {
        let list = format!("/api/v1/admin/{base}");
        let one = format!("/api/v1/admin/{base}/{id}");
        calls.push(("GET", list.clone(), None));
        calls.push(("POST", list, Some(body)));
        calls.push(("GET", one.clone(), None));
        calls.push(("PATCH", one.clone(), Some(json!({"active": false}))));
        calls.push(("DELETE", one, None));
    }
    for (role, cred) in &callers {
        for (method, path, body) in &calls {
            let mut req = app.client.request(method.parse().unwrap(), app.url(path));
            if let Some(b) = body {
                req = req.json(b);
            }
            if let Some((name, value)) = cred {
                req = req.header(*name, value);
            }
            let (status, code) = if *role == "anonymous" {
                (401, "unauthorized")
            } else {
                (403, "forbidden")
            };
            let resp = req.send().await.unwrap();
            let got = resp.status().as_u16();
            assert_eq!(got, status, "{method} {path} as {role}");
            let problem: Value = resp.json().await.unwrap();
            if *role != "ioc" {
                assert_eq!(problem["code"], code, "{method} {path} as {role}");
            }
        }
    }
    // Nothing changed, nothing logged.
    let audit: i64 = app
        .db
        .client()
        .await
        .query_one("SELECT count(*) FROM audit_log", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(audit, 0);
    let active: i64 = app
        .db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM categories WHERE active AND code = 'road'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(active, 1);
}

/// A `phananh serve` child process on an existing database, killed when dropped.
struct OtherServer {
    child: Child,
    address: String,
    client: reqwest::Client,
    _data_dir: tempfile::TempDir,
}

impl OtherServer {
    fn start(database_url: &str, jwt_secret: &str) -> OtherServer {
        let data_dir = tempfile::tempdir().unwrap();
        let mut child = phananh_command(
            &["serve"],
            &[
                ("DATABASE_URL", database_url),
                ("PHANANH_LISTEN", "127.0.0.1:0"),
                ("PHANANH_HTTP__WORKERS", "1"),
                ("PHANANH_AUTH__JWT_SECRET", jwt_secret),
                ("PHANANH_DATA_DIR", data_dir.path().to_str().unwrap()),
            ],
        )
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
        // The log line `listening` carries the port.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent
                    && let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v["message"] == "listening"
                {
                    let _ = tx.send(v["port"].as_u64().unwrap() as u16);
                    sent = true;
                }
                if std::env::var_os("TEST_LOG").is_some() {
                    eprintln!("serve B: {line}");
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the second server did not report its port");
        OtherServer {
            child,
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            _data_dir: data_dir,
        }
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let resp = self
            .client
            .get(format!("{}{}", self.address, path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path} on B");
        resp.json().await.unwrap()
    }

    async fn submit(&self, token: &str, body: &Value) -> Value {
        let resp = self
            .client
            .post(format!("{}/api/v1/reports", self.address))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "submission on B");
        resp.json().await.unwrap()
    }
}

impl Drop for OtherServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_rule_changed_through_one_server_routes_at_once_on_another() {
    // Two processes on one database share the token key, as a deployment of several would.
    let secret = "a-shared-test-secret-of-more-than-32-bytes-0123456789";
    let db = TestDb::new().await;
    let url = db.url.clone();
    let a = spawn_app_with(db, &url, |s| {
        s.auth.jwt_secret = Some(phananh::config::Secret::new(secret));
    })
    .await;
    let b = OtherServer::start(&url, secret);
    let admin = account_token(&a, "admin", None).await;
    let citizen = account_token(&a, "citizen", None).await;
    let explain = format!(
        "/api/v1/admin/routing/explain?lat={}&lon={}&category=road",
        KA_DO.0, KA_DO.1
    );

    // B routes Ka Đô's roads by the seeded rule.
    let first = b.get(&explain, &admin).await;
    assert_eq!(first["department"]["code"], "24943-kinh-te", "{first}");
    let number = first["rule"]["number"].clone();

    // A points that rule at the commune office.
    let rules = json_ok(
        get_with(
            &a,
            "/api/v1/admin/routing-rules?category=road&area=24943",
            &admin,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(rules["items"].as_array().unwrap().len(), 1, "{rules}");
    let rule = &rules["items"][0];
    assert_eq!(rule["number"], number);
    let office = id_of(
        &a,
        "SELECT id FROM departments WHERE code = '24943-van-phong'",
    )
    .await;
    let rule_path = format!(
        "/api/v1/admin/routing-rules/{}",
        rule["id"].as_str().unwrap()
    );
    json_ok(
        send(
            &a,
            "PATCH",
            &rule_path,
            Some(&admin),
            Some(json!({"department_id": office, "note": "đường Ka Đô: văn phòng"})),
        )
        .await,
        200,
    )
    .await;

    // B follows at once: the dry run and a real submission.
    let second = b.get(&explain, &admin).await;
    assert_eq!(second["department"]["code"], "24943-van-phong", "{second}");
    assert_eq!(second["rule"]["number"], number);
    assert_eq!(second["rule"]["note"], "đường Ka Đô: văn phòng");
    let report = b.submit(&citizen, &report_body("road", KA_DO)).await;
    assert_eq!(report["department"]["id"], office.as_str(), "{report}");
    assert_eq!(report["routing_reason"], second["reason"]);

    // A deactivates it: B falls back to a broader rule at once.
    json_ok(
        send(&a, "DELETE", &rule_path, Some(&admin), None).await,
        200,
    )
    .await;
    let third = b.get(&explain, &admin).await;
    assert_ne!(third["rule"]["number"], number, "{third}");
    let report = b.submit(&citizen, &report_body("road", KA_DO)).await;
    assert_eq!(report["department"]["id"], third["department"]["id"]);
}
