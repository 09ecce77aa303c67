//! Second factor (docs/security.md#second-factor): login with a TOTP code, replay and drift,
//! recovery codes, enrolment from the security page, brute-force delay on codes, and the
//! assurance (`auth_time`, `amr`, `acr`) carried in the assertion.

use crate::harness::{claims_of, csrf_of, Browser, TestGateway, PASSWORD};
use convergences::auth::totp;
use convergences::demo::{DEMO_TOTP_ACCOUNT, DEMO_TOTP_SECRET};

fn secret() -> Vec<u8> {
    totp::from_base32(DEMO_TOTP_SECRET).unwrap()
}

/// A gateway with the demo's second-factor account, as `convergences demo` makes it.
fn gateway() -> TestGateway {
    let t = TestGateway::start();
    t.block_on(convergences::demo::seed_second_factor_account(&t.gw))
        .expect("the demo's second-factor account");
    t
}

fn now() -> i64 {
    convergences::directory::now()
}

/// The code of the step `offset` steps away from now.
fn code(offset: i64) -> String {
    totp::code_at_step(&secret(), now() / 30 + offset)
}

/// Password step: returns the response (303 to the second step when all is well).
fn password_step(b: &Browser, email: &str) -> reqwest::blocking::Response {
    let (page, _) = b.visit(&b.t.url("auth.test", "/login"));
    let csrf = csrf_of(&page.text().unwrap());
    b.client
        .post(b.t.url("auth.test", "/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", PASSWORD),
        ])
        .send()
        .unwrap()
}

fn code_step(b: &Browser, code: &str) -> reqwest::blocking::Response {
    let (page, url) = b.visit(&b.t.url("auth.test", "/login/verification"));
    assert!(url.ends_with("/login/verification"), "{url}");
    let csrf = csrf_of(&page.text().unwrap());
    b.client
        .post(b.t.url("auth.test", "/login/verification"))
        .form(&[("csrf", csrf.as_str()), ("code", code)])
        .send()
        .unwrap()
}

#[test]
fn a_password_alone_does_not_sign_in_an_account_with_a_second_factor() {
    let t = gateway();
    let b = t.browser();
    let r = password_step(&b, DEMO_TOTP_ACCOUNT);
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login/verification");
    // No session yet: the portal and the application still want a login.
    let (_, url) = b.visit(&t.url("auth.test", "/"));
    assert!(url.contains("/login"), "{url}");
    let r = b
        .client
        .get(t.url("bip.test", "/"))
        .header("accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    // The second step without the first: back to the login form.
    let other = t.browser();
    let (_, url) = other.visit(&t.url("auth.test", "/login/verification"));
    assert!(url.contains("/login?expired=1"), "{url}");
}

#[test]
fn a_totp_code_signs_in_once_and_the_assertion_says_how() {
    let t = gateway();
    let b = t.browser();
    assert_eq!(password_step(&b, DEMO_TOTP_ACCOUNT).status(), 303);
    let c = code(0);
    let r = code_step(&b, &c);
    assert_eq!(r.status(), 303, "{:?}", r.text());
    assert_eq!(r.headers()["location"], "/");
    let echo = b.get_json(&t.url("bip.test", "/"));
    let claims = claims_of(
        echo["headers"]["x-convergences-assertion"][0]
            .as_str()
            .unwrap(),
    );
    assert_eq!(claims["acr"], "eidas2");
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    let auth_time = claims["auth_time"].as_i64().unwrap();
    assert!((now() - auth_time).abs() < 60, "{auth_time}");

    // The same code again, in another browser: refused as already used.
    let other = t.browser();
    assert_eq!(password_step(&other, DEMO_TOTP_ACCOUNT).status(), 303);
    let r = code_step(&other, &c);
    assert_eq!(r.status(), 401);
    assert!(r.text().unwrap().contains("déjà servi"));

    // A password-only account says so too.
    let plain = t.browser();
    plain.login("agent@mairie-exemple.fr", PASSWORD);
    let echo = plain.get_json(&t.url("bip.test", "/"));
    let claims = claims_of(
        echo["headers"]["x-convergences-assertion"][0]
            .as_str()
            .unwrap(),
    );
    assert_eq!(claims["acr"], "eidas1");
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
}

#[test]
fn one_step_of_drift_is_accepted_and_two_are_not() {
    let t = gateway();
    for (offset, ok) in [(-2, false), (2, false), (-1, true)] {
        let b = t.browser();
        assert_eq!(password_step(&b, DEMO_TOTP_ACCOUNT).status(), 303);
        let r = code_step(&b, &code(offset));
        assert_eq!(r.status() == 303, ok, "offset {offset}: {}", r.status());
    }
    // After a code of the previous step was used, that step and older ones are spent; the
    // next step still works.
    let b = t.browser();
    assert_eq!(password_step(&b, DEMO_TOTP_ACCOUNT).status(), 303);
    assert_eq!(code_step(&b, &code(1)).status(), 303);
}

#[test]
fn wrong_codes_are_throttled_like_passwords() {
    let t = gateway();
    let b = t.browser();
    assert_eq!(password_step(&b, DEMO_TOTP_ACCOUNT).status(), 303);
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(code_step(&b, "000000").status().as_u16());
    }
    // The test configuration delays after a few failures; the right code is then refused too.
    assert!(statuses.contains(&429), "{statuses:?}");
    let r = code_step(&b, &code(0));
    assert_eq!(r.status(), 429);
    assert!(r.text().unwrap().contains("Réessayez dans"));
    // The delay is the account's: the password step waits too (a right password does not
    // reset the count while the second factor is pending).
    let again = t.browser();
    assert_eq!(password_step(&again, DEMO_TOTP_ACCOUNT).status(), 429);
}

#[test]
fn enrolment_from_the_security_page_then_recovery_codes_work_once() {
    let t = gateway();
    let b = t.browser();
    b.login("agent@mairie-exemple.fr", PASSWORD);
    let (page, _) = b.visit(&t.url("auth.test", "/aia/profil/securite"));
    let html = page.text().unwrap();
    assert!(html.contains("Non activée"), "{html}");
    let csrf = csrf_of(&html);
    let r = b
        .client
        .post(t.url("auth.test", "/aia/profil/securite/totp"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().unwrap();
    assert!(html.contains("<svg"), "a QR code rendered on the server");
    // Read the secret from the page, as a person would type it.
    let start = html.find("id=\"totp-secret\">").unwrap() + "id=\"totp-secret\">".len();
    let shown = &html[start..start + html[start..].find('<').unwrap()];
    let secret = totp::from_base32(shown).expect("base32 on the page");
    let sealed_start =
        html.find("name=\"enrol\" value=\"").unwrap() + "name=\"enrol\" value=\"".len();
    let sealed = &html[sealed_start..sealed_start + html[sealed_start..].find('"').unwrap()];
    let confirm = |code: &str| {
        b.client
            .post(t.url("auth.test", "/aia/profil/securite/totp/confirmer"))
            .form(&[("csrf", csrf.as_str()), ("enrol", sealed), ("code", code)])
            .send()
            .unwrap()
    };
    assert_eq!(confirm("123456").status(), 422, "a wrong first code");
    let r = confirm(&totp::code_at_step(&secret, now() / 30));
    assert_eq!(r.status(), 200);
    let html = r.text().unwrap();
    let codes: Vec<String> = html
        .match_indices("<li><code>")
        .map(|(i, _)| html[i + 10..i + 21].to_string())
        .collect();
    assert_eq!(codes.len(), 10, "{html}");
    // A sealed enrolment is bound to its user: another account cannot confirm it.
    let other = t.browser();
    other.login("referent@mairie-exemple.fr", PASSWORD);
    let (page, _) = other.visit(&t.url("auth.test", "/aia/profil/securite"));
    let other_csrf = csrf_of(&page.text().unwrap());
    let r = other
        .client
        .post(t.url("auth.test", "/aia/profil/securite/totp/confirmer"))
        .form(&[
            ("csrf", other_csrf.as_str()),
            ("enrol", sealed),
            ("code", &totp::code_at_step(&secret, now() / 30 + 1)),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 422);

    // From now on the agent's login asks for a code; a recovery code works, once.
    let b2 = t.browser();
    assert_eq!(password_step(&b2, "agent@mairie-exemple.fr").status(), 303);
    let r = code_step(&b2, &codes[0].to_lowercase().replace('-', " "));
    assert_eq!(r.status(), 303);
    let echo = b2.get_json(&t.url("bip.test", "/"));
    let claims = claims_of(
        echo["headers"]["x-convergences-assertion"][0]
            .as_str()
            .unwrap(),
    );
    assert_eq!(claims["acr"], "eidas2");
    let b3 = t.browser();
    assert_eq!(password_step(&b3, "agent@mairie-exemple.fr").status(), 303);
    assert_eq!(code_step(&b3, &codes[0]).status(), 401, "used once");
    // The secret is not in the database in clear.
    let uid = t.user_id("agent@mairie-exemple.fr");
    let rec = t.block_on(t.gw.dir.totp(uid)).unwrap().unwrap();
    assert!(!rec.sealed.contains(&totp::to_base32(&secret)));
    assert!(rec.sealed.starts_with("v1."));
}
