//! `phananh synth`: a synthetic history that holds together (places, statuses, timestamps,
//! timelines, working minutes) and leaves the statistics rollup exactly as a rebuild would.

use std::collections::HashMap;

use phananh::domain::{Boundary, Coordinates};
use uuid::Uuid;

use crate::helpers::{TestDb, import_areas, phananh_command, shared_data};

fn synth(db: &TestDb, args: &[&str]) -> std::process::Output {
    let mut all = vec!["synth"];
    all.extend_from_slice(args);
    phananh_command(&all, &[("DATABASE_URL", &db.url)])
        .output()
        .unwrap()
}

#[tokio::test]
async fn synth_writes_a_consistent_history_and_the_rollup_follows_it() {
    let db = TestDb::new().await;
    let out = import_areas(
        &shared_data("boundaries/don-duong-communes.geojson"),
        &db.url,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = synth(&db, &["--reports", "3000", "--seed", "11", "--years", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("3000 reports"), "{stdout}");
    assert!(stderr.contains("synthetic history written"), "{stderr}");

    let c = db.client().await;
    let one = async |sql: &str| -> i64 { c.query_one(sql, &[]).await.unwrap().get(0) };
    assert_eq!(one("SELECT count(*) FROM reports").await, 3000);

    // Every point lies inside the polygon of the area it was routed to.
    let boundaries: HashMap<Uuid, Boundary> = c
        .query(
            "SELECT id, boundary FROM areas WHERE boundary IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let g: serde_json::Value = r.get(1);
            (r.get(0), Boundary::from_geojson(&g).unwrap())
        })
        .collect();
    assert_eq!(boundaries.len(), 4);
    let points = c
        .query("SELECT area_id, lat, lon FROM reports", &[])
        .await
        .unwrap();
    let mut per_area: HashMap<Uuid, usize> = HashMap::new();
    for p in &points {
        let area: Uuid = p.get(0);
        let at = Coordinates {
            lat: p.get(1),
            lon: p.get(2),
        };
        assert!(boundaries[&area].contains(at), "{at:?} is outside its area");
        *per_area.entry(area).or_default() += 1;
    }
    assert_eq!(per_area.len(), 4, "every commune has reports: {per_area:?}");

    // A mix of outcomes: mostly closed, some rejected and duplicates, some still open; some late,
    // some reopened, some rated.
    let statuses: HashMap<String, i64> = c
        .query("SELECT status::text, count(*) FROM reports GROUP BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let n = |s: &str| statuses.get(s).copied().unwrap_or(0);
    assert!(n("closed") > 2000, "{statuses:?}");
    assert!(n("rejected") > 0 && n("duplicate") > 0, "{statuses:?}");
    let open = n("new") + n("accepted") + n("in_progress") + n("on_hold") + n("reopened");
    assert!(open > 0 && n("resolved") > 0, "{statuses:?}");
    let late = one("SELECT count(*) FROM reports WHERE resolved_at > due_at").await;
    let handled = one("SELECT count(*) FROM reports WHERE resolved_at IS NOT NULL").await;
    assert!(
        late * 20 > handled && late * 4 < handled,
        "{late} late of {handled}"
    );
    assert!(one("SELECT count(*) FROM reports WHERE reopen_count > 0").await > 0);
    let rated = one("SELECT count(DISTINCT report_id) FROM report_ratings").await;
    assert!(
        rated * 4 > handled && rated * 2 < handled,
        "{rated} rated of {handled}"
    );
    assert!(one("SELECT count(*) FROM reports WHERE ack_overdue_at IS NOT NULL").await > 0);

    // Columns agree with the status and with each other.
    for (what, sql) in [
        (
            "resolved_at set exactly for resolved and closed reports",
            "SELECT count(*) FROM reports
              WHERE (resolved_at IS NOT NULL) <> (status IN ('resolved', 'closed'))",
        ),
        (
            "working minutes set exactly when accepted_at / resolved_at are",
            "SELECT count(*) FROM reports
              WHERE (accepted_at IS NULL) <> (ack_working_minutes IS NULL)
                 OR (resolved_at IS NULL) <> (resolve_working_minutes IS NULL)",
        ),
        (
            "timestamps in order",
            "SELECT count(*) FROM reports
              WHERE accepted_at <= created_at OR resolved_at <= accepted_at
                 OR closed_at <= resolved_at OR updated_at < created_at OR updated_at > now()
                 OR (closed_at IS NOT NULL) <> (status = 'closed')",
        ),
        (
            "open reports past their deadline are marked overdue",
            "SELECT count(*) FROM reports
              WHERE status IN ('new', 'accepted', 'in_progress', 'on_hold', 'reopened')
                AND due_at < now() - interval '1 hour' AND updated_at < now() - interval '1 hour'
                AND overdue_at IS NULL",
        ),
        (
            "a duplicate points to an earlier report of the same category and area",
            "SELECT count(*) FROM reports d
              WHERE (d.duplicate_of IS NOT NULL) <> (d.status = 'duplicate')
                 OR EXISTS (SELECT 1 FROM reports o WHERE o.id = d.duplicate_of
                             AND (o.created_at >= d.created_at OR o.category_id <> d.category_id
                                  OR o.area_id <> d.area_id OR o.status = 'duplicate'))",
        ),
        (
            "each report's timeline starts with 'created' and ends in its status",
            "SELECT count(*) FROM reports r
              WHERE (SELECT action FROM report_events e WHERE e.report_id = r.id
                      ORDER BY created_at, id LIMIT 1) IS DISTINCT FROM 'created'
                 OR (SELECT to_status FROM report_events e WHERE e.report_id = r.id
                      ORDER BY created_at DESC, id DESC LIMIT 1) IS DISTINCT FROM r.status",
        ),
        (
            "events chain: each starts where the previous ended",
            "SELECT count(*) FROM (
                SELECT from_status, lag(to_status) OVER (PARTITION BY report_id
                                                          ORDER BY created_at, id) AS before
                FROM report_events) x
              WHERE before IS NOT NULL AND from_status IS DISTINCT FROM before",
        ),
        (
            "ratings only of resolutions that happened",
            "SELECT count(*) FROM report_ratings g JOIN reports r ON r.id = g.report_id
              WHERE g.cycle > r.reopen_count OR g.user_id IS DISTINCT FROM r.reporter_id",
        ),
    ] {
        assert_eq!(one(sql).await, 0, "{what}");
    }

    // The rollup the triggers kept equals one computed from scratch.
    let rollup = one(
        "SELECT coalesce(sum(n), 0)::bigint FROM stats_rollup WHERE grain = 'y' \
             AND area_id = '00000000-0000-0000-0000-000000000000' \
             AND category_id = '00000000-0000-0000-0000-000000000000' \
             AND department_id = '00000000-0000-0000-0000-000000000000'",
    )
    .await;
    assert_eq!(rollup, 3000);
    for sql in [
        "SELECT count(*) FROM (SELECT * FROM stats_rollup WHERE n <> 0
                               EXCEPT SELECT * FROM stats_rollup_from_scratch WHERE n <> 0) x",
        "SELECT count(*) FROM (SELECT * FROM stats_rollup_from_scratch WHERE n <> 0
                               EXCEPT SELECT * FROM stats_rollup WHERE n <> 0) x",
    ] {
        assert_eq!(one(sql).await, 0, "{sql}");
    }

    // The same seed again would repeat the same reports: refused, nothing written.
    let out = synth(&db, &["--reports", "3000", "--seed", "11", "--years", "1"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("choose another --seed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(one("SELECT count(*) FROM reports").await, 3000);
}
