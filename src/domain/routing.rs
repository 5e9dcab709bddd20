//! Where a report goes: the area (commune) a point lies in, and the routing rule that names the
//! department. Pure: the caller loads areas and rules; this decides.
//!
//! Point-in-area: areas with a boundary are tested by bounding box first (a few comparisons) and
//! only then by polygon containment; areas without one are matched to the nearest centroid
//! within a configured distance. Only areas valid on the report's date take part.

use chrono::NaiveDate;
use uuid::Uuid;

use super::geometry::{Boundary, BoundingBox, Coordinates};

/// One area as routing sees it.
#[derive(Debug, Clone)]
pub struct AreaShape {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub centroid: Coordinates,
    pub boundary: Option<(Boundary, BoundingBox)>,
}

impl AreaShape {
    /// The bounding box is derived from the boundary, so the two cannot disagree.
    pub fn new(
        id: Uuid,
        code: String,
        name: String,
        valid: (NaiveDate, Option<NaiveDate>),
        centroid: Coordinates,
        boundary: Option<Boundary>,
    ) -> Self {
        AreaShape {
            id,
            code,
            name,
            valid_from: valid.0,
            valid_to: valid.1,
            centroid,
            boundary: boundary.map(|b| {
                let bbox = b.bbox();
                (b, bbox)
            }),
        }
    }

    /// An area read from a GeoJSON import, in force since `valid_from` (tests and benchmarks).
    pub fn from_import(area: &super::area_import::AreaImport, valid_from: NaiveDate) -> Self {
        AreaShape::new(
            Uuid::now_v7(),
            area.code.as_str().to_owned(),
            area.name.clone(),
            (valid_from, None),
            area.boundary.centroid(),
            Some(area.boundary.clone()),
        )
    }
}

/// How a point was placed in an area.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    Inside,
    /// No boundary known: the nearest centroid, this far away.
    NearestCentroid {
        distance_m: f64,
    },
}

impl Placement {
    /// What a routing reason says about it: nothing when inside, the distance otherwise.
    pub fn note(&self) -> Option<String> {
        match self {
            Placement::Inside => None,
            Placement::NearestCentroid { distance_m } => Some(format!(
                "gần trung tâm nhất, cách {:.1} km",
                distance_m / 1000.0
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Located<'a> {
    pub area: &'a AreaShape,
    pub placement: Placement,
}

/// All areas, ready for lookups.
#[derive(Debug, Clone, Default)]
pub struct AreaIndex {
    areas: Vec<AreaShape>,
}

impl AreaIndex {
    pub fn new(areas: Vec<AreaShape>) -> Self {
        Self { areas }
    }

    pub fn len(&self) -> usize {
        self.areas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.areas.is_empty()
    }

    /// The area containing `at` on `day`; failing that, the nearest boundary-less area within
    /// `max_centroid_m`.
    pub fn locate(
        &self,
        at: Coordinates,
        day: NaiveDate,
        max_centroid_m: f64,
    ) -> Option<Located<'_>> {
        let valid = |a: &&AreaShape| a.valid_from <= day && a.valid_to.is_none_or(|end| day < end);
        let inside = self.areas.iter().filter(valid).find(|a| match &a.boundary {
            Some((shape, bbox)) => in_bbox(bbox, at) && shape.contains(at),
            None => false,
        });
        if let Some(area) = inside {
            return Some(Located {
                area,
                placement: Placement::Inside,
            });
        }
        self.areas
            .iter()
            .filter(valid)
            .filter(|a| a.boundary.is_none())
            .map(|a| (a, distance_m(a.centroid, at)))
            .filter(|(_, d)| *d <= max_centroid_m)
            .min_by(|x, y| x.1.total_cmp(&y.1))
            .map(|(area, distance_m)| Located {
                area,
                placement: Placement::NearestCentroid { distance_m },
            })
    }
}

fn in_bbox(b: &BoundingBox, at: Coordinates) -> bool {
    b.min_lon <= at.lon && at.lon <= b.max_lon && b.min_lat <= at.lat && at.lat <= b.max_lat
}

/// Great-circle distance (haversine, mean Earth radius).
pub fn distance_m(a: Coordinates, b: Coordinates) -> f64 {
    const R: f64 = 6_371_008.8;
    let (p1, p2) = (a.lat.to_radians(), b.lat.to_radians());
    let dp = (b.lat - a.lat).to_radians();
    let dl = (b.lon - a.lon).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * R * h.sqrt().asin()
}

/// A routing rule as routing sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: Uuid,
    pub category_id: Option<Uuid>,
    pub area_id: Option<Uuid>,
    pub department_id: Uuid,
    pub priority: i32,
}

impl Rule {
    fn matches(&self, category: Uuid, area: Uuid) -> bool {
        self.category_id.is_none_or(|c| c == category) && self.area_id.is_none_or(|a| a == area)
    }

    /// Both set beats one set beats neither; category-only and area-only tie on this.
    fn specificity(&self) -> u8 {
        u8::from(self.category_id.is_some()) + u8::from(self.area_id.is_some())
    }
}

/// The rule that decides: most specific first, then higher priority, then a category-specific
/// rule over an area-specific one, then the oldest (smallest UUIDv7) for a stable answer.
pub fn choose_rule(rules: &[Rule], category: Uuid, area: Uuid) -> Option<&Rule> {
    rules
        .iter()
        .filter(|r| r.matches(category, area))
        .max_by(|a, b| {
            a.specificity()
                .cmp(&b.specificity())
                .then(a.priority.cmp(&b.priority))
                .then(a.category_id.is_some().cmp(&b.category_id.is_some()))
                .then(b.id.cmp(&a.id))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::area_import::parse_feature_collection;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
    }

    fn real_index() -> AreaIndex {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/data/boundaries/lam-dong-communes.geojson"
        );
        let bytes = std::fs::read(path).expect("shared boundaries");
        let areas = parse_feature_collection(&bytes).unwrap();
        let since = NaiveDate::from_ymd_opt(2025, 7, 1).unwrap();
        AreaIndex::new(
            areas
                .iter()
                .map(|a| AreaShape::from_import(a, since))
                .collect(),
        )
    }

    #[test]
    fn points_inside_each_real_commune_find_it() {
        let index = real_index();
        assert_eq!(index.len(), 124);
        for area in &index.areas {
            let (shape, _) = area.boundary.as_ref().unwrap();
            let at = shape.interior_point();
            let found = index.locate(at, day(), 0.0).unwrap();
            assert_eq!(found.area.code, area.code, "{} ({at:?})", area.name);
            assert_eq!(found.placement, Placement::Inside);
        }
        // The sea off the coast of Lâm Đồng is in no commune.
        assert!(
            index
                .locate(Coordinates::parse(10.0, 109.5).unwrap(), day(), 0.0)
                .is_none()
        );
        // Before the reorganisation nothing was in force.
        let before = NaiveDate::from_ymd_opt(2025, 6, 30).unwrap();
        let ka_do = index.areas.iter().find(|a| a.code == "24943").unwrap();
        assert!(index.locate(ka_do.centroid, before, 0.0).is_none());
    }

    #[test]
    fn nearest_centroid_within_the_limit_for_areas_without_boundaries() {
        let shape = |code: &str, lat: f64, lon: f64| AreaShape {
            id: Uuid::now_v7(),
            code: code.into(),
            name: code.into(),
            valid_from: NaiveDate::from_ymd_opt(2025, 7, 1).unwrap(),
            valid_to: None,
            centroid: Coordinates::parse(lat, lon).unwrap(),
            boundary: None,
        };
        let index = AreaIndex::new(vec![
            shape("24931", 11.7306, 108.4533),
            shape("24943", 11.7394, 108.5884),
        ]);
        let near_ka_do = Coordinates::parse(11.74, 108.58).unwrap();
        let found = index.locate(near_ka_do, day(), 15_000.0).unwrap();
        assert_eq!(found.area.code, "24943");
        let Placement::NearestCentroid { distance_m } = found.placement else {
            panic!()
        };
        assert!((800.0..1_100.0).contains(&distance_m), "{distance_m}");
        // Too far from every centroid: outside the jurisdiction.
        assert!(
            index
                .locate(Coordinates::parse(12.5, 108.0).unwrap(), day(), 15_000.0)
                .is_none()
        );
    }

    #[test]
    fn the_most_specific_rule_wins_then_priority() {
        let (cat, area, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let rule = |c: Option<Uuid>, a: Option<Uuid>, p: i32| Rule {
            id: Uuid::now_v7(),
            category_id: c,
            area_id: a,
            department_id: Uuid::now_v7(),
            priority: p,
        };
        let catch_all = rule(None, None, 0);
        let by_area = rule(None, Some(area), 0);
        let by_category = rule(Some(cat), None, 0);
        let exact = rule(Some(cat), Some(area), 0);
        let rules = vec![
            catch_all.clone(),
            by_area.clone(),
            by_category.clone(),
            exact.clone(),
        ];
        assert_eq!(choose_rule(&rules, cat, area), Some(&exact));
        assert_eq!(
            choose_rule(&rules[..3], cat, area),
            Some(&by_category),
            "category beats area at equal priority"
        );
        let urgent_area = rule(None, Some(area), 5);
        let rules2 = vec![catch_all.clone(), urgent_area.clone(), by_category.clone()];
        assert_eq!(
            choose_rule(&rules2, cat, area),
            Some(&urgent_area),
            "priority breaks the tie"
        );
        assert_eq!(choose_rule(&rules, cat, other), Some(&by_category));
        assert_eq!(choose_rule(&rules, Uuid::now_v7(), other), Some(&catch_all));
        assert_eq!(choose_rule(&[], cat, area), None);
    }

    #[test]
    fn distances_are_right() {
        // One degree of latitude is about 111.2 km.
        let d = distance_m(
            Coordinates::parse(11.0, 108.0).unwrap(),
            Coordinates::parse(12.0, 108.0).unwrap(),
        );
        assert!((111_000.0..111_400.0).contains(&d), "{d}");
    }
}
