//! The one error type rules return. Its kind decides the HTTP status the API renders.

use std::fmt;

/// What went wrong, in the categories Magnum's API distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ErrorKind {
    /// 400: the request is malformed or asks for something not allowed in this state.
    Invalid,
    /// 401: no or bad credentials.
    Unauthorized,
    /// 403: policy or quota says no.
    Forbidden,
    /// 404: no such object (in the caller's scope).
    NotFound,
    /// 405: wrong HTTP method on an existing path.
    MethodNotAllowed,
    /// 406: unsupported microversion.
    NotAcceptable,
    /// 409: an ambiguous name, a duplicate, or a concurrent write.
    Conflict,
    /// 503: a dependency (the store, the bus) is unavailable; retry later.
    Unavailable,
    /// 500: a bug or an unexpected failure. Never for bad input.
    Internal,
}

impl ErrorKind {
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Invalid => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::NotAcceptable => 406,
            ErrorKind::Conflict => 409,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }
}

/// Serializable, so a conductor's refusal reaches the API over any transport unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub struct MagnumError {
    pub kind: ErrorKind,
    pub message: String,
}

impl fmt::Display for MagnumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl MagnumError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        MagnumError { kind, message: message.into() }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
}

pub type Result<T, E = MagnumError> = std::result::Result<T, E>;
