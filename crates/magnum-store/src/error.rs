//! sqlx errors become Magnum errors: unreachable database → 503, uniqueness → 409,
//! a still-referenced row → 400, anything else → 500 (logged where handled).

use magnum_types::MagnumError;
use sqlx::error::ErrorKind as DbKind;

pub(crate) fn from_sqlx(e: sqlx::Error) -> MagnumError {
    match &e {
        sqlx::Error::Database(db) => match db.kind() {
            DbKind::UniqueViolation => MagnumError::conflict(format!("An object with the same identity already exists: {}", db.message())),
            DbKind::ForeignKeyViolation => MagnumError::invalid(format!("The object is referenced by another object: {}", db.message())),
            _ if db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")) => unavailable(&e),
            // SQLSTATE class 22 (data exception: NUL bytes, out-of-range numbers...) is bad input.
            _ if db.code().is_some_and(|c| c.starts_with("22")) => {
                MagnumError::invalid(format!("The database refused a value of the request: {}. Correct the input and retry.", db.message()))
            }
            _ => MagnumError::internal(format!("database error: {}", db.message())),
        },
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed | sqlx::Error::Tls(_) => {
            unavailable(&e)
        }
        _ => MagnumError::internal(format!("database error: {e}")),
    }
}

fn unavailable(e: &sqlx::Error) -> MagnumError {
    MagnumError::unavailable(format!("The database is unavailable ({e}). Retry later; if it persists, check the database server."))
}

pub(crate) fn from_sqlx_connect(e: sqlx::Error, url: &str) -> MagnumError {
    MagnumError::unavailable(format!("cannot connect to the database at {}: {e}", crate::redact(url)))
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> MagnumError {
    MagnumError::internal(format!("stored {what} cannot be read: {e}"))
}
