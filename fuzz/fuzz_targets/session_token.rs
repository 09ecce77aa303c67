//! Session and token values a browser sends back: the session cookie (`Sessions::resolve`), an
//! application-host cookie (`resolve_link`), a handshake code (`redeem_code`), CSRF tokens
//! (`auth::csrf::verify`), the signed pre-session cookie (`csrf::pre_session_valid`), the
//! sealed pending-login cookie of the second factor (`auth::sealed::KeyRing::open`) and the
//! TOTP code typed at login (`auth::totp::matching_step`, `from_base32`).
//! Sessions live in the in-process store (`session::memory`), on a current-thread runtime.
//!
//! Input: UTF-8 text; the token is the whole input, and for the two-value checks it is also
//! split at the first '\n' (binding / presented value).
#![no_main]

use convergences::auth::sealed::{KeyRing, SealKey};
use convergences::auth::{csrf, totp};
use convergences::session::memory::MemoryStore;
use convergences::session::{key_of, Assurance, Sessions};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use std::time::Duration;

const SECRET: &[u8] = b"fuzz-secret-0123456789abcdef0123";
const NOW: i64 = 1_800_000_000;

struct World {
    rt: tokio::runtime::Runtime,
    sessions: Sessions,
    /// A live session's cookie value.
    token: String,
    /// A signed pre-session cookie value made at `NOW`.
    pre_session: String,
    ring: KeyRing,
    /// A pending-login cookie sealed with `ring`.
    pending: String,
}

const PENDING_AAD: &[u8] = b"pending-login";
const TOTP_SECRET: &[u8; 20] = b"12345678901234567890";

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let sessions = Sessions::new(
            MemoryStore::new(),
            Duration::from_secs(3600),
            Duration::from_secs(8 * 3600),
        );
        let token = rt
            .block_on(sessions.create(7, "203.0.113.7", "fuzz", Assurance::password(NOW)))
            .unwrap();
        let ring = KeyRing {
            current: SealKey::from_bytes(&[7u8; 32]).unwrap(),
            previous: vec![SealKey::from_bytes(&[8u8; 32]).unwrap()],
        };
        World {
            rt,
            sessions,
            token,
            pre_session: csrf::pre_session_value(SECRET, NOW),
            pending: ring.seal(b"{\"user_id\":7}", PENDING_AAD),
            ring,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let w = world();

    // The store key is the SHA-256 of the cookie value: the store never holds a usable token.
    let k = key_of(s);
    assert_eq!(k, <[u8; 32]>::from(Sha256::digest(s.as_bytes())));

    let known = s == w.token;
    w.rt.block_on(async {
        let live = w.sessions.resolve(s).await.unwrap();
        assert_eq!(live.is_some(), known, "token {s:?} resolved: {live:?}");
        if let Some(l) = &live {
            assert_eq!(l.key, k);
            assert_eq!(l.record.user_id, 7);
        }
        // The live token with anything appended or cut is another, unknown token.
        let longer = format!("{}{s}", w.token);
        if !s.is_empty() {
            assert!(w.sessions.resolve(&longer).await.unwrap().is_none());
        }
        // No application-host cookie and no handshake code was ever issued.
        assert!(w.sessions.resolve_link(s, "bip").await.unwrap().is_none());
        assert!(w.sessions.redeem_code(s, "bip", s).await.unwrap().is_none());
        assert!(w
            .sessions
            .redeem_code(&w.token, "bip", s)
            .await
            .unwrap()
            .is_none());
    });
    // The live session is still there (nothing above may have revoked it).
    assert!(w
        .rt
        .block_on(w.sessions.resolve(&w.token))
        .unwrap()
        .is_some());

    // CSRF: a token is accepted exactly when it is the one for this binding.
    let (binding, presented) = s.split_once('\n').unwrap_or((s, ""));
    let expected = csrf::token(SECRET, binding);
    assert!(csrf::verify(SECRET, binding, &expected));
    assert_eq!(
        csrf::verify(SECRET, binding, presented),
        presented == expected
    );

    // Pre-session cookie: only values this gateway signed, and only while fresh.
    for now in [NOW, NOW + 1, NOW + 7199, NOW + 7200] {
        let ok = csrf::pre_session_valid(SECRET, s, now);
        if ok {
            assert_eq!(
                s, w.pre_session,
                "forged pre-session value accepted at {now}"
            );
        }
    }
    assert!(csrf::pre_session_valid(SECRET, &w.pre_session, NOW));
    let tampered = format!("{}{s}", w.pre_session);
    if !s.is_empty() {
        assert!(
            !csrf::pre_session_valid(SECRET, &tampered, NOW),
            "{tampered:?}"
        );
    }

    // Pending-login cookie: only what this ring sealed opens, and only with its own AAD.
    if let Some(plain) = w.ring.open(s, PENDING_AAD) {
        assert_eq!(s, w.pending, "a made-up sealed value opened: {plain:?}");
    }
    assert!(w.ring.open(&w.pending, PENDING_AAD).is_some());
    assert!(w.ring.open(&w.pending, b"another-purpose").is_none());
    if !s.is_empty() {
        assert!(w
            .ring
            .open(&format!("{}{s}", w.pending), PENDING_AAD)
            .is_none());
    }
    let sealed = w.ring.seal(s.as_bytes(), PENDING_AAD);
    assert_eq!(
        w.ring.open(&sealed, PENDING_AAD).as_deref(),
        Some(s.as_bytes())
    );

    // TOTP: a code is accepted only as the code of the current step or one step away.
    let step_now = NOW / 30;
    if let Some(step) = totp::matching_step(TOTP_SECRET, s, NOW) {
        assert!(
            (step - step_now).abs() <= 1,
            "step {step} accepted at {step_now}"
        );
        assert_eq!(totp::code_at_step(TOTP_SECRET, step), s.trim(), "{s:?}");
    }
    let current = totp::code_at_step(TOTP_SECRET, step_now);
    assert_eq!(
        totp::matching_step(TOTP_SECRET, &current, NOW),
        Some(step_now)
    );
    // A secret in base32 reads back the same. (Not for the empty secret: from_base32 takes
    // "s" for one, where to_base32 writes "", which it refuses. Only server-made secrets reach
    // it, sealed, so that is reported rather than asserted.)
    if let Some(bytes) = totp::from_base32(s).filter(|b| !b.is_empty()) {
        assert_eq!(totp::from_base32(&totp::to_base32(&bytes)), Some(bytes));
    }
});
