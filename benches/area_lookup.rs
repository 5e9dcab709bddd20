//! Point-in-commune lookup over Lâm Đồng's 124 communes (real boundaries from ../shared/data):
//! the cost routing adds to every report.
//!
//!     cargo bench --bench area_lookup

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use phananh::domain::Coordinates;
use phananh::domain::area_import::parse_feature_collection;
use phananh::domain::routing::{AreaIndex, AreaShape};

fn index() -> AreaIndex {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/boundaries/lam-dong-communes.geojson"
    );
    let areas = parse_feature_collection(&std::fs::read(path).expect("shared boundaries")).unwrap();
    let since = NaiveDate::from_ymd_opt(2025, 7, 1).unwrap();
    AreaIndex::new(
        areas
            .iter()
            .map(|a| AreaShape::from_import(a, since))
            .collect(),
    )
}

fn bench(c: &mut Criterion) {
    let index = index();
    let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
    // A fixed spread of points over the province's bounding box (inside and outside communes).
    let points: Vec<Coordinates> = (0..1000)
        .map(|i| {
            let f = |k: u64| ((i as u64 * k) % 1000) as f64 / 1000.0;
            Coordinates::parse(10.5 + 2.0 * f(389), 107.0 + 2.5 * f(617)).unwrap()
        })
        .collect();
    let ka_do = Coordinates::parse(11.7394, 108.5884).unwrap();
    c.bench_function("locate one point in Ka Đô (124 communes)", |b| {
        b.iter(|| index.locate(std::hint::black_box(ka_do), day, 0.0))
    });
    c.bench_function("locate 1000 spread points (124 communes)", |b| {
        b.iter(|| {
            points
                .iter()
                .filter(|p| index.locate(**p, day, 0.0).is_some())
                .count()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
