//! Back-channel logout beyond the portal logout (docs/oidc-provider.md#logout): a user who
//! loses access to an application (role removed) has its client told, once; clients of one
//! session, whose tokens were issued at once by two instances sharing Redis, are all told.

use crate::harness::{redis_url, Options, TestGateway, PASSWORD};
use crate::oidc_provider::{
    answer, apps, authorize, check_logout_token, code, grant, hash, receiver, redeem, signed_in,
    start, token, userinfo, verify, wait_for, AGENT,
};
use serde_json::Value;
use std::time::Duration;

const BC2_SECRET: &str = "bc2-secret-0123456789-abcdef";

fn id_claims(t: &TestGateway, tok: &Value, aud: &str) -> Value {
    verify(
        t,
        tok["id_token"].as_str().unwrap(),
        jsonwebtoken::Algorithm::RS256,
        aud,
    )
    .unwrap()
}

/// What the directory screens call after a change to an account, from a request handler (on
/// the gateway's runtime).
fn user_changed(t: &TestGateway, id: i64) {
    t.block_on(async { t.gw.user_changed(id) });
}

fn unassign(t: &TestGateway, app: &str) {
    let id = t.user_id(AGENT);
    let n = t
        .block_on(t.gw.dir.unassign_role(id, app, "utilisateur"))
        .unwrap();
    assert_eq!(n, 1);
    user_changed(t, id);
}

#[test]
fn losing_the_last_role_on_an_application_logs_its_client_out() {
    let (uri, got) = receiver();
    let t = start(Some(&uri), None);
    let b = signed_in(&t);
    let (c, v) = code(&b, &[]);
    let (_, tok) = redeem(&t, &c, &v);
    let claims = id_claims(&t, &tok, "rp-client");
    let access = tok["access_token"].as_str().unwrap().to_string();
    // A change that keeps the role (a profile edit, another application's role) tells nothing.
    unassign(&t, "other");
    std::thread::sleep(Duration::from_millis(300));
    assert!(got.lock().unwrap().is_empty(), "still allowed: no logout");
    assert_eq!(userinfo(&t, &access).0, 200);
    // The role on rp removed: one logout token for this session, and the tokens stop.
    unassign(&t, "rp");
    let tokens = wait_for(&got, 1);
    assert_eq!(tokens.len(), 1, "one logout token");
    check_logout_token(&t, &tokens[0], &claims["sub"], &claims["sid"]);
    assert_eq!(userinfo(&t, &access).0, 401);
    // Told once: another change does not tell again.
    user_changed(&t, t.user_id(AGENT));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(got.lock().unwrap().len(), 1);
    // The role given back: new tokens, a new entry, and the portal logout tells again.
    grant(&t, AGENT, "rp", "utilisateur");
    let (c, v) = code(&b, &[]);
    let (status, tok) = redeem(&t, &c, &v);
    assert_eq!(status, 200, "{tok}");
    b.logout();
    assert_eq!(wait_for(&got, 2).len(), 2);
}

/// Two clients with back-channel logout, tokens for both issued at the same moment by two
/// instances sharing Redis: the logout on one instance tells both clients, each once.
#[test]
fn clients_remembered_at_once_by_two_instances_are_all_told() {
    if redis_url().is_none() {
        eprintln!("skipped here: needs TEST_REDIS_URL (scripts/test.sh --services runs it)");
        return;
    }
    let (uri, got) = receiver();
    let extra = format!(
        "{}\n[[apps]]\nslug = \"bc2\"\nname = \"Deuxième client\"\nurl = \"http://bc2.test/\"\n[apps.oidc]\nclient_id = \"bc2-client\"\nclient_secret_hash = \"{}\"\nredirect_uris = [\"http://bc2.test/cb\"]\nbackchannel_logout_uri = \"{uri}\"\n",
        apps(Some(&uri)),
        hash(BC2_SECRET)
    );
    let a = TestGateway::start_with(Options {
        extra_apps: extra.clone(),
        ..Default::default()
    });
    let b_inst = TestGateway::start_with(Options {
        extra_apps: extra,
        share: Some(a.shared()),
        ..Default::default()
    });
    grant(&a, AGENT, "rp", "utilisateur");
    grant(&a, AGENT, "bc2", "utilisateur");
    let br = a.browser();
    assert_eq!(br.login(AGENT, PASSWORD).0, 303);
    for round in 0..5 {
        let (c1, v1) = code(&br, &[]);
        let r = authorize(
            &br,
            &[
                ("response_type", "code"),
                ("client_id", "bc2-client"),
                ("redirect_uri", "http://bc2.test/cb"),
                ("scope", "openid"),
                ("state", "s"),
            ],
        );
        let c2 = answer(&r, "http://bc2.test/cb")["code"].clone();
        // Redeemed at the same moment, one at each instance.
        let (r1, r2) = std::thread::scope(|s| {
            let h1 = s.spawn(|| redeem(&a, &c1, &v1));
            let h2 = s.spawn(|| {
                token(
                    &b_inst,
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &c2),
                        ("redirect_uri", "http://bc2.test/cb"),
                    ],
                    Some(("bc2-client", BC2_SECRET)),
                )
            });
            (h1.join().unwrap(), h2.join().unwrap())
        });
        assert_eq!(r1.0, 200, "round {round}: {}", r1.1);
        assert_eq!(r2.0, 200, "round {round}: {}", r2.1);
    }
    let page = br
        .client
        .get(b_inst.url("auth.test", "/logout"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let r = br
        .client
        .post(b_inst.url("auth.test", "/logout"))
        .form(&[("csrf", crate::harness::csrf_of(&page).as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let tokens = wait_for(&got, 2);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(got.lock().unwrap().len(), 2, "each client told once");
    let mut auds: Vec<String> = tokens
        .iter()
        .map(|t| {
            crate::harness::claims_of(t)["aud"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    auds.sort();
    assert_eq!(auds, ["bc2-client", "rp-client"]);
}
