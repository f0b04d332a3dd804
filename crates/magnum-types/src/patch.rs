//! JSON-patch (RFC 6902 subset: add, replace, remove) with Magnum's path rules.
//!
//! A patch is applied to the resource's own JSON document; the caller then checks every
//! changed attribute through the same [`crate::attrs::Schema`] as a POST body.

use crate::error::{MagnumError, Result};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub op: Op,
    /// Path segments, e.g. `["labels", "key"]` for `/labels/key`.
    pub path: Vec<String>,
    pub value: Option<Value>,
}

impl PatchOp {
    pub fn path_string(&self) -> String {
        format!("/{}", self.path.join("/"))
    }
}

/// Attributes a patch may not touch, and attributes it may not remove.
pub struct PatchRules<'a> {
    pub internal: &'a [&'a str],
    pub non_removable: &'a [&'a str],
}

/// Paths no resource lets a patch change.
pub const ALWAYS_INTERNAL: [&str; 7] = ["created_at", "id", "links", "updated_at", "uuid", "project_id", "user_id"];

/// Parses a PATCH body: a JSON array of `{op, path, value}` objects.
pub fn parse(body: &Value) -> Result<Vec<PatchOp>> {
    let items = body.as_array().ok_or_else(|| {
        MagnumError::invalid("Invalid input for patch: the body must be a JSON array of {\"op\", \"path\", \"value\"} objects.")
    })?;
    if items.is_empty() {
        return Err(MagnumError::invalid("Invalid input for patch: the patch is empty."));
    }
    items.iter().map(parse_one).collect()
}

fn parse_one(item: &Value) -> Result<PatchOp> {
    let obj = item.as_object().ok_or_else(|| MagnumError::invalid(format!("Invalid patch operation {item}: expected an object.")))?;
    for key in obj.keys() {
        if !matches!(key.as_str(), "op" | "path" | "value") {
            return Err(MagnumError::invalid(format!("Unknown attribute for argument patch: {key}")));
        }
    }
    let op = match obj.get("op").and_then(Value::as_str) {
        Some("add") => Op::Add,
        Some("replace") => Op::Replace,
        Some("remove") => Op::Remove,
        other => {
            return Err(MagnumError::invalid(format!(
                "Invalid input for field/attribute op. Value: '{}'. Value should be one of: add, replace, remove",
                other.unwrap_or("")
            )))
        }
    };
    let raw = obj
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| MagnumError::invalid("Mandatory field missing: path of a patch operation."))?;
    let path = parse_path(raw)?;
    let value = obj.get("value").filter(|v| !v.is_null()).cloned();
    if op != Op::Remove && value.is_none() {
        return Err(MagnumError::invalid(format!("'add' and 'replace' operations need a value (path {raw}).")));
    }
    Ok(PatchOp { op, path, value })
}

/// `^(/[\w-]+)+$`
fn parse_path(raw: &str) -> Result<Vec<String>> {
    let bad = || MagnumError::invalid(format!("Invalid patch path '{raw}': expected '/attribute' or '/attribute/key'."));
    let rest = raw.strip_prefix('/').ok_or_else(bad)?;
    let segs: Vec<String> = rest.split('/').map(str::to_owned).collect();
    let ok = segs.iter().all(|s| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-'));
    if !ok || segs.len() > 2 {
        return Err(bad());
    }
    Ok(segs)
}

/// Applies `ops` to `doc` under `rules`; returns the patched document.
pub fn apply(doc: &Map<String, Value>, ops: &[PatchOp], rules: &PatchRules<'_>) -> Result<Map<String, Value>> {
    let mut out = doc.clone();
    for op in ops {
        let top = op.path[0].as_str();
        if ALWAYS_INTERNAL.contains(&top) || rules.internal.contains(&top) {
            return Err(MagnumError::invalid(format!("'{}' is an internal attribute and can not be updated", op.path_string())));
        }
        if op.op == Op::Remove && op.path.len() == 1 && rules.non_removable.contains(&top) {
            return Err(MagnumError::invalid(format!("'{}' is a mandatory attribute and can not be removed", op.path_string())));
        }
        if !out.contains_key(top) {
            let why = match op.op {
                Op::Add => format!("Adding a new attribute ({}) to the root of the resource is not allowed", op.path_string()),
                _ => format!("Couldn't apply patch '{}'. Reason: no attribute '{top}'", op.path_string()),
            };
            return Err(MagnumError::invalid(why));
        }
        if op.path.len() == 1 {
            let v = if op.op == Op::Remove { Value::Null } else { op.value.clone().unwrap_or(Value::Null) };
            out.insert(top.to_owned(), v);
            continue;
        }
        // A member of a dict attribute, e.g. /labels/key.
        let key = &op.path[1];
        let slot = out.entry(top.to_owned()).or_insert(Value::Null);
        if slot.is_null() && op.op == Op::Add {
            *slot = Value::Object(Map::new());
        }
        let member_err = |why: &str| MagnumError::invalid(format!("Couldn't apply patch '{}'. Reason: {why}", op.path_string()));
        let dict = slot.as_object_mut().ok_or_else(|| member_err(&format!("'{top}' is not a dict")))?;
        match op.op {
            Op::Add => {
                dict.insert(key.clone(), op.value.clone().unwrap_or(Value::Null));
            }
            Op::Replace => {
                if !dict.contains_key(key) {
                    return Err(member_err(&format!("can't replace a non-existent object '{key}'")));
                }
                dict.insert(key.clone(), op.value.clone().unwrap_or(Value::Null));
            }
            Op::Remove => {
                if dict.remove(key).is_none() {
                    return Err(member_err(&format!("can't remove a non-existent object '{key}'")));
                }
            }
        }
    }
    Ok(out)
}

/// The top-level attributes whose values differ between two documents.
pub fn changed(before: &Map<String, Value>, after: &Map<String, Value>) -> Vec<String> {
    after.iter().filter(|(k, v)| before.get(*k).unwrap_or(&Value::Null) != *v).map(|(k, _)| k.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULES: PatchRules<'static> = PatchRules { internal: &["api_address"], non_removable: &["image_id"] };

    fn doc() -> Map<String, Value> {
        json!({"name": "a", "image_id": "img", "node_count": 1, "labels": {"k": "v"}, "api_address": null, "uuid": "u"})
            .as_object()
            .cloned()
            .expect("object")
    }

    fn run(patch: Value) -> Result<Map<String, Value>> {
        apply(&doc(), &parse(&patch)?, &RULES)
    }

    #[test]
    fn replace_add_remove() {
        let out = run(json!([
            {"op": "replace", "path": "/node_count", "value": 3},
            {"op": "add", "path": "/labels/x", "value": "y"},
            {"op": "remove", "path": "/labels/k"},
            {"op": "remove", "path": "/name"}
        ]))
        .expect("applies");
        assert_eq!(out["node_count"], json!(3));
        assert_eq!(out["labels"], json!({"x": "y"}));
        assert_eq!(out["name"], Value::Null);
        let mut c = changed(&doc(), &out);
        c.sort();
        assert_eq!(c, vec!["labels", "name", "node_count"]);
    }

    #[test]
    fn falsy_values_are_values() {
        let out = run(json!([{"op": "replace", "path": "/node_count", "value": 0}])).expect("0 is a value");
        assert_eq!(out["node_count"], json!(0));
    }

    #[test]
    fn rules_are_enforced() {
        let cases = [
            (json!({"op": "replace"}), "JSON array"),
            (json!([]), "empty"),
            (json!([{"op": "move", "path": "/name", "value": 1}]), "add, replace, remove"),
            (json!([{"op": "replace", "path": "name", "value": 1}]), "Invalid patch path"),
            (json!([{"op": "replace", "path": "/a/b/c", "value": 1}]), "Invalid patch path"),
            (json!([{"op": "replace", "path": "/name"}]), "need a value"),
            (json!([{"op": "replace", "path": "/name", "value": null}]), "need a value"),
            (json!([{"op": "replace", "path": "/uuid", "value": "x"}]), "internal attribute"),
            (json!([{"op": "replace", "path": "/api_address", "value": "x"}]), "internal attribute"),
            (json!([{"op": "remove", "path": "/image_id"}]), "mandatory attribute"),
            (json!([{"op": "add", "path": "/bogus", "value": 1}]), "Adding a new attribute (/bogus)"),
            (json!([{"op": "replace", "path": "/bogus", "value": 1}]), "no attribute 'bogus'"),
            (json!([{"op": "replace", "path": "/labels/nope", "value": "1"}]), "non-existent"),
            (json!([{"op": "add", "path": "/name/x", "value": "1"}]), "not a dict"),
        ];
        for (patch, needle) in cases {
            let err = run(patch.clone()).expect_err("must fail");
            assert!(err.message.contains(needle), "{patch}: {}", err.message);
        }
    }
}
