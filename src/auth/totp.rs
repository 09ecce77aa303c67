//! Time-based one-time passwords, RFC 6238 as every authenticator application speaks it:
//! HMAC-SHA1, 6 digits, 30-second steps, one step of drift either way
//! (docs/security.md#second-factor). The arithmetic is totp-rs's; this module adds what the
//! login needs on top: which step matched, so that a code already used is refused when replayed.

use totp_rs::{Algorithm, Builder, Secret, Totp};

pub const DIGITS: usize = 6;
pub const STEP_SECONDS: u64 = 30;
/// Steps of drift accepted on either side of the current one.
pub const DRIFT_STEPS: i64 = 1;

fn totp(secret: &[u8]) -> Totp {
    // `build_noncompliant`: authenticators in the field use 80-bit secrets (the RFC's and
    // Google Authenticator's), below totp-rs's 128-bit floor; new secrets here are 160 bits.
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS as u8)
        .with_skew(DRIFT_STEPS as u16)
        .with_step_duration(STEP_SECONDS)
        .with_secret(Secret::new(secret.to_vec().into_boxed_slice()))
        .build_noncompliant()
}

/// The code for step `step` (Unix time / 30).
pub fn code_at_step(secret: &[u8], step: i64) -> String {
    totp(secret)
        .generate(step.max(0) as u64 * STEP_SECONDS)
        .to_string()
}

/// The step whose code `code` is, among the current one and [`DRIFT_STEPS`] on either side;
/// `None` when none matches. The caller refuses a step already used (replay).
pub fn matching_step(secret: &[u8], code: &str, unix_time: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) || unix_time < 0 {
        return None;
    }
    totp(secret)
        .check(code, unix_time as u64)
        .map(|step| step as i64)
}

/// A new random secret of 160 bits (the size RFC 4226 recommends for HMAC-SHA1).
pub fn new_secret() -> Vec<u8> {
    use rand::RngCore;
    let mut s = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

/// The secret as people type it into an authenticator: base32, no padding.
pub fn to_base32(secret: &[u8]) -> String {
    Secret::new(secret.to_vec().into_boxed_slice()).to_base32()
}

/// The base32 text back to bytes (spaces and case ignored); `None` if it is not base32.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if clean.is_empty() {
        return None;
    }
    let secret = Secret::try_from_base32(clean).ok()?;
    let bytes: &[u8] = secret.as_ref();
    Some(bytes.to_vec())
}

/// The `otpauth://` URI an authenticator reads from the QR code.
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        enc(issuer),
        enc(account),
        to_base32(secret),
        enc(issuer)
    )
}

/// The QR code of `text` as an SVG document (rendered here: no external service sees it).
pub fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B, SHA-1 rows (8 digits there; the last 6 are the 6-digit code).
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight) in [
            (59i64, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            let step = time / 30;
            assert_eq!(code_at_step(secret, step), eight[2..], "t = {time}");
            assert_eq!(matching_step(secret, &eight[2..], time), Some(step));
        }
    }

    #[test]
    fn one_step_of_drift_either_way_and_no_more() {
        let secret = from_base32("JBSWY3DPEHPK3PXP").unwrap();
        let now = 1_800_000_015;
        let step = now / 30;
        for (offset, ok) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = code_at_step(&secret, step + offset);
            assert_eq!(
                matching_step(&secret, &code, now).is_some(),
                ok,
                "offset {offset}"
            );
        }
        for junk in ["", "12345", "1234567", "abcdef", " 12 34 "] {
            assert_eq!(matching_step(&secret, junk, now), None, "{junk:?}");
        }
    }

    #[test]
    fn base32_round_trips_and_the_uri_names_the_account() {
        let s = new_secret();
        assert_eq!(s.len(), 20);
        assert_eq!(from_base32(&to_base32(&s)).unwrap(), s);
        assert_eq!(
            from_base32("jbsw y3dp ehpk 3pxp").unwrap(),
            from_base32("JBSWY3DPEHPK3PXP").unwrap()
        );
        assert_eq!(from_base32("not base32!"), None);
        let uri = otpauth_uri(&s, "Convergences", "agent@mairie.fr");
        assert!(uri.starts_with("otpauth://totp/Convergences:agent%40mairie.fr?secret="));
        assert!(qr_svg(&uri).unwrap().contains("<svg"));
    }
}
