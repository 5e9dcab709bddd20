//! Every migration applies on an empty database, reverts with its down.sql, and applies again.

use crate::helpers::TestDb;

#[tokio::test]
async fn every_migration_reverts_cleanly_and_reapplies() {
    let db = TestDb::empty().await;
    let total = phananh::db::embedded_migration_versions().len();
    assert!(total > 0);
    assert_eq!(phananh::db::run_migrations(&db.url).await.unwrap(), total);
    assert_eq!(
        phananh::db::run_migrations(&db.url).await.unwrap(),
        0,
        "idempotent"
    );
    for _ in 0..total {
        phananh::db::revert_last_migration(&db.url).await.unwrap();
    }
    // Nothing of ours is left behind: no tables, no types, no functions.
    let client = db.client().await;
    let leftovers: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations')
                  + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                      WHERE n.nspname = 'public' AND t.typtype = 'e')
                  + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                      WHERE n.nspname = 'public')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(leftovers, 0);
    assert_eq!(phananh::db::run_migrations(&db.url).await.unwrap(), total);
}

#[tokio::test]
async fn start_up_seeds_an_empty_database_once_and_seed_fills_gaps_only() {
    let db = TestDb::empty().await;
    phananh::startup::prepare_database(&db.url).await.unwrap();
    let client = db.client().await;
    let count = |sql: &'static str| {
        let client = &client;
        async move { client.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(count("SELECT count(*) FROM categories").await, 18);
    assert_eq!(count("SELECT count(*) FROM areas").await, 4);
    assert_eq!(count("SELECT count(*) FROM departments").await, 17);
    assert_eq!(count("SELECT count(*) FROM routing_rules").await, 73);

    // An admin removes a category and renames another: a restart does not undo it...
    client.batch_execute("DELETE FROM categories WHERE code = 'culture'; UPDATE categories SET name_en = 'Streets' WHERE code = 'road'").await.unwrap();
    phananh::startup::prepare_database(&db.url).await.unwrap();
    assert_eq!(count("SELECT count(*) FROM categories").await, 17);

    // ...while `phananh seed` restores what is missing and leaves the rest alone.
    let mut conn = phananh::db::connect(&db.url).await.unwrap();
    let summary = phananh::db::seed::apply(&mut conn).await.unwrap();
    assert_eq!(summary.categories, 1);
    assert_eq!(
        summary.routing_rules, 4,
        "the removed category's rules come back with it"
    );
    assert_eq!(summary.areas + summary.departments, 0);
    assert_eq!(count("SELECT count(*) FROM categories").await, 18);
    let name: String = client
        .query_one("SELECT name_en FROM categories WHERE code = 'road'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, "Streets");
    let again = phananh::db::seed::apply(&mut conn).await.unwrap();
    assert_eq!(again.total(), 0, "idempotent");
}
