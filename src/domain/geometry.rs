//! Points, boxes and commune boundaries (WGS84). Boundaries are held as `geo` multipolygons so
//! routing can test containment; they are read from and written to GeoJSON (RFC 7946) geometry.

use geo::{Area, BoundingRect, Centroid};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

/// A checked WGS84 position: finite, latitude in [-90, 90], longitude in [-180, 180].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Coordinates {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoordinateError {
    #[error("latitude must be a finite number between -90 and 90")]
    Latitude,
    #[error("longitude must be a finite number between -180 and 180")]
    Longitude,
}

impl Coordinates {
    pub fn parse(lat: f64, lon: f64) -> Result<Self, CoordinateError> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(CoordinateError::Latitude);
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(CoordinateError::Longitude);
        }
        Ok(Self { lat, lon })
    }
}

/// `[min_lon, min_lat, max_lon, max_lat]`, the RFC 7946 order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct BoundingBox {
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
}

impl BoundingBox {
    pub fn to_array(self) -> [f64; 4] {
        [self.min_lon, self.min_lat, self.max_lon, self.max_lat]
    }
}

/// A commune's boundary: one or more polygons with holes, every position checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Boundary(geo::MultiPolygon<f64>);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct BoundaryError(pub String);

/// Bound on the work one boundary can cause (the detailed Đơn Dương communes have ≈4 500).
const MAX_VERTICES: usize = 2_000_000;

#[derive(Deserialize)]
struct RawGeometry {
    #[serde(rename = "type")]
    kind: String,
    coordinates: Value,
}

impl Boundary {
    /// Reads a GeoJSON `Polygon` or `MultiPolygon` geometry object.
    pub fn from_geojson(geometry: &Value) -> Result<Self, BoundaryError> {
        let raw = RawGeometry::deserialize(geometry).map_err(|_| {
            BoundaryError("geometry must be an object with \"type\" and \"coordinates\"".into())
        })?;
        let mut budget = MAX_VERTICES;
        let polygons = match raw.kind.as_str() {
            "Polygon" => vec![polygon(&raw.coordinates, &mut budget)?],
            "MultiPolygon" => {
                let list = raw.coordinates.as_array().ok_or_else(|| {
                    BoundaryError("MultiPolygon coordinates must be an array of polygons".into())
                })?;
                if list.is_empty() {
                    return Err(BoundaryError("MultiPolygon has no polygons".into()));
                }
                list.iter()
                    .map(|p| polygon(p, &mut budget))
                    .collect::<Result<Vec<_>, _>>()?
            }
            other => {
                return Err(BoundaryError(format!(
                    "geometry type {other:?} is not a boundary: expected Polygon or MultiPolygon"
                )));
            }
        };
        let boundary = Boundary(geo::MultiPolygon(polygons));
        if boundary.0.unsigned_area() <= 0.0 || boundary.0.centroid().is_none() {
            return Err(BoundaryError("the boundary encloses no area".into()));
        }
        Ok(boundary)
    }

    /// As a GeoJSON MultiPolygon geometry object.
    pub fn to_geojson(&self) -> Value {
        let polygons: Vec<Value> = self
            .0
            .iter()
            .map(|p| {
                let rings: Vec<Value> = std::iter::once(p.exterior())
                    .chain(p.interiors())
                    .map(|ring| Value::Array(ring.coords().map(|c| json!([c.x, c.y])).collect()))
                    .collect();
                Value::Array(rings)
            })
            .collect();
        json!({"type": "MultiPolygon", "coordinates": polygons})
    }

    pub fn centroid(&self) -> Coordinates {
        let c = self
            .0
            .centroid()
            .unwrap_or_else(|| geo::Point::new(0.0, 0.0));
        Coordinates {
            lat: c.y(),
            lon: c.x(),
        }
    }

    pub fn bbox(&self) -> BoundingBox {
        match self.0.bounding_rect() {
            Some(r) => BoundingBox {
                min_lon: r.min().x,
                min_lat: r.min().y,
                max_lon: r.max().x,
                max_lat: r.max().y,
            },
            None => BoundingBox {
                min_lon: 0.0,
                min_lat: 0.0,
                max_lon: 0.0,
                max_lat: 0.0,
            },
        }
    }

    /// A point guaranteed to lie inside (unlike the centroid of a crescent-shaped commune).
    pub fn interior_point(&self) -> Coordinates {
        use geo::InteriorPoint;
        let p = self
            .0
            .interior_point()
            .unwrap_or_else(|| geo::Point::new(0.0, 0.0));
        Coordinates {
            lat: p.y(),
            lon: p.x(),
        }
    }

    /// Inside or on the edge. A point on the border two communes share (phones send the same
    /// 6 decimals the boundary files use) belongs to one of them, never to neither.
    pub fn contains(&self, at: Coordinates) -> bool {
        use geo::Intersects;
        self.0.intersects(&geo::Point::new(at.lon, at.lat))
    }

    /// Enclosed area in square degrees: only for comparing communes of one region.
    pub fn area_sq_deg(&self) -> f64 {
        self.0.unsigned_area()
    }

    pub fn vertex_count(&self) -> usize {
        self.0
            .iter()
            .map(|p| p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>())
            .sum()
    }
}

fn polygon(value: &Value, budget: &mut usize) -> Result<geo::Polygon<f64>, BoundaryError> {
    let rings = value
        .as_array()
        .ok_or_else(|| BoundaryError("a polygon must be an array of linear rings".into()))?;
    if rings.is_empty() {
        return Err(BoundaryError("a polygon needs an exterior ring".into()));
    }
    let mut parsed = rings
        .iter()
        .map(|r| ring(r, budget))
        .collect::<Result<Vec<_>, _>>()?;
    let exterior = parsed.remove(0);
    Ok(geo::Polygon::new(exterior, parsed))
}

fn ring(value: &Value, budget: &mut usize) -> Result<geo::LineString<f64>, BoundaryError> {
    let positions = value
        .as_array()
        .ok_or_else(|| BoundaryError("a linear ring must be an array of positions".into()))?;
    if positions.len() < 4 {
        return Err(BoundaryError(
            "a linear ring needs at least four positions".into(),
        ));
    }
    if positions.len() > *budget {
        return Err(BoundaryError(format!(
            "boundary has more than {MAX_VERTICES} vertices"
        )));
    }
    *budget -= positions.len();
    let coords = positions
        .iter()
        .map(|p| {
            let nums = p
                .as_array()
                .filter(|a| a.len() == 2 || a.len() == 3)
                .ok_or_else(|| {
                    BoundaryError(
                        "a position must be [longitude, latitude] (optionally with altitude)"
                            .into(),
                    )
                })?;
            let lon = nums[0]
                .as_f64()
                .ok_or_else(|| BoundaryError("longitude must be a number".into()))?;
            let lat = nums[1]
                .as_f64()
                .ok_or_else(|| BoundaryError("latitude must be a number".into()))?;
            let c = Coordinates::parse(lat, lon)
                .map_err(|e| BoundaryError(format!("position [{lon}, {lat}]: {e}")))?;
            Ok(geo::Coord { x: c.lon, y: c.lat })
        })
        .collect::<Result<Vec<_>, BoundaryError>>()?;
    if coords.first() != coords.last() {
        return Err(BoundaryError(
            "a linear ring must end where it starts (RFC 7946 §3.1.6)".into(),
        ));
    }
    Ok(geo::LineString(coords))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Value {
        json!({"type": "Polygon", "coordinates": [[[108.0, 11.0], [109.0, 11.0], [109.0, 12.0], [108.0, 12.0], [108.0, 11.0]]]})
    }

    #[test]
    fn coordinates_reject_out_of_range_and_non_finite() {
        assert!(Coordinates::parse(11.73, 108.45).is_ok());
        assert_eq!(
            Coordinates::parse(91.0, 0.0),
            Err(CoordinateError::Latitude)
        );
        assert_eq!(
            Coordinates::parse(f64::NAN, 0.0),
            Err(CoordinateError::Latitude)
        );
        assert_eq!(
            Coordinates::parse(0.0, f64::INFINITY),
            Err(CoordinateError::Longitude)
        );
        assert_eq!(
            Coordinates::parse(0.0, -180.5),
            Err(CoordinateError::Longitude)
        );
    }

    #[test]
    fn a_square_has_its_centre_bbox_and_contains_points() {
        let b = Boundary::from_geojson(&square()).unwrap();
        let c = b.centroid();
        assert!((c.lat - 11.5).abs() < 1e-9 && (c.lon - 108.5).abs() < 1e-9);
        assert_eq!(b.bbox().to_array(), [108.0, 11.0, 109.0, 12.0]);
        assert!(b.contains(Coordinates::parse(11.5, 108.5).unwrap()));
        assert!(!b.contains(Coordinates::parse(12.5, 108.5).unwrap()));
        assert_eq!(b.vertex_count(), 5);
        // Round trip through GeoJSON keeps the shape.
        assert_eq!(Boundary::from_geojson(&b.to_geojson()).unwrap(), b);
    }

    #[test]
    fn malformed_geometries_are_refused_with_a_reason() {
        let cases = [
            json!({"type": "Point", "coordinates": [108.0, 11.0]}),
            json!({"type": "Polygon"}),
            json!({"type": "Polygon", "coordinates": []}),
            json!({"type": "Polygon", "coordinates": [[[108.0, 11.0], [109.0, 11.0], [108.0, 11.0]]]}),
            json!({"type": "Polygon", "coordinates": [[[108.0, 11.0], [109.0, 11.0], [109.0, 12.0], [108.0, 12.5]]]}),
            json!({"type": "Polygon", "coordinates": [[[108.0, 91.0], [109.0, 11.0], [109.0, 12.0], [108.0, 91.0]]]}),
            json!({"type": "Polygon", "coordinates": [[["108", 11.0], [109.0, 11.0], [109.0, 12.0], ["108", 11.0]]]}),
            json!({"type": "MultiPolygon", "coordinates": []}),
            json!({"type": "Polygon", "coordinates": [[[108.0, 11.0], [108.0, 11.0], [108.0, 11.0], [108.0, 11.0]]]}),
            json!("Polygon"),
        ];
        for case in cases {
            assert!(Boundary::from_geojson(&case).is_err(), "accepted {case}");
        }
    }
}
