//! Tables by default, JSON with `--format json`; Magnum's errors as one clear line.

use magnum_client::Reply;
use serde_json::Value;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A list as rows of `columns`.
pub fn list(items: &[Value], columns: &[&str], format: Format) {
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(items).unwrap_or_default());
        return;
    }
    let rows: Vec<Vec<String>> = items.iter().map(|i| columns.iter().map(|c| cell(&i[*c])).collect()).collect();
    let widths: Vec<usize> =
        columns.iter().enumerate().map(|(k, c)| rows.iter().map(|r| r[k].chars().count()).max().unwrap_or(0).max(c.len())).collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("| {} |", padded.join(" | "));
    };
    let rule = format!("+{}+", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("+"));
    println!("{rule}");
    line(columns.iter().map(|c| c.to_string()).collect());
    println!("{rule}");
    for r in rows {
        line(r);
    }
    println!("{rule}");
}

/// One object as field/value rows.
pub fn show(obj: &Value, format: Format) {
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(obj).unwrap_or_default());
        return;
    }
    let items: Vec<Value> = obj
        .as_object()
        .map(|m| m.iter().filter(|(k, _)| *k != "links").map(|(k, v)| serde_json::json!({"Field": k, "Value": cell(v)})).collect())
        .unwrap_or_default();
    list(&items, &["Field", "Value"], Format::Table);
}

/// The reply if its status is `want`, else an error carrying Magnum's detail.
pub fn expect(r: Reply, want: &[u16], what: &str) -> anyhow::Result<Reply> {
    if want.contains(&r.status) {
        return Ok(r);
    }
    let detail = r.error_detail().map(str::to_owned).unwrap_or_else(|| r.text.clone());
    anyhow::bail!("{what} failed (HTTP {}): {detail}", r.status)
}
