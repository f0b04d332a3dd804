//! Attribute schemas: what a resource's request body may contain.
//!
//! Upstream Magnum types its bodies with WSME: unknown attributes, read-only attributes,
//! wrong JSON types and out-of-range values are all 400s. A [`Schema`] is that table for one
//! resource; POST bodies and patched documents are both checked through it, so the two paths
//! cannot drift apart.

use crate::error::{MagnumError, Result};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// A string of `min..=max` characters.
    Str { min: usize, max: usize },
    /// An integer in `min..=max`.
    Int { min: i64, max: i64 },
    /// `true`/`false`, or one of the strict boolean strings upstream accepts.
    Bool,
    /// A JSON object whose values are strings, numbers or booleans (stored as strings).
    Dict,
    /// A JSON array of strings.
    StrList,
    /// Anything (read-only outputs such as `faults`).
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Optional,
    Mandatory,
    ReadOnly,
}

#[derive(Debug, Clone, Copy)]
pub struct Attr {
    pub name: &'static str,
    pub ty: AttrType,
    pub access: Access,
}

pub const fn opt(name: &'static str, ty: AttrType) -> Attr {
    Attr { name, ty, access: Access::Optional }
}
pub const fn req(name: &'static str, ty: AttrType) -> Attr {
    Attr { name, ty, access: Access::Mandatory }
}
pub const fn ro(name: &'static str, ty: AttrType) -> Attr {
    Attr { name, ty, access: Access::ReadOnly }
}
pub const fn string(min: usize, max: usize) -> AttrType {
    AttrType::Str { min, max }
}
pub const fn int(min: i64, max: i64) -> AttrType {
    AttrType::Int { min, max }
}

#[derive(Debug)]
pub struct Schema {
    /// The argument name used in messages (`baymodel`, `cluster`, ...).
    pub resource: &'static str,
    pub attrs: &'static [Attr],
}

impl Schema {
    pub fn get(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.name == name)
    }

    /// Checks a POST body. Returns the attributes given, normalized (boolean strings become
    /// booleans, dict values become strings); `null` is kept, meaning "unset".
    pub fn check_create(&self, body: &Value) -> Result<Map<String, Value>> {
        let obj = body
            .as_object()
            .ok_or_else(|| MagnumError::invalid(format!("Invalid input for {}: the request body must be a JSON object.", self.resource)))?;
        let mut out = Map::new();
        for (key, value) in obj {
            let attr =
                self.get(key).ok_or_else(|| MagnumError::invalid(format!("Unknown attribute for argument {}: {key}", self.resource)))?;
            if attr.access == Access::ReadOnly {
                return Err(MagnumError::invalid(format!("Cannot set read only field: {key}.")));
            }
            out.insert(key.clone(), self.check_value(attr, value)?);
        }
        for attr in self.attrs.iter().filter(|a| a.access == Access::Mandatory) {
            if out.get(attr.name).is_none_or(Value::is_null) {
                return Err(MagnumError::invalid(format!(
                    "Mandatory field missing: {}. Provide '{}' in the {} body.",
                    attr.name, attr.name, self.resource
                )));
            }
        }
        Ok(out)
    }

    /// Checks one value against its attribute type; `null` passes (it means unset).
    pub fn check_value(&self, attr: &Attr, value: &Value) -> Result<Value> {
        if value.is_null() {
            return Ok(Value::Null);
        }
        let bad = |why: &str| {
            MagnumError::invalid(format!("Invalid input for field/attribute {}. Value: '{}'. {why}", attr.name, display(value)))
        };
        match attr.ty {
            AttrType::Str { min, max } => {
                let s = value.as_str().ok_or_else(|| bad("Wrong type. Expected 'str'."))?;
                if s.contains('\0') {
                    return Err(bad("Value must not contain NUL characters."));
                }
                let n = s.chars().count();
                if n < min {
                    return Err(bad(&format!("Value should have a minimum character requirement of {min}")));
                }
                if n > max {
                    return Err(bad(&format!("Value should have a maximum character requirement of {max}")));
                }
                Ok(value.clone())
            }
            AttrType::Int { min, max } => {
                let n = as_integer(value).ok_or_else(|| bad("Wrong type. Expected 'int'."))?;
                if n < min {
                    return Err(bad(&format!("Value should be greater or equal to {min}")));
                }
                if n > max {
                    return Err(bad(&format!("Value should be less or equal to {max}")));
                }
                Ok(Value::from(n))
            }
            AttrType::Bool => as_bool(value).map(Value::Bool).ok_or_else(|| bad("Wrong type. Expected 'bool'.")),
            AttrType::Dict => normalize_dict(value)
                .filter(|d| !d.to_string().contains("\\u0000"))
                .ok_or_else(|| bad("Wrong type. Expected a dict of strings (without NUL characters).")),
            AttrType::StrList => match value.as_array() {
                Some(items) if items.iter().all(|i| i.as_str().is_some_and(|s| !s.contains('\0'))) => Ok(value.clone()),
                _ => Err(bad("Wrong type. Expected a list of strings.")),
            },
            AttrType::Any => Ok(value.clone()),
        }
    }
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Integers, and integral numbers written as strings (some clients send `"2"`).
fn as_integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// Booleans and the strict boolean strings of oslo's `bool_from_string(strict=True)`.
pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "y" | "on" | "t" => Some(true),
            "false" | "0" | "no" | "n" | "off" | "f" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A dict of scalars becomes a dict of strings. A string holding a JSON or Python-literal
/// dict (what `magnum ... replace labels="{'a': 'b'}"` sends) is accepted too.
fn normalize_dict(v: &Value) -> Option<Value> {
    let obj = match v {
        Value::Object(o) => o.clone(),
        Value::String(s) => {
            let parsed: Value = serde_json::from_str(s).or_else(|_| serde_json::from_str(&s.replace('\'', "\""))).ok()?;
            parsed.as_object()?.clone()
        }
        _ => return None,
    };
    let mut out = Map::new();
    for (k, val) in obj {
        let s = match val {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => {
                if b {
                    "True".into()
                } else {
                    "False".into()
                }
            }
            _ => return None,
        };
        out.insert(k, Value::String(s));
    }
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static ATTRS: [Attr; 5] = [
        req("image_id", string(1, 255)),
        opt("node_count", int(1, i64::MAX)),
        opt("public", AttrType::Bool),
        opt("labels", AttrType::Dict),
        ro("status", string(0, 20)),
    ];
    static SCHEMA: Schema = Schema { resource: "thing", attrs: &ATTRS };

    #[test]
    fn accepts_and_normalizes() {
        let m = SCHEMA.check_create(&json!({"image_id": "img", "node_count": "3", "public": "True", "labels": {"a": 1}})).expect("valid");
        assert_eq!(m["node_count"], json!(3));
        assert_eq!(m["public"], json!(true));
        assert_eq!(m["labels"], json!({"a": "1"}));
    }

    #[test]
    fn rejects_what_wsme_rejects() {
        let cases = [
            (json!([1]), "JSON object"),
            (json!({"image_id": "i", "bogus": 1}), "Unknown attribute for argument thing: bogus"),
            (json!({"image_id": "i", "status": "x"}), "read only"),
            (json!({"image_id": ""}), "minimum character"),
            (json!({"image_id": 5}), "Expected 'str'"),
            (json!({"image_id": "i", "node_count": 0}), "greater or equal to 1"),
            (json!({"image_id": "i", "node_count": 1.5}), "Expected 'int'"),
            (json!({"image_id": "i", "public": "maybe"}), "Expected 'bool'"),
            (json!({"image_id": "i", "labels": [1]}), "dict"),
            (json!({"node_count": 1}), "Mandatory field missing: image_id"),
            (json!({"image_id": null}), "Mandatory field missing: image_id"),
            (json!({"image_id": "a\0b"}), "NUL"),
            (json!({"image_id": "i", "labels": {"k\0": "v"}}), "NUL"),
        ];
        for (body, needle) in cases {
            let err = SCHEMA.check_create(&body).expect_err("must fail");
            assert!(err.message.contains(needle), "{body}: {}", err.message);
        }
    }

    #[test]
    fn python_literal_labels_string() {
        let m = SCHEMA.check_create(&json!({"image_id": "i", "labels": "{'k': 'v'}"})).expect("valid");
        assert_eq!(m["labels"], json!({"k": "v"}));
    }
}
