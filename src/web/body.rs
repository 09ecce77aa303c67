//! Every request body is read in full before the portal answers (docs/security.md#input-and-uploads).
//!
//! A handler may answer without reading the body (a 405, a redirect to the login form, a
//! refused token). If the server then closed the connection with bytes still unread, the
//! kernel would reset it and the proxy could lose the answer and show a 502 instead. So the
//! body is read here, up to [`MAX_BODY`] kept for the handler; a larger one is read to its end
//! (up to [`MAX_DRAINED`]) and answered 413.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

/// The largest body a portal handler receives: twice the largest photo, so that a photo a
/// little too large still reaches its form, which says so next to the field; past this, the
/// French 413 page.
pub const MAX_BODY: usize = 2 * super::aia::photo::MAX_UPLOAD;
/// Past this, the connection is closed rather than read to its end.
const MAX_DRAINED: usize = 64 * 1024 * 1024;

pub async fn read_whole_body(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let mut stream = body.into_data_stream();
    let mut kept: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            // The client went away or sent a broken body: nothing to answer it.
            return super::error::WebError::BadRequest(
                "La requête est incomplète ou mal formée.".into(),
            )
            .into_response();
        };
        seen += chunk.len();
        if seen <= MAX_BODY {
            kept.extend_from_slice(&chunk);
        } else if seen > MAX_DRAINED {
            break;
        }
    }
    if seen > MAX_BODY {
        return super::error::WebError::Rejected(axum::http::StatusCode::PAYLOAD_TOO_LARGE)
            .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(kept))).await
}
