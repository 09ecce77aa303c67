//! CSV exports (docs/aia.md#exports): UTF-8 with BOM, ';' separator, CRLF (what French
//! spreadsheet software opens directly), formula-like cells neutralised, and streamed page by
//! page so an export of 100 000 accounts runs in constant memory.

use super::fmt_ts;
use crate::directory::access::Scope;
use crate::directory::admin_users::{ExportRow, UserFilter};
use crate::directory::DResult;
use crate::state::Gateway;
use axum::body::Body;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

/// Rows fetched per database round trip while streaming.
pub const PAGE: i64 = 500;

pub use crate::directory::csv::{neutralise, USER_COLUMNS};

/// Encodes rows as CSV lines (';', CRLF, quoting as needed, cells neutralised).
pub fn encode(rows: &[Vec<String>]) -> Result<Bytes, std::io::Error> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(crate::directory::csv::SEPARATOR)
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(rows.len() * 128));
    for r in rows {
        w.write_record(r.iter().map(|c| neutralise(c)))
            .map_err(std::io::Error::other)?;
    }
    w.into_inner()
        .map(Bytes::from)
        .map_err(|e| std::io::Error::other(e.to_string()))
}

fn yes_no(b: bool) -> String {
    crate::directory::csv::yes_no(b).to_string()
}

/// One line of the users export, in the order of [`USER_COLUMNS`]; times in `tz`.
pub fn user_line(r: &ExportRow, tz: &jiff::tz::TimeZone) -> Vec<String> {
    let u = &r.user;
    let short = u
        .structure_label
        .rsplit(" / ")
        .next()
        .unwrap_or_default()
        .to_string();
    vec![
        u.last_name.clone(),
        u.first_name.clone(),
        u.email.clone(),
        short,
        u.structure_label.clone(),
        u.structure_name.clone(),
        u.job_title.clone(),
        u.service.clone(),
        u.phone.clone(),
        u.app_identifier.clone(),
        yes_no(u.telework),
        u.valid_from.clone().unwrap_or_default(),
        u.valid_until.clone().unwrap_or_default(),
        yes_no(u.locked),
        u.last_login_at.map(|t| fmt_ts(t, tz)).unwrap_or_default(),
        r.roles.clone(),
    ]
}

/// Streams a CSV download: the BOM and `header`, then the pages returned by `fetch(cursor)`,
/// each a list of lines and the cursor of the next page (`None` after the last one). A database
/// error mid-way aborts the body, so a truncated file is never mistaken for a complete one.
pub fn stream<F, Fut>(filename: &str, header: &[&str], mut fetch: F) -> Response
where
    F: FnMut(i64) -> Fut + Send + 'static,
    Fut: Future<Output = DResult<(Vec<Vec<String>>, Option<i64>)>> + Send + 'static,
{
    let head: Vec<String> = header.iter().map(|s| s.to_string()).collect();
    let first = encode(&[head]).map(|b| {
        let mut v = Vec::with_capacity(b.len() + 3);
        v.extend_from_slice("\u{feff}".as_bytes());
        v.extend_from_slice(&b);
        Bytes::from(v)
    });
    // State: Some(cursor) while pages remain.
    let pages = futures_util::stream::unfold(Some(0i64), move |cursor| {
        let next = cursor.map(&mut fetch);
        async move {
            let fut = next?;
            match fut.await {
                Ok((rows, after)) => Some((encode(&rows), after)),
                Err(e) => {
                    tracing::error!(error = %e, "export aborted");
                    Some((Err(std::io::Error::other("export aborted")), None))
                }
            }
        }
    });
    let body =
        futures_util::StreamExt::chain(futures_util::stream::once(async move { first }), pages);
    let disposition = format!("attachment; filename=\"{filename}\"");
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// Streams the accounts matching `f` inside `scope` (the users list, a structure's members),
/// in id order; the structures involved are resolved once, and their names read once, for the
/// whole export.
pub async fn users(
    gw: Arc<Gateway>,
    filename: &str,
    scope: Scope,
    f: UserFilter,
) -> DResult<Response> {
    let place = gw.dir.place(&scope, &f).await?;
    let names = Arc::new(tokio::sync::Mutex::new(HashMap::new()));
    Ok(stream(filename, &USER_COLUMNS, move |after| {
        let (gw, place, f, names) = (gw.clone(), place.clone(), f.clone(), names.clone());
        async move {
            // Pages are fetched one after the other: the lock is never contended.
            let mut names = names.lock().await;
            let rows = gw
                .dir
                .export_users_page(&place, &f, after, PAGE, &mut names)
                .await?;
            let next = (rows.len() as i64 == PAGE)
                .then(|| rows.last().map(|r| r.user.id))
                .flatten();
            let tz = &gw.config.time_zone;
            Ok((rows.iter().map(|r| user_line(r, tz)).collect(), next))
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_format_is_french_csv() {
        assert_eq!(neutralise("=cmd()"), "'=cmd()");
        assert_eq!(neutralise("+33 1"), "'+33 1");
        assert_eq!(neutralise("-x"), "'-x");
        assert_eq!(neutralise("@x"), "'@x");
        assert_eq!(neutralise("\tx"), "'\tx");
        assert_eq!(neutralise("Dupont"), "Dupont");
        let b = encode(&[vec!["a;b".into(), "=1+1".into(), "c".into()]]).unwrap();
        assert_eq!(&b[..], b"\"a;b\";'=1+1;c\r\n");
    }
}
