//! Residents' rights and accountability (Law 91/2025/QH15): the export of everything held about
//! a person, erasure that leaves no personal data anywhere (searched for by value across every
//! table), the audit of staff reading contact details, the append-only log, and retention with
//! a controllable clock.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::accounts::{PASSWORD, account_token, get_with, post};
use crate::helpers::{TestApp, assert_problem, count, spawn_app};
use crate::media::{photo, upload_ok};
use crate::reports::{report_body, submit_ok};

const KA_DO: (f64, f64) = (11.7394, 108.5884);
const KINH_TE: &str = "24943-kinh-te";

/// A resident with a phone, an email and a name nobody else has; returns (token, id).
async fn resident(app: &TestApp, phone: &str, email: &str, name: &str) -> (String, String) {
    let resp = post(
        app,
        "/api/v1/auth/register",
        json!({"phone": phone, "email": email, "password": PASSWORD, "full_name": name}),
        None,
    )
    .await;
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    let body: Value = resp.json().await.unwrap();
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["user"]["id"].as_str().unwrap().to_owned(),
    )
}

async fn act(app: &TestApp, token: &str, id: &str, body: Value) {
    let resp = post(
        app,
        &format!("/api/v1/tickets/{id}/transitions"),
        body,
        Some(token),
    )
    .await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
}

async fn json_of(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), 200, "{:?}", resp.headers());
    resp.json().await.unwrap()
}

/// Every row of every table in the public schema, as text, that contains `needle`
/// (case-insensitive): `table: row`.
async fn rows_containing(app: &TestApp, needle: &str) -> Vec<String> {
    let db = app.db.client().await;
    let tables: Vec<String> = db
        .query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(tables.len() > 20, "{tables:?}");
    let mut found = Vec::new();
    for t in tables {
        let rows = db
            .query(
                &format!(
                    "SELECT t::text FROM \"{t}\" t WHERE strpos(lower(t::text), lower($1)) > 0"
                ),
                &[&needle],
            )
            .await
            .unwrap();
        found.extend(
            rows.iter()
                .map(|r| format!("{t}: {}", r.get::<_, String>(0))),
        );
    }
    found
}

#[tokio::test]
async fn the_export_holds_everything_and_erasure_leaves_no_personal_data_anywhere() {
    let app = spawn_app().await;
    let phone = "0987654321";
    let email = "tran.thi.erasure@example.vn";
    let name = "Trần Thị Xoá Được";
    let (token, user_id) = resident(&app, phone, email, name).await;
    let staff = account_token(&app, "manager", Some(KINH_TE)).await;

    // A report with a photo, resolved and rated; a follow of someone else's report; a device;
    // a photo not attached yet; a password-reset email (its body has the name and address).
    let photo1 = upload_ok(&app, &token, &photo("gps/DSCN0010.jpg")).await;
    let loose = upload_ok(&app, &token, &photo("gps/DSCN0010.jpg")).await;
    let mut body = report_body("road", KA_DO);
    body["media_ids"] = json!([photo1["id"]]);
    let mine = submit_ok(&app, &token, &body).await;
    let mine_id = mine["id"].as_str().unwrap().to_owned();
    for step in [
        json!({"action": "accept"}),
        json!({"action": "resolve", "public_note": "Đã sửa xong"}),
    ] {
        act(&app, &staff, &mine_id, step).await;
    }
    let rated = post(
        &app,
        &format!("/api/v1/reports/{mine_id}/rating"),
        json!({"score": 5, "comment": "Nhanh lắm"}),
        Some(&token),
    )
    .await;
    assert!(rated.status().is_success(), "{:?}", rated.text().await);
    let other_token = account_token(&app, "citizen", None).await;
    let theirs = submit_ok(
        &app,
        &other_token,
        &report_body("lighting", (11.75, 108.59)),
    )
    .await;
    let theirs_id = theirs["id"].as_str().unwrap().to_owned();
    let followed = post(
        &app,
        &format!("/api/v1/reports/{theirs_id}/follow"),
        json!({}),
        Some(&token),
    )
    .await;
    assert!(
        followed.status().is_success(),
        "{:?}",
        followed.text().await
    );
    let fcm = "fcm-token-of-the-erasure-test-phone-0123456789";
    let device = post(
        &app,
        "/api/v1/me/devices",
        json!({"fcm_token": fcm, "platform": "android"}),
        Some(&token),
    )
    .await;
    assert_eq!(device.status(), 201);
    let reset = post(
        &app,
        "/api/v1/auth/password-reset",
        json!({"email": email}),
        None,
    )
    .await;
    assert_eq!(reset.status(), 202);
    // Staff read the contact: audited, and the audit holds no contact value.
    json_of(get_with(&app, &format!("/api/v1/tickets/{mine_id}"), &staff).await).await;

    // The export.
    let resp = get_with(&app, "/api/v1/me/export", &token).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment"),
    );
    assert_eq!(resp.headers()["cache-control"], "private, no-store");
    let export: Value = resp.json().await.unwrap();
    assert_eq!(export["account"]["id"], user_id.as_str());
    assert_eq!(export["account"]["phone"], "+84987654321");
    assert_eq!(export["account"]["email"], email);
    assert_eq!(export["account"]["full_name"], name);
    let reports = export["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1, "{export}");
    assert_eq!(reports[0]["id"], mine_id.as_str());
    assert_eq!(reports[0]["tracking_code"], mine["tracking_code"]);
    assert_eq!(reports[0]["description"], body["description"]);
    assert_eq!(reports[0]["photos"][0]["id"], photo1["id"]);
    assert!(
        reports[0]["photos"][0]["url"]
            .as_str()
            .unwrap()
            .contains(photo1["id"].as_str().unwrap())
    );
    let consent = &export["consents"][0];
    assert_eq!(consent["report_id"], mine_id.as_str());
    assert!(!consent["version"].as_str().unwrap().is_empty());
    assert!(consent["at"].as_str().is_some());
    assert_eq!(reports[0]["consent"]["version"], consent["version"]);
    assert_eq!(export["ratings"][0]["report_id"], mine_id.as_str());
    assert_eq!(export["ratings"][0]["score"], 5);
    assert_eq!(export["ratings"][0]["comment"], "Nhanh lắm");
    assert_eq!(export["follows"][0]["report_id"], theirs_id.as_str());
    assert_eq!(export["devices"][0]["fcm_token"], fcm);
    assert_eq!(export["devices"][0]["platform"], "android");
    assert!(!export["sessions"].as_array().unwrap().is_empty());
    assert_eq!(export["unattached_photos"][0]["id"], loose["id"]);
    assert!(
        export["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["report_id"] == mine_id.as_str())
    );
    // Someone else's export does not include this person's report.
    let other: Value = json_of(get_with(&app, "/api/v1/me/export", &other_token).await).await;
    assert_eq!(other["reports"].as_array().unwrap().len(), 1);
    assert_eq!(other["reports"][0]["id"], theirs_id.as_str());
    assert_eq!(
        crate::helpers::count(
            &app,
            "SELECT count(*) FROM audit_log WHERE action = 'contact.read'"
        )
        .await,
        // The answers to the two transitions carried the ticket with its reporter too.
        3
    );

    // Before erasure the values are there (the search works) …
    for needle in [phone.trim_start_matches('0'), email, name, fcm] {
        assert!(
            !rows_containing(&app, needle).await.is_empty(),
            "{needle} should be stored before erasure"
        );
    }
    let gone = app
        .client
        .delete(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    // … and after it, nowhere: not in users, outbox, devices, audit_log or any other table.
    for needle in [phone.trim_start_matches('0'), email, name, fcm] {
        let left = rows_containing(&app, needle).await;
        assert!(left.is_empty(), "{needle} is still stored: {left:#?}");
    }
    // No link from what they contributed back to the account.
    for (sql, what) in [
        (
            "SELECT count(*) FROM reports WHERE reporter_id = $1",
            "reports",
        ),
        (
            "SELECT count(*) FROM report_ratings WHERE user_id = $1",
            "ratings",
        ),
        (
            "SELECT count(*) FROM report_followers WHERE user_id = $1",
            "follows",
        ),
        (
            "SELECT count(*) FROM report_events WHERE actor_id = $1",
            "timeline",
        ),
        ("SELECT count(*) FROM media WHERE owner_id = $1", "photos"),
        ("SELECT count(*) FROM devices WHERE user_id = $1", "devices"),
        (
            "SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL",
            "live sessions",
        ),
    ] {
        let uid = uuid::Uuid::parse_str(&user_id).unwrap();
        let n: i64 = app
            .db
            .client()
            .await
            .query_one(sql, &[&uid])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{what} still linked");
    }
    // The report stays, for the record and the statistics.
    let public = json_of(app.get(&format!("/api/v1/reports/{mine_id}")).await).await;
    assert_eq!(public["status"], "resolved");
    let ticket = json_of(get_with(&app, &format!("/api/v1/tickets/{mine_id}"), &staff).await).await;
    assert!(ticket["reporter"].is_null(), "{ticket}");
    assert_eq!(ticket["ratings"][0]["score"], 5);
    // The old token and the old password are dead.
    assert_problem(
        get_with(&app, "/api/v1/me", &token).await,
        401,
        "session_revoked",
    )
    .await;
    let login = post(
        &app,
        "/api/v1/auth/login",
        json!({"login": email, "password": PASSWORD}),
        None,
    )
    .await;
    assert_problem(login, 401, "invalid_credentials").await;
    // The erasure itself is in the audit log, by id only.
    assert_eq!(
        count(&app, &format!("SELECT count(*) FROM audit_log WHERE action = 'user.erase' AND subject_user_id = '{user_id}'")).await,
        1
    );
}

#[tokio::test]
async fn staff_reading_a_reporters_contact_is_audited_and_the_log_cannot_be_altered() {
    let app = spawn_app().await;
    let (token, user_id) =
        resident(&app, "0911222333", "le.van.audit@example.vn", "Lê Văn Kiểm").await;
    let report = submit_ok(&app, &token, &report_body("road", KA_DO)).await;
    let id = report["id"].as_str().unwrap();
    let staff = account_token(&app, "staff", Some(KINH_TE)).await;
    let admin = account_token(&app, "admin", None).await;
    let staff_id: Value = json_of(get_with(&app, "/api/v1/me", &staff).await).await;

    let ticket = json_of(get_with(&app, &format!("/api/v1/tickets/{id}"), &staff).await).await;
    assert_eq!(ticket["reporter"]["email"], "le.van.audit@example.vn");
    // The staff view of the report through /reports/{id} discloses it too: also audited.
    json_of(get_with(&app, &format!("/api/v1/reports/{id}"), &staff).await).await;
    // The public and the owner see no contact and leave no line.
    json_of(app.get(&format!("/api/v1/reports/{id}")).await).await;
    json_of(get_with(&app, &format!("/api/v1/reports/{id}"), &token).await).await;

    let page = json_of(
        get_with(
            &app,
            &format!("/api/v1/admin/audit?action=contact.read&report={id}"),
            &admin,
        )
        .await,
    )
    .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page}");
    for item in items {
        assert_eq!(item["actor_id"], staff_id["id"]);
        assert_eq!(item["actor_role"], "staff");
        assert_eq!(item["subject_user_id"], user_id.as_str());
        assert_eq!(item["report_id"], id);
        let text = item.to_string();
        assert!(
            !text.contains("le.van.audit") && !text.contains("911222333") && !text.contains("Kiểm"),
            "{text}"
        );
        assert!(
            item["after"]["fields"]
                .as_array()
                .unwrap()
                .contains(&json!("email"))
        );
    }
    // Filters: by whose data, by actor; paging by cursor without gaps.
    let by_subject = json_of(
        get_with(
            &app,
            &format!("/api/v1/admin/audit?subject={user_id}&limit=1"),
            &admin,
        )
        .await,
    )
    .await;
    assert_eq!(by_subject["items"].as_array().unwrap().len(), 1);
    let cursor = by_subject["next_cursor"].as_str().unwrap();
    let second = json_of(
        get_with(
            &app,
            &format!("/api/v1/admin/audit?subject={user_id}&limit=1&cursor={cursor}"),
            &admin,
        )
        .await,
    )
    .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_ne!(second["items"][0]["id"], by_subject["items"][0]["id"]);
    assert!(second["next_cursor"].is_null());
    let none = json_of(
        get_with(
            &app,
            &format!("/api/v1/admin/audit?actor={user_id}"),
            &admin,
        )
        .await,
    )
    .await;
    assert!(none["items"].as_array().unwrap().is_empty());
    let today = Utc::now().date_naive();
    let dated = json_of(
        get_with(
            &app,
            &format!(
                "/api/v1/admin/audit?action=contact.read&from={}&to={}",
                today - Duration::days(1),
                today + Duration::days(1)
            ),
            &admin,
        )
        .await,
    )
    .await;
    assert_eq!(dated["items"].as_array().unwrap().len(), 2);
    let past = json_of(
        get_with(
            &app,
            "/api/v1/admin/audit?action=contact.read&to=2020-01-01",
            &admin,
        )
        .await,
    )
    .await;
    assert!(past["items"].as_array().unwrap().is_empty());

    // Bad filters, other roles.
    for q in [
        "actor=nope",
        "report=1",
        "from=yesterday",
        "cursor=x",
        "limit=0",
        "limit=101",
        "colour=red",
    ] {
        assert_problem(
            get_with(&app, &format!("/api/v1/admin/audit?{q}"), &admin).await,
            400,
            "invalid_query",
        )
        .await;
    }
    assert_problem(app.get("/api/v1/admin/audit").await, 401, "unauthorized").await;
    for who in [&token, &staff] {
        assert_problem(
            get_with(&app, "/api/v1/admin/audit", who).await,
            403,
            "forbidden",
        )
        .await;
    }

    // Append-only, whatever the application (or a mistaken script) tries.
    let db = app.db.client().await;
    for sql in [
        "UPDATE audit_log SET action = 'contact.forgotten'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let err = db.execute(sql, &[]).await.unwrap_err();
        assert!(
            err.to_string().contains("append-only") || format!("{err:?}").contains("append-only"),
            "{sql}: {err:?}"
        );
    }
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM audit_log WHERE action = 'contact.read'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn api_key_changes_are_audited_with_before_and_after() {
    let app = spawn_app().await;
    let admin = account_token(&app, "admin", None).await;
    let created: Value = post(
        &app,
        "/api/v1/admin/api-keys",
        json!({"name": "IOC Lâm Đồng", "purpose": "ioc"}),
        Some(&admin),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = created["id"].as_str().unwrap();
    for _ in 0..2 {
        let resp = app
            .client
            .delete(app.url(&format!("/api/v1/admin/api-keys/{id}")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
    }
    let page = json_of(
        get_with(
            &app,
            &format!("/api/v1/admin/audit?entity_type=api_key&entity_id={id}"),
            &admin,
        )
        .await,
    )
    .await;
    let items = page["items"].as_array().unwrap();
    // One creation and one revocation: revoking again changed nothing, so wrote nothing.
    assert_eq!(items.len(), 2, "{page}");
    assert_eq!(items[0]["action"], "api_key.revoke");
    assert!(items[0]["before"]["revoked_at"].is_null());
    assert!(items[0]["after"]["revoked_at"].is_string());
    assert_eq!(items[1]["action"], "api_key.create");
    assert!(items[1]["before"].is_null());
    assert_eq!(items[1]["after"]["name"], "IOC Lâm Đồng");
    // The key itself is never in the log.
    assert!(!page.to_string().contains(created["key"].as_str().unwrap()));
}

#[tokio::test]
async fn retention_erases_who_reported_finished_reports_after_the_period_and_only_then() {
    let app = spawn_app().await;
    let (token, user_id) = resident(
        &app,
        "0933444555",
        "pham.retention@example.vn",
        "Phạm Lưu Trữ",
    )
    .await;
    let manager = account_token(&app, "manager", Some(KINH_TE)).await;
    let finished = submit_ok(&app, &token, &report_body("road", KA_DO)).await;
    let finished_id = finished["id"].as_str().unwrap().to_owned();
    act(
        &app,
        &manager,
        &finished_id,
        json!({"action": "reject", "public_note": "Không thuộc thẩm quyền"}),
    )
    .await;
    let open = submit_ok(&app, &token, &report_body("lighting", KA_DO)).await;
    let open_id = open["id"].as_str().unwrap().to_owned();
    let follower = account_token(&app, "citizen", None).await;
    let f = post(
        &app,
        &format!("/api/v1/reports/{finished_id}/follow"),
        json!({}),
        Some(&follower),
    )
    .await;
    assert!(f.status().is_success());

    // A partner application's report, with the contact it passed on, finished too.
    let admin = account_token(&app, "admin", None).await;
    let key: Value = post(
        &app,
        "/api/v1/admin/api-keys",
        json!({"name": "Đối tác", "purpose": "open311"}),
        Some(&admin),
    )
    .await
    .json()
    .await
    .unwrap();
    let partner: Value = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("api_key", key["key"].as_str().unwrap()),
                ("service_code", "road"),
                ("lat", "11.7394"),
                ("long", "108.5884"),
                ("description", "Ổ gà lớn giữa đường"),
                ("email", "doi.tac.contact@example.vn"),
                ("first_name", "Hoàng"),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let partner_id = partner[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    act(
        &app,
        &manager,
        &partner_id,
        json!({"action": "reject", "public_note": "Đã có phản ánh khác"}),
    )
    .await;

    let mut conn = phananh::db::connect(&app.db.url).await.unwrap();
    let settings = crate::helpers::test_settings(&app.db.url, app.data_dir());
    let photos = phananh::media::store::PhotoStore::from_settings(&settings).unwrap();
    let run = async |conn: &mut _, now| {
        phananh::jobs::retention::run_once(conn, &photos, &settings, now)
            .await
            .unwrap()
    };
    // 23 months on: still inside the period (default 24 months).
    let pass = run(&mut conn, Utc::now() + Duration::days(700)).await;
    assert_eq!(pass.reports_anonymised, 0);
    let ticket =
        json_of(get_with(&app, &format!("/api/v1/tickets/{finished_id}"), &manager).await).await;
    assert_eq!(ticket["reporter"]["email"], "pham.retention@example.vn");

    // 25 months on: the finished report loses its reporter; the open one keeps it.
    let later = Utc::now() + Duration::days(760);
    let pass = run(&mut conn, later).await;
    assert_eq!(pass.reports_anonymised, 2);
    assert!(rows_containing(&app, "doi.tac.contact").await.is_empty());
    let partner_ticket =
        json_of(get_with(&app, &format!("/api/v1/tickets/{partner_id}"), &manager).await).await;
    assert!(partner_ticket["reporter"].is_null(), "{partner_ticket}");
    let ticket =
        json_of(get_with(&app, &format!("/api/v1/tickets/{finished_id}"), &manager).await).await;
    assert!(ticket["reporter"].is_null(), "{ticket}");
    assert_eq!(ticket["status"], "rejected");
    let still =
        json_of(get_with(&app, &format!("/api/v1/tickets/{open_id}"), &manager).await).await;
    assert_eq!(still["reporter"]["email"], "pham.retention@example.vn");
    let uid = uuid::Uuid::parse_str(&user_id).unwrap();
    let db = app.db.client().await;
    let linked: i64 = db
        .query_one(
            "SELECT count(*) FROM reports WHERE reporter_id = $1",
            &[&uid],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(linked, 1);
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM report_followers WHERE report_id = '{finished_id}'")
        )
        .await,
        0
    );
    assert_eq!(count(&app, &format!("SELECT count(*) FROM report_events WHERE report_id = '{finished_id}' AND actor_role = 'citizen' AND actor_id IS NOT NULL")).await, 0);
    // The resident's own list no longer has it: nothing links it to them.
    let mine = json_of(get_with(&app, "/api/v1/me/reports", &token).await).await;
    let ids: Vec<&str> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [open_id.as_str()]);
    // Logged for the admin, by the system.
    let page = json_of(
        get_with(
            &app,
            "/api/v1/admin/audit?action=retention.anonymise",
            &admin,
        )
        .await,
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["items"][0]["actor_id"].is_null());
    let logged = page["items"][0]["after"]["reports"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(logged.len(), 2);
    assert!(logged.contains(&json!(finished_id)) && logged.contains(&json!(partner_id)));
    assert_eq!(page["items"][0]["after"]["partner_contacts_deleted"], 1);

    // Again: nothing left to do, nothing logged twice.
    assert_eq!(run(&mut conn, later).await.reports_anonymised, 0);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM audit_log WHERE action = 'retention.anonymise'"
        )
        .await,
        1
    );

    // A shorter configured period applies to the next finished report; reopening clears the clock.
    act(
        &app,
        &manager,
        &open_id,
        json!({"action": "reject", "public_note": "Trùng lặp thẩm quyền"}),
    )
    .await;
    let short = phananh::config::Settings {
        retention: phananh::config::RetentionSettings {
            months: 1,
            interval_secs: 60,
        },
        ..settings.clone()
    };
    let pass = phananh::jobs::retention::run_once(
        &mut conn,
        &photos,
        &short,
        Utc::now() + Duration::days(20),
    )
    .await
    .unwrap();
    assert_eq!(pass.reports_anonymised, 0);
    let pass = phananh::jobs::retention::run_once(
        &mut conn,
        &photos,
        &short,
        Utc::now() + Duration::days(40),
    )
    .await
    .unwrap();
    assert_eq!(pass.reports_anonymised, 1);
}

#[tokio::test]
async fn two_retention_runs_at_once_erase_each_report_once() {
    let app = spawn_app().await;
    let manager = account_token(&app, "manager", Some(KINH_TE)).await;
    let token = account_token(&app, "citizen", None).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let r = submit_ok(
            &app,
            &token,
            &report_body("road", (KA_DO.0 + f64::from(i) * 0.002, KA_DO.1)),
        )
        .await;
        let id = r["id"].as_str().unwrap().to_owned();
        act(
            &app,
            &manager,
            &id,
            json!({"action": "reject", "public_note": "Ngoài phạm vi"}),
        )
        .await;
        ids.push(id);
    }
    let settings = crate::helpers::test_settings(&app.db.url, app.data_dir());
    let photos = phananh::media::store::PhotoStore::from_settings(&settings).unwrap();
    let later = Utc::now() + Duration::days(800);
    let mut a = phananh::db::connect(&app.db.url).await.unwrap();
    let mut b = phananh::db::connect(&app.db.url).await.unwrap();
    let (x, y) = tokio::join!(
        phananh::jobs::retention::run_once(&mut a, &photos, &settings, later),
        phananh::jobs::retention::run_once(&mut b, &photos, &settings, later),
    );
    assert_eq!(
        x.unwrap().reports_anonymised + y.unwrap().reports_anonymised,
        12
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM reports WHERE reporter_id IS NOT NULL"
        )
        .await,
        0
    );
    let logged: i64 = count(&app, "SELECT coalesce(sum(jsonb_array_length(after->'reports')), 0)::bigint FROM audit_log WHERE action = 'retention.anonymise'").await;
    assert_eq!(logged, 12);
}

#[tokio::test]
async fn retention_deletes_the_unredacted_original_of_a_blurred_photo_and_keeps_the_public_copy() {
    let app = spawn_app().await;
    let token = account_token(&app, "citizen", None).await;
    let manager = account_token(&app, "manager", Some(KINH_TE)).await;
    let photo1 = upload_ok(&app, &token, &photo("gps/DSCN0010.jpg")).await;
    let photo_id = photo1["id"].as_str().unwrap().to_owned();
    let mut body = report_body("road", KA_DO);
    body["media_ids"] = json!([photo_id]);
    let report = submit_ok(&app, &token, &body).await;
    let id = report["id"].as_str().unwrap().to_owned();
    let redacted = post(
        &app,
        &format!("/api/v1/tickets/{id}/media/{photo_id}/redact"),
        json!({"mode": "blur", "reason": "Thấy rõ mặt người"}),
        Some(&manager),
    )
    .await;
    let redacted = json_of(redacted).await;
    let blurred_url = redacted["url"].as_str().unwrap().to_owned();
    let original = format!("/api/v1/media/{photo_id}/original.jpg");
    assert_eq!(get_with(&app, &original, &manager).await.status(), 200);
    act(
        &app,
        &manager,
        &id,
        json!({"action": "reject", "public_note": "Không thuộc thẩm quyền"}),
    )
    .await;

    let settings = crate::helpers::test_settings(&app.db.url, app.data_dir());
    let photos = phananh::media::store::PhotoStore::from_settings(&settings).unwrap();
    let mut conn = phananh::db::connect(&app.db.url).await.unwrap();
    let early = phananh::jobs::retention::run_once(
        &mut conn,
        &photos,
        &settings,
        Utc::now() + Duration::days(30),
    )
    .await
    .unwrap();
    assert_eq!(early.originals_deleted, 0);
    let pass = phananh::jobs::retention::run_once(
        &mut conn,
        &photos,
        &settings,
        Utc::now() + Duration::days(760),
    )
    .await
    .unwrap();
    assert_eq!(pass.originals_deleted, 1);
    assert_eq!(pass.reports_anonymised, 1);
    // The unredacted files are gone from the store; the blurred copy is what remains.
    let dir = app.data_dir().join("media/photos").join(&photo_id);
    let files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().all(|f| f.contains("blurred")), "{files:?}");
    assert_eq!(get_with(&app, &original, &manager).await.status(), 404);
    let path = &blurred_url[blurred_url.find("/api/").unwrap()..];
    let public = app.get(path).await;
    assert_eq!(public.status(), 200);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM audit_log WHERE action = 'retention.delete_originals'"
        )
        .await,
        1
    );
    // Nothing left to do on the next run.
    let again = phananh::jobs::retention::run_once(
        &mut conn,
        &photos,
        &settings,
        Utc::now() + Duration::days(760),
    )
    .await
    .unwrap();
    assert_eq!(again, phananh::jobs::retention::RetentionPass::default());
}

#[tokio::test]
async fn ended_sessions_old_reset_tokens_and_old_delivered_messages_are_purged() {
    let app = spawn_app().await;
    let token = account_token(&app, "citizen", None).await;
    // A live session; messages delivered long ago and lately, and a dead one.
    let db = app.db.client().await;
    db.batch_execute(
        "INSERT INTO outbox (id, kind, payload, status, attempts, next_attempt_at, created_at, delivered_at) \
         VALUES (gen_random_uuid(), 'email', '{\"to\": \"old@example.vn\"}', 'delivered', 1, now(), now() - interval '100 days', now() - interval '100 days'), \
                (gen_random_uuid(), 'email', '{\"to\": \"dead@example.vn\"}', 'dead', 9, now(), now() - interval '100 days', NULL), \
                (gen_random_uuid(), 'email', '{\"to\": \"recent@example.vn\"}', 'delivered', 1, now(), now() - interval '10 days', now() - interval '10 days')",
    )
    .await
    .unwrap();
    let sessions_before = count(&app, "SELECT count(*) FROM sessions").await;
    assert!(sessions_before >= 1);
    let mut conn = phananh::db::connect(&app.db.url).await.unwrap();
    // Today: only the message delivered 100 days ago goes.
    let now = phananh::jobs::retention::purge_expired(&mut conn, Utc::now())
        .await
        .unwrap();
    assert_eq!((now.sessions, now.messages), (0, 1));
    assert_eq!(count(&app, "SELECT count(*) FROM outbox WHERE payload->>'to' IN ('dead@example.vn', 'recent@example.vn')").await, 2);
    assert_eq!(get_with(&app, "/api/v1/me", &token).await.status(), 200);
    // A year on, every session has long expired and goes with its refresh tokens; the dead
    // message stays for an admin.
    let later =
        phananh::jobs::retention::purge_expired(&mut conn, Utc::now() + Duration::days(365))
            .await
            .unwrap();
    assert_eq!(later.sessions as i64, sessions_before);
    assert_eq!(count(&app, "SELECT count(*) FROM sessions").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM refresh_tokens").await, 0);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM outbox WHERE payload->>'to' = 'dead@example.vn'"
        )
        .await,
        1
    );
    // Again: nothing.
    let again =
        phananh::jobs::retention::purge_expired(&mut conn, Utc::now() + Duration::days(365))
            .await
            .unwrap();
    assert_eq!(
        again,
        phananh::jobs::retention::Purged {
            sessions: 0,
            password_resets: 0,
            messages: 0
        }
    );
}
