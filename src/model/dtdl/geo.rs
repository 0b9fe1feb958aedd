//! GeoJSON geometry checks for DTDL's geospatial schemas (`point`, `lineString`, `polygon`,
//! `multiPoint`, `multiLineString`, `multiPolygon`).
//!
//! DTDL defines these schemas as the GeoJSON geometry objects of RFC 7946, so a value is an object
//! `{"type": "Point", "coordinates": …}`. Only the shape is checked (positions of 2 or 3 numbers,
//! enough points per line, closed polygon rings), not coordinate ranges: DTDL does not fix a
//! coordinate reference system, and ADT stores what it is given.

use serde_json::Value;

use super::schema::{Schema, found};

/// The GeoJSON geometry a geospatial schema describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Geometry {
    /// One position.
    Point,
    /// Two or more positions.
    LineString,
    /// One or more closed linear rings.
    Polygon,
    /// Positions.
    MultiPoint,
    /// Line strings.
    MultiLineString,
    /// Polygons.
    MultiPolygon,
}

impl Geometry {
    /// The geometry of a geospatial schema, or `None` for any other schema.
    pub fn of(schema: &Schema) -> Option<Geometry> {
        Some(match schema {
            Schema::Point => Geometry::Point,
            Schema::LineString => Geometry::LineString,
            Schema::Polygon => Geometry::Polygon,
            Schema::MultiPoint => Geometry::MultiPoint,
            Schema::MultiLineString => Geometry::MultiLineString,
            Schema::MultiPolygon => Geometry::MultiPolygon,
            _ => return None,
        })
    }

    /// The GeoJSON `type` value.
    pub fn name(self) -> &'static str {
        match self {
            Geometry::Point => "Point",
            Geometry::LineString => "LineString",
            Geometry::Polygon => "Polygon",
            Geometry::MultiPoint => "MultiPoint",
            Geometry::MultiLineString => "MultiLineString",
            Geometry::MultiPolygon => "MultiPolygon",
        }
    }
}

type Check = Result<(), String>;

/// Checks that `value` is a GeoJSON geometry object of the given kind; the error says what is
/// wrong and where inside `coordinates`.
pub fn check(kind: Geometry, value: &Value) -> Check {
    let Value::Object(obj) = value else {
        return Err(format!(
            "expected an object with \"type\" and \"coordinates\", found {}",
            found(value)
        ));
    };
    if let Some(other) = obj.keys().find(|k| !matches!(k.as_str(), "type" | "coordinates" | "bbox"))
    {
        return Err(format!(
            "unexpected member '{}'; a geometry has only \"type\", \"coordinates\" and \"bbox\"",
            crate::model::dtmi::shown(other)
        ));
    }
    match obj.get("type") {
        Some(Value::String(t)) if t == kind.name() => {}
        Some(t) => return Err(format!("\"type\" must be \"{}\", found {}", kind.name(), found(t))),
        None => return Err(format!("\"type\": \"{}\" is missing", kind.name())),
    }
    if let Some(bbox) = obj.get("bbox") {
        let ok = bbox
            .as_array()
            .is_some_and(|b| (b.len() == 4 || b.len() == 6) && b.iter().all(Value::is_number));
        if !ok {
            return Err("\"bbox\" must be an array of 4 or 6 numbers".into());
        }
    }
    let Some(coords) = obj.get("coordinates") else {
        return Err("\"coordinates\" is missing".into());
    };
    let at = "coordinates";
    match kind {
        Geometry::Point => position(coords, at),
        Geometry::MultiPoint => each(coords, at, 0, position),
        Geometry::LineString => line(coords, at),
        Geometry::MultiLineString => each(coords, at, 0, line),
        Geometry::Polygon => polygon(coords, at),
        Geometry::MultiPolygon => each(coords, at, 0, polygon),
    }
}

fn position(v: &Value, at: &str) -> Check {
    match v.as_array() {
        Some(p) if (2..=3).contains(&p.len()) && p.iter().all(Value::is_number) => Ok(()),
        _ => {
            Err(format!("{at} must be a position (an array of 2 or 3 numbers), found {}", found(v)))
        }
    }
}

fn line(v: &Value, at: &str) -> Check {
    each(v, at, 2, position)
}

fn ring(v: &Value, at: &str) -> Check {
    each(v, at, 4, position)?;
    let points = v.as_array().expect("checked by each");
    if points.first() != points.last() {
        return Err(format!("{at} is a polygon ring, so its last position must repeat its first"));
    }
    Ok(())
}

fn polygon(v: &Value, at: &str) -> Check {
    each(v, at, 1, ring)
}

/// Checks that `v` is an array of at least `min` items, each passing `item`.
fn each(v: &Value, at: &str, min: usize, item: fn(&Value, &str) -> Check) -> Check {
    let Some(items) = v.as_array() else {
        return Err(format!("{at} must be an array, found {}", found(v)));
    };
    if items.len() < min {
        return Err(format!("{at} must have at least {min} elements, found {}", items.len()));
    }
    items.iter().enumerate().try_for_each(|(i, x)| item(x, &format!("{at}[{i}]")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn points() {
        assert!(check(Geometry::Point, &json!({"type": "Point", "coordinates": [1, 2]})).is_ok());
        assert!(
            check(Geometry::Point, &json!({"type": "Point", "coordinates": [1, 2, 3]})).is_ok()
        );
        let e = check(Geometry::Point, &json!({"type": "Point", "coordinates": [1, "2"]}));
        assert!(e.unwrap_err().starts_with("coordinates must be a position"));
        assert!(check(Geometry::Point, &json!({"type": "Point"})).is_err());
        assert!(check(Geometry::Point, &json!({"coordinates": [1, 2]})).is_err());
        assert!(check(Geometry::Point, &json!([1, 2])).is_err());
        let e = check(Geometry::Point, &json!({"type": "Point", "coordinates": [1, 2], "x": 1}));
        assert!(e.unwrap_err().contains("unexpected member 'x'"));
        let with_bbox = json!({"type": "Point", "coordinates": [1, 2], "bbox": [0, 0, 2, 2]});
        assert!(check(Geometry::Point, &with_bbox).is_ok());
    }

    #[test]
    fn lines_and_polygons() {
        let line = json!({"type": "LineString", "coordinates": [[0, 0], [1, 1]]});
        assert!(check(Geometry::LineString, &line).is_ok());
        let short = json!({"type": "LineString", "coordinates": [[0, 0]]});
        assert!(check(Geometry::LineString, &short).unwrap_err().contains("at least 2"));
        let open = json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]});
        let e = check(Geometry::Polygon, &open).unwrap_err();
        assert!(e.contains("coordinates[0] is a polygon ring"), "{e}");
        let multi = json!({"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]], [[2, 2]]]});
        let e = check(Geometry::MultiLineString, &multi).unwrap_err();
        assert!(e.starts_with("coordinates[1] must have at least 2"), "{e}");
        let mp = json!({"type": "MultiPoint", "coordinates": []});
        assert!(check(Geometry::MultiPoint, &mp).is_ok());
    }
}
