//! Profile photo upload (docs/security.md#input-and-uploads): size-limited, decoded and
//! re-encoded on the server (so metadata such as EXIF/GPS is dropped and only pixels survive),
//! bounded dimensions. The small multipart reader below handles the one-file form of the
//! profile page and nothing else.

use crate::directory::access::Viewer;
use crate::web::context::Ctx;
use crate::web::error::{WebError, WebResult};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap};
use image::{DynamicImage, ImageReader, Limits};
use std::io::Cursor;

/// Largest accepted file (2 MiB).
pub const MAX_UPLOAD: usize = 2 * 1024 * 1024;
/// Stored photos fit in this square.
pub const MAX_SIDE: u32 = 512;

#[derive(Debug, PartialEq, Eq)]
pub enum PhotoError {
    TooLarge,
    Empty,
    NotAnImage,
}

impl PhotoError {
    pub fn message(&self) -> &'static str {
        match self {
            PhotoError::TooLarge => "Le fichier est trop volumineux : 2 Mo au maximum.",
            PhotoError::Empty => "Choisissez un fichier image (JPEG, PNG, WebP ou GIF).",
            PhotoError::NotAnImage => {
                "Le fichier n'est pas une image valide. Formats acceptés : JPEG, PNG, WebP ou GIF."
            }
        }
    }
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        if k.trim().eq_ignore_ascii_case("boundary") {
            let v = v.trim().trim_matches('"');
            (!v.is_empty() && v.len() <= 70).then(|| v.to_string())
        } else {
            None
        }
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Reads the photo form (fields `csrf` and `photo`): the viewer, CSRF-checked, and the
/// re-encoded image or why it was refused. Anonymous requests and bad CSRF tokens are errors;
/// a body over the limit is reported as [`PhotoError::TooLarge`] (nothing is stored then).
pub async fn receive(
    ctx: &Ctx,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> WebResult<(Viewer, Result<(&'static str, Vec<u8>), PhotoError>)> {
    let v = super::viewer_of(ctx).await?.ok_or(WebError::Forbidden)?;
    let Ok(body) = body else {
        return Ok((v, Err(PhotoError::TooLarge)));
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let Some(b) = boundary(ct) else {
        return Ok((v, Err(PhotoError::Empty)));
    };
    let (csrf, data) = {
        let parts = parts(&body, &b);
        let field = |name: &str| {
            parts
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, c)| c.to_vec())
                .unwrap_or_default()
        };
        (
            String::from_utf8_lossy(&field("csrf")).into_owned(),
            field("photo"),
        )
    };
    let v = super::action_viewer(ctx, &csrf).await?;
    let encoded = tokio::task::spawn_blocking(move || reencode(&data))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?;
    Ok((v, encoded))
}

/// The parts of a multipart body as (field name, content); malformed bodies give what could be
/// read (possibly nothing).
pub fn parts<'a>(body: &'a [u8], boundary: &str) -> Vec<(String, &'a [u8])> {
    let delim = format!("--{boundary}");
    let mut out = Vec::new();
    let Some(mut pos) = find(body, delim.as_bytes(), 0) else {
        return out;
    };
    loop {
        let start = pos + delim.len();
        if body.get(start..start + 2) == Some(b"--") {
            break;
        }
        let Some(head_end) = find(body, b"\r\n\r\n", start) else {
            break;
        };
        let head = String::from_utf8_lossy(&body[start..head_end]);
        let name = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
            .and_then(|l| {
                l.split(';').find_map(|p| {
                    let (k, v) = p.trim().split_once('=')?;
                    (k.trim() == "name").then(|| v.trim().trim_matches('"').to_string())
                })
            })
            .unwrap_or_default();
        let content_start = head_end + 4;
        let closing = format!("\r\n{delim}");
        let Some(end) = find(body, closing.as_bytes(), content_start) else {
            break;
        };
        out.push((name, &body[content_start..end]));
        pos = end + 2;
    }
    out
}

/// Decodes an uploaded image (JPEG, PNG, WebP or GIF) under strict limits and re-encodes it as
/// a JPEG of at most [`MAX_SIDE`] pixels a side. Returns (content type, bytes).
pub fn reencode(data: &[u8]) -> Result<(&'static str, Vec<u8>), PhotoError> {
    if data.is_empty() {
        return Err(PhotoError::Empty);
    }
    if data.len() > MAX_UPLOAD {
        return Err(PhotoError::TooLarge);
    }
    let mut reader = ImageReader::new(Cursor::new(data))
        .with_guessed_format()
        .map_err(|_| PhotoError::NotAnImage)?;
    if reader.format().is_none() {
        return Err(PhotoError::NotAnImage);
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(10_000);
    limits.max_image_height = Some(10_000);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().map_err(|_| PhotoError::NotAnImage)?;
    let img = if img.width() > MAX_SIDE || img.height() > MAX_SIDE {
        img.thumbnail(MAX_SIDE, MAX_SIDE)
    } else {
        img
    };
    let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
    rgb.write_with_encoder(encoder)
        .map_err(|_| PhotoError::NotAnImage)?;
    Ok(("image/jpeg", out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = DynamicImage::new_rgb8(w, h);
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn reencodes_and_bounds_images() {
        let (ct, bytes) = reencode(&png(1200, 600)).unwrap();
        assert_eq!(ct, "image/jpeg");
        let back = image::load_from_memory(&bytes).unwrap();
        assert_eq!((back.width(), back.height()), (512, 256));
        assert_eq!(
            reencode(b"%PDF-1.4 not an image"),
            Err(PhotoError::NotAnImage)
        );
        assert_eq!(reencode(b""), Err(PhotoError::Empty));
        assert_eq!(
            reencode(&vec![0u8; MAX_UPLOAD + 1]),
            Err(PhotoError::TooLarge)
        );
    }

    #[test]
    fn multipart_parts() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n--XyZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--XyZ--\r\n";
        let b = boundary("multipart/form-data; boundary=XyZ").unwrap();
        let p = parts(body, &b);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].0.as_str(), p[0].1), ("csrf", &b"tok"[..]));
        assert_eq!((p[1].0.as_str(), p[1].1), ("photo", &b"\x89PNG"[..]));
        assert!(boundary("text/plain").is_none());
    }
}
