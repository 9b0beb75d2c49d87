//! Request logging: one line per request with method, path, status, bytes in and out, duration,
//! and a request id (also returned as `X-Request-Id`). Query strings are left out of the line:
//! they can carry tokens in later protocols, and never belong in a log.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

fn content_length(h: &axum::http::HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

pub async fn log_requests(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let bytes_in = content_length(req.headers()).unwrap_or(0);
    let id = uuid::Uuid::new_v4().simple().to_string();
    let span = tracing::info_span!("request", id = %id);
    let _entered = span.enter();
    drop(_entered);
    let mut resp = {
        use tracing::Instrument;
        next.run(req).instrument(span).await
    };
    let status = resp.status().as_u16();
    let bytes_out = content_length(resp.headers())
        .or_else(|| axum::body::HttpBody::size_hint(resp.body()).exact())
        .unwrap_or(0);
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::error!(%method, %path, status, bytes_in, bytes_out, ms, request_id = %id, "request");
    } else {
        tracing::info!(%method, %path, status, bytes_in, bytes_out, ms, request_id = %id, "request");
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}
