//! The AIA's forms and query strings as axum's `Form`/`Query` (hence `FrForm`/`FrQuery`)
//! decode them, with serde_urlencoded, into the handlers' structs, then the field checks of
//! `web::aia::form` that every form and the CSV import share, and the pager's reading of
//! `page` / `par_page`.
//!
//! The handlers' own `check` functions are private (and async, with a database): the field
//! rules they call (`directory::fields`, re-exported by `web::aia::form`) are fuzzed with the
//! decoded values instead.
//!
//! Input: an `application/x-www-form-urlencoded` body or query string.
#![no_main]

use convergences::directory::fields::{self, FieldErrors};
use convergences::directory::users::normalize_email;
use convergences::web::aia::form;
use convergences::web::aia::{num, Pager};
use libfuzzer_sys::fuzz_target;

type Pairs = Vec<(String, String)>;

fn decode<T: serde::de::DeserializeOwned>(data: &[u8]) -> Option<T> {
    serde_urlencoded::from_bytes::<T>(data).ok()
}

/// The value a struct field must have decoded to: the only occurrence of its key, or "".
fn single<'a>(pairs: &'a Pairs, key: &str) -> Option<&'a str> {
    let mut it = pairs.iter().filter(|(k, _)| k == key);
    let first = it.next();
    if it.next().is_some() {
        return None; // duplicated: serde refuses or keeps one, either is fine
    }
    Some(first.map_or("", |(_, v)| v.as_str()))
}

fn check_text(v: &str, max: usize, required: bool) {
    let mut e = FieldErrors::default();
    let out = fields::text(&mut e, "f", v, required, max);
    assert_eq!(out, v.trim());
    if e.is_empty() {
        assert!(!required || !out.is_empty());
        assert!(out.chars().count() <= max, "{out:?} longer than {max}");
        assert!(
            !out.chars()
                .any(|c| c.is_control() && c != '\n' && c != '\r'),
            "control character accepted in {out:?}"
        );
    } else {
        assert!(e.get("f").is_some());
    }
}

fn check_email(v: &str) {
    if !fields::email_syntax_ok(v) {
        return;
    }
    assert!(v.len() <= 254 && !v.chars().any(|c| c.is_whitespace() || c.is_control()));
    assert_eq!(v.matches('@').count(), 1, "{v:?}");
    let (local, domain) = v.split_once('@').unwrap();
    assert!(!local.is_empty() && domain.contains('.'), "{v:?}");
    assert!(v.is_ascii(), "non-ASCII e-mail accepted: {v:?}");
    assert_eq!(fields::domain_of(v), domain.to_ascii_lowercase());
    let n = normalize_email(v);
    assert!(
        fields::email_syntax_ok(&n),
        "{v:?} valid but not once normalised ({n:?})"
    );
    assert_eq!(normalize_email(&n), n);
}

fn check_domains(v: &str) {
    let mut e = FieldErrors::default();
    let out = fields::parse_domains(&mut e, "d", v);
    for (i, d) in out.iter().enumerate() {
        assert!(fields::email_syntax_ok(&format!("x@{d}")), "{d:?}");
        assert_eq!(*d, d.to_ascii_lowercase());
        assert!(!out[..i].contains(d), "duplicate {d:?}");
    }
    // What was kept reads back the same, without an error.
    let mut again = FieldErrors::default();
    assert_eq!(fields::parse_domains(&mut again, "d", &out.join(", ")), out);
    assert!(again.is_empty(), "{out:?}: {:?}", again.0);
}

fn check_phone(v: &str) {
    if !fields::phone_ok(v) {
        return;
    }
    assert!(
        v.chars()
            .all(|c| c.is_ascii_digit() || " .-()+".contains(c)),
        "{v:?}"
    );
    let digits = v.chars().filter(char::is_ascii_digit).count();
    assert!((8..=15).contains(&digits), "{v:?}: {digits} digits");
}

fn check_date(v: &str) {
    let mut e = FieldErrors::default();
    let Some(d) = fields::date(&mut e, "d", v) else {
        assert!(v.trim().is_empty() || e.get("d").is_some());
        return;
    };
    assert!(e.is_empty());
    let b = d.as_bytes();
    assert!(
        b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit()),
        "{v:?} stored as {d:?}, not YYYY-MM-DD"
    );
    let mut e2 = FieldErrors::default();
    assert_eq!(
        fields::date(&mut e2, "d", &d).as_deref(),
        Some(d.as_str()),
        "{v:?}"
    );
}

fn check_pager(pairs: &Pairs) {
    let page = num(form::first(pairs, "page"), 1);
    let per_page = num(form::first(pairs, "par_page"), 25);
    for total in [0, 1, 1000, 99_999] {
        let p = Pager::new(
            "/aia/utilisateurs",
            &[("q", "x&y=z".to_string())],
            page,
            per_page,
            total,
        );
        assert!(1 <= p.page && p.page <= p.pages, "{p:?}");
        assert!(convergences::web::aia::PER_PAGE.contains(&p.per_page));
        assert!(p.offset() >= 0 && p.offset() <= total.max(0));
        assert!(p.numbers.len() <= 5);
        for (n, url) in &p.numbers {
            let q = url.split_once('?').unwrap().1;
            let back: Pairs = serde_urlencoded::from_str(q).unwrap();
            assert_eq!(form::first(&back, "page"), n.to_string());
            assert_eq!(form::first(&back, "q"), "x&y=z");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // What every form decodes to at the lowest level: pairs (assign / members actions read these).
    let pairs: Pairs = serde_urlencoded::from_bytes(data).expect("pairs always decode");
    let mut ids = form::ids(&pairs, "ids");
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids not sorted and unique: {ids:?}"
    );
    ids.dedup();
    let first = form::first(&pairs, "csrf");
    assert_eq!(
        first,
        pairs
            .iter()
            .find(|(k, _)| k == "csrf")
            .map_or("", |(_, v)| v.as_str())
    );

    // The handlers' structs: must decode or be refused, never panic; public fields match.
    if let Some(f) = decode::<convergences::web::aia::users::UserForm>(data) {
        for (k, v) in [
            ("last_name", &f.last_name),
            ("first_name", &f.first_name),
            ("email", &f.email),
            ("structure_id", &f.structure_id),
            ("phone", &f.phone),
            ("valid_from", &f.valid_from),
        ] {
            if let Some(want) = single(&pairs, k) {
                assert_eq!(v, want, "field {k}");
            }
        }
        assert_eq!(
            form::checked(&f.telework),
            !f.telework.as_deref().unwrap_or("").is_empty()
        );
        check_text(&f.last_name, 100, true);
        check_text(&f.postal_address, 500, false);
        check_email(&f.email);
        check_email(&normalize_email(&f.email));
        check_phone(&f.phone);
        check_date(&f.valid_from);
        check_date(&f.valid_until);
    }
    if let Some(f) = decode::<convergences::web::aia::structures::StructureForm>(data) {
        if let Some(want) = single(&pairs, "domains") {
            assert_eq!(f.domains, want);
        }
        check_text(&f.short_name, 100, true);
        check_domains(&f.domains);
    }
    let _ = decode::<convergences::web::aia::users::ListQuery>(data);
    let _ = decode::<convergences::web::aia::users::LockForm>(data);
    let _ = decode::<convergences::web::aia::structures::ReferentForm>(data);
    let _ = decode::<convergences::web::aia::assign::AssignQuery>(data);
    let _ = decode::<convergences::web::aia::journal::JournalQuery>(data);
    let _ = decode::<convergences::web::login::LoginForm>(data);
    let _ = decode::<convergences::web::login::LoginQuery>(data);
    let _ = decode::<convergences::web::password::PasswordForm>(data);
    let _ = decode::<convergences::web::recovery::RequestForm>(data);
    let _ = decode::<convergences::web::sso::AuthorizeQuery>(data);
    let _ = decode::<convergences::web::factor_check::ProofForm>(data);
    let _ = decode::<convergences::web::step_up::ConfirmForm>(data);
    let _ = decode::<convergences::web::step_up::ConfirmQuery>(data);
    let _ = decode::<convergences::web::passkeys::RegisterForm>(data);
    let _ = decode::<convergences::web::security::ConfirmForm>(data);
    let _ = decode::<convergences::web::security::CodeForm>(data);

    // Every value through every check, whatever its field.
    for (_, v) in pairs.iter().take(8) {
        // A passkey's name: never a control character, never longer than the limit.
        if let Some(name) = convergences::second_factor::passkeys::key_name(v, 1) {
            assert!(!name.chars().any(char::is_control), "{name:?}");
            assert!(
                name.chars().count() <= convergences::directory::passkeys::NAME_MAX,
                "{name:?}"
            );
        }
        check_text(v, fields::MAX_TEXT, false);
        check_email(v);
        check_domains(v);
        check_phone(v);
        check_date(v);
    }
    check_pager(&pairs);
});
