// @generated automatically by Diesel CLI.

pub mod sql_types {
    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "api_key_purpose"))]
    pub struct ApiKeyPurpose;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "area_kind"))]
    pub struct AreaKind;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "deadline_unit"))]
    pub struct DeadlineUnit;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "department_kind"))]
    pub struct DepartmentKind;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "device_platform"))]
    pub struct DevicePlatform;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "holiday_kind"))]
    pub struct HolidayKind;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "media_status"))]
    pub struct MediaStatus;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "outbox_kind"))]
    pub struct OutboxKind;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "outbox_status"))]
    pub struct OutboxStatus;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "report_status"))]
    pub struct ReportStatus;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "user_role"))]
    pub struct UserRole;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "user_status"))]
    pub struct UserStatus;
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::ApiKeyPurpose;

    api_keys (id) {
        id -> Uuid,
        name -> Text,
        key_hash -> Bytea,
        prefix -> Text,
        purpose -> ApiKeyPurpose,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::UserRole;

    audit_log (id) {
        id -> Uuid,
        at -> Timestamptz,
        actor_id -> Nullable<Uuid>,
        actor_role -> Nullable<UserRole>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Nullable<Text>,
        report_id -> Nullable<Uuid>,
        subject_user_id -> Nullable<Uuid>,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::AreaKind;

    areas (id) {
        id -> Uuid,
        code -> Text,
        name -> Text,
        full_name -> Nullable<Text>,
        name_en -> Nullable<Text>,
        kind -> AreaKind,
        valid_from -> Date,
        valid_to -> Nullable<Date>,
        successor_id -> Nullable<Uuid>,
        boundary -> Nullable<Jsonb>,
        centroid_lat -> Float8,
        centroid_lon -> Float8,
        bbox_min_lon -> Nullable<Float8>,
        bbox_min_lat -> Nullable<Float8>,
        bbox_max_lon -> Nullable<Float8>,
        bbox_max_lat -> Nullable<Float8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::DeadlineUnit;

    categories (id) {
        id -> Uuid,
        code -> Text,
        name_vi -> Text,
        name_en -> Text,
        description -> Text,
        deadline_amount -> Int4,
        deadline_unit -> DeadlineUnit,
        urgent -> Bool,
        public -> Bool,
        active -> Bool,
        sort_order -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::DepartmentKind;

    departments (id) {
        id -> Uuid,
        code -> Text,
        name -> Text,
        kind -> DepartmentKind,
        area_id -> Nullable<Uuid>,
        email -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    deployment_facts (key) {
        key -> Text,
        value -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::HolidayKind;

    holidays (day) {
        day -> Date,
        kind -> HolidayKind,
        name -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    routing_rules (id) {
        id -> Uuid,
        category_id -> Nullable<Uuid>,
        area_id -> Nullable<Uuid>,
        department_id -> Uuid,
        priority -> Int4,
        active -> Bool,
        note -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        number -> Int4,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::DevicePlatform;

    devices (id) {
        id -> Uuid,
        user_id -> Uuid,
        fcm_token -> Text,
        platform -> DevicePlatform,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::{OutboxKind, OutboxStatus};

    outbox (id) {
        id -> Uuid,
        kind -> OutboxKind,
        payload -> Jsonb,
        status -> OutboxStatus,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        delivered_at -> Nullable<Timestamptz>,
        dedup_key -> Nullable<Text>,
    }
}

diesel::table! {
    login_attempts (login_key) {
        login_key -> Bytea,
        failures -> Int4,
        window_start -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    password_resets (id) {
        id -> Uuid,
        user_id -> Uuid,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Uuid,
        session_id -> Uuid,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        last_used_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        revoke_reason -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::{UserRole, UserStatus};

    users (id) {
        id -> Uuid,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        full_name -> Text,
        password_hash -> Nullable<Text>,
        role -> UserRole,
        department_id -> Nullable<Uuid>,
        status -> UserStatus,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        push_enabled -> Bool,
        email_mode -> Text,
    }
}

diesel::table! {
    digest_runs (user_id, day) {
        user_id -> Uuid,
        day -> Date,
        outbox_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    idempotency_keys (owner_id, scope, key) {
        owner_id -> Uuid,
        scope -> Text,
        key -> Text,
        request_hash -> Bytea,
        status_code -> Nullable<Int2>,
        response -> Nullable<Jsonb>,
        resource_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::MediaStatus;

    media (id) {
        id -> Uuid,
        owner_id -> Nullable<Uuid>,
        report_id -> Nullable<Uuid>,
        event_id -> Nullable<Uuid>,
        status -> MediaStatus,
        source_format -> Text,
        width -> Int4,
        height -> Int4,
        bytes -> Int8,
        sha256 -> Bytea,
        display_key -> Text,
        display_width -> Int4,
        display_height -> Int4,
        display_bytes -> Int8,
        thumbnail_key -> Text,
        thumbnail_width -> Int4,
        thumbnail_height -> Int4,
        thumbnail_bytes -> Int8,
        idempotency_key -> Nullable<Text>,
        position -> Int2,
        created_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
        from_staff -> Bool,
        redaction -> Nullable<Text>,
        redacted_at -> Nullable<Timestamptz>,
        redacted_by -> Nullable<Uuid>,
        original_display_key -> Nullable<Text>,
        original_thumbnail_key -> Nullable<Text>,
    }
}

diesel::table! {
    report_contacts (report_id) {
        report_id -> Uuid,
        api_key_id -> Nullable<Uuid>,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        media_url -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::{ReportStatus, UserRole};

    report_events (id) {
        id -> Uuid,
        report_id -> Uuid,
        area_id -> Uuid,
        actor_id -> Nullable<Uuid>,
        actor_role -> Nullable<UserRole>,
        action -> Text,
        from_status -> Nullable<ReportStatus>,
        to_status -> ReportStatus,
        public_note -> Nullable<Text>,
        internal_note -> Nullable<Text>,
        created_at -> Timestamptz,
        details -> Nullable<Jsonb>,
    }
}

diesel::table! {
    report_followers (report_id, user_id) {
        report_id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    report_ratings (report_id, cycle) {
        report_id -> Uuid,
        cycle -> Int4,
        user_id -> Nullable<Uuid>,
        score -> Int2,
        comment -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::ReportStatus;

    reports (id) {
        id -> Uuid,
        tracking_code -> Text,
        reporter_id -> Nullable<Uuid>,
        anonymous -> Bool,
        category_id -> Uuid,
        area_id -> Uuid,
        department_id -> Uuid,
        routing_rule_id -> Nullable<Uuid>,
        routing_reason -> Text,
        status -> ReportStatus,
        description -> Text,
        address -> Nullable<Text>,
        lat -> Float8,
        lon -> Float8,
        accuracy_m -> Nullable<Float8>,
        consent_version -> Text,
        consent_at -> Timestamptz,
        due_at -> Timestamptz,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        assignee_id -> Nullable<Uuid>,
        duplicate_of -> Nullable<Uuid>,
        ack_due_at -> Timestamptz,
        accepted_at -> Nullable<Timestamptz>,
        ack_overdue_at -> Nullable<Timestamptz>,
        overdue_at -> Nullable<Timestamptz>,
        extended_at -> Nullable<Timestamptz>,
        resolved_at -> Nullable<Timestamptz>,
        closed_at -> Nullable<Timestamptz>,
        reopen_count -> Int4,
        follower_count -> Int4,
        ack_working_minutes -> Nullable<Int4>,
        resolve_working_minutes -> Nullable<Int4>,
        hidden_at -> Nullable<Timestamptz>,
        hidden_reason -> Nullable<Text>,
        hidden_by -> Nullable<Uuid>,
        contact_erased_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        // search_text (generated, queried by name in SQL only) is left out
    }
}

diesel::joinable!(departments -> areas (area_id));
diesel::joinable!(report_contacts -> api_keys (api_key_id));
diesel::joinable!(report_contacts -> reports (report_id));
diesel::joinable!(media -> report_events (event_id));
diesel::joinable!(media -> reports (report_id));
diesel::joinable!(media -> users (owner_id));
diesel::joinable!(report_events -> areas (area_id));
diesel::joinable!(report_events -> reports (report_id));
diesel::joinable!(report_events -> users (actor_id));
diesel::joinable!(report_followers -> reports (report_id));
diesel::joinable!(report_followers -> users (user_id));
diesel::joinable!(report_ratings -> reports (report_id));
diesel::joinable!(report_ratings -> users (user_id));
diesel::joinable!(reports -> areas (area_id));
diesel::joinable!(reports -> categories (category_id));
diesel::joinable!(reports -> departments (department_id));
diesel::joinable!(reports -> routing_rules (routing_rule_id));
diesel::joinable!(reports -> users (reporter_id));
diesel::joinable!(routing_rules -> areas (area_id));
diesel::joinable!(routing_rules -> categories (category_id));
diesel::joinable!(routing_rules -> departments (department_id));
diesel::joinable!(devices -> users (user_id));
diesel::joinable!(digest_runs -> users (user_id));
diesel::joinable!(password_resets -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(users -> departments (department_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    audit_log,
    areas,
    categories,
    departments,
    deployment_facts,
    devices,
    digest_runs,
    holidays,
    idempotency_keys,
    login_attempts,
    media,
    outbox,
    password_resets,
    refresh_tokens,
    report_contacts,
    report_events,
    report_followers,
    report_ratings,
    reports,
    routing_rules,
    sessions,
    users,
);
