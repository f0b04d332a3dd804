//! JSON read the way the Docker engine (Go's encoding/json) reads it, so the guard judges the
//! same values the engine will act on: field names match case-insensitively (with Go's Unicode
//! folding, where 'ſ' is an 's' and the Kelvin sign a 'k'), and of repeated names the last wins.
//! Every entry of an object is kept, duplicates included, and a field named twice is refused as
//! ambiguous rather than guessed at.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    /// Every entry in document order, repeated names included.
    Object(Vec<(String, Json)>),
}

/// Go's case folding of a field name: upper(lower(c)) for each character.
fn fold(name: &str) -> String {
    name.chars().flat_map(char::to_lowercase).flat_map(char::to_uppercase).collect()
}

impl Json {
    pub fn parse(bytes: &[u8]) -> Result<Json, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("the request body is not JSON the guard can read ({e})"))
    }

    /// The value of field `name` (absent or null: None). Err when two entries name it.
    pub fn field(&self, name: &str) -> Result<Option<&Json>, String> {
        let Json::Object(entries) = self else { return Ok(None) };
        let want = fold(name);
        let mut found = entries.iter().filter(|(k, _)| fold(k) == want).map(|(_, v)| v);
        let first = found.next();
        if found.next().is_some() {
            return Err(format!("field '{name}' is given more than once"));
        }
        Ok(first.filter(|v| **v != Json::Null))
    }

    /// A field that must be absent, null, false, zero or empty to be harmless.
    pub fn is_unset(&self) -> bool {
        match self {
            Json::Null => true,
            Json::Bool(b) => !b,
            Json::Number(n) => *n == 0.0,
            Json::String(s) => s.is_empty(),
            Json::Array(a) => a.is_empty(),
            Json::Object(o) => o.is_empty(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[(String, Json)] {
        match self {
            Json::Object(o) => o,
            _ => &[],
        }
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Number(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            entries.push((k, v));
        }
        Ok(Json::Object(entries))
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_match_as_go_matches_them() {
        let j = Json::parse(br#"{"privileged": true}"#).expect("test input");
        assert_eq!(j.field("Privileged").expect("test input"), Some(&Json::Bool(true)));
        // Go folds the long s onto 's' and the Kelvin sign onto 'k'.
        let j = Json::parse("{\"\u{17f}ecurityOpt\": [\"x\"], \"\u{212a}ernelMemory\": 1}".as_bytes()).expect("test input");
        assert!(j.field("SecurityOpt").expect("test input").is_some());
        assert!(j.field("KernelMemory").expect("test input").is_some());
    }

    #[test]
    fn a_field_named_twice_is_refused() {
        let j = Json::parse(br#"{"Privileged": false, "privileged": true}"#).expect("test input");
        assert!(j.field("Privileged").is_err());
        let j = Json::parse(br#"{"Privileged": false, "Privileged": true}"#).expect("test input");
        assert!(j.field("Privileged").is_err());
    }

    #[test]
    fn null_is_absent() {
        let j = Json::parse(br#"{"Binds": null}"#).expect("test input");
        assert_eq!(j.field("Binds").expect("test input"), None);
    }
}
