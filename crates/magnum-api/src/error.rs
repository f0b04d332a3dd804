//! The one API error type. Handlers return it; the envelope renders Magnum's error body
//! (it knows the request id, which a handler's error does not).

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use magnum_types::MagnumError;

#[derive(Debug)]
pub struct ApiError(pub MagnumError);

impl From<MagnumError> for ApiError {
    fn from(e: MagnumError) -> Self {
        ApiError(e)
    }
}

/// Carried in a response's extensions from the handler to the envelope.
#[derive(Debug, Clone)]
pub(crate) struct ErrorDetail(pub MagnumError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = status.into_response();
        resp.extensions_mut().insert(ErrorDetail(self.0));
        resp
    }
}

pub type ApiResult<T = Response> = Result<T, ApiError>;
