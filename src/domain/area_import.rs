//! Reading a GeoJSON FeatureCollection of areas (features with `code` and `name` properties and a
//! Polygon/MultiPolygon geometry) into checked [`AreaImport`]s. Everything is checked before
//! anything is written: one bad feature refuses the whole file, naming the feature.

use std::collections::HashSet;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;

use super::catalog::{AreaCode, AreaKind};
use super::geometry::Boundary;

#[derive(Debug, Clone)]
pub struct AreaImport {
    pub code: AreaCode,
    pub name: String,
    pub full_name: Option<String>,
    pub name_en: Option<String>,
    /// From the `kind` property or the full name; `None` when the file says neither.
    pub kind: Option<AreaKind>,
    pub boundary: Boundary,
    /// When the area came into force; new areas default to the 2025 reorganisation date.
    pub valid_from: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("not a GeoJSON FeatureCollection: {0}")]
    NotFeatureCollection(String),
    #[error("the FeatureCollection has no features")]
    Empty,
    #[error("feature {index}{code}: {message}")]
    Feature {
        index: usize,
        code: String,
        message: String,
    },
}

#[derive(Deserialize)]
struct RawCollection {
    #[serde(rename = "type")]
    kind: String,
    features: Option<Vec<Value>>,
}

const MAX_NAME: usize = 200;

/// Parses and checks a whole FeatureCollection.
pub fn parse_feature_collection(bytes: &[u8]) -> Result<Vec<AreaImport>, ImportError> {
    let raw: RawCollection = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() {
            ImportError::NotFeatureCollection(e.to_string())
        } else {
            ImportError::Json(e.to_string())
        }
    })?;
    if raw.kind != "FeatureCollection" {
        return Err(ImportError::NotFeatureCollection(format!(
            "\"type\" is {:?}, expected \"FeatureCollection\"",
            raw.kind
        )));
    }
    let features = raw
        .features
        .ok_or_else(|| ImportError::NotFeatureCollection("it has no \"features\" array".into()))?;
    if features.is_empty() {
        return Err(ImportError::Empty);
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(features.len());
    for (index, feature) in features.iter().enumerate() {
        let area = parse_feature(feature).map_err(|(code, message)| ImportError::Feature {
            index,
            code: code.map(|c| format!(" (code {c})")).unwrap_or_default(),
            message,
        })?;
        if !seen.insert(area.code.clone()) {
            return Err(ImportError::Feature {
                index,
                code: format!(" (code {})", area.code),
                message: "the same code appears more than once in the file".into(),
            });
        }
        out.push(area);
    }
    Ok(out)
}

type FeatureError = (Option<String>, String);

fn parse_feature(feature: &Value) -> Result<AreaImport, FeatureError> {
    let err = |code: Option<&str>, msg: String| (code.map(str::to_owned), msg);
    if feature.get("type").and_then(Value::as_str) != Some("Feature") {
        return Err(err(None, "not a Feature object".into()));
    }
    let props = feature
        .get("properties")
        .and_then(Value::as_object)
        .ok_or_else(|| err(None, "has no \"properties\" object".into()))?;
    let raw_code = match props.get("code") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        Some(_) => return Err(err(None, "property \"code\" must be a string".into())),
        None => return Err(err(None, "has no \"code\" property".into())),
    };
    let code = AreaCode::parse(&raw_code).map_err(|e| err(None, e.to_string()))?;
    let c = Some(code.as_str());
    let text = |key: &str, required: bool| -> Result<Option<String>, FeatureError> {
        match props.get(key) {
            None | Some(Value::Null) if !required => Ok(None),
            None | Some(Value::Null) => Err(err(c, format!("has no \"{key}\" property"))),
            Some(Value::String(s)) => {
                let s = s.trim();
                if s.is_empty() && required {
                    Err(err(c, format!("property \"{key}\" is empty")))
                } else if s.chars().count() > MAX_NAME || s.chars().any(char::is_control) {
                    Err(err(
                        c,
                        format!(
                            "property \"{key}\" is longer than {MAX_NAME} characters or has control characters"
                        ),
                    ))
                } else {
                    Ok((!s.is_empty()).then(|| s.to_owned()))
                }
            }
            Some(_) => Err(err(c, format!("property \"{key}\" must be a string"))),
        }
    };
    let name = text("name", true)?.unwrap_or_default();
    let full_name = text("full_name", false)?;
    let name_en = text("name_en", false)?;
    let kind = match text("kind", false)? {
        Some(k) => Some(AreaKind::parse(&k).ok_or_else(|| err(c, format!("unknown kind {k:?}")))?),
        None => full_name.as_deref().and_then(AreaKind::from_full_name),
    };
    let valid_from = match text("valid_from", false)? {
        Some(d) => Some(
            NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                .map_err(|_| err(c, format!("valid_from {d:?} is not a YYYY-MM-DD date")))?,
        ),
        None => None,
    };
    let geometry = feature
        .get("geometry")
        .filter(|g| !g.is_null())
        .ok_or_else(|| err(c, "has no geometry".into()))?;
    let boundary = Boundary::from_geojson(geometry).map_err(|e| err(c, e.0))?;
    Ok(AreaImport {
        code,
        name,
        full_name,
        name_en,
        kind,
        boundary,
        valid_from,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn feature(code: Value, name: &str) -> Value {
        json!({"type": "Feature", "properties": {"code": code, "name": name, "full_name": format!("Phường {name}")},
               "geometry": {"type": "Polygon", "coordinates": [[[108.0, 11.0], [109.0, 11.0], [109.0, 12.0], [108.0, 11.0]]]}})
    }

    fn parse(v: Value) -> Result<Vec<AreaImport>, ImportError> {
        parse_feature_collection(&serde_json::to_vec(&v).unwrap())
    }

    #[test]
    fn reads_codes_names_and_kinds() {
        let areas = parse(json!({"type": "FeatureCollection", "features": [feature(json!("1"), "A"), feature(json!(2), "B")]})).unwrap();
        assert_eq!(areas.len(), 2);
        assert_eq!(areas[1].code.as_str(), "2");
        assert_eq!(areas[0].kind, Some(AreaKind::Ward));
        assert_eq!(areas[0].full_name.as_deref(), Some("Phường A"));
    }

    #[test]
    fn refuses_bad_files_naming_the_feature() {
        assert!(matches!(
            parse_feature_collection(b"{not json"),
            Err(ImportError::Json(_))
        ));
        assert!(matches!(
            parse(json!({"type": "Feature"})),
            Err(ImportError::NotFeatureCollection(_))
        ));
        assert!(matches!(
            parse(json!([1, 2])),
            Err(ImportError::NotFeatureCollection(_))
        ));
        assert_eq!(
            parse(json!({"type": "FeatureCollection", "features": []})).unwrap_err(),
            ImportError::Empty
        );
        let dup = parse(
            json!({"type": "FeatureCollection", "features": [feature(json!("1"), "A"), feature(json!("1"), "B")]}),
        );
        assert!(dup.unwrap_err().to_string().contains("feature 1 (code 1)"));
        let mut no_geom = feature(json!("7"), "A");
        no_geom["geometry"] = Value::Null;
        let e = parse(
            json!({"type": "FeatureCollection", "features": [feature(json!("1"), "A"), no_geom]}),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "feature 1 (code 7): has no geometry");
        let bad_name = feature(json!("8"), "");
        assert!(parse(json!({"type": "FeatureCollection", "features": [bad_name]})).is_err());
        let bad_code = feature(json!("8 8"), "A");
        assert!(parse(json!({"type": "FeatureCollection", "features": [bad_code]})).is_err());
    }
}
