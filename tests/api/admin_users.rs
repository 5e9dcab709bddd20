//! Administration of accounts: admins create staff, managers, IOC operators and admins, move,
//! promote, disable (the token stops at once) and reset passwords; managers read their own
//! department's accounts and nothing else. Audit lines never hold contact values.

use serde_json::{Value, json};

use crate::accounts::{PASSWORD, account_token, get_with, post};
use crate::admin_areas::{audit_rows, call, only_admins, outsiders};
use crate::helpers::{TestApp, assert_problem, count, spawn_app};

async fn department(app: &TestApp, code: &str) -> String {
    let id: uuid::Uuid = app
        .db
        .client()
        .await
        .query_one("SELECT id FROM departments WHERE code = $1", &[&code])
        .await
        .unwrap()
        .get(0);
    id.to_string()
}

async fn create(app: &TestApp, admin: &str, body: Value) -> Value {
    let resp = call(app, "POST", "/api/v1/admin/users", Some(admin), Some(body)).await;
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    resp.json().await.unwrap()
}

async fn login(app: &TestApp, login: &str, password: &str) -> reqwest::Response {
    post(
        app,
        "/api/v1/auth/login",
        json!({"login": login, "password": password}),
        None,
    )
    .await
}

async fn token_of(app: &TestApp, login_: &str) -> String {
    let resp = login(app, login_, PASSWORD).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn admins_create_staff_accounts_and_the_audit_keeps_no_contact_values() {
    let app = spawn_app().await;
    let admin = account_token(&app, "admin", None).await;
    let a = Some(admin.as_str());
    let kinh_te = department(&app, "24943-kinh-te").await;

    let resp = call(
        &app,
        "POST",
        "/api/v1/admin/users",
        a,
        Some(json!({"role": "staff", "full_name": "Trần Thị Bình", "email": "Binh.Tran@DonDuong.gov.vn", "department_id": kinh_te, "password": PASSWORD})),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let staff: Value = resp.json().await.unwrap();
    let id = staff["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/admin/users/{id}"));
    assert_eq!(staff["role"], "staff");
    assert_eq!(staff["email"], "binh.tran@donduong.gov.vn");
    assert_eq!(staff["phone"], Value::Null);
    assert_eq!(staff["department_id"], kinh_te.as_str());
    assert_eq!(staff["status"], "active");
    assert!(staff.get("password_hash").is_none());
    let read: Value = call(&app, "GET", &location, a, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, staff);
    // The new account signs in and is staff of its department.
    let token = token_of(&app, "binh.tran@donduong.gov.vn").await;
    assert_eq!(
        get_with(&app, "/api/v1/tickets", &token).await.status(),
        200
    );

    let audit = audit_rows(&app, "user", &id).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].0, "user.create");
    let after = audit[0].2.clone().unwrap();
    assert_eq!(
        after,
        json!({"id": id, "role": "staff", "department_id": kinh_te, "status": "active",
               "full_name": "Trần Thị Bình", "has_email": true, "has_phone": false})
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM audit_log WHERE after::text ILIKE '%donduong.gov.vn%'"
        )
        .await,
        0
    );
    let subject: Option<uuid::Uuid> = app
        .db
        .client()
        .await
        .query_one(
            "SELECT subject_user_id FROM audit_log WHERE action = 'user.create'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(subject.unwrap().to_string(), id);

    // IOC operators and admins have no department; a phone is a login too.
    let ioc = create(&app, &admin, json!({"role": "ioc", "full_name": "Trung tâm IOC", "phone": "0987 654 321", "password": PASSWORD})).await;
    assert_eq!(ioc["phone"], "+84987654321");
    assert_eq!(ioc["department_id"], Value::Null);
    let second_admin = create(&app, &admin, json!({"role": "admin", "full_name": "Quản trị 2", "email": "qt2@example.vn", "password": PASSWORD})).await;
    assert_eq!(second_admin["role"], "admin");

    // The same login again, in another spelling: 409 account_exists.
    assert_problem(
        call(&app, "POST", "/api/v1/admin/users", a, Some(json!({"role": "ioc", "full_name": "X", "phone": "+84987654321", "password": PASSWORD}))).await,
        409,
        "account_exists",
    )
    .await;
    // Values that are not acceptable.
    let inactive = department(&app, "24943-van-phong").await;
    app.db
        .client()
        .await
        .execute(
            "UPDATE departments SET active = false WHERE code = '24943-van-phong'",
            &[],
        )
        .await
        .unwrap();
    for (body, field) in [
        (
            json!({"role": "citizen", "full_name": "A", "email": "a1@example.vn", "password": PASSWORD}),
            "role",
        ),
        (
            json!({"role": "staff", "full_name": "A", "email": "a2@example.vn", "password": PASSWORD}),
            "department_id",
        ),
        (
            json!({"role": "admin", "full_name": "A", "email": "a3@example.vn", "department_id": kinh_te, "password": PASSWORD}),
            "department_id",
        ),
        (
            json!({"role": "staff", "full_name": "A", "email": "a4@example.vn", "department_id": uuid::Uuid::now_v7(), "password": PASSWORD}),
            "department_id",
        ),
        (
            json!({"role": "staff", "full_name": "A", "email": "a5@example.vn", "department_id": inactive, "password": PASSWORD}),
            "department_id",
        ),
        (
            json!({"role": "ioc", "full_name": "A", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"role": "ioc", "full_name": "A", "email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"role": "ioc", "full_name": "A", "phone": "12", "password": PASSWORD}),
            "phone",
        ),
        (
            json!({"role": "ioc", "full_name": "", "email": "a6@example.vn", "password": PASSWORD}),
            "full_name",
        ),
        (
            json!({"role": "ioc", "full_name": "A", "email": "a7@example.vn", "password": "short"}),
            "password",
        ),
        (
            json!({"role": "ioc", "full_name": "A", "email": "password123@example.vn", "password": "password123"}),
            "password",
        ),
    ] {
        let problem = assert_problem(
            call(&app, "POST", "/api/v1/admin/users", a, Some(body.clone())).await,
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
        call(&app, "POST", "/api/v1/admin/users", a, Some(json!({"role": "ioc", "full_name": "A", "email": "a8@example.vn", "password": PASSWORD, "is_admin": true}))).await,
        400,
        "malformed_json",
    )
    .await;

    // The list: newest first, filtered, paged.
    let page: Value = call(&app, "GET", "/api/v1/admin/users?role=staff", a, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["id"], id.as_str());
    let found: Value = call(&app, "GET", "/api/v1/admin/users?q=BINH.tran", a, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    let by_dept: Value = call(
        &app,
        "GET",
        &format!("/api/v1/admin/users?department={kinh_te}&status=active"),
        a,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(by_dept["items"].as_array().unwrap().len(), 1);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/admin/users?limit=2&cursor={c}"),
            None => "/api/v1/admin/users?limit=2".to_owned(),
        };
        let page: Value = call(&app, "GET", &path, a, None)
            .await
            .json()
            .await
            .unwrap();
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    // The admin, the staff member, the IOC operator and the second admin.
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(
        seen[0],
        second_admin["id"].as_str().unwrap(),
        "newest first"
    );
    for bad in [
        "?limit=0",
        "?limit=x",
        "?role=boss",
        "?status=gone",
        "?department=x",
        "?cursor=x",
        "?sort=name",
    ] {
        assert_problem(
            call(&app, "GET", &format!("/api/v1/admin/users{bad}"), a, None).await,
            400,
            "invalid_query",
        )
        .await;
    }
    assert_problem(
        call(
            &app,
            "GET",
            &format!("/api/v1/admin/users/{}", uuid::Uuid::now_v7()),
            a,
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;

    // Only admins change anything.
    let who = outsiders(&app).await;
    only_admins(&app, &who, "POST", "/api/v1/admin/users", Some(json!({"role": "ioc", "full_name": "A", "email": "a9@example.vn", "password": PASSWORD}))).await;
    only_admins(
        &app,
        &who,
        "PATCH",
        &location,
        Some(json!({"full_name": "B"})),
    )
    .await;
    only_admins(&app, &who, "DELETE", &location, None).await;
    only_admins(
        &app,
        &who,
        "POST",
        &format!("{location}/password-reset"),
        None,
    )
    .await;
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM users WHERE email = 'a9@example.vn'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn managers_read_their_own_departments_accounts_and_nothing_else() {
    let app = spawn_app().await;
    let admin = account_token(&app, "admin", None).await;
    let kinh_te = department(&app, "24943-kinh-te").await;
    let van_phong = department(&app, "24943-van-phong").await;
    let mine = create(&app, &admin, json!({"role": "staff", "full_name": "Cán bộ A", "email": "a@example.vn", "department_id": kinh_te, "password": PASSWORD})).await;
    let theirs = create(&app, &admin, json!({"role": "staff", "full_name": "Cán bộ B", "email": "b@example.vn", "department_id": van_phong, "password": PASSWORD})).await;
    let manager = account_token(&app, "manager", Some("24943-kinh-te")).await;
    let m = Some(manager.as_str());

    let list: Value = call(&app, "GET", "/api/v1/admin/users", m, None)
        .await
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(
        items.iter().all(|u| u["department_id"] == kinh_te.as_str()),
        "{list}"
    );
    assert!(items.iter().any(|u| u["id"] == mine["id"]));
    let other: Value = call(
        &app,
        "GET",
        &format!("/api/v1/admin/users?department={van_phong}"),
        m,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(other["items"], json!([]));
    let own = call(
        &app,
        "GET",
        &format!("/api/v1/admin/users/{}", mine["id"].as_str().unwrap()),
        m,
        None,
    )
    .await;
    assert_eq!(own.status(), 200);
    let theirs_path = format!("/api/v1/admin/users/{}", theirs["id"].as_str().unwrap());
    assert_problem(
        call(&app, "GET", &theirs_path, m, None).await,
        404,
        "not_found",
    )
    .await;
    // The manager cannot see the admin (no department) either.
    let admins: Value = call(&app, "GET", "/api/v1/admin/users?role=admin", m, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(admins["items"], json!([]));
    // ... and changes nothing.
    let mine_path = format!("/api/v1/admin/users/{}", mine["id"].as_str().unwrap());
    for (method, path, body) in [
        ("PATCH", mine_path.clone(), Some(json!({"full_name": "X"}))),
        ("DELETE", mine_path.clone(), None),
        ("POST", format!("{mine_path}/password-reset"), None),
        (
            "POST",
            "/api/v1/admin/users".to_owned(),
            Some(
                json!({"role": "staff", "full_name": "C", "email": "c@example.vn", "department_id": kinh_te, "password": PASSWORD}),
            ),
        ),
    ] {
        assert_problem(call(&app, method, &path, m, body).await, 403, "forbidden").await;
    }
    // Everyone else: not even the list.
    for (role, token) in outsiders(&app).await {
        if role == "manager" {
            continue;
        }
        for path in ["/api/v1/admin/users", mine_path.as_str()] {
            let resp = call(&app, "GET", path, token.as_deref(), None).await;
            let status = if token.is_none() { 401 } else { 403 };
            assert_eq!(resp.status().as_u16(), status, "{role} {path}");
        }
    }
}

#[tokio::test]
async fn moving_promoting_and_disabling_take_effect_at_once() {
    let app = spawn_app().await;
    let admin = account_token(&app, "admin", None).await;
    let a = Some(admin.as_str());
    let kinh_te = department(&app, "24943-kinh-te").await;
    let van_phong = department(&app, "24943-van-phong").await;
    let staff = create(&app, &admin, json!({"role": "staff", "full_name": "Lê Văn C", "phone": "0911222333", "department_id": kinh_te, "password": PASSWORD})).await;
    let id = staff["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/admin/users/{id}");
    let token = token_of(&app, "0911222333").await;

    // Moved to another department.
    let moved: Value = call(
        &app,
        "PATCH",
        &path,
        a,
        Some(json!({"department_id": van_phong})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(moved["department_id"], van_phong.as_str());
    let audit = audit_rows(&app, "user", &id).await;
    assert_eq!(audit.last().unwrap().0, "user.update");
    assert_eq!(
        audit.last().unwrap().1.as_ref().unwrap()["department_id"],
        kinh_te.as_str()
    );
    assert_eq!(
        audit.last().unwrap().2.as_ref().unwrap()["department_id"],
        van_phong.as_str()
    );
    assert!(
        !audit
            .last()
            .unwrap()
            .2
            .as_ref()
            .unwrap()
            .to_string()
            .contains("911222333")
    );
    // Promoted to manager, then to admin (the department goes with the role).
    let manager: Value = call(&app, "PATCH", &path, a, Some(json!({"role": "manager"})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(manager["role"], "manager");
    let promoted: Value = call(&app, "PATCH", &path, a, Some(json!({"role": "admin"})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(promoted["role"], "admin");
    assert_eq!(promoted["department_id"], Value::Null);
    // The same token now has the new role: it may read the admin list.
    assert_eq!(
        get_with(&app, "/api/v1/admin/areas", &token).await.status(),
        200
    );
    // Back to staff without a department: 422; with one: fine.
    assert_problem(
        call(&app, "PATCH", &path, a, Some(json!({"role": "staff"}))).await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        call(
            &app,
            "PATCH",
            &path,
            a,
            Some(json!({"department_id": kinh_te})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let back: Value = call(
        &app,
        "PATCH",
        &path,
        a,
        Some(json!({"role": "staff", "department_id": kinh_te})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(back["role"], "staff");
    // Empty or no-op changes: 200 and no audit line.
    let lines = audit_rows(&app, "user", &id).await.len();
    assert_eq!(
        call(&app, "PATCH", &path, a, Some(json!({})))
            .await
            .status(),
        200
    );
    assert_eq!(
        call(
            &app,
            "PATCH",
            &path,
            a,
            Some(json!({"full_name": "Lê Văn C"}))
        )
        .await
        .status(),
        200
    );
    assert_eq!(audit_rows(&app, "user", &id).await.len(), lines);
    for (body, field) in [
        (json!({"status": "deleted"}), "status"),
        (json!({"role": "citizen"}), "role"),
        (json!({"full_name": ""}), "full_name"),
        (
            json!({"department_id": uuid::Uuid::now_v7()}),
            "department_id",
        ),
    ] {
        let problem = assert_problem(
            call(&app, "PATCH", &path, a, Some(body.clone())).await,
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
            "PATCH",
            &path,
            a,
            Some(json!({"email": "x@example.vn"})),
        )
        .await,
        400,
        "malformed_json",
    )
    .await;

    // Disabled: the token in hand stops at once, and so does signing in.
    let disabled: Value = call(&app, "PATCH", &path, a, Some(json!({"status": "disabled"})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(disabled["status"], "disabled");
    assert_problem(
        get_with(&app, "/api/v1/me", &token).await,
        401,
        "account_disabled",
    )
    .await;
    assert_problem(
        login(&app, "0911222333", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM sessions WHERE user_id = '{id}' AND revoked_at IS NULL")
        )
        .await,
        0
    );
    let audit = audit_rows(&app, "user", &id).await;
    assert_eq!(audit.last().unwrap().0, "user.disable");
    assert_eq!(
        audit.last().unwrap().1.as_ref().unwrap()["status"],
        "active"
    );
    assert_eq!(
        audit.last().unwrap().2.as_ref().unwrap()["status"],
        "disabled"
    );
    // Enabled again: a new sign-in works (the old session stays ended).
    let enabled: Value = call(&app, "PATCH", &path, a, Some(json!({"status": "active"})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(enabled["status"], "active");
    assert_eq!(
        audit_rows(&app, "user", &id).await.last().unwrap().0,
        "user.reactivate"
    );
    assert_problem(
        get_with(&app, "/api/v1/me", &token).await,
        401,
        "session_revoked",
    )
    .await;
    let fresh = token_of(&app, "0911222333").await;
    assert_eq!(get_with(&app, "/api/v1/me", &fresh).await.status(), 200);

    // DELETE disables (200 with the account); again changes nothing.
    let deleted = call(&app, "DELETE", &path, a, None).await;
    assert_eq!(deleted.status(), 200);
    let deleted: Value = deleted.json().await.unwrap();
    assert_eq!(deleted["status"], "disabled");
    assert_problem(
        get_with(&app, "/api/v1/me", &fresh).await,
        401,
        "account_disabled",
    )
    .await;
    let lines = audit_rows(&app, "user", &id).await.len();
    assert_eq!(call(&app, "DELETE", &path, a, None).await.status(), 200);
    assert_eq!(audit_rows(&app, "user", &id).await.len(), lines);
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM users WHERE id = '{id}'")
        )
        .await,
        1
    );

    // An admin cannot disable or demote themselves (they are the only admin here, too).
    let me: Value = get_with(&app, "/api/v1/me", &admin)
        .await
        .json()
        .await
        .unwrap();
    let me_path = format!("/api/v1/admin/users/{}", me["id"].as_str().unwrap());
    for (method, body) in [
        ("DELETE", None),
        ("PATCH", Some(json!({"status": "disabled"}))),
        ("PATCH", Some(json!({"role": "ioc"}))),
    ] {
        assert_problem(call(&app, method, &me_path, a, body).await, 409, "conflict").await;
    }
    assert_eq!(get_with(&app, "/api/v1/me", &admin).await.status(), 200);
    // A resident stays a resident.
    let citizen = crate::accounts::register(&app, "0933444555").await;
    let citizen_path = format!(
        "/api/v1/admin/users/{}",
        citizen["user"]["id"].as_str().unwrap()
    );
    assert_problem(
        call(
            &app,
            "PATCH",
            &citizen_path,
            a,
            Some(json!({"role": "staff", "department_id": kinh_te})),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    // Their audit snapshot has no name.
    let off: Value = call(&app, "DELETE", &citizen_path, a, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(off["status"], "disabled");
    let audit = audit_rows(&app, "user", citizen["user"]["id"].as_str().unwrap()).await;
    assert!(
        audit[0].2.as_ref().unwrap().get("full_name").is_none(),
        "{audit:?}"
    );
    assert_eq!(audit[0].2.as_ref().unwrap()["has_phone"], true);
}

#[tokio::test]
async fn an_admin_resets_a_password_by_mail_or_by_a_token_to_hand_over() {
    let app = spawn_app().await;
    let admin = account_token(&app, "admin", None).await;
    let a = Some(admin.as_str());
    let kinh_te = department(&app, "24943-kinh-te").await;
    let by_phone = create(&app, &admin, json!({"role": "staff", "full_name": "Phạm D", "phone": "0922333444", "department_id": kinh_te, "password": PASSWORD})).await;
    let token = token_of(&app, "0922333444").await;
    let path = format!(
        "/api/v1/admin/users/{}/password-reset",
        by_phone["id"].as_str().unwrap()
    );

    // No email: the token comes back, the sessions end.
    let resp = call(&app, "POST", &path, a, None).await;
    assert_eq!(resp.status(), 200);
    let issued: Value = resp.json().await.unwrap();
    assert_eq!(issued["delivery"], "token");
    assert!(issued["expires_at"].as_str().is_some());
    let reset_token = issued["reset_token"].as_str().unwrap().to_owned();
    assert_problem(
        get_with(&app, "/api/v1/me", &token).await,
        401,
        "session_revoked",
    )
    .await;
    let audit = audit_rows(&app, "user", by_phone["id"].as_str().unwrap()).await;
    assert_eq!(audit.last().unwrap().0, "user.password_reset");
    assert_eq!(
        audit.last().unwrap().2.as_ref().unwrap()["delivery"],
        "token"
    );
    assert!(
        !audit
            .last()
            .unwrap()
            .2
            .as_ref()
            .unwrap()
            .to_string()
            .contains(&reset_token)
    );

    // The owner redeems it.
    let new_password = "đồi chè Cầu Đất 2027";
    let confirm = post(
        &app,
        "/api/v1/auth/password-reset/confirm",
        json!({"token": reset_token, "new_password": new_password}),
        None,
    )
    .await;
    assert_eq!(confirm.status(), 204);
    assert_problem(
        login(&app, "0922333444", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(login(&app, "0922333444", new_password).await.status(), 200);
    // Once only.
    assert_problem(
        post(
            &app,
            "/api/v1/auth/password-reset/confirm",
            json!({"token": issued["reset_token"], "new_password": "another long password 1"}),
            None,
        )
        .await,
        400,
        "invalid_reset_token",
    )
    .await;

    // With an email: mailed through the outbox, no token in the answer.
    let by_mail = create(&app, &admin, json!({"role": "manager", "full_name": "Hồ E", "email": "ho.e@example.vn", "department_id": kinh_te, "password": PASSWORD})).await;
    let outbox_before = count(&app, "SELECT count(*) FROM outbox WHERE kind = 'email'").await;
    let resp = call(
        &app,
        "POST",
        &format!(
            "/api/v1/admin/users/{}/password-reset",
            by_mail["id"].as_str().unwrap()
        ),
        a,
        None,
    )
    .await;
    assert_eq!(resp.status(), 202);
    let mailed: Value = resp.json().await.unwrap();
    assert_eq!(mailed, json!({"delivery": "email"}));
    assert_eq!(
        count(&app, "SELECT count(*) FROM outbox WHERE kind = 'email'").await,
        outbox_before + 1
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM outbox WHERE kind = 'email' AND payload::text LIKE '%ho.e@example.vn%' AND payload::text LIKE '%reset-password?token=%'").await,
        1
    );

    // A disabled account must be enabled first; an unknown one is 404.
    let disable = call(
        &app,
        "DELETE",
        &format!("/api/v1/admin/users/{}", by_mail["id"].as_str().unwrap()),
        a,
        None,
    )
    .await;
    assert_eq!(disable.status(), 200);
    assert_problem(
        call(
            &app,
            "POST",
            &format!(
                "/api/v1/admin/users/{}/password-reset",
                by_mail["id"].as_str().unwrap()
            ),
            a,
            None,
        )
        .await,
        409,
        "conflict",
    )
    .await;
    assert_problem(
        call(
            &app,
            "POST",
            &format!(
                "/api/v1/admin/users/{}/password-reset",
                uuid::Uuid::now_v7()
            ),
            a,
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
}
