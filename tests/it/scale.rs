//! Scale-out (docs/product.md#storage-and-scale, docs/architecture.md#several-instances):
//! several instances sharing PostgreSQL (or SQLite) and Redis, revocation across instances,
//! and failure of the session store. These need Redis: they run in the services suite
//! (TEST_REDIS_URL, see scripts/test.sh --services).

use crate::harness::{encode, redis_url, within, Options, OwnRedis, TestGateway, PASSWORD};
use std::time::Duration;

pub fn needs_redis() -> bool {
    if redis_url().is_none() {
        eprintln!("skipped here: needs TEST_REDIS_URL (scripts/test.sh --services runs it)");
        return false;
    }
    true
}

fn status(b: &crate::harness::Browser<'_>, url: &str) -> u16 {
    b.client.get(url).send().unwrap().status().as_u16()
}

#[test]
fn a_session_opened_on_one_instance_works_and_is_revoked_on_another() {
    if !needs_redis() {
        return;
    }
    let a = TestGateway::start();
    let b_inst = TestGateway::start_with(Options {
        share: Some(a.shared()),
        ..Default::default()
    });
    let browser = a.browser();
    assert_eq!(browser.login("agent@mairie-exemple.fr", PASSWORD).0, 303);
    // The portal page of instance B knows the session opened on A.
    let page = browser
        .client
        .get(b_inst.url("auth.test", "/"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("Agnès Agent"), "{page}");
    // Application cookie obtained through A, used on B.
    assert_eq!(browser.get_json(&a.url("bip.test", "/"))["app"], "bip");
    let echo: serde_json::Value = browser
        .client
        .get(b_inst.url("bip.test", "/"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        echo["headers"]["x-convergences-user"][0],
        encode("agent@mairie-exemple.fr")
    );

    // Role removed through A: B answers 403 within a second.
    let agent = a.user_id("agent@mairie-exemple.fr");
    a.block_on(a.gw.dir.unassign_role(agent, "bip", "utilisateur"))
        .unwrap();
    a.gw.user_changed(agent);
    let took = within(Duration::from_secs(1), || {
        status(&browser, &b_inst.url("bip.test", "/")) == 403
    });
    eprintln!("role removal visible on the other instance after {took:?}");
    let mairie = a.structure_id("mairie-exemple");
    a.block_on(
        a.gw.dir
            .assign_role(agent, "bip", "utilisateur", mairie, None),
    )
    .unwrap();
    a.gw.user_changed(agent);
    within(Duration::from_secs(1), || {
        status(&browser, &b_inst.url("bip.test", "/")) == 200
    });

    // Logout on A: B refuses the next requests, on the app host and the portal.
    browser.logout();
    let took = within(Duration::from_secs(1), || {
        status(&browser, &b_inst.url("bip.test", "/")) == 401
    });
    eprintln!("logout visible on the other instance after {took:?}");
    let r = browser
        .client
        .get(b_inst.url("auth.test", "/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 303, "portal on B sends to the login form");
}

#[test]
fn locking_on_one_instance_refuses_the_next_request_on_another() {
    if !needs_redis() {
        return;
    }
    let a = TestGateway::start();
    let b_inst = TestGateway::start_with(Options {
        share: Some(a.shared()),
        ..Default::default()
    });
    let browser = a.browser();
    browser.login("agent@mairie-exemple.fr", PASSWORD);
    browser.get_json(&a.url("bip.test", "/"));
    assert_eq!(status(&browser, &b_inst.url("bip.test", "/")), 200);
    let agent = a.user_id("agent@mairie-exemple.fr");
    a.block_on(a.gw.dir.set_locked(agent, true)).unwrap();
    a.block_on(a.gw.revoke_user(agent)).unwrap();
    within(Duration::from_secs(1), || {
        status(&browser, &b_inst.url("bip.test", "/")) == 401
    });
    assert_eq!(status(&browser, &a.url("bip.test", "/")), 401);
}

#[test]
fn sessions_survive_a_restart_of_an_instance() {
    if !needs_redis() {
        return;
    }
    let a = TestGateway::start();
    let browser = a.browser();
    browser.login("referent@mairie-exemple.fr", PASSWORD);
    browser.get_json(&a.url("nc.test", "/"));
    let shared = a.shared();
    let first = TestGateway::start_with(Options {
        share: Some(shared.clone()),
        ..Default::default()
    });
    assert_eq!(status(&browser, &first.url("nc.test", "/")), 200);
    drop(first);
    let restarted = TestGateway::start_with(Options {
        share: Some(shared),
        ..Default::default()
    });
    assert_eq!(status(&browser, &restarted.url("nc.test", "/")), 200);
    let page = browser
        .client
        .get(restarted.url("auth.test", "/"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("Connecté en tant que"), "{page}");
}

/// A gateway whose Redis the test can stop and start again.
fn gateway_on_own_redis() -> (OwnRedis, TestGateway) {
    let redis = OwnRedis::start(crate::harness::free_port());
    let t = TestGateway::start_with(Options {
        redis_url: Some(format!("redis://127.0.0.1:{}", redis.port)),
        ..Default::default()
    });
    (redis, t)
}

#[test]
fn without_redis_the_gateway_fails_closed_with_a_503_and_recovers() {
    if !needs_redis() {
        return;
    }
    let (mut redis, t) = gateway_on_own_redis();
    let port = redis.port;
    let browser = t.browser();
    browser.login("agent@mairie-exemple.fr", PASSWORD);
    assert_eq!(browser.get_json(&t.url("bip.test", "/"))["app"], "bip");

    redis.stop();
    // Give the local cache (under 1 s) time to expire: then nothing can be decided.
    let r = within(Duration::from_secs(5), || {
        status(&browser, &t.url("bip.test", "/")) == 503
    });
    eprintln!("503 after {r:?}");
    let page = browser
        .client
        .get(t.url("bip.test", "/"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("Service momentanément indisponible"),
        "{page}"
    );
    let (status, ready) = t.readyz();
    assert_eq!(status, 503);
    assert!(ready.contains("sessions: unavailable"), "{ready}");
    let login = browser.client.get(t.url("auth.test", "/")).send().unwrap();
    assert_eq!(login.status(), 503);
    // The liveness probe still answers: the process is fine, only its store is gone.
    assert_eq!(
        t.client(false)
            .get(t.url("auth.test", "/healthz"))
            .send()
            .unwrap()
            .status(),
        200
    );

    let _redis = OwnRedis::start(port);
    // Back: readiness recovers by itself and a new login works (this Redis kept nothing).
    within(Duration::from_secs(10), || {
        t.client(false)
            .get(t.url("auth.test", "/readyz"))
            .send()
            .map(|r| r.status() == 200)
            .unwrap_or(false)
    });
    let again = t.browser();
    assert_eq!(again.login("agent@mairie-exemple.fr", PASSWORD).0, 303);
    assert_eq!(again.get_json(&t.url("bip.test", "/"))["app"], "bip");
}

#[test]
fn a_redis_restart_costs_no_request_on_an_instance_that_did_not_notice_it() {
    if !needs_redis() {
        return;
    }
    let (mut redis, t) = gateway_on_own_redis();
    let port = redis.port;
    let browser = t.browser();
    assert_eq!(browser.login("agent@mairie-exemple.fr", PASSWORD).0, 303);
    assert_eq!(browser.get_json(&t.url("bip.test", "/"))["app"], "bip");
    // Redis restarts while the gateway sends it nothing: its connection is now a dead one.
    redis.stop();
    let _redis = OwnRedis::start(port);
    // The first commands find the connection dropped, reconnect and succeed: no 503.
    let again = t.browser();
    assert_eq!(again.login("agent@mairie-exemple.fr", PASSWORD).0, 303);
    assert_eq!(again.get_json(&t.url("bip.test", "/"))["app"], "bip");
}
