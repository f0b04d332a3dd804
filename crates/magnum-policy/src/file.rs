//! Policy files: a JSON object, or the YAML that `oslopolicy-sample-generator` writes — a flat
//! mapping of `"rule": "check"` lines with `#` comments. Flow collections, anchors and
//! multi-line values are not part of that format and are refused with the line number.

/// (rule, check) pairs of a policy file's text.
pub fn rules(text: &str) -> Result<Vec<(String, String)>, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("the policy file is not valid JSON: {e}"))?;
        let obj = v.as_object().ok_or("the policy file must map rule names to check strings")?;
        return obj
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => Ok((k.clone(), s.clone())),
                // The old list-of-lists form: [[a, b], [c]] = (a and b) or c.
                serde_json::Value::Array(any) => Ok((k.clone(), list_form(any)?)),
                _ => Err(format!("rule \"{k}\": expected a check string")),
            })
            .collect();
    }
    let mut out = vec![];
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line == "---" {
            continue;
        }
        let (key, value) = split_key(line).ok_or_else(|| format!("line {}: expected \"rule\": \"check\"", i + 1))?;
        out.push((
            unquote(key.trim()).map_err(|e| format!("line {}: {e}", i + 1))?,
            unquote(value.trim()).map_err(|e| format!("line {}: {e}", i + 1))?,
        ));
    }
    Ok(out)
}

/// The `:` that separates key and value: the first one outside quotes followed by a space
/// or the end (rule names contain colons: `cluster:create: ...`).
fn split_key(line: &str) -> Option<(&str, &str)> {
    let bytes = line.as_bytes();
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ') => return Some((&line[..i], &line[i + 1..])),
            None => {}
        }
    }
    None
}

fn unquote(s: &str) -> Result<String, String> {
    let s = s.split(" #").next().unwrap_or(s).trim();
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q) {
            return inner
                .strip_suffix(q)
                .map(|v| if q == '\'' { v.replace("''", "'") } else { v.replace("\\\"", "\"") })
                .ok_or_else(|| format!("unclosed quote in {s}"));
        }
    }
    if s.starts_with(['[', '{', '&', '*', '|', '>']) {
        return Err(format!("'{s}' is not a plain check string"));
    }
    Ok(s.to_owned())
}

fn list_form(any: &[serde_json::Value]) -> Result<String, String> {
    let mut ors = vec![];
    for all in any {
        let items = all.as_array().ok_or("a list-form rule must be a list of lists of checks")?;
        let checks: Result<Vec<String>, String> =
            items.iter().map(|c| c.as_str().map(str::to_owned).ok_or_else(|| "checks must be strings".to_owned())).collect();
        ors.push(format!("({})", checks?.join(" and ")));
    }
    Ok(if ors.is_empty() { "@".into() } else { ors.join(" or ") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_as_the_sample_generator_writes_it() {
        let text = "# Create a cluster.\n# POST  /v1/clusters\n#\"cluster:create\": \"rule:x\"\n\"cluster:create\": \"role:admin\"\ncluster:get: role:reader or role:admin  # trailing comment\n'q': ''\n";
        let r = rules(text).expect("parses");
        assert_eq!(
            r,
            vec![
                ("cluster:create".to_owned(), "role:admin".to_owned()),
                ("cluster:get".to_owned(), "role:reader or role:admin".to_owned()),
                ("q".to_owned(), String::new()),
            ]
        );
        assert!(rules("cluster:create: [a, b]\n").expect_err("flow").contains("line 1"));
        assert!(rules("just words\n").expect_err("no key").contains("line 1"));
    }

    #[test]
    fn json_including_the_list_form() {
        let r = rules(r#"{"a": "role:x", "b": [["role:x", "role:y"], ["role:z"]], "c": []}"#).expect("parses");
        assert_eq!(r[1], ("b".to_owned(), "(role:x and role:y) or (role:z)".to_owned()));
        assert_eq!(r[2], ("c".to_owned(), "@".to_owned()));
        assert!(rules(r#"{"a": 1}"#).is_err());
    }
}
