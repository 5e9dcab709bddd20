//! Notifications through the outbox, delivered to a real SMTP server (aiosmtpd): who hears of a
//! new, overdue or reopened ticket and what they read; a mail server that is down while messages
//! queue, then comes back (every message arrives once, with one server process or two); dead
//! messages and the admin's retry.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use crate::accounts::{account_token, get_with, post};
use crate::helpers::{TestApp, TestDb, assert_problem, count, spawn_app_with, test_settings};
use crate::media::citizen;
use crate::reports::{report_body, submit_ok};
use crate::smtp::{SmtpSink, free_port, parse};
use phananh::config::{Secret, Settings};

const KA_DO: (f64, f64) = (11.7394, 108.5884);
const PUBLIC_URL: &str = "https://phananh.example.vn";

fn fast_outbox(s: &mut Settings, smtp_port: u16) {
    s.smtp.url = Some(Secret::new(format!("smtp://127.0.0.1:{smtp_port}")));
    s.smtp.from = "Đơn Dương trực tuyến <phananh@example.vn>".into();
    s.public_url = PUBLIC_URL.into();
    s.outbox.poll_interval_ms = 50;
    s.outbox.retry_base_ms = 100;
    s.outbox.retry_max_ms = 400;
    // Outages in these tests last seconds: never give up within them.
    s.outbox.max_attempts = 1000;
}

async fn app_mailing_to(port: u16, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDb::new().await;
    let url = db.url.clone();
    spawn_app_with(db, &url, |s| {
        fast_outbox(s, port);
        tweak(s);
    })
    .await
}

/// Gives the Kinh tế department of Ka Đô a mailbox and a clerk with an email address.
async fn department_with_mail(app: &TestApp) -> String {
    let staff = account_token(app, "staff", Some("24943-kinh-te")).await;
    let client = app.db.client().await;
    client
        .batch_execute(
            "UPDATE departments SET email = 'kinhte@kado.example.vn' WHERE code = '24943-kinh-te';
             UPDATE users SET email = 'can.bo@kado.example.vn' WHERE role = 'staff'",
        )
        .await
        .unwrap();
    staff
}

#[tokio::test]
async fn a_new_ticket_is_mailed_to_its_department_in_vietnamese_and_english() {
    let sink = SmtpSink::start();
    let app = app_mailing_to(sink.port, |_| {}).await;
    department_with_mail(&app).await;
    let resident = citizen(&app).await;
    let report = submit_ok(&app, &resident, &report_body("road", KA_DO)).await;
    let id = report["id"].as_str().unwrap();
    let code = report["tracking_code"].as_str().unwrap();

    let mails = sink.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 2, "the department's mailbox and its clerk");
    let mut to: Vec<String> = Vec::new();
    for raw in &mails {
        let m = parse(raw);
        to.push(m.to.clone());
        assert!(m.subject.contains(code), "{}", m.subject);
        assert!(m.subject.contains("Phản ánh mới"), "{}", m.subject);
        let link = format!("{PUBLIC_URL}/tickets/{id}");
        assert!(m.text.contains(&link), "{}", m.text);
        assert!(m.text.contains("Đường liên thôn bị sạt lở"));
        assert!(m.text.contains("A new report has arrived"), "English below");
        assert!(m.html.contains(&format!("href=\"{link}\"")), "{}", m.html);
        // The Message-ID is the outbox id: a repeat is recognisable.
        let outbox_id = m
            .message_id
            .trim_matches(['<', '>'])
            .split('@')
            .next()
            .unwrap()
            .to_owned();
        let delivered = count(
            &app,
            &format!(
                "SELECT count(*) FROM outbox WHERE id = '{outbox_id}' AND status = 'delivered'"
            ),
        )
        .await;
        assert_eq!(delivered, 1, "{}", m.message_id);
    }
    to.sort();
    assert_eq!(to, ["can.bo@kado.example.vn", "kinhte@kado.example.vn"]);
}

#[tokio::test]
async fn overdue_and_reopened_tickets_and_password_resets_are_mailed() {
    let sink = SmtpSink::start();
    let app = app_mailing_to(sink.port, |_| {}).await;
    let staff = department_with_mail(&app).await;
    let resident = citizen(&app).await;
    let id = submit_ok(&app, &resident, &report_body("road", KA_DO)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sink.wait_for(2, Duration::from_secs(20)).await;

    // Overdue (the deadline job at a time past the deadline).
    let mut conn = phananh::db::connect(&app.db.url).await.unwrap();
    let settings = Settings {
        public_url: PUBLIC_URL.into(),
        ..Settings::default()
    };
    let pass = phananh::jobs::deadlines::run_once(
        &mut conn,
        &settings,
        Utc::now() + chrono::Duration::days(30),
    )
    .await
    .unwrap();
    assert_eq!(pass.overdue, 1);
    let mails = sink.wait_for(4, Duration::from_secs(20)).await;
    let overdue: Vec<_> = mails
        .iter()
        .map(|m| parse(m))
        .filter(|m| m.subject.contains("QUÁ HẠN"))
        .collect();
    assert_eq!(overdue.len(), 2, "department and its staff");
    assert!(overdue[0].text.contains("past its legal deadline"));

    // Reopened by the resident.
    for action in ["accept", "resolve"] {
        let resp = post(
            &app,
            &format!("/api/v1/tickets/{id}/transitions"),
            json!({"action": action, "public_note": "Đã vá"}),
            Some(&staff),
        )
        .await;
        assert_eq!(resp.status(), 200);
    }
    let resp = post(
        &app,
        &format!("/api/v1/reports/{id}/reopen"),
        json!({"reason": "Mưa xong lại vỡ <b>to</b>"}),
        Some(&resident),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mails = sink.wait_for(6, Duration::from_secs(20)).await;
    let reopened: Vec<_> = mails
        .iter()
        .map(|m| parse(m))
        .filter(|m| m.subject.contains("mở lại"))
        .collect();
    assert_eq!(reopened.len(), 2);
    assert!(
        reopened[0]
            .text
            .contains("Lý do: Mưa xong lại vỡ <b>to</b>")
    );
    assert!(
        reopened[0]
            .html
            .contains("Mưa xong lại vỡ &lt;b&gt;to&lt;/b&gt;"),
        "escaped in HTML"
    );

    // Password reset.
    let client = app.db.client().await;
    client
        .execute(
            "UPDATE users SET email = 'dan@example.vn' WHERE role = 'citizen'",
            &[],
        )
        .await
        .unwrap();
    let resp = post(
        &app,
        "/api/v1/auth/password-reset",
        json!({"email": "dan@example.vn"}),
        None,
    )
    .await;
    assert_eq!(resp.status(), 202);
    let mails = sink.wait_for(7, Duration::from_secs(20)).await;
    let reset = mails
        .iter()
        .map(|m| parse(m))
        .find(|m| m.to == "dan@example.vn")
        .expect("reset mail");
    assert!(
        reset
            .text
            .contains(&format!("{PUBLIC_URL}/reset-password?token="))
    );
    assert_eq!(mails.len(), 7, "nothing else, nothing twice");
}

/// Queues `n` emails directly, as causes would.
async fn queue_emails(app: &TestApp, n: i32) {
    app.db
        .client()
        .await
        .execute(
            "INSERT INTO outbox (id, kind, payload)
             SELECT gen_random_uuid(), 'email', jsonb_build_object(
                 'to', 'nguoi' || g || '@example.vn', 'template', 'new_ticket',
                 'subject', 'Thư số ' || g, 'text', 'Nội dung ' || g)
             FROM generate_series(1, $1) AS g",
            &[&n],
        )
        .await
        .unwrap();
}

fn assert_each_once(mails: &[Vec<u8>], n: usize) {
    let parsed: Vec<_> = mails.iter().map(|m| parse(m)).collect();
    let ids: HashSet<_> = parsed.iter().map(|m| m.message_id.clone()).collect();
    let subjects: HashSet<_> = parsed.iter().map(|m| m.subject.clone()).collect();
    assert_eq!(mails.len(), n, "received");
    assert_eq!(ids.len(), n, "distinct Message-IDs");
    assert_eq!(subjects.len(), n, "every one of them");
}

/// Starts the mail server on `port`; the 100 queued messages arrive, each once, and are all
/// recorded as delivered.
async fn mail_server_comes_back(app: &TestApp, port: u16) {
    let sink = SmtpSink::start_on(port);
    let mails = sink.wait_for(100, Duration::from_secs(60)).await;
    assert_each_once(&mails, 100);
    let delivered = count(
        app,
        "SELECT count(*) FROM outbox WHERE status = 'delivered'",
    )
    .await;
    assert_eq!(delivered, 100);
}

#[tokio::test]
async fn while_the_mail_server_is_down_nothing_is_lost_and_after_it_nothing_is_doubled() {
    let port = free_port();
    let app = app_mailing_to(port, |_| {}).await;
    queue_emails(&app, 100).await;
    // Down: attempts fail and are rescheduled, nothing is delivered or given up.
    // Polled with a generous deadline: on a loaded machine the retries take longer to come round.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let tried = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let tried = count(&app, "SELECT count(*) FROM outbox WHERE attempts > 1 AND status = 'pending' AND last_error IS NOT NULL").await;
        if tried == 100 || std::time::Instant::now() > deadline {
            break tried;
        }
    };
    assert_eq!(
        tried, 100,
        "every message tried more than once while the server was down"
    );
    mail_server_comes_back(&app, port).await;
}

#[tokio::test]
async fn two_server_processes_deliver_every_message_exactly_once() {
    let port = free_port();
    let app = app_mailing_to(port, |_| {}).await;
    // A second process on the same database, with its own outbox worker.
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&app.db.url, dir.path());
    fast_outbox(&mut settings, port);
    let second = phananh::startup::Application::build(settings)
        .await
        .unwrap();
    let handle = second.handle();
    tokio::spawn(second.run_until_stopped());

    queue_emails(&app, 100).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    mail_server_comes_back(&app, port).await;
    handle.stop(false).await;
}

#[tokio::test]
async fn a_message_that_keeps_failing_goes_dead_and_an_admin_can_send_it_again() {
    let port = free_port();
    let app = app_mailing_to(port, |s| s.outbox.max_attempts = 2).await;
    queue_emails(&app, 1).await;
    // A malformed address is refused for good at once.
    app.db
        .client()
        .await
        .execute(
            "INSERT INTO outbox (id, kind, payload) VALUES (gen_random_uuid(), 'email',
             '{\"to\": \"not an address\", \"template\": \"x\", \"subject\": \"x\", \"text\": \"x\"}')",
            &[],
        )
        .await
        .unwrap();
    let admin = account_token(&app, "admin", None).await;
    let mut dead = Value::Null;
    for _ in 0..100 {
        dead = get_with(&app, "/api/v1/admin/outbox?status=dead&kind=email", &admin)
            .await
            .json()
            .await
            .unwrap();
        if dead["items"].as_array().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let items = dead["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{dead}");
    let bad = items
        .iter()
        .find(|i| i["recipient"] == "not an address")
        .unwrap();
    assert_eq!(bad["attempts"], 1, "a permanent refusal is not retried");
    let down = items
        .iter()
        .find(|i| i["recipient"] == "nguoi1@example.vn")
        .unwrap();
    assert_eq!(down["attempts"], 2);
    assert!(down["last_error"].is_string());

    let sink = SmtpSink::start_on(port);
    let id = down["id"].as_str().unwrap();
    let resp = post(
        &app,
        &format!("/api/v1/admin/outbox/{id}/retry"),
        json!({}),
        Some(&admin),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mails = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(parse(&mails[0]).to, "nguoi1@example.vn");
    // Only a dead message can be retried.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resp = post(
        &app,
        &format!("/api/v1/admin/outbox/{id}/retry"),
        json!({}),
        Some(&admin),
    )
    .await;
    assert_problem(resp, 409, "conflict").await;
    let unknown = uuid::Uuid::now_v7();
    let resp = post(
        &app,
        &format!("/api/v1/admin/outbox/{unknown}/retry"),
        json!({}),
        Some(&admin),
    )
    .await;
    assert_problem(resp, 404, "not_found").await;
    let resp = get_with(&app, "/api/v1/admin/outbox?status=lost", &admin).await;
    assert_problem(resp, 400, "invalid_query").await;
}

#[tokio::test]
async fn status_changes_are_pushed_through_fcm_v1_and_dead_device_tokens_are_forgotten() {
    let fake = crate::fcm::FakeFcm::start().await;
    let db = TestDb::new().await;
    let url = db.url.clone();
    let (key, base) = (fake.key_file.clone(), fake.base_url.clone());
    let app = spawn_app_with(db, &url, move |s| {
        s.fcm.credentials = Some(key);
        s.fcm.base_url = base;
        s.outbox.poll_interval_ms = 50;
        s.outbox.retry_base_ms = 100;
        s.outbox.retry_max_ms = 400;
    })
    .await;
    let staff = account_token(&app, "staff", Some("24943-kinh-te")).await;
    let resident = citizen(&app).await;
    let id = submit_ok(&app, &resident, &report_body("road", KA_DO)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let device = |token: &'static str, who: String| {
        let app = &app;
        async move {
            let resp = post(
                app,
                "/api/v1/me/devices",
                json!({"fcm_token": token, "platform": "android"}),
                Some(&who),
            )
            .await;
            assert!(resp.status().is_success(), "{:?}", resp.text().await);
        }
    };
    device("resident-phone", resident.clone()).await;
    // The clerk who acts has a phone too, and follows the report: still nothing for them.
    device("clerk-phone", staff.clone()).await;
    let resp = post(
        &app,
        &format!("/api/v1/reports/{id}/follow"),
        json!({}),
        Some(&staff),
    )
    .await;
    assert_eq!(resp.status(), 201);
    // Followers: one with a flaky token, one whose app was uninstalled, one who turned push off.
    for token in ["flaky-token", "busy-token", "dead-token", "quiet-phone"] {
        let neighbour = citizen(&app).await;
        device(token, neighbour.clone()).await;
        let resp = post(
            &app,
            &format!("/api/v1/reports/{id}/follow"),
            json!({}),
            Some(&neighbour),
        )
        .await;
        assert_eq!(resp.status(), 201);
        if token == "quiet-phone" {
            let resp = app
                .client
                .patch(app.url("/api/v1/me"))
                .bearer_auth(&neighbour)
                .json(&json!({"push_enabled": false}))
                .send()
                .await
                .unwrap();
            let me: Value = resp.json().await.unwrap();
            assert_eq!(me["push_enabled"], false);
        }
    }

    let resp = post(
        &app,
        &format!("/api/v1/tickets/{id}/transitions"),
        json!({"action": "accept"}),
        Some(&staff),
    )
    .await;
    assert_eq!(resp.status(), 200);

    // The resident's phone and the flaky one (after a 503 and a retry) get it; the dead token
    // is given up at once and its device forgotten; the quiet phone gets nothing.
    for _ in 0..200 {
        let received = fake.seen.lock().unwrap().messages.len();
        let pending = count(
            &app,
            "SELECT count(*) FROM outbox WHERE kind = 'push' AND status = 'pending'",
        )
        .await;
        if received >= 3 && pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (violations, messages, token_requests) = {
        let seen = fake.seen.lock().unwrap();
        (
            seen.violations.clone(),
            seen.messages.clone(),
            seen.token_requests,
        )
    };
    assert!(violations.is_empty(), "{violations:?}");
    let mut to: Vec<&str> = messages
        .iter()
        .map(|m| m["token"].as_str().unwrap())
        .collect();
    to.sort();
    assert_eq!(to, ["busy-token", "flaky-token", "resident-phone"]);
    let m = messages
        .iter()
        .find(|m| m["token"] == "resident-phone")
        .unwrap();
    assert_eq!(m["data"]["report_id"], id.as_str());
    assert_eq!(m["data"]["status"], "accepted");
    assert!(
        m["notification"]["title"]
            .as_str()
            .unwrap()
            .contains("Đã tiếp nhận")
    );
    assert_eq!(
        m["android"]["notification"]["body_loc_key"],
        "report_status_accepted"
    );
    assert_eq!(token_requests, 1, "the access token is cached");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM devices WHERE fcm_token = 'dead-token'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM outbox WHERE kind = 'push' AND status = 'dead'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM outbox WHERE kind = 'push' AND status = 'delivered'"
        )
        .await,
        3
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM outbox WHERE kind = 'push'").await,
        4,
        "nothing for the quiet phone, nothing for the actor"
    );
}

#[tokio::test]
async fn staff_who_chose_the_digest_get_one_email_a_day_at_half_past_seven() {
    let sink = SmtpSink::start();
    let app = app_mailing_to(sink.port, |_| {}).await;
    let eager = account_token(&app, "staff", Some("24943-kinh-te")).await;
    let patient = account_token(&app, "staff", Some("24943-kinh-te")).await;
    for (token, email) in [
        (&eager, "ngay@kado.example.vn"),
        (&patient, "tonghop@kado.example.vn"),
    ] {
        let me: Value = get_with(&app, "/api/v1/me", token)
            .await
            .json()
            .await
            .unwrap();
        app.db
            .client()
            .await
            .execute(
                "UPDATE users SET email = $2 WHERE id::text = $1",
                &[&me["id"].as_str().unwrap(), &email],
            )
            .await
            .unwrap();
    }
    let resp = app
        .client
        .patch(app.url("/api/v1/me"))
        .bearer_auth(&patient)
        .json(&json!({"email_mode": "digest"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["email_mode"], "digest");
    let resp = app
        .client
        .patch(app.url("/api/v1/me"))
        .bearer_auth(&patient)
        .json(&json!({"email_mode": "weekly"}))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 422, "validation_failed").await;

    let resident = citizen(&app).await;
    let mut codes = Vec::new();
    for _ in 0..2 {
        codes.push(
            submit_ok(&app, &resident, &report_body("road", KA_DO)).await["tracking_code"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Immediate mail goes only to the one who wants it.
    let mails = sink.wait_for(2, Duration::from_secs(20)).await;
    assert!(
        mails
            .iter()
            .map(|m| parse(m))
            .all(|m| m.to == "ngay@kado.example.vn")
    );
    assert_eq!(mails.len(), 2);

    // The next working day at 07:00 nothing; at 08:00 one digest, once, also with two
    // processes racing; on a weekend day nothing at all.
    let mut conn = phananh::db::connect(&app.db.url).await.unwrap();
    let calendar = phananh::db::holidays::load_calendar(&mut conn)
        .await
        .unwrap();
    let mut tomorrow = (Utc::now().with_timezone(&phananh::domain::calendar::vietnam())
        + chrono::Duration::days(1))
    .date_naive();
    while !calendar.is_working_day(tomorrow) {
        tomorrow = tomorrow.succ_opt().unwrap();
    }
    let mut sunday = tomorrow;
    while chrono::Datelike::weekday(&sunday) != chrono::Weekday::Sun {
        sunday = sunday.succ_opt().unwrap();
    }
    let at = |h: u32| {
        tomorrow
            .and_hms_opt(h, 0, 0)
            .unwrap()
            .and_local_timezone(phananh::domain::calendar::vietnam())
            .unwrap()
            .with_timezone(&Utc)
    };
    let settings = Settings {
        public_url: PUBLIC_URL.into(),
        ..Settings::default()
    };
    let mut c1 = phananh::db::connect(&app.db.url).await.unwrap();
    let mut c2 = phananh::db::connect(&app.db.url).await.unwrap();
    let sunday_at_8 = sunday
        .and_hms_opt(8, 0, 0)
        .unwrap()
        .and_local_timezone(phananh::domain::calendar::vietnam())
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(
        phananh::jobs::digest::run_once(&mut c1, &settings, sunday_at_8)
            .await
            .unwrap(),
        0,
        "no digest on a Sunday"
    );
    assert_eq!(
        phananh::jobs::digest::run_once(&mut c1, &settings, at(7))
            .await
            .unwrap(),
        0
    );
    let (a, b) = tokio::join!(
        phananh::jobs::digest::run_once(&mut c1, &settings, at(8)),
        phananh::jobs::digest::run_once(&mut c2, &settings, at(8)),
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(
        phananh::jobs::digest::run_once(&mut c1, &settings, at(9))
            .await
            .unwrap(),
        0,
        "once a day"
    );
    let mails = sink.wait_for(3, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 3);
    let digest = mails
        .iter()
        .map(|m| parse(m))
        .find(|m| m.to == "tonghop@kado.example.vn")
        .expect("the digest");
    assert!(digest.subject.contains("2 đang mở"), "{}", digest.subject);
    for code in &codes {
        assert!(digest.text.contains(code.as_str()), "{}", digest.text);
    }
    assert!(digest.text.contains(&format!("{PUBLIC_URL}/tickets")));
}
