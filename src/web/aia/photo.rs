//! Profile photo upload (docs/security.md#input-and-uploads): size-limited, decoded and
//! re-encoded on the server (so metadata such as EXIF/GPS is dropped and only pixels survive),
//! bounded dimensions. The small multipart reader below handles the one-file form of the
//! profile page and nothing else.
//!
//! Decoding is what costs memory: a 2 MiB PNG can declare 9000 × 9000 pixels and take 240 MB
//! once decoded. So the dimensions are read from the header first and anything over
//! [`MAX_PIXELS`] (16 Mpx, e.g. 4000 × 4000; at most [`MAX_DIMENSION`] a side) is refused
//! before a single pixel is decoded; the decoder's own limits ([`decoder_limits`]) are a second
//! guard for formats whose header could lie; and at most [`MAX_CONCURRENT_DECODES`] images are
//! decoded at once, on blocking threads, so that the worst case stays near
//! 2 × [`MAX_DECODE_ALLOC`] whatever the number of uploads in flight.

use super::extract::{SignedIn, EXPIRED_FORM};
use crate::state::Gateway;
use crate::web::context::PortalRequest;
use crate::web::error::{WebError, WebResult};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use image::{DynamicImage, ImageReader, Limits};
use std::io::Cursor;
use std::sync::Arc;

/// Largest accepted file (2 MiB).
pub const MAX_UPLOAD: usize = 2 * 1024 * 1024;
/// Stored photos fit in this square.
pub const MAX_SIDE: u32 = 512;
/// Largest image accepted, in pixels (16 Mpx: a 12 Mpx phone photo, 4032 × 3024, passes).
pub const MAX_PIXELS: u64 = 16 * 1024 * 1024;
/// Largest width or height accepted, whatever the pixel count.
pub const MAX_DIMENSION: u32 = 8192;
/// Most memory one decoder may allocate: a 16 Mpx image at 8 bytes a pixel (16-bit RGBA).
pub const MAX_DECODE_ALLOC: u64 = MAX_PIXELS * 8;
/// Images decoded at the same time; further uploads wait for a slot.
pub const MAX_CONCURRENT_DECODES: usize = 2;
/// How long an upload waits for a decoding slot before it is turned away.
pub const DECODE_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

static DECODES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_CONCURRENT_DECODES);

#[derive(Debug, PartialEq, Eq)]
pub enum PhotoError {
    TooLarge,
    Empty,
    NotAnImage,
    /// More pixels than [`MAX_PIXELS`] or a side over [`MAX_DIMENSION`].
    TooManyPixels,
    /// Every decoding slot stayed busy for [`DECODE_WAIT`].
    Busy,
}

impl PhotoError {
    pub fn message(&self) -> &'static str {
        match self {
            PhotoError::TooLarge => "Le fichier est trop volumineux : 2 Mo au maximum.",
            PhotoError::Empty => "Choisissez un fichier image (JPEG, PNG, WebP ou GIF).",
            PhotoError::NotAnImage => {
                "Le fichier n'est pas une image valide. Formats acceptés : JPEG, PNG, WebP ou GIF."
            }
            PhotoError::TooManyPixels => {
                "L'image est trop grande : 16 millions de pixels au maximum (par exemple 4000 × 4000), et 8192 pixels au plus de largeur ou de hauteur. Réduisez-la puis recommencez."
            }
            PhotoError::Busy => {
                "Trop de photos sont en cours de traitement. Réessayez dans quelques instants."
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

/// The photo form (fields `csrf` and `photo`), read by the extractor: who sends it, CSRF-checked,
/// and the file. Anonymous requests (403) and bad tokens (French 400) are rejected; a form
/// that holds no usable file is not, so that the page can say why (nothing is stored then).
/// Nothing is decoded here: the handler checks what the viewer may do first, then calls
/// [`SentPhoto::reencode`].
pub struct PhotoUpload {
    pub who: SignedIn,
    pub file: SentPhoto,
}

/// The file of a photo form as sent, or why it was refused before any decoding.
pub struct SentPhoto(Result<Vec<u8>, PhotoError>);

/// A photo ready to store.
#[derive(Debug, PartialEq, Eq)]
pub struct Reencoded {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

impl FromRequest<Arc<Gateway>> for PhotoUpload {
    type Rejection = WebError;

    async fn from_request(request: Request, gw: &Arc<Gateway>) -> Result<Self, WebError> {
        let (mut head, body) = request.into_parts();
        let req = PortalRequest::from_request_parts(&mut head, gw).await?;
        let who = SignedIn::of(req).await?.ok_or(WebError::Forbidden)?;
        let content_type = head
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_string();
        let Ok(body) = Bytes::from_request(Request::from_parts(head, body), gw).await else {
            return Ok(PhotoUpload {
                who,
                file: SentPhoto(Err(PhotoError::TooLarge)),
            });
        };
        let Some(b) = boundary(&content_type) else {
            return Ok(PhotoUpload {
                who,
                file: SentPhoto(Err(PhotoError::Empty)),
            });
        };
        let parts = parts(&body, &b);
        let field = |name: &str| {
            parts
                .iter()
                .find(|p| p.name == name)
                .map(|p| p.content.to_vec())
                .unwrap_or_default()
        };
        if !who.req.csrf_ok(&String::from_utf8_lossy(&field("csrf"))) {
            return Err(WebError::BadRequest(EXPIRED_FORM.into()));
        }
        Ok(PhotoUpload {
            who,
            file: SentPhoto(Ok(field("photo"))),
        })
    }
}

impl SentPhoto {
    /// The file checked and re-encoded (see [`process`]), or why it is refused.
    pub async fn reencode(self) -> WebResult<Result<Reencoded, PhotoError>> {
        match self.0 {
            Ok(data) => process(data).await,
            Err(refused) => Ok(Err(refused)),
        }
    }
}

/// Checks and re-encodes an uploaded file on a blocking thread, once one of the
/// [`MAX_CONCURRENT_DECODES`] slots is free (waiting at most [`DECODE_WAIT`]). The slot is
/// held until decoding ends, even if the client goes away meanwhile.
pub async fn process(data: Vec<u8>) -> WebResult<Result<Reencoded, PhotoError>> {
    // Cheap refusals first: they need no slot.
    if let Err(e) = check_header(&data) {
        return Ok(Err(e));
    }
    let Ok(Ok(permit)) = tokio::time::timeout(DECODE_WAIT, DECODES.acquire()).await else {
        return Ok(Err(PhotoError::Busy));
    };
    tokio::task::spawn_blocking(move || {
        let _slot = permit;
        reencode(&data)
    })
    .await
    .map_err(|e| WebError::Internal(e.to_string()))
}

/// One field of a multipart body.
pub struct FormPart<'a> {
    pub name: String,
    pub content: &'a [u8],
}

/// The fields of a multipart body; malformed bodies give what could be read (possibly
/// nothing).
pub fn parts<'a>(body: &'a [u8], boundary: &str) -> Vec<FormPart<'a>> {
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
        out.push(FormPart {
            name,
            content: &body[content_start..end],
        });
        pos = end + 2;
    }
    out
}

/// The decoder limits: the second guard, for an image whose header understates what decoding
/// it takes (e.g. GIF frames larger than the declared screen).
pub fn decoder_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    limits
}

/// A reader of `data` in its guessed format, with [`decoder_limits`].
fn reader(data: &[u8]) -> Result<ImageReader<Cursor<&[u8]>>, PhotoError> {
    let mut reader = ImageReader::new(Cursor::new(data))
        .with_guessed_format()
        .map_err(|_| PhotoError::NotAnImage)?;
    if reader.format().is_none() {
        return Err(PhotoError::NotAnImage);
    }
    reader.limits(decoder_limits());
    Ok(reader)
}

/// `true` when an image of `width` × `height` may be decoded.
pub fn dimensions_ok(width: u32, height: u32) -> bool {
    width <= MAX_DIMENSION
        && height <= MAX_DIMENSION
        && u64::from(width) * u64::from(height) <= MAX_PIXELS
}

/// Width and height of an image, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dimensions {
    pub width: u32,
    pub height: u32,
}

/// Size, format and dimensions, from the header only (no pixel is decoded).
pub fn check_header(data: &[u8]) -> Result<Dimensions, PhotoError> {
    if data.is_empty() {
        return Err(PhotoError::Empty);
    }
    if data.len() > MAX_UPLOAD {
        return Err(PhotoError::TooLarge);
    }
    let (w, h) = match reader(data)?.into_dimensions() {
        Ok(d) => d,
        Err(image::ImageError::Limits(_)) => return Err(PhotoError::TooManyPixels),
        Err(_) => return Err(PhotoError::NotAnImage),
    };
    if !dimensions_ok(w, h) {
        return Err(PhotoError::TooManyPixels);
    }
    Ok(Dimensions {
        width: w,
        height: h,
    })
}

/// Decodes an uploaded image (JPEG, PNG, WebP or GIF) under strict limits and re-encodes it as
/// a JPEG of at most [`MAX_SIDE`] pixels a side. Blocking and memory-hungry: call it through
/// [`process`].
pub fn reencode(data: &[u8]) -> Result<Reencoded, PhotoError> {
    check_header(data)?;
    let img = reader(data)?.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => PhotoError::TooManyPixels,
        _ => PhotoError::NotAnImage,
    })?;
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
    Ok(Reencoded {
        content_type: "image/jpeg",
        bytes: out,
    })
}

/// A form that may carry a photo (AJOUTER and ÉDITER: "Ajouter une photo" is one of their
/// fields, so that choosing a photo never throws away what was typed in the others): who sends
/// it (CSRF-checked), its text fields as `F`, and the file when one was chosen. The form comes
/// as `multipart/form-data`, or urlencoded when sent without a file input (scripts, tests).
/// Rejections are [`super::extract::Action`]'s: a malformed form is a French 400, no session
/// goes to the login form, a bad token is a French 400; a NUL byte in a text field is refused
/// as in every other form (docs/security.md#input-and-uploads).
pub struct FormAndPhoto<F> {
    pub who: SignedIn,
    pub form: F,
    /// `None` when no file was chosen.
    pub photo: Option<SentPhoto>,
}

impl<F> FromRequest<Arc<Gateway>> for FormAndPhoto<F>
where
    F: serde::de::DeserializeOwned + super::extract::CsrfProtected + Send + 'static,
{
    type Rejection = WebError;

    async fn from_request(request: Request, gw: &Arc<Gateway>) -> Result<Self, WebError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_string();
        let Some(b) = boundary(&content_type) else {
            let super::extract::Action(who, form) =
                super::extract::Action::<F>::from_request(request, gw).await?;
            return Ok(FormAndPhoto {
                who,
                form,
                photo: None,
            });
        };
        let (mut head, body) = request.into_parts();
        let req = PortalRequest::from_request_parts(&mut head, gw).await?;
        let body = Bytes::from_request(Request::from_parts(head, body), gw)
            .await
            .map_err(|_| WebError::Rejected(axum::http::StatusCode::PAYLOAD_TOO_LARGE))?;
        let (text, photo) = split_photo(&body, &b)?;
        let form = axum::extract::Form::<F>::from_request(
            Request::builder()
                .method(axum::http::Method::POST)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(text))
                .map_err(|e| WebError::Internal(e.to_string()))?,
            &(),
        )
        .await
        .map_err(WebError::from)?
        .0;
        let who = SignedIn::of(req).await?.ok_or(WebError::LoginRequired)?;
        if !who.req.csrf_ok(form.csrf()) {
            return Err(WebError::BadRequest(EXPIRED_FORM.into()));
        }
        Ok(FormAndPhoto {
            who,
            form,
            // A file input left empty sends an empty part: no photo.
            photo,
        })
    }
}

/// The text fields of a multipart form, urlencoded, and its non-empty "photo" part.
fn split_photo(body: &[u8], b: &str) -> Result<(String, Option<SentPhoto>), WebError> {
    let mut text = form_urlencoded::Serializer::new(String::new());
    let mut photo = None;
    for p in &parts(body, b) {
        if p.name == "photo" {
            if !p.content.is_empty() {
                photo = Some(SentPhoto(Ok(p.content.to_vec())));
            }
            continue;
        }
        let Ok(value) = std::str::from_utf8(p.content) else {
            return Err(WebError::BadRequest(
                "Le formulaire envoyé est invalide. Rechargez la page et recommencez.".into(),
            ));
        };
        if crate::web::rejections::has_nul(value.as_bytes())
            || crate::web::rejections::has_nul(p.name.as_bytes())
        {
            return Err(WebError::BadRequest(
                    "La demande contient un caractère nul, qui n'est accepté dans aucun champ. Corrigez la saisie et recommencez.".into(),
                ));
        }
        text.append_pair(&p.name, value);
    }
    Ok((text.finish(), photo))
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

    /// A black 1-bit greyscale PNG of `w` × `h` built by hand: a few kilobytes whatever the
    /// dimensions (the zlib stream of all-zero rows compresses ~1000:1).
    pub fn bilevel_png(w: u32, h: u32) -> Vec<u8> {
        use std::io::Write;
        fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let mut crc = flate2::Crc::new();
            crc.update(kind);
            crc.update(data);
            out.extend_from_slice(kind);
            out.extend_from_slice(data);
            out.extend_from_slice(&crc.sum().to_be_bytes());
        }
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[1, 0, 0, 0, 0]);
        let row = vec![0u8; 1 + (w as usize).div_ceil(8)];
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        for _ in 0..h {
            z.write_all(&row).unwrap();
        }
        let idat = z.finish().unwrap();
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(&mut out, b"IDAT", &idat);
        chunk(&mut out, b"IEND", b"");
        out
    }

    #[test]
    fn reencodes_and_bounds_images() {
        let Reencoded {
            content_type: ct,
            bytes,
        } = reencode(&png(1200, 600)).unwrap();
        assert_eq!(ct, "image/jpeg");
        let back = image::load_from_memory(&bytes).unwrap();
        assert_eq!((back.width(), back.height()), (512, 256));
        assert_eq!(
            reencode(b"%PDF-1.4 not an image"),
            Err(PhotoError::NotAnImage)
        );
        assert_eq!(reencode(b""), Err(PhotoError::Empty));
        // 4200 × 4200 is 17.6 Mpx: refused from the header, before decoding.
        let huge = bilevel_png(9000, 9000);
        assert!(huge.len() < 64 * 1024, "{}", huge.len());
        assert_eq!(reencode(&huge), Err(PhotoError::TooManyPixels));
        assert_eq!(
            check_header(&bilevel_png(4200, 4200)),
            Err(PhotoError::TooManyPixels)
        );
        assert_eq!(
            check_header(&bilevel_png(8193, 1)),
            Err(PhotoError::TooManyPixels)
        );
        assert_eq!(
            check_header(&bilevel_png(4032, 3024)),
            Ok(Dimensions {
                width: 4032,
                height: 3024
            })
        );
        assert_eq!(
            reencode(&vec![0u8; MAX_UPLOAD + 1]),
            Err(PhotoError::TooLarge)
        );
    }

    #[test]
    fn dimension_bounds() {
        assert!(dimensions_ok(4096, 4096));
        assert!(dimensions_ok(8192, 2048));
        assert!(!dimensions_ok(8192, 2049));
        assert!(!dimensions_ok(9000, 9000));
        assert!(!dimensions_ok(u32::MAX, 1));
        let l = decoder_limits();
        assert_eq!(l.max_image_width, Some(MAX_DIMENSION));
        assert_eq!(l.max_alloc, Some(MAX_DECODE_ALLOC));
    }

    #[test]
    fn multipart_parts() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n--XyZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--XyZ--\r\n";
        let b = boundary("multipart/form-data; boundary=XyZ").unwrap();
        let p = parts(body, &b);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].name.as_str(), p[0].content), ("csrf", &b"tok"[..]));
        assert_eq!(
            (p[1].name.as_str(), p[1].content),
            ("photo", &b"\x89PNG"[..])
        );
        assert!(boundary("text/plain").is_none());
    }
}
