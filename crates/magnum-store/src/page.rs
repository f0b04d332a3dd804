//! Keyset pagination shared by every collection: `ORDER BY <key>, id` and a marker that
//! continues after the marker row's `(key, id)`.

use crate::error::from_sqlx;
use magnum_types::pagination::{PageRequest, SortDir};
use magnum_types::{MagnumError, Result};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Row};

/// A value bound into a dynamically built query.
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

pub(crate) fn bind_all<'q>(mut q: Query<'q, Any, AnyArguments<'q>>, binds: &'q [Bind]) -> Query<'q, Any, AnyArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s.as_str()),
            Bind::Int(i) => q.bind(*i),
        };
    }
    q
}

/// How a sortable column compares: texts and integers need different NULL stand-ins, and
/// NOT NULL columns need none (so their indexes stay usable).
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyType {
    Text,
    Int,
    NullableText,
    NullableInt,
}

/// One collection query: `SELECT <columns> FROM <table> WHERE <filter>` paged by `page`.
pub(crate) struct PagedQuery<'a> {
    pub table: &'a str,
    pub columns: &'a str,
    /// A condition with `$1..$n` placeholders for `binds`.
    pub filter: String,
    pub binds: Vec<Bind>,
    pub key: (&'a str, KeyType),
    /// What the marker refers to, for the 404 message.
    pub what: &'a str,
}

pub(crate) async fn fetch(pool: &AnyPool, q: PagedQuery<'_>, page: &PageRequest) -> Result<Vec<AnyRow>> {
    let (col, ty) = q.key;
    let expr = match ty {
        KeyType::Text | KeyType::Int => col.to_owned(),
        KeyType::NullableText => format!("COALESCE({col}, '')"),
        KeyType::NullableInt => format!("COALESCE({col}, -1)"),
    };
    let mut binds = q.binds.clone();
    let mut filter = q.filter.clone();
    if let Some(marker) = page.marker {
        let sql = format!("SELECT {expr} AS k, id FROM {} WHERE uuid = ${} AND ({})", q.table, binds.len() + 1, q.filter);
        binds.push(Bind::Text(marker.to_string()));
        let row = bind_all(sqlx::query(&sql), &binds).fetch_optional(pool).await.map_err(from_sqlx)?;
        binds.pop();
        let row =
            row.ok_or_else(|| MagnumError::not_found(format!("Marker {marker} could not be found: no such {} visible to you.", q.what)))?;
        let id: i64 = row.try_get("id").map_err(from_sqlx)?;
        let key = match ty {
            KeyType::Text | KeyType::NullableText => Bind::Text(row.try_get::<String, _>("k").map_err(from_sqlx)?),
            KeyType::Int | KeyType::NullableInt => Bind::Int(row.try_get::<i64, _>("k").map_err(from_sqlx)?),
        };
        let cmp = if page.sort_dir == SortDir::Asc { ">" } else { "<" };
        let (k, i) = (binds.len() + 1, binds.len() + 2);
        filter = format!("({filter}) AND ({expr} {cmp} ${k} OR ({expr} = ${k} AND id {cmp} ${i}))");
        binds.push(key);
        binds.push(Bind::Int(id));
    }
    let dir = page.sort_dir.as_str();
    let sql = format!("SELECT {} FROM {} WHERE {filter} ORDER BY {expr} {dir}, id {dir} LIMIT {}", q.columns, q.table, page.limit);
    bind_all(sqlx::query(&sql), &binds).fetch_all(pool).await.map_err(from_sqlx)
}

/// One object by UUID or name within `filter`: 404 when none matches, 409 when a name is
/// shared (names are not unique, as upstream). `what` names the object in messages, e.g.
/// ("ClusterTemplate", "cluster template").
pub(crate) async fn lookup_one(
    pool: &AnyPool,
    table: &str,
    columns: &str,
    (filter, mut binds): (String, Vec<Bind>),
    ident: &str,
    (title, plain): (&str, &str),
) -> Result<AnyRow> {
    let by = if magnum_types::names::is_uuid_like(ident) { "uuid" } else { "name" };
    binds.push(Bind::Text(ident.to_owned()));
    let sql = format!("SELECT {columns} FROM {table} WHERE {filter} AND {by} = ${} LIMIT 2", binds.len());
    let mut rows = bind_all(sqlx::query(&sql), &binds).fetch_all(pool).await.map_err(from_sqlx)?;
    match rows.len() {
        0 => Err(MagnumError::not_found(format!("{title} {ident} could not be found."))),
        1 => Ok(rows.remove(0)),
        _ => Err(MagnumError::conflict(format!("Multiple {plain}s exist with same name {ident}. Please use the {plain} uuid instead."))),
    }
}
