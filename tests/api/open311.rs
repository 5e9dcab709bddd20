//! Open311 GeoReport v2 (`/open311/v2`) over HTTP, against the written contract: every JSON answer
//! is validated against the GeoReport v2 JSON Schemas of `../shared/data/open311/`, every XML answer
//! is parsed, every date-time carries its offset; partners post with keys of their own, and what
//! they send about the reporter is seen by the handling staff and by nobody else.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::accounts::{account_token, get_with, post};
use crate::helpers::{TestApp, TestDb, count, shared_data, spawn_app, spawn_app_with};
use crate::media::{citizen, photo};
use crate::reports::{report_body, submit_ok};

/// Near the seeded centroid of xã Ka Đô: roads, waste and lighting go to `24943-kinh-te`.
const KA_DO: (f64, f64) = (11.7394, 108.5884);
/// Near the seeded centroid of xã Đơn Dương.
const DON_DUONG: (f64, f64) = (11.7306, 108.4533);
const KINH_TE: &str = "24943-kinh-te";
const JSON_CT: &str = "application/json; charset=utf-8";
const XML_CT: &str = "text/xml; charset=utf-8";
const XML_DECL: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;
/// Where the server says it lives (the default `public_url`).
const PUBLIC_URL: &str = "http://localhost:8080";

// ---------------------------------------------------------------------------------------------
// Answers, schemas, XML
// ---------------------------------------------------------------------------------------------

/// One HTTP answer, read whole.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    text: String,
    what: String,
}

async fn answer(resp: reqwest::Response, what: String) -> Answer {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    Answer {
        status,
        content_type,
        text,
        what,
    }
}

fn o311(path: &str) -> String {
    format!("/open311/v2/{path}")
}

/// `GET /open311/v2/{path}`.
async fn fetch(app: &TestApp, path: &str) -> Answer {
    fetch_with(app, path, &[]).await
}

async fn fetch_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = app.client.get(app.url(&o311(path)));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    answer(req.send().await.unwrap(), format!("GET {path}")).await
}

/// The JSON body of a JSON answer, with its content type and every date-time checked.
fn json_of(a: &Answer) -> Value {
    assert_eq!(a.content_type, JSON_CT, "content type of {}", a.what);
    let v: Value = serde_json::from_str(&a.text)
        .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {}", a.what, a.text));
    check_json_datetimes(&v, &a.what);
    v
}

/// `GET path` answered 200 in JSON.
async fn get_json(app: &TestApp, path: &str) -> Value {
    let a = fetch(app, path).await;
    assert_eq!(a.status, 200, "{}: {}", a.what, a.text);
    json_of(&a)
}

/// `GET path` answered 200 with a bare array of requests valid against `requests.json`.
async fn get_requests(app: &TestApp, path: &str) -> Vec<Value> {
    let v = get_json(app, path).await;
    assert_valid("requests.json", &v, path);
    v.as_array().unwrap().clone()
}

fn ids_of(requests: &[Value]) -> Vec<String> {
    requests
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn get_ids(app: &TestApp, path: &str) -> Vec<String> {
    ids_of(&get_requests(app, path).await)
}

/// `GET path` answered 200 in XML.
async fn get_xml(app: &TestApp, path: &str) -> El {
    let a = fetch(app, path).await;
    assert_eq!(a.status, 200, "{}: {}", a.what, a.text);
    xml_of(&a)
}

/// Asserts a JSON Open311 error: HTTP status = `code`, body `[{"code", "description"}]`.
fn assert_json_error(a: &Answer, code: u16) -> String {
    assert_eq!(a.status, code, "{}: {}", a.what, a.text);
    let v = json_of(a);
    let errors = v
        .as_array()
        .unwrap_or_else(|| panic!("{}: errors are an array: {v}", a.what));
    assert_eq!(errors.len(), 1, "{}: {v}", a.what);
    assert_eq!(errors[0]["code"], json!(code), "{}: {v}", a.what);
    let description = errors[0]["description"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: description: {v}", a.what));
    assert!(!description.trim().is_empty(), "{}: {v}", a.what);
    description.to_owned()
}

/// Asserts an XML Open311 error: `<errors><error><code/><description/></error></errors>`.
fn assert_xml_error(a: &Answer, code: u16) -> String {
    assert_eq!(a.status, code, "{}: {}", a.what, a.text);
    let root = xml_of(a);
    assert_eq!(root.name, "errors", "{}: {}", a.what, a.text);
    assert_eq!(root.children.len(), 1, "{}: {}", a.what, a.text);
    let error = &root.children[0];
    assert_eq!(error.name, "error");
    assert_eq!(error.text_of("code"), code.to_string(), "{}", a.text);
    let description = error.text_of("description");
    assert!(!description.trim().is_empty(), "{}", a.text);
    description.to_owned()
}

fn load_schema(name: &str) -> Value {
    let path = shared_data(&format!("open311/{name}"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// The schema with its `items: {"$ref": "x.json"}` replaced by x.json itself: no resolver needed.
fn bundled(name: &str) -> Value {
    let mut schema = load_schema(name);
    if let Some(reference) = schema["items"]["$ref"].as_str().map(str::to_owned) {
        schema["items"] = load_schema(&reference);
    }
    schema
}

fn assert_valid(schema: &str, instance: &Value, what: &str) {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&bundled(schema))
        .unwrap_or_else(|e| panic!("schema {schema}: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} is not valid against {schema}: {errors:#?}\n{instance:#}"
    );
}

/// The names of the date-time fields Open311 answers carry.
const DATETIME_FIELDS: [&str; 5] = [
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "datetime",
    "changeset",
];

/// A W3C date-time with its offset, in Vietnam time, whole seconds: `2026-11-29T10:00:00+07:00`.
fn check_datetime(text: &str, what: &str) -> DateTime<FixedOffset> {
    let parsed = DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{what}: {text:?} is not RFC 3339 ({e})"));
    assert!(
        text.len() == 25 && text.ends_with("+07:00"),
        "{what}: {text:?} is not Vietnam time with whole seconds"
    );
    parsed
}

fn check_json_datetimes(v: &Value, what: &str) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| check_json_datetimes(i, what)),
        Value::Object(map) => {
            for (k, value) in map {
                if DATETIME_FIELDS.contains(&k.as_str())
                    && let Some(s) = value.as_str()
                {
                    check_datetime(s, &format!("{what} {k}"));
                }
                check_json_datetimes(value, what);
            }
        }
        _ => {}
    }
}

/// An XML element, owned: its name, its own text, its child elements.
#[derive(Debug, Clone)]
struct El {
    name: String,
    text: String,
    children: Vec<El>,
}

impl El {
    fn get(&self, name: &str) -> Option<&El> {
        self.children.iter().find(|c| c.name == name)
    }

    fn child(&self, name: &str) -> &El {
        self.get(name)
            .unwrap_or_else(|| panic!("<{}> has no <{name}>: {self:#?}", self.name))
    }

    fn text_of(&self, name: &str) -> &str {
        &self.child(name).text
    }

    fn all(&self, name: &str) -> Vec<&El> {
        self.children.iter().filter(|c| c.name == name).collect()
    }
}

fn convert(node: roxmltree::Node) -> El {
    El {
        name: node.tag_name().name().to_owned(),
        text: node
            .children()
            .filter(|c| c.is_text())
            .filter_map(|c| c.text())
            .collect::<String>(),
        children: node
            .children()
            .filter(|c| c.is_element())
            .map(convert)
            .collect(),
    }
}

fn check_xml_datetimes(el: &El, what: &str) {
    if DATETIME_FIELDS.contains(&el.name.as_str()) && !el.text.is_empty() {
        check_datetime(&el.text, &format!("{what} <{}>", el.name));
    }
    el.children
        .iter()
        .for_each(|c| check_xml_datetimes(c, what));
}

/// The root element of an XML answer, with its content type, declaration and date-times checked.
fn xml_of(a: &Answer) -> El {
    assert_eq!(a.content_type, XML_CT, "content type of {}", a.what);
    assert!(
        a.text.starts_with(XML_DECL),
        "{} does not start with the XML declaration: {}",
        a.what,
        a.text
    );
    let doc = roxmltree::Document::parse(&a.text)
        .unwrap_or_else(|e| panic!("{} is not XML ({e}): {}", a.what, a.text));
    let root = convert(doc.root_element());
    check_xml_datetimes(&root, &a.what);
    root
}

/// The `<request>` children of a `<service_requests>` answer.
fn xml_requests(root: &El) -> Vec<El> {
    assert_eq!(root.name, "service_requests", "{root:#?}");
    assert!(
        root.children.iter().all(|c| c.name == "request"),
        "{root:#?}"
    );
    root.children.clone()
}

// ---------------------------------------------------------------------------------------------
// Keys, posting, staff
// ---------------------------------------------------------------------------------------------

async fn admin(app: &TestApp) -> String {
    account_token(app, "admin", None).await
}

/// `POST /api/v1/admin/api-keys` → (id, key).
async fn create_key(app: &TestApp, admin: &str, name: &str, purpose: &str) -> (String, String) {
    let resp = post(
        app,
        "/api/v1/admin/api-keys",
        json!({"name": name, "purpose": purpose}),
        Some(admin),
    )
    .await;
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["name"], name, "{body}");
    assert_eq!(body["purpose"], purpose, "{body}");
    let key = body["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with(body["prefix"].as_str().unwrap()), "{body}");
    (body["id"].as_str().unwrap().to_owned(), key)
}

/// A live `open311` key.
async fn partner_key(app: &TestApp) -> String {
    let admin = admin(app).await;
    create_key(app, &admin, "Ứng dụng đối tác", "open311")
        .await
        .1
}

/// application/x-www-form-urlencoded, every byte outside the unreserved set percent-encoded.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

type Fields = Vec<(String, String)>;

fn form(fields: &Fields) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn set(fields: &mut Fields, name: &str, value: &str) {
    fields.retain(|(k, _)| k != name);
    fields.push((name.to_owned(), value.to_owned()));
}

fn without(fields: &Fields, name: &str) -> Fields {
    fields.iter().filter(|(k, _)| k != name).cloned().collect()
}

fn with(fields: &Fields, name: &str, value: &str) -> Fields {
    let mut f = fields.clone();
    set(&mut f, name, value);
    f
}

const DESCRIPTION: &str = "Cống thoát nước bị tắc, nước tràn ra đường";

/// A complete submission.
fn request_fields(key: &str, code: &str, at: (f64, f64)) -> Fields {
    vec![
        ("api_key".into(), key.into()),
        ("service_code".into(), code.into()),
        ("lat".into(), at.0.to_string()),
        ("long".into(), at.1.to_string()),
        ("address_string".into(), "Thôn Ka Đô Cũ, gần chợ".into()),
        ("description".into(), DESCRIPTION.into()),
    ]
}

/// `POST /open311/v2/{path}` with a form body.
async fn post_form(
    app: &TestApp,
    path: &str,
    fields: &Fields,
    idempotency: Option<&str>,
) -> Answer {
    let mut req = app
        .client
        .post(app.url(&o311(path)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(fields));
    if let Some(k) = idempotency {
        req = req.header("Idempotency-Key", k);
    }
    answer(req.send().await.unwrap(), format!("POST {path}")).await
}

/// A successful JSON submission → (service_request_id, token).
async fn post_ok(app: &TestApp, fields: &Fields) -> (String, String) {
    let a = post_form(app, "requests.json", fields, None).await;
    created(&a)
}

fn created(a: &Answer) -> (String, String) {
    assert_eq!(a.status, 200, "{}: {}", a.what, a.text);
    let v = json_of(a);
    let items = v.as_array().unwrap_or_else(|| panic!("bare array: {v}"));
    assert_eq!(items.len(), 1, "{v}");
    let id = items[0]["service_request_id"].as_str().unwrap().to_owned();
    uuid::Uuid::parse_str(&id).unwrap_or_else(|_| panic!("a UUID: {v}"));
    let token = items[0]["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 10, "the tracking code: {v}");
    assert!(
        items[0]["service_notice"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{v}"
    );
    assert_eq!(items[0]["account_id"], Value::Null, "{v}");
    (id, token)
}

async fn reports(app: &TestApp) -> i64 {
    count(app, "SELECT count(*) FROM reports").await
}

async fn act(app: &TestApp, staff: &str, id: &str, body: Value) {
    let resp = post(
        app,
        &format!("/api/v1/tickets/{id}/transitions"),
        body.clone(),
        Some(staff),
    )
    .await;
    assert_eq!(resp.status(), 200, "{body}: {:?}", resp.text().await);
}

/// The public view of a report.
async fn public_report(app: &TestApp, id: &str) -> Value {
    let resp = app.get(&format!("/api/v1/reports/{id}")).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    resp.json().await.unwrap()
}

/// The public note of a report's `created` event: the routing sentence.
async fn created_note(app: &TestApp, id: &str) -> String {
    let events: Value = app
        .get(&format!("/api/v1/reports/{id}/events"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["items"][0]["action"], "created", "{events}");
    events["items"][0]["public_note"]
        .as_str()
        .unwrap_or_else(|| panic!("{events}"))
        .to_owned()
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .with_timezone(&Utc)
}

/// A query-string date-time, RFC 3339 in UTC with whole seconds.
fn q(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn local(app: &TestApp, url: &str) -> String {
    url.replace(PUBLIC_URL, &app.address)
}

// ---------------------------------------------------------------------------------------------
// 1. discovery, services, service definitions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn services_and_their_definitions_in_json_and_xml() {
    let app = spawn_app().await;

    // The services are the active categories, in the catalog's display order.
    let services = get_json(&app, "services.json").await;
    assert_valid("services.json", &services, "services.json");
    let services = services.as_array().unwrap().clone();
    let categories: Value = app.get("/api/v1/categories").await.json().await.unwrap();
    let categories = categories.as_array().unwrap();
    let codes: Vec<&str> = services
        .iter()
        .map(|s| s["service_code"].as_str().unwrap())
        .collect();
    let in_catalog_order: Vec<&str> = categories
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .filter(|c| codes.contains(c))
        .collect();
    assert_eq!(codes, in_catalog_order);
    for c in categories.iter().filter(|c| c["public"] == true) {
        assert!(codes.contains(&c["code"].as_str().unwrap()), "{c} missing");
    }
    assert!(codes.len() >= 17, "{codes:?}");
    let road = services
        .iter()
        .find(|s| s["service_code"] == "road")
        .unwrap();
    assert_eq!(road["service_name"], "Giao thông, đường sá, cầu cống");
    assert_eq!(
        road["description"],
        "Ổ gà, sụt lún, hư hỏng mặt đường, cầu, cống, biển báo"
    );
    assert_eq!(road["metadata"], false);
    assert_eq!(road["type"], "realtime");
    for s in &services {
        assert_eq!(s["metadata"], false, "{s}");
        assert_eq!(s["type"], "realtime", "{s}");
    }

    // English on request, in either spelling of the header.
    for lang in ["en", "en-US,en;q=0.9"] {
        let a = fetch_with(&app, "services.json", &[("Accept-Language", lang)]).await;
        assert_eq!(a.status, 200);
        let english = json_of(&a);
        assert_valid("services.json", &english, "services.json (en)");
        let road = english
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service_code"] == "road")
            .unwrap()
            .clone();
        assert_eq!(road["service_name"], "Roads, bridges, culverts", "{lang}");
        let waste = english
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service_code"] == "waste")
            .unwrap()
            .clone();
        assert_eq!(waste["service_name"], "Sanitation, waste", "{lang}");
    }
    // Vietnamese by default and for Vietnamese.
    let a = fetch_with(&app, "services.json", &[("Accept-Language", "vi")]).await;
    let vi = json_of(&a);
    assert_eq!(vi[0]["service_name"], services[0]["service_name"]);

    // The same list in XML.
    let root = get_xml(&app, "services.xml").await;
    assert_eq!(root.name, "services");
    assert!(root.children.iter().all(|c| c.name == "service"));
    let xml_codes: Vec<&str> = root
        .children
        .iter()
        .map(|s| s.text_of("service_code"))
        .collect();
    assert_eq!(xml_codes, codes);
    let xml_road = root
        .children
        .iter()
        .find(|s| s.text_of("service_code") == "road")
        .unwrap();
    assert_eq!(
        xml_road.text_of("service_name"),
        "Giao thông, đường sá, cầu cống"
    );
    assert_eq!(xml_road.text_of("metadata"), "false");
    assert_eq!(xml_road.text_of("type"), "realtime");

    // A service definition: no attributes.
    let definition = get_json(&app, "services/road.json").await;
    assert_valid("service-definition.json", &definition, "services/road.json");
    assert_eq!(
        definition,
        json!({"service_code": "road", "attributes": []})
    );
    let root = get_xml(&app, "services/road.xml").await;
    assert_eq!(root.name, "service_definition");
    assert_eq!(root.text_of("service_code"), "road");
    assert!(root.child("attributes").children.is_empty(), "{root:#?}");

    // Unknown codes, formats and paths.
    assert_json_error(&fetch(&app, "services/nope.json").await, 404);
    assert_xml_error(&fetch(&app, "services/nope.xml").await, 404);
    assert_json_error(&fetch(&app, "services.html").await, 404);
    assert_json_error(&fetch(&app, "services").await, 404);
    assert_json_error(&fetch(&app, "nothing.json").await, 404);
    assert_xml_error(&fetch(&app, "nothing.xml").await, 404);

    // An inactive category is no longer a service.
    app.db
        .client()
        .await
        .execute(
            "UPDATE categories SET active = false WHERE code = 'other'",
            &[],
        )
        .await
        .unwrap();
    let after = get_json(&app, "services.json").await;
    assert_eq!(after.as_array().unwrap().len(), services.len() - 1);
    assert!(!after.to_string().contains("\"other\""), "{after}");
    assert_json_error(&fetch(&app, "services/other.json").await, 404);
}

#[tokio::test]
async fn discovery_in_json_and_xml() {
    let app = spawn_app().await;
    let d = get_json(&app, "discovery.json").await;
    assert!(d.is_object(), "{d}");
    let defaults = phananh::config::Settings::default();
    assert_eq!(d["contact"], defaults.open311.contact.as_str());
    assert_eq!(d["key_service"], defaults.open311.key_service.as_str());
    check_datetime(d["changeset"].as_str().unwrap(), "changeset");
    let endpoints = d["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1, "{d}");
    let e = &endpoints[0];
    assert_eq!(e["specification"], "http://wiki.open311.org/GeoReport_v2");
    assert_eq!(e["url"], format!("{PUBLIC_URL}/open311/v2"));
    assert_eq!(e["type"], "production");
    check_datetime(e["changeset"].as_str().unwrap(), "endpoint changeset");
    let formats: BTreeSet<&str> = e["formats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(formats, BTreeSet::from(["text/xml", "application/json"]));

    let root = get_xml(&app, "discovery.xml").await;
    assert_eq!(root.name, "discovery");
    assert_eq!(root.text_of("contact"), defaults.open311.contact);
    assert_eq!(root.text_of("key_service"), defaults.open311.key_service);
    check_datetime(root.text_of("changeset"), "changeset");
    let endpoints = root.child("endpoints").all("endpoint");
    assert_eq!(endpoints.len(), 1);
    let e = endpoints[0];
    assert_eq!(
        e.text_of("specification"),
        "http://wiki.open311.org/GeoReport_v2"
    );
    assert_eq!(e.text_of("url"), format!("{PUBLIC_URL}/open311/v2"));
    assert_eq!(e.text_of("type"), "production");
    let formats: BTreeSet<&str> = e
        .child("formats")
        .all("format")
        .iter()
        .map(|f| f.text.as_str())
        .collect();
    assert_eq!(formats, BTreeSet::from(["text/xml", "application/json"]));
}

// ---------------------------------------------------------------------------------------------
// 2. POST, then read back; the contact is for the handling staff only
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_partner_posts_a_request_that_reads_back_mapped_and_without_its_reporter() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let (key_id, key) = create_key(&app, &admin, "Zalo mini app", "open311").await;
    let email = "tran.bich.open311@example.vn";
    let phone_digits = "987654321";
    let mut fields = request_fields(&key, "road", KA_DO);
    for (k, v) in [
        ("email", email),
        ("phone", "0987654321"),
        ("first_name", "Bích"),
        ("last_name", "Trần Thị"),
        ("device_id", "thiet-bi-42"),
        ("attribute[width]", "3"),
        ("jurisdiction_id", "any.vn"),
    ] {
        set(&mut fields, k, v);
    }
    let post_answer = post_form(&app, "requests.json", &fields, None).await;
    let (id, token) = created(&post_answer);
    assert_eq!(reports(&app).await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM report_contacts").await, 1);

    // The same report through the app's API.
    let report = public_report(&app, &id).await;
    assert_eq!(report["category"], "road");
    assert_eq!(report["area"]["code"], "24943");
    let department = report["department"]["name"].as_str().unwrap().to_owned();

    // Read back through Open311.
    let requests = get_requests(&app, &format!("requests/{id}.json")).await;
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r["service_request_id"], id.as_str());
    assert_eq!(r["service_code"], "road");
    assert_eq!(r["service_name"], "Giao thông, đường sá, cầu cống");
    assert_eq!(r["status"], "open");
    // The latest public note: the routing sentence of the creation.
    let routing = created_note(&app, &id).await;
    assert!(routing.contains("Ka Đô"), "{routing}");
    assert_eq!(r["status_notes"], routing.as_str());
    assert_eq!(r["description"], DESCRIPTION);
    assert_eq!(r["agency_responsible"], department.as_str());
    assert_eq!(r["service_notice"], Value::Null);
    assert_eq!(r["address"], "Thôn Ka Đô Cũ, gần chợ");
    assert_eq!(r["lat"].as_f64().unwrap(), KA_DO.0);
    assert_eq!(r["long"].as_f64().unwrap(), KA_DO.1);
    assert_eq!(r["media_url"], Value::Null);
    let due = instant(report["due_at"].as_str().unwrap());
    let created_at = instant(report["created_at"].as_str().unwrap());
    assert_eq!(
        instant(r["expected_datetime"].as_str().unwrap()).timestamp(),
        due.timestamp()
    );
    assert_eq!(
        instant(r["requested_datetime"].as_str().unwrap()).timestamp(),
        created_at.timestamp()
    );
    // The tracking code reads the same request.
    let by_code = get_requests(&app, &format!("requests/{token}.json")).await;
    assert_eq!(ids_of(&by_code), vec![id.clone()]);

    // And in XML.
    let root = get_xml(&app, &format!("requests/{id}.xml")).await;
    let xml = xml_requests(&root);
    assert_eq!(xml.len(), 1);
    assert_eq!(xml[0].text_of("service_request_id"), id);
    assert_eq!(xml[0].text_of("service_code"), "road");
    assert_eq!(xml[0].text_of("status"), "open");
    assert_eq!(xml[0].text_of("agency_responsible"), department);
    assert_eq!(
        xml[0].text_of("service_notice"),
        "",
        "null is an empty element"
    );
    assert_eq!(xml[0].text_of("status_notes"), routing);
    assert_eq!(xml[0].text_of("media_url"), "");
    assert_eq!(xml[0].text_of("lat").parse::<f64>().unwrap(), KA_DO.0);
    assert_eq!(xml[0].text_of("long").parse::<f64>().unwrap(), KA_DO.1);

    // The token.
    let t = get_json(&app, &format!("tokens/{token}.json")).await;
    assert_eq!(t, json!([{"service_request_id": id, "token": token}]));
    let root = get_xml(&app, &format!("tokens/{token}.xml")).await;
    let xml = xml_requests(&root);
    assert_eq!(xml.len(), 1);
    assert_eq!(xml[0].text_of("service_request_id"), id);
    assert_eq!(xml[0].text_of("token"), token);
    assert_json_error(&fetch(&app, "tokens/ZZZZZZZZZZ.json").await, 404);
    assert_xml_error(&fetch(&app, "tokens/ZZZZZZZZZZ.xml").await, 404);

    // The handling staff see who to contact.
    let staff = account_token(&app, "staff", Some(KINH_TE)).await;
    let resp = get_with(&app, &format!("/api/v1/tickets/{id}"), &staff).await;
    assert_eq!(resp.status(), 200);
    let ticket: Value = resp.json().await.unwrap();
    let reporter = ticket["reporter"].to_string();
    for needle in [email, phone_digits, "Bích", "Trần Thị"] {
        assert!(reporter.contains(needle), "{needle} not in {reporter}");
    }

    // Nobody else does: no Open311 answer nor any public one carries the contact.
    let mut bodies = vec![post_answer.text.clone()];
    for path in [
        format!("requests/{id}.json"),
        format!("requests/{id}.xml"),
        format!("requests/{id}.json?extensions=true"),
        format!("requests/{id}.xml?extensions=true"),
        "requests.json?extensions=true".to_owned(),
        "requests.xml?extensions=true".to_owned(),
        format!("tokens/{token}.json"),
        format!("tokens/{token}.xml"),
        "servicerequestupdates.json".to_owned(),
        "servicerequestupdates.xml".to_owned(),
    ] {
        let a = fetch(&app, &path).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        bodies.push(a.text);
    }
    for path in [
        format!("/api/v1/reports/{id}"),
        format!("/api/v1/reports/{id}/events"),
        format!("/api/v1/reports/by-code/{token}"),
        "/api/v1/reports".to_owned(),
    ] {
        let resp = app.get(&path).await;
        assert_eq!(resp.status(), 200, "{path}");
        bodies.push(resp.text().await.unwrap());
    }
    for body in &bodies {
        for needle in [email, phone_digits, "Bích", "Trần Thị", "thiet-bi-42"] {
            assert!(!body.contains(needle), "{needle} leaked: {body}");
        }
    }
    let listed = get_ids(&app, "requests.json").await;
    assert_eq!(listed, vec![id.clone()]);

    // The key shows as used.
    let resp = get_with(&app, "/api/v1/admin/api-keys", &admin).await;
    assert_eq!(resp.status(), 200);
    let keys: Value = resp.json().await.unwrap();
    let mine = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(mine["purpose"], "open311");
    assert!(mine["last_used_at"].is_string(), "{mine}");
    assert_eq!(mine["revoked_at"], Value::Null);
    assert!(mine.get("key").is_none(), "{mine}");

    // The key also works as a header and as a query parameter; XML answers the same way.
    let resp = app
        .client
        .post(app.url(&o311("requests.xml")))
        .header("X-Api-Key", &key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&without(&fields, "api_key")))
        .send()
        .await
        .unwrap();
    let a = answer(resp, "POST requests.xml with X-Api-Key".into()).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let root = xml_of(&a);
    let xml = xml_requests(&root);
    assert_eq!(xml.len(), 1);
    let second = xml[0].text_of("service_request_id").to_owned();
    uuid::Uuid::parse_str(&second).unwrap();
    assert_eq!(xml[0].text_of("token").len(), 10);
    let resp = app
        .client
        .post(app.url(&o311(&format!("requests.json?api_key={}", encode(&key)))))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&without(&fields, "api_key")))
        .send()
        .await
        .unwrap();
    created(&answer(resp, "POST requests.json?api_key".into()).await);
    assert_eq!(reports(&app).await, 3);
}

// ---------------------------------------------------------------------------------------------
// 3. Refusals
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_refused_post_answers_an_error_and_writes_nothing() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let (_, key) = create_key(&app, &admin, "đối tác", "open311").await;
    let (_, ioc) = create_key(&app, &admin, "IOC", "ioc").await;
    let (revoked_id, revoked) = create_key(&app, &admin, "cũ", "open311").await;
    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/admin/api-keys/{revoked_id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);

    let good = request_fields(&key, "road", KA_DO);
    let mut address_only = without(&without(&good, "lat"), "long");
    set(
        &mut address_only,
        "address_string",
        "Thôn Ka Đô Mới, xã Ka Đô",
    );
    let cases: Vec<(&str, Fields, u16)> = vec![
        ("no api_key", without(&good, "api_key"), 403),
        ("empty api_key", with(&good, "api_key", ""), 403),
        (
            "unknown key",
            with(&good, "api_key", "phk_khong_co_khoa_nay_0123456789abcdef"),
            403,
        ),
        ("ioc key", with(&good, "api_key", &ioc), 403),
        ("revoked key", with(&good, "api_key", &revoked), 403),
        ("address only", address_only, 400),
        ("no service_code", without(&good, "service_code"), 400),
        (
            "unknown service_code",
            with(&good, "service_code", "khong_co"),
            400,
        ),
        ("no description", without(&good, "description"), 400),
        ("blank description", with(&good, "description", "   "), 400),
        (
            "long description",
            with(&good, "description", &"đ".repeat(2001)),
            400,
        ),
        ("lat 91", with(&good, "lat", "91"), 400),
        ("long 181", with(&good, "long", "181"), 400),
        ("lat not a number", with(&good, "lat", "mười một"), 400),
        ("lat NaN", with(&good, "lat", "NaN"), 400),
        ("lat without long", without(&good, "long"), 400),
        // Hà Nội: a real place, but not ours.
        (
            "outside",
            with(&with(&good, "lat", "21.0285"), "long", "105.8542"),
            400,
        ),
        ("bad email", with(&good, "email", "khong-phai-email"), 400),
        ("bad phone", with(&good, "phone", "12345"), 400),
        (
            "media_url not http",
            with(&good, "media_url", "javascript:alert(1)"),
            400,
        ),
        (
            "address too long",
            with(&good, "address_string", &"a".repeat(301)),
            400,
        ),
    ];
    for (what, fields, status) in &cases {
        let a = post_form(&app, "requests.json", fields, None).await;
        let description = assert_json_error(&a, *status);
        if *what == "address only" {
            let d = description.to_lowercase();
            assert!(
                d.contains("lat")
                    || d.contains("coordinat")
                    || d.contains("tọa độ")
                    || d.contains("toạ độ"),
                "{what}: the error says coordinates are required: {description}"
            );
        }
        assert_eq!(reports(&app).await, 0, "{what} wrote a report");
    }
    // The same refusals in XML.
    for (what, fields, status) in &cases[..8] {
        let a = post_form(&app, "requests.xml", fields, None).await;
        assert_xml_error(&a, *status);
        assert_eq!(reports(&app).await, 0, "{what} (xml) wrote a report");
    }
    // An inactive category cannot be posted to.
    app.db
        .client()
        .await
        .execute(
            "UPDATE categories SET active = false WHERE code = 'other'",
            &[],
        )
        .await
        .unwrap();
    let a = post_form(
        &app,
        "requests.json",
        &with(&good, "service_code", "other"),
        None,
    )
    .await;
    assert_json_error(&a, 400);

    assert_eq!(reports(&app).await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM report_events").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM report_contacts").await, 0);

    // The good one, for contrast; with an empty optional field, as if missing.
    post_ok(&app, &with(&good, "email", "")).await;
    assert_eq!(reports(&app).await, 1);
}

// ---------------------------------------------------------------------------------------------
// 4. Photos
// ---------------------------------------------------------------------------------------------

fn multipart(fields: &Fields, file: &std::path::Path, mime: &str) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.clone(), v.clone());
    }
    let part = reqwest::multipart::Part::bytes(std::fs::read(file).unwrap())
        .file_name(file.file_name().unwrap().to_string_lossy().into_owned())
        .mime_str(mime)
        .unwrap();
    form.part("media", part)
}

async fn post_multipart(
    app: &TestApp,
    fields: &Fields,
    file: &std::path::Path,
    mime: &str,
) -> Answer {
    let resp = app
        .client
        .post(app.url(&o311("requests.json")))
        .multipart(multipart(fields, file, mime))
        .send()
        .await
        .unwrap();
    answer(resp, format!("POST requests.json with {}", file.display())).await
}

#[tokio::test]
async fn a_photo_posted_with_a_request_is_its_media_url_and_a_heic_is_refused() {
    let app = spawn_app().await;
    let key = partner_key(&app).await;
    let fields = request_fields(&key, "waste", KA_DO);

    let heic = post_multipart(
        &app,
        &fields,
        &photo("phones/iphone_13_pro_max.HEIC"),
        "image/heic",
    )
    .await;
    assert_json_error(&heic, 400);
    assert_eq!(reports(&app).await, 0);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM media WHERE report_id IS NOT NULL"
        )
        .await,
        0
    );

    let a = post_multipart(&app, &fields, &photo("gps/DSCN0010.jpg"), "image/jpeg").await;
    let (id, _) = created(&a);
    assert_eq!(reports(&app).await, 1);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM media WHERE report_id IS NOT NULL"
        )
        .await,
        1
    );
    let requests = get_requests(&app, &format!("requests/{id}.json?extensions=true")).await;
    let url = requests[0]["media_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(PUBLIC_URL), "{url}");
    let resp = app.client.get(local(&app, &url)).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    assert!(!resp.bytes().await.unwrap().is_empty());
    // The same photo in the app's public view and in the extensions.
    let report = public_report(&app, &id).await;
    assert_eq!(report["photos"].as_array().unwrap().len(), 1);
    let photos = requests[0]["extended_attributes"]["photos"]
        .as_array()
        .unwrap();
    assert_eq!(photos.len(), 1, "{}", requests[0]);
    assert_eq!(photos[0]["url"], report["photos"][0]["url"]);
    assert_eq!(photos[0]["width"], report["photos"][0]["width"]);
    assert_eq!(photos[0]["height"], report["photos"][0]["height"]);
    assert_eq!(
        photos[0]["thumbnail_url"],
        report["photos"][0]["thumbnail_url"]
    );
    let notes = requests[0]["notes"].as_array().unwrap();
    assert_eq!(notes[0]["action"], "created");
    // A partner's media_url is for the staff only: it is not ours to publish.
    let (other, _) = post_ok(
        &app,
        &with(&fields, "media_url", "https://example.org/anh/cong-tac.jpg"),
    )
    .await;
    let r = get_requests(&app, &format!("requests/{other}.json?extensions=true")).await;
    assert_eq!(r[0]["media_url"], Value::Null, "{}", r[0]);
    assert!(!r[0].to_string().contains("example.org"), "{}", r[0]);
}

// ---------------------------------------------------------------------------------------------
// 5. Idempotency
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_retried_post_with_its_idempotency_key_makes_one_request() {
    let app = spawn_app().await;
    let key = partner_key(&app).await;
    let fields = request_fields(&key, "lighting", KA_DO);
    let idem = uuid::Uuid::now_v7().to_string();
    let first = post_form(&app, "requests.json", &fields, Some(&idem)).await;
    let (id, token) = created(&first);
    let second = post_form(&app, "requests.json", &fields, Some(&idem)).await;
    let (again, again_token) = created(&second);
    assert_eq!(again, id);
    assert_eq!(again_token, token);
    assert_eq!(reports(&app).await, 1);
    // Another body under the same key.
    let changed = with(&fields, "description", "Đèn đường tắt cả tuần nay");
    let a = post_form(&app, "requests.json", &changed, Some(&idem)).await;
    assert_json_error(&a, 409);
    let a = post_form(&app, "requests.xml", &changed, Some(&idem)).await;
    assert_xml_error(&a, 409);
    assert_eq!(reports(&app).await, 1);
    // Without the header, the same body is a new request.
    post_ok(&app, &fields).await;
    assert_eq!(reports(&app).await, 2);
}

// ---------------------------------------------------------------------------------------------
// 6. Reading requests: filters, paging, extensions
// ---------------------------------------------------------------------------------------------

/// North of `at` by `metres`.
fn north(at: (f64, f64), metres: f64) -> (f64, f64) {
    (at.0 + metres / 111_320.0, at.1)
}

struct Seeded {
    staff: String,
    /// Citizen reports in Ka Đô: road at the centroid, waste 1 km north, lighting 2 km north.
    road: String,
    waste: String,
    lighting: String,
    /// A `security` report (not public) at the centroid.
    security: String,
    /// An Open311 `water` request in Đơn Dương.
    water: String,
    codes: HashMap<String, String>,
}

const ACCEPT_NOTE: &str = "Đã tiếp nhận, sẽ kiểm tra trong tuần";
const RESOLVE_NOTE: &str = "Đã thu gom rác xong";
const INTERNAL_ACCEPT: &str = "gọi anh Tư bên đội vệ sinh";
const INTERNAL_RESOLVE: &str = "Xe rác số 3 chạy hai chuyến";

/// Newest last: road, waste, lighting, security, water. Nothing resolved yet.
async fn seed(app: &TestApp) -> Seeded {
    let resident = citizen(app).await;
    let mut codes = HashMap::new();
    let mut make = async |category: &str, at: (f64, f64)| {
        let r = submit_ok(app, &resident, &report_body(category, at)).await;
        let id = r["id"].as_str().unwrap().to_owned();
        codes.insert(id.clone(), r["tracking_code"].as_str().unwrap().to_owned());
        id
    };
    let road = make("road", KA_DO).await;
    let waste = make("waste", north(KA_DO, 1000.0)).await;
    let lighting = make("lighting", north(KA_DO, 2000.0)).await;
    let security = make("security", KA_DO).await;
    let key = partner_key(app).await;
    let (water, token) = post_ok(app, &request_fields(&key, "water", DON_DUONG)).await;
    codes.insert(water.clone(), token);
    Seeded {
        staff: account_token(app, "staff", Some(KINH_TE)).await,
        road,
        waste,
        lighting,
        security,
        water,
        codes,
    }
}

/// Accept (public and internal notes) and resolve (public and internal notes).
async fn resolve(app: &TestApp, staff: &str, id: &str) {
    act(
        app,
        staff,
        id,
        json!({"action": "accept", "public_note": ACCEPT_NOTE, "internal_note": INTERNAL_ACCEPT}),
    )
    .await;
    act(
        app,
        staff,
        id,
        json!({"action": "resolve", "public_note": RESOLVE_NOTE, "internal_note": INTERNAL_RESOLVE}),
    )
    .await;
}

fn set_of(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).clone()).collect()
}

fn as_set(ids: Vec<String>) -> BTreeSet<String> {
    ids.into_iter().collect()
}

#[tokio::test]
async fn requests_are_filtered_by_code_status_dates_area_and_paged() {
    let app = spawn_app().await;
    let s = seed(&app).await;
    let mark = Utc::now();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    resolve(&app, &s.staff, &s.waste).await;
    let newest_first = vec![
        s.water.clone(),
        s.lighting.clone(),
        s.waste.clone(),
        s.road.clone(),
    ];

    // Everything public, newest first; the security report nowhere.
    assert_eq!(get_ids(&app, "requests.json").await, newest_first);
    let all = get_requests(&app, "requests.json").await;
    let waste = all
        .iter()
        .find(|r| r["service_request_id"] == s.waste.as_str())
        .unwrap();
    assert_eq!(waste["status"], "closed");
    assert_eq!(waste["status_notes"], RESOLVE_NOTE);
    assert_eq!(waste["service_code"], "waste");
    let road = all
        .iter()
        .find(|r| r["service_request_id"] == s.road.as_str())
        .unwrap();
    assert_eq!(road["status"], "open");
    assert_eq!(
        road["status_notes"],
        created_note(&app, &s.road).await.as_str()
    );
    // Empty parameters are missing ones; unknown ones are ignored.
    assert_eq!(
        get_ids(
            &app,
            "requests.json?status=&service_code=&start_date=&end_date=&page=&page_size=&bbox=&updated_after=&colour=do"
        )
        .await,
        newest_first
    );

    // service_code
    assert_eq!(
        as_set(get_ids(&app, "requests.json?service_code=road,waste").await),
        set_of(&[&s.road, &s.waste])
    );
    assert_eq!(
        get_ids(&app, "requests.json?service_code=water").await,
        vec![s.water.clone()]
    );
    assert_eq!(
        get_ids(&app, "requests.json?service_code=security").await,
        Vec::<String>::new()
    );
    assert_json_error(
        &fetch(&app, "requests.json?service_code=road,khong_co").await,
        400,
    );

    // status
    assert_eq!(
        get_ids(&app, "requests.json?status=open").await,
        [s.water.clone(), s.lighting.clone(), s.road.clone()]
    );
    assert_eq!(
        get_ids(&app, "requests.json?status=closed").await,
        vec![s.waste.clone()]
    );
    assert_eq!(
        get_ids(&app, "requests.json?status=open,closed").await,
        newest_first
    );
    assert_eq!(
        get_ids(&app, "requests.json?status=closed&service_code=road").await,
        Vec::<String>::new()
    );
    for bad in ["status=pending", "status=resolved", "status=open,maybe"] {
        assert_json_error(&fetch(&app, &format!("requests.json?{bad}")).await, 400);
    }
    // A misspelt `extensions` is an error, not a silent "no"; false and 0 are a plain "no".
    assert_json_error(&fetch(&app, "requests.json?extensions=ja").await, 400);
    assert_json_error(
        &fetch(&app, &format!("requests/{}.json?extensions=yes", s.road)).await,
        400,
    );
    assert_eq!(
        get_ids(&app, "requests.json?status=closed&extensions=false").await,
        vec![s.waste.clone()]
    );
    assert_eq!(
        get_ids(&app, "requests.json?status=closed&extensions=0").await,
        vec![s.waste.clone()]
    );

    // Dates on requested_datetime.
    let now = Utc::now();
    let day = chrono::Duration::days(1);
    let window = format!(
        "requests.json?start_date={}&end_date={}",
        q(now - day * 10),
        q(now + day)
    );
    assert_eq!(get_ids(&app, &window).await, newest_first);
    assert_eq!(
        get_ids(&app, &format!("requests.json?start_date={}", q(now + day))).await,
        Vec::<String>::new()
    );
    assert_eq!(
        get_ids(&app, &format!("requests.json?end_date={}", q(now - day))).await,
        Vec::<String>::new()
    );
    assert_eq!(
        get_ids(&app, &format!("requests.json?start_date={}", q(now - day))).await,
        newest_first
    );
    for bad in [
        format!("start_date={}&end_date={}", q(now - day * 100), q(now)),
        format!("start_date={}&end_date={}", q(now), q(now - day)),
        "start_date=hom-qua".to_owned(),
        "end_date=2026-13-45".to_owned(),
    ] {
        assert_json_error(&fetch(&app, &format!("requests.json?{bad}")).await, 400);
        assert_xml_error(&fetch(&app, &format!("requests.xml?{bad}")).await, 400);
    }
    // Exactly 90 days is allowed.
    get_requests(
        &app,
        &format!(
            "requests.json?start_date={}&end_date={}",
            q(now - day * 89),
            q(now + day)
        ),
    )
    .await;

    // updated_after / updated_before on updated_datetime: only the waste report changed since.
    let since = q(mark + chrono::Duration::seconds(1));
    assert_eq!(
        get_ids(&app, &format!("requests.json?updated_after={since}")).await,
        vec![s.waste.clone()]
    );
    assert_eq!(
        as_set(get_ids(&app, &format!("requests.json?updated_before={since}")).await),
        set_of(&[&s.road, &s.lighting, &s.water])
    );
    assert_eq!(
        get_ids(
            &app,
            &format!(
                "requests.json?updated_after={}",
                q(now + chrono::Duration::hours(1))
            )
        )
        .await,
        Vec::<String>::new()
    );
    assert_json_error(
        &fetch(
            &app,
            &format!(
                "requests.json?updated_after={}&updated_before={}",
                q(now),
                q(now - day)
            ),
        )
        .await,
        400,
    );
    // A `+` offset that arrived unencoded (read as a space) is understood.
    let local_since = (mark + chrono::Duration::seconds(1))
        .with_timezone(&FixedOffset::east_opt(7 * 3600).unwrap())
        .to_rfc3339_opts(SecondsFormat::Secs, false);
    assert!(local_since.ends_with("+07:00"));
    assert_eq!(
        get_ids(&app, &format!("requests.json?updated_after={local_since}")).await,
        vec![s.waste.clone()]
    );

    // bbox: only the road report (the security one beside it is never shown).
    let (lat, lon) = KA_DO;
    let bbox = format!(
        "{},{},{},{}",
        lon - 0.001,
        lat - 0.001,
        lon + 0.001,
        lat + 0.001
    );
    assert_eq!(
        get_ids(&app, &format!("requests.json?bbox={bbox}")).await,
        vec![s.road.clone()]
    );
    for bad in ["bbox=1,2,3", "bbox=a,b,c,d", "bbox=108.6,11.7,108.5"] {
        assert_json_error(&fetch(&app, &format!("requests.json?{bad}")).await, 400);
    }

    // Paging: no overlap, no gap.
    let p1 = get_ids(&app, "requests.json?page_size=3").await;
    let p2 = get_ids(&app, "requests.json?page_size=3&page=2").await;
    let p3 = get_ids(&app, "requests.json?page_size=3&page=3").await;
    assert_eq!(p1, newest_first[..3]);
    assert_eq!(p2, newest_first[3..]);
    assert!(p3.is_empty());
    assert_eq!(
        get_ids(&app, "requests.json?page_size=1&page=2").await,
        vec![s.lighting.clone()]
    );
    get_requests(&app, "requests.json?page_size=1000").await;
    for bad in [
        "page_size=0",
        "page_size=1001",
        "page=0",
        "page=-1",
        "page=2000&page_size=1000",
        "page=hai",
        "page_size=x",
        // Checked even beside ids, which override the filters but not their syntax.
        "service_request_id=HN-0000&page=0",
        "service_request_id=HN-0000&status=maybe",
    ] {
        assert_json_error(&fetch(&app, &format!("requests.json?{bad}")).await, 400);
    }

    // XML: the same list.
    let root = get_xml(&app, "requests.xml").await;
    let xml = xml_requests(&root);
    let xml_ids: Vec<String> = xml
        .iter()
        .map(|r| r.text_of("service_request_id").to_owned())
        .collect();
    assert_eq!(xml_ids, newest_first);
    let xml_waste = xml
        .iter()
        .find(|r| r.text_of("service_request_id") == s.waste)
        .unwrap();
    assert_eq!(xml_waste.text_of("status"), "closed");
    assert_eq!(xml_waste.text_of("status_notes"), RESOLVE_NOTE);
    assert_eq!(xml_waste.text_of("service_code"), "waste");
    let root = get_xml(&app, "requests.xml?status=closed&page_size=1").await;
    assert_eq!(xml_requests(&root).len(), 1);

    // English names on request.
    let a = fetch_with(
        &app,
        "requests.json?service_code=waste",
        &[("Accept-Language", "en")],
    )
    .await;
    let english = json_of(&a);
    assert_valid("requests.json", &english, "requests.json (en)");
    assert_eq!(english[0]["service_name"], "Sanitation, waste");

    // The last 90 days by default: an older report needs its dates.
    app.db
        .client()
        .await
        .execute(
            "UPDATE reports SET created_at = now() - interval '100 days' WHERE id = $1",
            &[&uuid::Uuid::parse_str(&s.road).unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(get_ids(&app, "requests.json").await, newest_first[..3]);
    assert_eq!(
        get_ids(
            &app,
            &format!(
                "requests.json?start_date={}&end_date={}",
                q(now - day * 120),
                q(now - day * 60)
            )
        )
        .await,
        vec![s.road.clone()]
    );
    // Only an end date: the 90 days before it.
    assert_eq!(
        get_ids(
            &app,
            &format!("requests.json?end_date={}", q(now - day * 50))
        )
        .await,
        vec![s.road.clone()]
    );
    // Dates only: YYYY-MM-DD, start of that Vietnam day (end_date: its end).
    let vn = FixedOffset::east_opt(7 * 3600).unwrap();
    let today = now.with_timezone(&vn).format("%Y-%m-%d").to_string();
    let week_ago = (now - day * 7)
        .with_timezone(&vn)
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(
        get_ids(
            &app,
            &format!("requests.json?start_date={week_ago}&end_date={today}")
        )
        .await,
        newest_first[..3]
    );
    assert_eq!(
        get_ids(
            &app,
            &format!("requests.json?start_date={today}&end_date={today}")
        )
        .await,
        newest_first[..3]
    );
    let local_now = now
        .with_timezone(&vn)
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    assert_eq!(
        get_ids(&app, &format!("requests.json?end_date={local_now}")).await,
        newest_first[..3]
    );
}

#[tokio::test]
async fn ids_override_filters_private_reports_stay_hidden_and_extensions_show_the_public_timeline()
{
    let app = spawn_app().await;
    let s = seed(&app).await;
    resolve(&app, &s.staff, &s.waste).await;

    // service_request_id: ids or tracking codes, overriding everything else.
    let path = format!(
        "requests.json?service_request_id={},{},{},{},{}&status=closed&service_code=lighting&start_date={}&end_date={}&page_size=1&page=3",
        s.road,
        s.waste,
        s.codes[&s.lighting],
        uuid::Uuid::now_v7(),
        s.security,
        q(Utc::now() - chrono::Duration::days(300)),
        q(Utc::now() - chrono::Duration::days(250)),
    );
    assert_eq!(
        as_set(get_ids(&app, &path).await),
        set_of(&[&s.road, &s.waste, &s.lighting])
    );
    let too_many: Vec<String> = (0..101).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    assert_json_error(
        &fetch(
            &app,
            &format!("requests.json?service_request_id={}", too_many.join(",")),
        )
        .await,
        400,
    );

    // The security report: in no list, at no address.
    for path in [
        format!("requests/{}.json", s.security),
        format!("requests/{}.json", s.codes[&s.security]),
        format!("requests/{}.json?extensions=true", s.security),
        format!("tokens/{}.json", s.codes[&s.security]),
    ] {
        assert_json_error(&fetch(&app, &path).await, 404);
    }
    assert_xml_error(
        &fetch(&app, &format!("requests/{}.xml", s.security)).await,
        404,
    );
    for path in [
        "requests.json?service_request_id=".to_owned() + &s.security,
        "requests.json?service_code=security".to_owned(),
        "requests.json?extensions=true".to_owned(),
        "servicerequestupdates.json".to_owned(),
    ] {
        let a = fetch(&app, &path).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        assert!(!a.text.contains(&s.security), "{path}: {}", a.text);
        assert!(!a.text.contains("\"security\""), "{path}: {}", a.text);
    }
    // Unknown and malformed ids.
    assert_json_error(
        &fetch(&app, &format!("requests/{}.json", uuid::Uuid::now_v7())).await,
        404,
    );
    assert_json_error(&fetch(&app, "requests/khong-phai-id.json").await, 404);
    assert_xml_error(&fetch(&app, "requests/khong-phai-id.xml").await, 404);
    assert_json_error(
        &fetch(&app, &format!("requests/{}.html", s.road)).await,
        404,
    );

    // A single request by its id or tracking code, in the same shape.
    let by_id = get_requests(&app, &format!("requests/{}.json", s.waste)).await;
    let by_code = get_requests(&app, &format!("requests/{}.json", s.codes[&s.waste])).await;
    assert_eq!(by_id, by_code);
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0]["status"], "closed");
    assert_eq!(by_id[0]["status_notes"], RESOLVE_NOTE);
    assert!(by_id[0].get("notes").is_none(), "{}", by_id[0]);

    // extensions=true: the public timeline, the tracking code, never an internal note.
    let report = public_report(&app, &s.waste).await;
    let extended = get_requests(&app, &format!("requests/{}.json?extensions=true", s.waste)).await;
    let r = &extended[0];
    let text = r.to_string();
    assert!(
        !text.contains(INTERNAL_ACCEPT) && !text.contains(INTERNAL_RESOLVE),
        "{text}"
    );
    let notes = r["notes"].as_array().unwrap();
    let actions: Vec<&str> = notes
        .iter()
        .map(|n| n["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["created", "accept", "resolve"]);
    assert_eq!(notes[0]["status"], "open");
    assert_eq!(notes[0]["detailed_status"], "new");
    assert_eq!(
        notes[0]["description"],
        created_note(&app, &s.waste).await.as_str()
    );
    assert_eq!(notes[1]["description"], ACCEPT_NOTE);
    assert_eq!(notes[1]["status"], "open");
    assert_eq!(notes[1]["detailed_status"], "accepted");
    assert_eq!(notes[2]["description"], RESOLVE_NOTE);
    assert_eq!(notes[2]["status"], "closed");
    assert_eq!(notes[2]["detailed_status"], "resolved");
    for n in notes {
        uuid::Uuid::parse_str(n["id"].as_str().unwrap()).unwrap();
        assert_eq!(n["media_url"], Value::Null);
    }
    let ext = &r["extended_attributes"];
    assert_eq!(ext["tracking_code"], s.codes[&s.waste].as_str());
    assert_eq!(ext["detailed_status"], "resolved");
    assert_eq!(ext["area"]["code"], "24943");
    assert_eq!(ext["area"]["name"], "Ka Đô");
    assert_eq!(ext["department"]["id"], report["department"]["id"]);
    assert_eq!(ext["department"]["name"], report["department"]["name"]);
    assert_eq!(r["agency_responsible"], report["department"]["name"]);
    assert_eq!(ext["follower_count"], report["follower_count"]);
    assert_eq!(ext["photos"], json!([]));
    // The list honours it too; without it, neither appears.
    let list = get_requests(&app, "requests.json?extensions=true").await;
    assert!(
        list.iter()
            .all(|r| r["notes"].is_array() && r["extended_attributes"].is_object())
    );
    let plain = get_requests(&app, "requests.json").await;
    assert!(
        plain
            .iter()
            .all(|r| r.get("notes").is_none() && r.get("extended_attributes").is_none())
    );
    assert!(
        !plain
            .iter()
            .any(|r| r.to_string().contains(&s.codes[&s.waste]))
    );

    // In XML.
    let root = get_xml(&app, &format!("requests/{}.xml?extensions=true", s.waste)).await;
    let xml = xml_requests(&root);
    assert_eq!(xml.len(), 1);
    let notes = xml[0].child("notes").all("note");
    assert_eq!(notes.len(), 3);
    assert_eq!(notes[2].text_of("action"), "resolve");
    assert_eq!(notes[2].text_of("description"), RESOLVE_NOTE);
    assert_eq!(notes[1].text_of("description"), ACCEPT_NOTE);
    let ext = xml[0].child("extended_attributes");
    assert_eq!(ext.text_of("tracking_code"), s.codes[&s.waste]);
    assert_eq!(ext.text_of("detailed_status"), "resolved");
    assert!(ext.child("photos").children.is_empty());
    let raw = fetch(&app, "requests.xml?extensions=true").await.text;
    assert!(!raw.contains(INTERNAL_ACCEPT) && !raw.contains(INTERNAL_RESOLVE));
}

// ---------------------------------------------------------------------------------------------
// 7. servicerequestupdates
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn service_request_updates_list_the_public_steps_without_internal_notes() {
    let app = spawn_app().await;
    let s = seed(&app).await;
    resolve(&app, &s.staff, &s.waste).await;
    // Something happening to the security report stays invisible.
    let police = account_token(&app, "staff", Some("24943-cong-an")).await;
    act(
        &app,
        &police,
        &s.security,
        json!({"action": "accept", "public_note": "Công an đã nắm tình hình"}),
    )
    .await;

    let a = fetch(&app, "servicerequestupdates.json").await;
    assert_eq!(a.status, 200, "{}", a.text);
    let updates = json_of(&a);
    let updates = updates.as_array().unwrap();
    assert!(
        !a.text.contains(INTERNAL_ACCEPT) && !a.text.contains(INTERNAL_RESOLVE),
        "{}",
        a.text
    );
    assert!(
        !a.text.contains(&s.security) && !a.text.contains("Công an đã nắm"),
        "{}",
        a.text
    );
    // Only the two steps of the waste report: creations are not updates.
    assert_eq!(updates.len(), 2, "{updates:#?}");
    let u = &updates[0];
    assert_eq!(u["service_request_id"], s.waste.as_str());
    assert_eq!(u["status"], "investigating");
    assert_eq!(u["external_status_code"], "accepted");
    assert_eq!(u["description"], ACCEPT_NOTE);
    assert_eq!(u["media_url"], Value::Null);
    uuid::Uuid::parse_str(u["update_id"].as_str().unwrap()).unwrap();
    let u2 = &updates[1];
    assert_eq!(u2["service_request_id"], s.waste.as_str());
    assert_eq!(u2["status"], "fixed");
    assert_eq!(u2["external_status_code"], "resolved");
    assert_eq!(u2["description"], RESOLVE_NOTE);
    assert_ne!(u2["update_id"], u["update_id"]);
    let t1 = instant(u["updated_datetime"].as_str().unwrap());
    let t2 = instant(u2["updated_datetime"].as_str().unwrap());
    assert!(t1 <= t2, "oldest first");

    // A step without a public note has an empty description.
    act(
        &app,
        &s.staff,
        &s.road,
        json!({"action": "accept", "internal_note": INTERNAL_ACCEPT}),
    )
    .await;
    let updates = get_json(&app, "servicerequestupdates.json").await;
    let last = updates.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["service_request_id"], s.road.as_str());
    assert_eq!(last["status"], "investigating");
    assert_eq!(last["description"], "");
    assert!(!updates.to_string().contains(INTERNAL_ACCEPT));

    // Window and paging.
    let now = Utc::now();
    let day = chrono::Duration::days(1);
    let updates = get_json(
        &app,
        &format!(
            "servicerequestupdates.json?start_date={}&end_date={}",
            q(now + chrono::Duration::hours(1)),
            q(now + chrono::Duration::hours(2))
        ),
    )
    .await;
    assert_eq!(updates, json!([]));
    let page = get_json(&app, "servicerequestupdates.json?page_size=1&page=2").await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["status"], "fixed");
    assert_json_error(
        &fetch(
            &app,
            &format!(
                "servicerequestupdates.json?start_date={}&end_date={}",
                q(now - day * 91),
                q(now)
            ),
        )
        .await,
        400,
    );

    // XML.
    let root = get_xml(&app, "servicerequestupdates.xml").await;
    assert_eq!(root.name, "service_request_updates");
    assert!(root.children.iter().all(|c| c.name == "request_update"));
    assert_eq!(root.children.len(), 3);
    assert_eq!(root.children[0].text_of("status"), "investigating");
    assert_eq!(root.children[0].text_of("description"), ACCEPT_NOTE);
    assert_eq!(root.children[1].text_of("status"), "fixed");
    assert_eq!(root.children[1].text_of("external_status_code"), "resolved");
    assert_eq!(root.children[2].text_of("description"), "");
    let raw = fetch(&app, "servicerequestupdates.xml").await.text;
    assert!(!raw.contains(INTERNAL_ACCEPT) && !raw.contains(INTERNAL_RESOLVE));
}

// ---------------------------------------------------------------------------------------------
// 8. jurisdiction_id
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_configured_jurisdiction_refuses_other_ones() {
    let db = TestDb::new().await;
    let url = db.url.clone();
    let app = spawn_app_with(db, &url, |s| {
        s.open311.jurisdiction_id = Some("dondương.lamdong.gov.vn".into());
    })
    .await;
    let ours = encode("dondương.lamdong.gov.vn");
    for path in [
        "services.json",
        "discovery.json",
        "requests.json",
        "services/road.json",
    ] {
        assert_eq!(fetch(&app, path).await.status, 200, "{path} without");
        let a = fetch(&app, &format!("{path}?jurisdiction_id={ours}")).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        let a = fetch(&app, &format!("{path}?jurisdiction_id=")).await;
        assert_eq!(a.status, 200, "{path} with an empty one: {}", a.text);
        assert_json_error(
            &fetch(&app, &format!("{path}?jurisdiction_id=hanoi.gov.vn")).await,
            404,
        );
    }
    assert_xml_error(
        &fetch(&app, "services.xml?jurisdiction_id=hanoi.gov.vn").await,
        404,
    );

    // On POST too: the wrong one writes nothing.
    let key = partner_key(&app).await;
    let fields = request_fields(&key, "road", KA_DO);
    let a = post_form(
        &app,
        "requests.json",
        &with(&fields, "jurisdiction_id", "hanoi.gov.vn"),
        None,
    )
    .await;
    assert_json_error(&a, 404);
    assert_eq!(reports(&app).await, 0);
    post_ok(
        &app,
        &with(&fields, "jurisdiction_id", "dondương.lamdong.gov.vn"),
    )
    .await;
    post_ok(&app, &fields).await;
    assert_eq!(reports(&app).await, 2);

    // Unconfigured: anything goes.
    let open = spawn_app().await;
    for path in ["services.json", "requests.json", "discovery.xml"] {
        let a = fetch(&open, &format!("{path}?jurisdiction_id=hanoi.gov.vn")).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
    }
}

// ---------------------------------------------------------------------------------------------
// 9. Dates
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn dates_are_vietnam_time_with_their_offset_and_whole_seconds() {
    let app = spawn_app().await;
    let key = partner_key(&app).await;
    let (id, _) = post_ok(&app, &request_fields(&key, "road", KA_DO)).await;
    let report = public_report(&app, &id).await;
    let vn = FixedOffset::east_opt(7 * 3600).unwrap();
    let expect = |field: &str| {
        instant(report[field].as_str().unwrap())
            .with_timezone(&vn)
            .to_rfc3339_opts(SecondsFormat::Secs, false)
    };
    let r = &get_requests(&app, &format!("requests/{id}.json")).await[0];
    assert_eq!(r["requested_datetime"], expect("created_at").as_str());
    assert_eq!(r["expected_datetime"], expect("due_at").as_str());
    assert_eq!(r["updated_datetime"], expect("updated_at").as_str());
    let root = get_xml(&app, &format!("requests/{id}.xml")).await;
    let xml = &xml_requests(&root)[0];
    assert_eq!(xml.text_of("requested_datetime"), expect("created_at"));
    assert_eq!(xml.text_of("expected_datetime"), expect("due_at"));
    assert_eq!(xml.text_of("updated_datetime"), expect("updated_at"));
    // And inside the notes.
    let r = &get_requests(&app, &format!("requests/{id}.json?extensions=true")).await[0];
    check_datetime(r["notes"][0]["datetime"].as_str().unwrap(), "note");
    assert_eq!(r["notes"][0]["datetime"], expect("created_at").as_str());
}

/// The validation itself can fail: formats are checked, the bundled `$ref` is applied.
#[test]
fn the_bundled_schemas_refuse_what_they_must() {
    let good = json!([{
        "service_request_id": "01a229e2-2145-709e-80af-89b47585d9ef",
        "status": "open",
        "service_code": "road",
        "requested_datetime": "2026-11-29T10:00:00+07:00",
        "updated_datetime": null,
        "media_url": null,
        "lat": 11.7394,
        "long": 108.5884,
    }]);
    let validator = |schema: &str| {
        jsonschema::options()
            .should_validate_formats(true)
            .build(&bundled(schema))
            .unwrap()
    };
    let requests = validator("requests.json");
    assert!(requests.is_valid(&good));
    for (field, bad) in [
        ("requested_datetime", json!("2026-11-29 10:00:00")),
        ("requested_datetime", json!("2026-11-29T10:00:00")),
        ("status", json!("new")),
        ("lat", json!("11.7")),
        ("media_url", json!("không phải url")),
    ] {
        let mut v = good.clone();
        v[0][field] = bad.clone();
        assert!(!requests.is_valid(&v), "{field} = {bad}");
    }
    let mut v = good.clone();
    v[0].as_object_mut().unwrap().remove("service_code");
    assert!(!requests.is_valid(&v));
    assert!(!requests.is_valid(&json!({"service_request_id": "x"})));
    let services = validator("services.json");
    assert!(services.is_valid(&json!([{"service_code": "road", "service_name": "Giao thông", "metadata": false, "type": "realtime"}])));
    assert!(!services.is_valid(&json!([{"service_code": "road", "service_name": "Giao thông", "metadata": false, "type": "now"}])));
    let definition = validator("service-definition.json");
    assert!(definition.is_valid(&json!({"service_code": "road", "attributes": []})));
    assert!(!definition.is_valid(&json!({"service_code": "road"})));
}
