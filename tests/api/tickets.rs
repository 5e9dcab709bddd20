//! Handling over HTTP: the staff queue, every transition (and every illegal one), departments
//! that cannot see each other's tickets, two clerks racing, the deadline job with a chosen
//! clock, diacritic-blind search, and the resident's rating, reopen and "me too".

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::accounts::{account_token, get_with, post};
use crate::helpers::{TestApp, assert_problem, count, spawn_app};
use crate::media::{citizen, photo, upload_ok};
use crate::reports::{report_body, submit_ok};
use phananh::domain::lifecycle::{Action, Actor, transition};
use phananh::domain::report::ReportStatus;

/// Near the seeded centroid of xã Ka Đô: roads there go to `24943-kinh-te`.
const KA_DO: (f64, f64) = (11.7394, 108.5884);
const KINH_TE: &str = "24943-kinh-te";
const VAN_HOA: &str = "24943-van-hoa-xa-hoi";

struct Desk {
    staff: String,
    manager: String,
    resident: String,
}

async fn desk(app: &TestApp) -> Desk {
    Desk {
        staff: account_token(app, "staff", Some(KINH_TE)).await,
        manager: account_token(app, "manager", Some(KINH_TE)).await,
        resident: citizen(app).await,
    }
}

async fn new_report(app: &TestApp, resident: &str, description: &str) -> String {
    let mut body = report_body("road", KA_DO);
    body["description"] = json!(description);
    submit_ok(app, resident, &body).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn act(app: &TestApp, token: &str, id: &str, body: Value) -> reqwest::Response {
    post(
        app,
        &format!("/api/v1/tickets/{id}/transitions"),
        body,
        Some(token),
    )
    .await
}

async fn act_ok(app: &TestApp, token: &str, id: &str, body: Value) -> Value {
    let resp = act(app, token, id, body.clone()).await;
    assert_eq!(resp.status(), 200, "{body}: {:?}", resp.text().await);
    resp.json().await.unwrap()
}

async fn department_id(app: &TestApp, code: &str) -> String {
    let row = app
        .db
        .client()
        .await
        .query_one("SELECT id FROM departments WHERE code = $1", &[&code])
        .await
        .unwrap();
    row.get::<_, uuid::Uuid>(0).to_string()
}

/// The deadline job as `serve` runs it, at a time the test chooses.
async fn run_deadlines(app: &TestApp, now: DateTime<Utc>) -> phananh::jobs::deadlines::Pass {
    let mut conn = phananh::db::connect(&app.db.url).await.unwrap();
    let settings = phananh::config::Settings::default();
    phananh::jobs::deadlines::run_once(&mut conn, &settings, now)
        .await
        .unwrap()
}

async fn ticket(app: &TestApp, token: &str, id: &str) -> Value {
    let resp = get_with(app, &format!("/api/v1/tickets/{id}"), token).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    resp.json().await.unwrap()
}

async fn queue(app: &TestApp, token: &str, query: &str) -> Value {
    let resp = get_with(app, &format!("/api/v1/tickets{query}"), token).await;
    assert_eq!(resp.status(), 200, "{query}: {:?}", resp.text().await);
    resp.json().await.unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_whole_lifecycle_through_the_api() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = new_report(&app, &d.resident, "Ổ gà lớn trên đường liên xã").await;

    // The department's queue has it, with the deadline and the reporter's contact.
    let page = queue(&app, &d.staff, "").await;
    assert_eq!(ids(&page), [id.as_str()]);
    let t = &page["items"][0];
    assert_eq!(t["status"], "new");
    assert_eq!(t["overdue"], false);
    assert!(t["tracking_code"].is_string() && t["version"] == 1);
    let full = get_with(&app, &format!("/api/v1/tickets/{id}"), &d.staff).await;
    assert_eq!(full.headers()["etag"], "\"1\"");
    let full: Value = full.json().await.unwrap();
    assert_eq!(full["reporter"]["full_name"], "Nguyễn Văn A");
    assert!(full["reporter"]["phone"].is_string());
    assert_eq!(full["events"][0]["action"], "created");

    // A resident cannot rate or reopen what is not resolved.
    let early = post(
        &app,
        &format!("/api/v1/reports/{id}/rating"),
        json!({"score": 5}),
        Some(&d.resident),
    )
    .await;
    assert_problem(early, 409, "invalid_transition").await;

    act_ok(&app, &d.staff, &id, json!({"action": "accept"})).await;
    act_ok(
        &app,
        &d.staff,
        &id,
        json!({"action": "start", "internal_note": "Đội 2 đi kiểm tra"}),
    )
    .await;
    // Hold needs a reason.
    let bare = act(&app, &d.staff, &id, json!({"action": "hold"})).await;
    let problem = assert_problem(bare, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "public_note");
    act_ok(
        &app,
        &d.staff,
        &id,
        json!({"action": "hold", "public_note": "Chờ điện lực cắt điện"}),
    )
    .await;
    act_ok(&app, &d.staff, &id, json!({"action": "resume"})).await;
    // Resolve needs a public note; "after" photos come from the media endpoint.
    let bare = act(
        &app,
        &d.staff,
        &id,
        json!({"action": "resolve", "internal_note": "xong"}),
    )
    .await;
    assert_problem(bare, 422, "validation_failed").await;
    let after = upload_ok(&app, &d.staff, &photo("gps/DSCN0010.jpg")).await;
    let done = act_ok(
        &app,
        &d.staff,
        &id,
        json!({"action": "resolve", "public_note": "Đã vá ổ gà", "internal_note": "Tốn 2 bao xi măng", "media_ids": [after["id"]]}),
    )
    .await;
    assert_eq!(done["status"], "resolved");
    assert!(done["resolved_at"].is_string());
    assert_eq!(done["version"], 6);
    assert_eq!(
        done["photos"].as_array().unwrap().len(),
        0,
        "after photos are not the reporter's"
    );
    let resolve = done["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(resolve["action"], "resolve");
    assert_eq!(resolve["internal_note"], "Tốn 2 bao xi măng");
    assert_eq!(resolve["photos"][0]["id"], after["id"]);
    // The photo cannot be attached a second time, to another ticket.
    let other_ticket = new_report(&app, &d.resident, "Ổ gà thứ hai").await;
    act_ok(&app, &d.staff, &other_ticket, json!({"action": "accept"})).await;
    let again = act(
        &app,
        &d.staff,
        &other_ticket,
        json!({"action": "resolve", "public_note": "x", "media_ids": [after["id"]]}),
    )
    .await;
    assert_problem(again, 422, "invalid_media").await;
    // Nor someone else's upload.
    let theirs = upload_ok(&app, &d.resident, &photo("gps/DSCN0010.jpg")).await;
    let again = act(
        &app,
        &d.staff,
        &other_ticket,
        json!({"action": "resolve", "public_note": "x", "media_ids": [theirs["id"]]}),
    )
    .await;
    assert_problem(again, 422, "invalid_media").await;
    assert_eq!(
        ticket(&app, &d.staff, &other_ticket).await["status"],
        "accepted",
        "nothing written"
    );

    // The resident's timeline: every step, public notes, no internal ones.
    let events: Value = get_with(&app, &format!("/api/v1/reports/{id}/events"), &d.resident)
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["created", "accept", "start", "hold", "resume", "resolve"]
    );
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e.get("internal_note").is_none())
    );
    assert_eq!(events["items"][5]["public_note"], "Đã vá ổ gà");

    // Rating: once per resolution, 1–5, the reporter only.
    let other = citizen(&app).await;
    let path = format!("/api/v1/reports/{id}/rating");
    assert_problem(
        post(&app, &path, json!({"score": 4}), Some(&other)).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        post(&app, &path, json!({"score": 6}), Some(&d.resident)).await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        post(&app, &path, json!({"score": 0}), Some(&d.resident)).await,
        422,
        "validation_failed",
    )
    .await;
    let rated = post(
        &app,
        &path,
        json!({"score": 2, "comment": "Vá tạm"}),
        Some(&d.resident),
    )
    .await;
    assert_eq!(rated.status(), 201);
    assert_problem(
        post(&app, &path, json!({"score": 5}), Some(&d.resident)).await,
        409,
        "already_rated",
    )
    .await;

    // Reopen: the reporter, with a reason, back to the department, counted.
    let reopen = format!("/api/v1/reports/{id}/reopen");
    assert_problem(
        post(&app, &reopen, json!({"reason": "  "}), Some(&d.resident)).await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        post(&app, &reopen, json!({"reason": "Lại vỡ"}), Some(&other)).await,
        403,
        "forbidden",
    )
    .await;
    let reopened = post(
        &app,
        &reopen,
        json!({"reason": "Mưa một trận lại vỡ"}),
        Some(&d.resident),
    )
    .await;
    assert_eq!(reopened.status(), 200, "{:?}", reopened.text().await);
    let t = ticket(&app, &d.staff, &id).await;
    assert_eq!(t["status"], "reopened");
    assert_eq!(t["reopen_count"], 1);
    assert_eq!(t["ratings"][0]["score"], 2);
    act_ok(&app, &d.staff, &id, json!({"action": "start"})).await;
    act_ok(
        &app,
        &d.staff,
        &id,
        json!({"action": "resolve", "public_note": "Đã làm lại mặt đường"}),
    )
    .await;
    // The second resolution can be rated again.
    let rated = post(&app, &path, json!({"score": 5}), Some(&d.resident)).await;
    assert_eq!(rated.status(), 201);
    let r: Value = rated.json().await.unwrap();
    assert_eq!(r["cycle"], 1);

    // Seven days later it closes itself, and then it cannot be reopened.
    let pass = run_deadlines(&app, Utc::now() + Duration::days(8)).await;
    assert_eq!(pass.closed, 1);
    let t = ticket(&app, &d.staff, &id).await;
    assert_eq!(t["status"], "closed");
    assert_eq!(
        t["events"].as_array().unwrap().last().unwrap()["action"],
        "close"
    );
    assert_problem(
        post(
            &app,
            &reopen,
            json!({"reason": "Vẫn vỡ"}),
            Some(&d.resident),
        )
        .await,
        409,
        "invalid_transition",
    )
    .await;
    let public: Value = app
        .get(&format!("/api/v1/reports/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(public["status"], "closed");
}

/// Builds one report in each state through the API (closed through the deadline job).
async fn one_in_each_state(app: &TestApp, d: &Desk) -> Vec<(ReportStatus, String)> {
    let mut out = Vec::new();
    let steps: &[(ReportStatus, &[Value])] = &[
        (ReportStatus::New, &[]),
        (ReportStatus::Accepted, &[json!({"action": "accept"})]),
        (
            ReportStatus::InProgress,
            &[json!({"action": "accept"}), json!({"action": "start"})],
        ),
        (
            ReportStatus::OnHold,
            &[
                json!({"action": "accept"}),
                json!({"action": "hold", "public_note": "chờ"}),
            ],
        ),
        (
            ReportStatus::Resolved,
            &[
                json!({"action": "accept"}),
                json!({"action": "resolve", "public_note": "xong"}),
            ],
        ),
        (
            ReportStatus::Rejected,
            &[json!({"action": "reject", "public_note": "Khiếu nại: gửi qua kênh khác"})],
        ),
    ];
    for (status, actions) in steps {
        let id = new_report(app, &d.resident, "Mặt đường hư hỏng").await;
        for a in *actions {
            act_ok(app, &d.staff, &id, a.clone()).await;
        }
        out.push((*status, id));
    }
    let original = out[0].1.clone();
    let dup = new_report(app, &d.resident, "Trùng").await;
    act_ok(
        app,
        &d.staff,
        &dup,
        json!({"action": "mark_duplicate", "duplicate_of": original}),
    )
    .await;
    out.push((ReportStatus::Duplicate, dup));
    let reopened = new_report(app, &d.resident, "Mở lại").await;
    act_ok(app, &d.staff, &reopened, json!({"action": "accept"})).await;
    act_ok(
        app,
        &d.staff,
        &reopened,
        json!({"action": "resolve", "public_note": "xong"}),
    )
    .await;
    let r = post(
        app,
        &format!("/api/v1/reports/{reopened}/reopen"),
        json!({"reason": "chưa"}),
        Some(&d.resident),
    )
    .await;
    assert_eq!(r.status(), 200);
    out.push((ReportStatus::Reopened, reopened));
    let closed = new_report(app, &d.resident, "Đóng").await;
    act_ok(app, &d.staff, &closed, json!({"action": "accept"})).await;
    act_ok(
        app,
        &d.staff,
        &closed,
        json!({"action": "resolve", "public_note": "xong"}),
    )
    .await;
    app.db
        .client()
        .await
        .execute(
            "UPDATE reports SET resolved_at = now() - interval '8 days' WHERE id = $1::text::uuid",
            &[&closed],
        )
        .await
        .unwrap();
    run_deadlines(app, Utc::now()).await;
    out.push((ReportStatus::Closed, closed));
    for (status, id) in &out {
        assert_eq!(ticket(app, &d.staff, id).await["status"], status.as_str());
    }
    out
}

#[tokio::test]
async fn every_illegal_action_from_every_state_is_409() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let other_dept = department_id(&app, VAN_HOA).await;
    let states = one_in_each_state(&app, &d).await;
    let target = states[0].1.clone();
    let mut tried = 0;
    for (status, id) in &states {
        for action in Action::ALL {
            if matches!(action, Action::Reopen | Action::Close) {
                continue; // not staff actions (403, checked below)
            }
            if transition(*status, action, Actor::Manager).is_ok() {
                continue; // legal: walked in the other tests
            }
            let body = json!({
                "action": action.as_str(),
                "public_note": "lý do",
                "department_id": other_dept,
                "duplicate_of": target,
                "extend_by": 2,
            });
            let before = ticket(&app, &d.manager, id).await["version"].clone();
            let resp = act(&app, &d.manager, id, body).await;
            assert_problem(resp, 409, "invalid_transition").await;
            assert_eq!(
                ticket(&app, &d.manager, id).await["version"],
                before,
                "nothing written"
            );
            tried += 1;
        }
    }
    assert!(tried >= 30, "only {tried} illegal pairs tried");
    // Actions staff may never take, in any state.
    let new = &states[0].1;
    for action in ["reopen", "close"] {
        let resp = act(
            &app,
            &d.manager,
            new,
            json!({"action": action, "public_note": "x"}),
        )
        .await;
        assert_problem(resp, 403, "forbidden").await;
    }
    let resp = act(&app, &d.manager, new, json!({"action": "explode"})).await;
    assert_eq!(resp.status(), 400);
    // Manager-only actions.
    let resp = act(
        &app,
        &d.staff,
        new,
        json!({"action": "transfer", "department_id": other_dept}),
    )
    .await;
    assert_problem(resp, 403, "forbidden").await;
    let resp = act(
        &app,
        &d.staff,
        new,
        json!({"action": "extend", "extend_by": 1, "public_note": "x"}),
    )
    .await;
    assert_problem(resp, 403, "forbidden").await;
}

#[tokio::test]
async fn another_departments_tickets_do_not_exist() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = new_report(&app, &d.resident, "Cầu tràn bị cuốn trôi").await;
    let elsewhere = account_token(&app, "staff", Some(VAN_HOA)).await;
    let elsewhere_manager = account_token(&app, "manager", Some(VAN_HOA)).await;
    assert!(ids(&queue(&app, &elsewhere, "").await).is_empty());
    assert!(ids(&queue(&app, &elsewhere, "?status=all").await).is_empty());
    let resp = get_with(&app, &format!("/api/v1/tickets/{id}"), &elsewhere).await;
    assert_problem(resp, 404, "not_found").await;
    let resp = act(&app, &elsewhere, &id, json!({"action": "accept"})).await;
    assert_problem(resp, 404, "not_found").await;
    let resp = post(
        &app,
        &format!("/api/v1/tickets/{id}/assign"),
        json!({"user_id": null}),
        Some(&elsewhere_manager),
    )
    .await;
    assert_problem(resp, 404, "not_found").await;
    // Asking for another department's queue by id is refused, not answered empty.
    let mine = department_id(&app, KINH_TE).await;
    let resp = get_with(
        &app,
        &format!("/api/v1/tickets?department={mine}"),
        &elsewhere,
    )
    .await;
    assert_problem(resp, 403, "forbidden").await;
    // The staff timeline is the department's too: others see the public one.
    act_ok(
        &app,
        &d.staff,
        &id,
        json!({"action": "accept", "internal_note": "Số điện thoại người báo: gọi sau 17h"}),
    )
    .await;
    let events: Value = get_with(&app, &format!("/api/v1/reports/{id}/events"), &elsewhere)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["items"][1]["action"], "accept");
    assert!(events["items"][1].get("internal_note").is_none());
    let own: Value = get_with(&app, &format!("/api/v1/reports/{id}/events"), &d.staff)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        own["items"][1]["internal_note"],
        "Số điện thoại người báo: gọi sau 17h"
    );
    // Residents have no queue; admins see every department's.
    let resp = get_with(&app, "/api/v1/tickets", &d.resident).await;
    assert_problem(resp, 403, "forbidden").await;
    let admin = account_token(&app, "admin", None).await;
    assert_eq!(ids(&queue(&app, &admin, "").await), [id.as_str()]);
    assert_eq!(
        ids(&queue(&app, &admin, &format!("?department={mine}")).await),
        [id]
    );
    // Nothing was changed by the refused calls.
    assert_eq!(count(&app, "SELECT count(*) FROM report_events").await, 2);
}

#[tokio::test]
async fn of_two_resolves_at_once_one_wins_and_the_other_is_409() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let second = account_token(&app, "staff", Some(KINH_TE)).await;
    for round in 0..4 {
        let id = new_report(&app, &d.resident, &format!("Đèn đường hỏng {round}")).await;
        act_ok(&app, &d.staff, &id, json!({"action": "accept"})).await;
        let body =
            |who: &str| json!({"action": "resolve", "public_note": format!("Đã sửa ({who})")});
        let (a, b) = tokio::join!(
            act(&app, &d.staff, &id, body("a")),
            act(&app, &second, &id, body("b")),
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "round {round}");
        let loser = if a.status() == 409 { a } else { b };
        let problem: Value = loser.json().await.unwrap();
        assert!(
            ["invalid_transition", "stale_version"].contains(&problem["code"].as_str().unwrap()),
            "{problem}"
        );
        let resolves = count(
            &app,
            &format!(
                "SELECT count(*) FROM report_events WHERE report_id = '{id}' AND action = 'resolve'"
            ),
        )
        .await;
        assert_eq!(
            resolves, 1,
            "round {round}: exactly one resolution recorded"
        );
    }
}

#[tokio::test]
async fn a_stale_if_match_is_refused_and_a_current_one_accepted() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = new_report(&app, &d.resident, "Cống bị tắc").await;
    let path = app.url(&format!("/api/v1/tickets/{id}/transitions"));
    let send = |tag: &'static str, action: &'static str| {
        app.client
            .post(&path)
            .bearer_auth(&d.staff)
            .header("If-Match", tag)
            .json(&json!({"action": action}))
            .send()
    };
    let resp = send("\"1\"", "accept").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["etag"], "\"2\"");
    // A clerk who loaded version 1 tries to act on it again.
    assert_problem(send("\"1\"", "start").await.unwrap(), 409, "stale_version").await;
    // If-Match compares strongly: a weak tag never matches.
    assert_problem(
        send("W/\"2\"", "start").await.unwrap(),
        409,
        "stale_version",
    )
    .await;
    // A client that drops the quotes is understood.
    assert_eq!(send("2", "start").await.unwrap().status(), 200);
    for malformed in [
        "yesterday",
        "\"+2\"",
        "\"-1\"",
        "\"1234567890\"",
        "W/x",
        "\"\"",
        "\"2",
        "2\"",
    ] {
        assert_problem(send(malformed, "hold").await.unwrap(), 400, "bad_request").await;
    }
}

#[tokio::test]
async fn transfer_keeps_the_deadline_and_the_history_shows_the_hop() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = new_report(&app, &d.resident, "Quán ăn vệ sinh kém").await;
    let before = ticket(&app, &d.manager, &id).await;
    let target = department_id(&app, VAN_HOA).await;
    let same = department_id(&app, KINH_TE).await;
    let resp = act(
        &app,
        &d.manager,
        &id,
        json!({"action": "transfer", "department_id": same}),
    )
    .await;
    assert_problem(resp, 422, "validation_failed").await;
    let resp = act(
        &app,
        &d.manager,
        &id,
        json!({"action": "transfer", "department_id": uuid::Uuid::now_v7()}),
    )
    .await;
    assert_problem(resp, 422, "validation_failed").await;
    act_ok(&app, &d.staff, &id, json!({"action": "accept"})).await;
    // The first department was late to acknowledge; the receiving one gets its own 8 hours.
    app.db
        .client()
        .await
        .execute(
            "UPDATE reports SET ack_due_at = now() - interval '1 day', ack_overdue_at = now() WHERE id::text = $1",
            &[&id],
        )
        .await
        .unwrap();
    let moved = act_ok(
        &app,
        &d.manager,
        &id,
        json!({"action": "transfer", "department_id": target, "internal_note": "Thuộc lĩnh vực an toàn thực phẩm"}),
    )
    .await;
    assert_eq!(moved["status"], "new");
    assert_eq!(moved["department"]["id"], target.as_str());
    assert_eq!(moved["due_at"], before["due_at"], "the deadline stays");
    let ack_due: DateTime<Utc> = moved["ack_due_at"].as_str().unwrap().parse().unwrap();
    assert!(ack_due > Utc::now(), "acknowledgement clock restarted");
    assert_eq!(moved["ack_overdue"], false);
    assert!(
        moved.get("reporter").is_none() || moved["reporter"].is_null(),
        "no longer theirs"
    );
    // The old department no longer sees it; the new one does.
    assert_problem(
        get_with(&app, &format!("/api/v1/tickets/{id}"), &d.staff).await,
        404,
        "not_found",
    )
    .await;
    let receiving = account_token(&app, "staff", Some(VAN_HOA)).await;
    assert_eq!(ids(&queue(&app, &receiving, "").await), [id.as_str()]);
    let public: Value = app
        .get(&format!("/api/v1/reports/{id}/events"))
        .await
        .json()
        .await
        .unwrap();
    let hop = public["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(hop["action"], "transfer");
    assert_eq!(hop["from_status"], "accepted");
    assert_eq!(hop["to_status"], "new");
    assert!(
        hop["from_department"]["name"]
            .as_str()
            .unwrap()
            .contains("Kinh tế")
    );
    assert!(
        hop["to_department"]["name"]
            .as_str()
            .unwrap()
            .contains("Văn hóa")
    );
    assert!(hop.get("internal_note").is_none());
}

#[tokio::test]
async fn extension_once_by_a_manager_in_working_time() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = new_report(&app, &d.resident, "Sạt lở taluy dương").await;
    let before = ticket(&app, &d.manager, &id).await;
    let resp = act(
        &app,
        &d.manager,
        &id,
        json!({"action": "extend", "extend_by": 2}),
    )
    .await;
    let p = assert_problem(resp, 422, "validation_failed").await;
    assert_eq!(
        p["errors"][0]["field"], "public_note",
        "a reason is required"
    );
    let resp = act(
        &app,
        &d.manager,
        &id,
        json!({"action": "extend", "extend_by": 0, "internal_note": "x"}),
    )
    .await;
    assert_problem(resp, 422, "validation_failed").await;
    let resp = act(
        &app,
        &d.manager,
        &id,
        json!({"action": "extend", "extend_by": 31, "internal_note": "x"}),
    )
    .await;
    assert_problem(resp, 422, "validation_failed").await;
    let t = act_ok(
        &app,
        &d.manager,
        &id,
        json!({"action": "extend", "extend_by": {"amount": 2, "unit": "working_days"}, "public_note": "Chờ máy xúc"}),
    )
    .await;
    let old: DateTime<Utc> = before["due_at"].as_str().unwrap().parse().unwrap();
    let new: DateTime<Utc> = t["due_at"].as_str().unwrap().parse().unwrap();
    // Two working days (16 working hours) later: at least two calendar days, more across a
    // weekend or holiday, and the same time of day unless a lunch break intervenes.
    assert!(
        new - old >= Duration::days(2) && new - old <= Duration::days(12),
        "{old} → {new}"
    );
    let mut conn = phananh::db::connect(&app.db.url).await.unwrap();
    let calendar = phananh::db::holidays::load_calendar(&mut conn)
        .await
        .unwrap();
    assert_eq!(calendar.working_minutes_between(old, new), 2 * 480);
    assert!(t["extended_at"].is_string());
    let event = t["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(event["action"], "extend");
    assert_eq!(event["due_at_before"], before["due_at"]);
    let resp = act(
        &app,
        &d.manager,
        &id,
        json!({"action": "extend", "extend_by": 1, "internal_note": "lần nữa"}),
    )
    .await;
    assert_problem(resp, 409, "invalid_transition").await;
}

#[tokio::test]
async fn a_duplicate_closes_and_its_reporter_follows_the_original() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let original = new_report(&app, &d.resident, "Cây đổ chắn đường").await;
    let second_resident = citizen(&app).await;
    let dup = new_report(&app, &second_resident, "Cây to đổ ngang đường").await;
    let resp = act(
        &app,
        &d.staff,
        &dup,
        json!({"action": "mark_duplicate", "duplicate_of": dup}),
    )
    .await;
    assert_problem(resp, 422, "validation_failed").await;
    let resp = act(&app, &d.staff, &dup, json!({"action": "mark_duplicate"})).await;
    assert_problem(resp, 422, "validation_failed").await;
    let t = act_ok(
        &app,
        &d.staff,
        &dup,
        json!({"action": "mark_duplicate", "duplicate_of": original}),
    )
    .await;
    assert_eq!(t["status"], "duplicate");
    assert_eq!(t["duplicate_of"], original.as_str());
    let o: Value = app
        .get(&format!("/api/v1/reports/{original}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(o["follower_count"], 1);
    let following = count(
        &app,
        &format!("SELECT count(*) FROM report_followers WHERE report_id = '{original}'"),
    )
    .await;
    assert_eq!(following, 1);
    // A duplicate of a duplicate is refused: the clerk is told to choose the original.
    let third = new_report(&app, &d.resident, "Cây đổ").await;
    let resp = act(
        &app,
        &d.staff,
        &third,
        json!({"action": "mark_duplicate", "duplicate_of": dup}),
    )
    .await;
    assert_problem(resp, 422, "validation_failed").await;
}

#[tokio::test]
async fn managers_assign_within_their_department() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = new_report(&app, &d.resident, "Biển báo bị đổ").await;
    let staff_id = get_with(&app, "/api/v1/me", &d.staff)
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .clone();
    let outsider = account_token(&app, "staff", Some(VAN_HOA)).await;
    let outsider_id = get_with(&app, "/api/v1/me", &outsider)
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .clone();
    let path = format!("/api/v1/tickets/{id}/assign");
    assert_problem(
        post(&app, &path, json!({"user_id": staff_id}), Some(&d.staff)).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        post(
            &app,
            &path,
            json!({"user_id": outsider_id}),
            Some(&d.manager),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        post(
            &app,
            &path,
            json!({"user_id": uuid::Uuid::now_v7()}),
            Some(&d.manager),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let resp = post(&app, &path, json!({"user_id": staff_id}), Some(&d.manager)).await;
    assert_eq!(resp.status(), 200);
    let t: Value = resp.json().await.unwrap();
    assert_eq!(t["assignee"]["id"], staff_id);
    assert_eq!(
        ids(&queue(&app, &d.staff, "?assignee=me").await),
        [id.as_str()]
    );
    assert!(ids(&queue(&app, &d.staff, "?assignee=none").await).is_empty());
    assert_eq!(
        ids(&queue(
            &app,
            &d.manager,
            &format!("?assignee={}", staff_id.as_str().unwrap())
        )
        .await),
        [id.as_str()]
    );
    // Assigning the same person again changes nothing.
    let again: Value = post(&app, &path, json!({"user_id": staff_id}), Some(&d.manager))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["version"], t["version"]);
    let unassigned: Value = post(&app, &path, json!({"user_id": null}), Some(&d.manager))
        .await
        .json()
        .await
        .unwrap();
    assert!(unassigned["assignee"].is_null());
    // The public timeline shows the step, not who.
    let events: Value = app
        .get(&format!("/api/v1/reports/{id}/events"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e.get("assignee").is_none())
    );
    let staff_view = ticket(&app, &d.staff, &id).await;
    assert_eq!(staff_view["events"][1]["assignee"]["id"], staff_id);
    // A finished ticket is not assigned.
    act_ok(
        &app,
        &d.staff,
        &id,
        json!({"action": "reject", "public_note": "Không thuộc thẩm quyền"}),
    )
    .await;
    assert_problem(
        post(&app, &path, json!({"user_id": staff_id}), Some(&d.manager)).await,
        409,
        "invalid_transition",
    )
    .await;
}

#[tokio::test]
async fn deadlines_are_marked_once_with_a_chosen_clock() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let mut reports = Vec::new();
    for i in 0..12 {
        reports.push(new_report(&app, &d.resident, &format!("Rác tồn đọng {i}")).await);
    }
    act_ok(&app, &d.staff, &reports[0], json!({"action": "accept"})).await;
    act_ok(&app, &d.staff, &reports[1], json!({"action": "accept"})).await;
    act_ok(
        &app,
        &d.staff,
        &reports[1],
        json!({"action": "resolve", "public_note": "đã dọn"}),
    )
    .await;
    // Nothing is due yet.
    assert_eq!(run_deadlines(&app, Utc::now()).await, Default::default());
    assert!(ids(&queue(&app, &d.staff, "?overdue=true").await).is_empty());
    let times = |column: &'static str| {
        let app = &app;
        async move {
            let row = app
                .db
                .client()
                .await
                .query_one(&format!("SELECT max({column}) FROM reports"), &[])
                .await
                .unwrap();
            row.get::<_, std::time::SystemTime>(0)
        }
    };
    let ack_due: DateTime<Utc> = times("ack_due_at").await.into();
    let due: DateTime<Utc> = times("due_at").await.into();
    // Just past the acknowledgement deadline (8 working hours; the legal one is days away):
    // the ten still `new` are acknowledgement-overdue, nothing is overdue.
    let pass = run_deadlines(&app, ack_due + Duration::minutes(1)).await;
    assert_eq!((pass.ack_overdue, pass.overdue, pass.closed), (10, 0, 0));
    // Past every deadline and the seven days: every open one is overdue, marked by two
    // processes at once without doubles.
    let later = (due + Duration::minutes(1)).max(Utc::now() + Duration::days(8));
    let (a, b) = tokio::join!(run_deadlines(&app, later), run_deadlines(&app, later));
    assert_eq!(a.overdue + b.overdue, 11);
    assert_eq!(run_deadlines(&app, later).await.overdue, 0, "marked once");
    let events = count(
        &app,
        "SELECT count(*) FROM report_events WHERE action = 'overdue'",
    )
    .await;
    assert_eq!(events, 11);
    let acks = count(
        &app,
        "SELECT count(*) FROM report_events WHERE action = 'ack_overdue'",
    )
    .await;
    assert_eq!(acks, 10);
    // The resolved one closed after its seven days.
    assert_eq!(a.closed + b.closed, 1);
    // The queue's overdue filter uses the real clock; move the deadlines into the past.
    app.db
        .client()
        .await
        .execute(
            "UPDATE reports SET due_at = now() - interval '1 hour' WHERE id::text = ANY($1)",
            &[&reports[2..5].to_vec()],
        )
        .await
        .unwrap();
    let overdue = queue(&app, &d.staff, "?overdue=true").await;
    let mut got = ids(&overdue);
    got.sort();
    let mut want = reports[2..5].to_vec();
    want.sort();
    assert_eq!(got, want);
    assert!(
        overdue["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["overdue"] == true)
    );
    // The resident sees the marks in the public timeline.
    let events: Value = app
        .get(&format!("/api/v1/reports/{}/events", reports[3]))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["created", "ack_overdue", "overdue"]);
}

#[tokio::test]
async fn search_ignores_vietnamese_diacritics_and_case() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let road = new_report(&app, &d.resident, "Đường liên thôn bị sạt lở").await;
    let lamp = new_report(&app, &d.resident, "Đèn ĐƯỜNG trước trường tắt").await;
    let market = new_report(&app, &d.resident, "Rác ở chợ 50% chưa dọn").await;
    let find = |q: &str| {
        let q = q.to_owned();
        let app = &app;
        let token = d.staff.clone();
        async move {
            let url = format!("?q={}", urlencoding(&q));
            let mut got = ids(&queue(app, &token, &url).await);
            got.sort();
            got
        }
    };
    let mut both = vec![road.clone(), lamp.clone()];
    both.sort();
    assert_eq!(find("duong").await, both);
    assert_eq!(find("ĐƯỜNG").await, both);
    assert_eq!(find("đường").await, both);
    assert_eq!(find("den duong").await, [lamp.as_str()]);
    assert_eq!(find("sat lo").await, [road.as_str()]);
    assert_eq!(find("cho").await, [market.as_str()]);
    assert_eq!(find("50%").await, [market.as_str()]);
    // LIKE's wildcards are the characters, not wildcards.
    assert_eq!(find("%").await, [market.as_str()]);
    assert!(find("_").await.is_empty());
    assert!(find("ca phe").await.is_empty());
    // The address is searched too (report_body's "Thôn Ka Đô Mới").
    assert_eq!(find("ka do moi").await.len(), 3);
    let resp = get_with(
        &app,
        &format!("/api/v1/tickets?q={}", "a".repeat(201)),
        &d.staff,
    )
    .await;
    assert_problem(resp, 400, "invalid_query").await;

    // The fold is the database's, and it takes every Vietnamese letter to its base.
    let client = app.db.client().await;
    let letters = "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ";
    let bases = "aaaaaaaaaaaaaaaaaeeeeeeeeeeeiiiiiooooooooooooooooouuuuuuuuuuuyyyyyd";
    for (text, want) in [(letters.to_owned(), bases), (letters.to_uppercase(), bases)] {
        let row = client
            .query_one("SELECT phananh_fold($1)", &[&text])
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), want);
    }
    // And the search can use its trigram index.
    client
        .batch_execute("SET enable_seqscan = off")
        .await
        .unwrap();
    let plan = client
        .query(
            "EXPLAIN SELECT id FROM reports WHERE search_text LIKE phananh_fold('%duong%')",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(plan.contains("reports_search"), "{plan}");
}

fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn queue_pages_hold_still_while_reports_arrive() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let mut all = Vec::new();
    for i in 0..5 {
        all.push(new_report(&app, &d.resident, &format!("Nước ngập {i}")).await);
    }
    for sort in ["due_at", "-created_at", "created_at", "-due_at"] {
        let first = queue(&app, &d.staff, &format!("?limit=2&sort={sort}")).await;
        // A new report arrives between pages.
        let newcomer = new_report(&app, &d.resident, "Mới đến").await;
        let mut seen = ids(&first);
        let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
        while let Some(c) = cursor {
            let page = queue(&app, &d.staff, &format!("?limit=2&sort={sort}&cursor={c}")).await;
            seen.extend(ids(&page));
            cursor = page["next_cursor"].as_str().map(str::to_owned);
        }
        let unique: std::collections::HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{sort}: no repeats");
        for id in &all {
            assert!(seen.contains(id), "{sort}: nothing skipped");
        }
        all.push(newcomer);
    }
    // A cursor from one sort is refused by another; junk filters are 400.
    let first = queue(&app, &d.staff, "?limit=1&sort=due_at").await;
    let c = first["next_cursor"].as_str().unwrap();
    for bad in [
        format!("?sort=-created_at&cursor={c}"),
        "?sort=priority".into(),
        "?status=open".into(),
        "?overdue=maybe".into(),
        "?assignee=bob".into(),
        "?limit=0".into(),
        "?colour=red".into(),
    ] {
        let resp = get_with(&app, &format!("/api/v1/tickets{bad}"), &d.staff).await;
        assert_problem(resp, 400, "invalid_query").await;
    }
    // Status filters: several at once, or all.
    act_ok(
        &app,
        &d.staff,
        &all[0],
        json!({"action": "reject", "public_note": "Trùng kênh khác"}),
    )
    .await;
    assert_eq!(
        ids(&queue(&app, &d.staff, "?status=rejected").await),
        [all[0].as_str()]
    );
    assert_eq!(ids(&queue(&app, &d.staff, "").await).len(), all.len() - 1);
    assert_eq!(
        ids(&queue(&app, &d.staff, "?status=all&limit=100").await).len(),
        all.len()
    );
    assert_eq!(
        ids(&queue(&app, &d.staff, "?status=new,rejected&limit=100").await).len(),
        all.len()
    );
}

#[tokio::test]
async fn me_too_follows_once_and_counts() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = new_report(&app, &d.resident, "Chó thả rông").await;
    let neighbour = citizen(&app).await;
    let path = format!("/api/v1/reports/{id}/follow");
    let first = post(&app, &path, json!({}), Some(&neighbour)).await;
    assert_eq!(first.status(), 201);
    assert_eq!(first.json::<Value>().await.unwrap()["follower_count"], 1);
    let again = post(&app, &path, json!({}), Some(&neighbour)).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["follower_count"], 1);
    let own = post(&app, &path, json!({}), Some(&d.resident)).await;
    assert_eq!(own.status(), 200);
    assert_eq!(
        own.json::<Value>().await.unwrap()["follower_count"],
        1,
        "the reporter is not counted"
    );
    let public: Value = app
        .get(&format!("/api/v1/reports/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(public["follower_count"], 1);
    let resp = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&neighbour)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["follower_count"], 0);
    let resp = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&d.resident)
        .send()
        .await
        .unwrap();
    assert_problem(resp, 409, "conflict").await;
    let unknown = format!("/api/v1/reports/{}/follow", uuid::Uuid::now_v7());
    assert_problem(
        post(&app, &unknown, json!({}), Some(&neighbour)).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        post(&app, &path, json!({}), None).await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn a_reopen_after_the_window_is_refused() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = new_report(&app, &d.resident, "Cột điện nghiêng").await;
    act_ok(&app, &d.staff, &id, json!({"action": "accept"})).await;
    act_ok(
        &app,
        &d.staff,
        &id,
        json!({"action": "resolve", "public_note": "Đã chằng cột"}),
    )
    .await;
    app.db
        .client()
        .await
        .execute("UPDATE reports SET resolved_at = now() - interval '7 days 1 minute' WHERE id::text = $1", &[&id])
        .await
        .unwrap();
    let resp = post(
        &app,
        &format!("/api/v1/reports/{id}/reopen"),
        json!({"reason": "Vẫn nghiêng"}),
        Some(&d.resident),
    )
    .await;
    assert_problem(resp, 409, "invalid_transition").await;
}

#[tokio::test]
async fn a_change_landing_between_read_and_write_is_refused_not_lost() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = new_report(&app, &d.resident, "Mương thoát nước bị lấp").await;
    act_ok(&app, &d.staff, &id, json!({"action": "accept"})).await;
    // Another session changes the row and holds it uncommitted while the clerk resolves: the
    // clerk's request reads the old version, then waits for the row...
    let other = app.db.client().await;
    other
        .batch_execute(&format!(
            "BEGIN; UPDATE reports SET version = version + 1, assignee_id = NULL WHERE id = '{id}'"
        ))
        .await
        .unwrap();
    let request = {
        let (client, url, token) = (
            app.client.clone(),
            app.url(&format!("/api/v1/tickets/{id}/transitions")),
            d.staff.clone(),
        );
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"action": "resolve", "public_note": "Đã nạo vét"}))
                .send()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // ...and when the other change commits, the clerk's write finds a newer version.
    other.batch_execute("COMMIT").await.unwrap();
    let resp = request.await.unwrap();
    assert_problem(resp, 409, "stale_version").await;
    let t = ticket(&app, &d.staff, &id).await;
    assert_eq!(t["status"], "accepted");
    assert_eq!(t["version"], 3);
    let resolves = count(
        &app,
        "SELECT count(*) FROM report_events WHERE action = 'resolve'",
    )
    .await;
    assert_eq!(resolves, 0);
}

#[tokio::test]
async fn the_deadline_job_works_in_batches_and_skips_what_a_clerk_holds() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let seed = new_report(&app, &d.resident, "Rác ven suối").await;
    // 450 more like it (over two batches of 200), due an hour ago.
    let client = app.db.client().await;
    client
        .execute(
            "INSERT INTO reports (id, tracking_code, reporter_id, category_id, area_id, department_id,
                 routing_reason, description, lat, lon, consent_version, consent_at, due_at,
                 ack_due_at, created_at)
             SELECT gen_random_uuid(), upper(substr(md5(random()::text || g), 1, 10)), reporter_id,
                 category_id, area_id, department_id, routing_reason, description, lat, lon,
                 consent_version, consent_at, now() - interval '1 hour', ack_due_at, created_at
             FROM reports, generate_series(1, 450) AS g WHERE id::text = $1",
            &[&seed],
        )
        .await
        .unwrap();
    // A clerk's transaction holds one of them.
    let holder = app.db.client().await;
    let held: uuid::Uuid = holder
        .query_one(
            "SELECT id FROM reports WHERE id::text <> $1 LIMIT 1",
            &[&seed],
        )
        .await
        .unwrap()
        .get(0);
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM reports WHERE id = '{held}' FOR UPDATE"
        ))
        .await
        .unwrap();
    let now = Utc::now();
    let (a, b) = tokio::join!(run_deadlines(&app, now), run_deadlines(&app, now));
    assert_eq!(
        a.overdue + b.overdue,
        449,
        "all but the held one, each once"
    );
    holder.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        run_deadlines(&app, now).await.overdue,
        1,
        "the held one, next pass"
    );
    let events = count(
        &app,
        "SELECT count(*) FROM report_events WHERE action = 'overdue'",
    )
    .await;
    assert_eq!(events, 450);
    let unmarked = count(
        &app,
        "SELECT count(*) FROM reports WHERE overdue_at IS NULL AND due_at < now()",
    )
    .await;
    assert_eq!(unmarked, 0);
}
