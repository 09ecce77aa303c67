//! Faults of the remote dependencies (docs/operations.md): the circuit breakers open when the
//! session store (Redis) or the directory (PostgreSQL) is killed, refuse at once while one
//! probe watches, and close when the server is back; the degraded mode keeps known sessions on
//! the applications they had, and nothing more. The servers are the tests' own, on their own
//! loopback ports, really killed and restarted. These need Redis and PostgreSQL, as in the
//! services suite (scripts/test.sh --services); the SQLite + in-process mode has no remote
//! dependency to lose, so they are skipped there.

use crate::harness::{
    csrf_of, free_port, within, Options, OwnPostgres, OwnRedis, TestGateway, PASSWORD,
};
use std::time::Duration;

const AGENT: &str = "agent@mairie-exemple.fr";
/// Quick probes, so that the tests see the breaker close soon after the server is back.
const RESILIENCE: &str = "[resilience]\nfailures_to_open = 2\nprobe_interval_ms = 50\n";

fn needs_services() -> bool {
    let on = crate::harness::redis_url().is_some()
        && std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    if !on {
        eprintln!(
            "skipped here: the SQLite + in-process mode has no remote dependency to lose \
             (scripts/test.sh --services runs it)"
        );
    }
    on
}

/// A gateway on a PostgreSQL of the test's own with quick probes and `resilience` (extra keys
/// of `[resilience]`), with the agent signed in and on BIP; `None` where the services mode is
/// off or PostgreSQL is not installed (the test is skipped).
fn on_own_postgres(resilience: &str) -> Option<(OwnPostgres, TestGateway)> {
    if !needs_services() {
        return None;
    }
    let pg = OwnPostgres::start()?;
    let t = TestGateway::start_with(Options {
        database_url: Some(pg.url()),
        extra_config: format!("{RESILIENCE}{resilience}"),
        ..Default::default()
    });
    Some((pg, t))
}

fn page(t: &TestGateway, b: &crate::harness::Browser<'_>, host: &str, path: &str) -> (u16, String) {
    let r = b.client.get(t.url(host, path)).send().expect("request");
    (r.status().as_u16(), r.text().unwrap_or_default())
}

#[test]
fn a_killed_session_store_opens_the_breaker_requests_are_refused_at_once_and_it_closes_when_redis_is_back(
) {
    if !needs_services() {
        return;
    }
    let folder = tempfile::tempdir().expect("tempdir");
    let mut redis = OwnRedis::persistent(free_port(), folder.path());
    let t = TestGateway::start_with(Options {
        redis_url: Some(redis.url()),
        extra_config: RESILIENCE.into(),
        ..Default::default()
    });
    let breaker = t.gw.session_breaker.clone().expect("a breaker on Redis");
    let browser = t.signed_in(AGENT);
    assert_eq!(browser.get_json(&t.url("bip.test", "/"))["app"], "bip");

    redis.stop();
    // Once the sub-second cache has expired nothing can be decided: 503, and the failures
    // open the breaker.
    within(Duration::from_secs(10), || {
        t.status(&browser, "bip.test", "/") == 503 && breaker.is_open()
    });
    // Open: requests are refused by the breaker without a command sent to Redis.
    let before = breaker.refusals();
    for _ in 0..20 {
        let (status, body) = page(&t, &browser, "bip.test", "/");
        assert_eq!(status, 503);
        assert!(
            body.contains("Service momentanément indisponible"),
            "{body}"
        );
    }
    assert!(
        breaker.refusals() >= before + 20,
        "the breaker answered them"
    );
    assert_eq!(breaker.waiting(), 0, "nobody waits on a dead store");
    let (status, ready) = t.readyz();
    assert_eq!(status, 503);
    assert!(ready.contains("sessions: unavailable"), "{ready}");
    // The probe keeps finding Redis down: the breaker stays open.
    std::thread::sleep(Duration::from_millis(200));
    assert!(breaker.is_open());

    redis.restart();
    // The probe closes the breaker; the append-only file kept the session: same cookie, 200.
    within(Duration::from_secs(10), || !breaker.is_open());
    within(Duration::from_secs(5), || {
        t.status(&browser, "bip.test", "/") == 200
    });
    assert_eq!(browser.get_json(&t.url("bip.test", "/"))["app"], "bip");
}

#[test]
fn a_killed_database_opens_the_directory_breaker_the_pages_say_so_and_it_closes_when_postgresql_is_back(
) {
    let Some((mut pg, t)) = on_own_postgres("") else {
        return;
    };
    let breaker = t.gw.dir.breaker().clone();
    let browser = t.signed_in(AGENT);
    assert_eq!(browser.get_json(&t.url("bip.test", "/"))["app"], "bip");

    pg.stop();
    // The identity must be read again (as after its cache lifetime, or a change): the default
    // mode fails closed.
    t.gw.identities.invalidate_all();
    within(Duration::from_secs(10), || {
        let (status, body) = page(&t, &browser, "bip.test", "/");
        assert_ne!(status, 200, "nothing is let through without the directory");
        status == 503 && body.contains("Annuaire momentanément indisponible") && breaker.is_open()
    });
    let before = breaker.refusals();
    for _ in 0..20 {
        assert_eq!(t.status(&browser, "bip.test", "/"), 503);
    }
    assert!(
        breaker.refusals() >= before + 20,
        "the breaker answered them"
    );
    // The portal says plainly that the directory is unavailable; readiness too.
    let (status, body) = page(&t, &browser, "auth.test", "/");
    assert_eq!(status, 503);
    assert!(
        body.contains("Annuaire momentanément indisponible"),
        "{body}"
    );
    let (status, ready) = t.readyz();
    assert_eq!(status, 503);
    assert!(ready.contains("database: unavailable"), "{ready}");

    pg.restart();
    within(Duration::from_secs(15), || !breaker.is_open());
    within(Duration::from_secs(5), || {
        t.status(&browser, "bip.test", "/") == 200
    });
    assert_eq!(browser.get_json(&t.url("bip.test", "/"))["app"], "bip");
}

#[test]
fn with_a_grace_a_known_session_keeps_its_applications_while_the_directory_is_down_and_nothing_more(
) {
    let Some((mut pg, t)) = on_own_postgres("directory_grace_seconds = 120\n") else {
        return;
    };
    let agent = t.signed_in(AGENT);
    assert_eq!(agent.get_json(&t.url("bip.test", "/"))["app"], "bip");
    let other = t.browser();
    assert_eq!(other.login("agent.ccas@mairie-exemple.fr", PASSWORD).0, 303);
    let other_id = t.user_id("agent.ccas@mairie-exemple.fr");

    pg.stop();
    // An account changed (its identity dropped from the cache, as a change or an event does):
    // nothing stands in for it, the gateway fails closed.
    t.gw.identities.invalidate(other_id);
    let (status, body) = page(&t, &other, "auth.test", "/");
    assert_eq!(status, 503);
    assert!(
        body.contains("Annuaire momentanément indisponible"),
        "{body}"
    );

    // The agent's identity passes its cache lifetime while the database is down: the degraded
    // mode keeps serving the application it had, at every request.
    within(Duration::from_secs(30), || {
        assert_eq!(t.status(&agent, "bip.test", "/"), 200);
        t.gw.identities.degraded_uses() > 0
    });
    assert_eq!(agent.get_json(&t.url("bip.test", "/"))["app"], "bip");
    // The portal says plainly that the directory is unavailable, whether it can still show
    // the page from what it knew (a banner) or not (the 503 page).
    let (status, body) = page(&t, &agent, "auth.test", "/");
    assert!(status == 200 || status == 503, "{status}");
    assert!(
        body.contains("momentanément indisponible"),
        "{status}: {body}"
    );
    // ... and nothing more: an application it has no role on is still refused.
    assert_eq!(t.status(&agent, "auth.test", "/site/"), 403);
    // A revocation still arrives through the session store: after logout, no more access.
    agent.logout();
    let s = t.status(&agent, "bip.test", "/");
    assert!(
        s == 401 || s == 302,
        "a revoked session is refused, got {s}"
    );

    pg.restart();
}

/// Reads what the gateway answers on a raw connection, until it closes it.
fn raw_answer(stream: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn beyond_max_connections_a_new_connection_gets_a_503_with_retry_after_and_a_freed_place_is_reused()
{
    use std::io::Write;
    let t = TestGateway::start_with(Options {
        extra_config: "[resilience]\nmax_connections = 2\nretry_after_seconds = 7\n".into(),
        ..Default::default()
    });
    let connect = || std::net::TcpStream::connect(("127.0.0.1", t.port)).expect("connect");
    let open = || t.gw.limits.open_connections();
    // The harness's readiness probes have closed their connections, but a loaded gateway may
    // not have seen them end yet: until it has, they hold places and would refuse ours.
    within(Duration::from_secs(10), || open() == 0);
    let first = connect();
    let _second = connect();
    within(Duration::from_secs(10), || open() == 2);
    let mut third = connect();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: auth.test\r\n\r\n")
        .expect("write");
    let answer = raw_answer(&mut third);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("Retry-After: 7"), "{answer}");
    assert!(answer.contains("Service très sollicité"), "{answer}");
    // A connection that ends gives its place back.
    drop(first);
    within(Duration::from_secs(10), || open() < 2);
    let mut again = connect();
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: auth.test\r\nConnection: close\r\n\r\n")
        .expect("write");
    let answer = raw_answer(&mut again);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn beyond_max_requests_a_request_gets_the_french_503_with_retry_after_before_any_other_work() {
    let t = TestGateway::start_with(Options {
        extra_config: "[resilience]\nmax_requests = 1\nretry_after_seconds = 3\n".into(),
        ..Default::default()
    });
    // A request's place is given back once its answer is written, which the client may see
    // first: wait for it before the next request, or that one is (rightly) refused.
    let idle = || {
        within(Duration::from_secs(10), || {
            t.gw.limits.requests_in_flight() == 0
        })
    };
    // Signing in is two requests (the form, then its answer), after the start's readiness
    // checks: each waits for the previous place too.
    let browser = t.browser();
    idle();
    let (page, _) = browser.visit(&t.url("auth.test", "/login"));
    let csrf = csrf_of(&page.text().expect("login page"));
    idle();
    let login = browser
        .client
        .post(t.url("auth.test", "/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", AGENT),
            ("password", PASSWORD),
        ])
        .send()
        .expect("login post");
    assert_eq!(login.status(), 303, "login");
    // The first visit to BIP is a chain of redirects (the single sign-on handshake): each hop
    // waits for the previous one's place too.
    let mut url = t.url("bip.test", "/");
    let first = loop {
        idle();
        let r = browser
            .client
            .get(&url)
            .header("accept", "text/html")
            .send()
            .expect("request");
        if !r.status().is_redirection() {
            break r;
        }
        let location = r.headers()["location"].to_str().expect("location");
        url = reqwest::Url::parse(&url)
            .and_then(|u| u.join(location))
            .expect("location")
            .to_string();
    };
    assert_eq!(first.status(), 200);
    assert_eq!(first.json::<serde_json::Value>().unwrap()["app"], "bip");
    idle();
    // One slow request holds the only place (the upstream answers /slow after 3 s; the gateway
    // gives up after its 2 s read timeout).
    let client = browser.client.clone();
    let slow_url = t.url("bip.test", "/slow");
    let slow = std::thread::spawn(move || {
        client.get(slow_url).send().map(|r| {
            let connection = r.headers().get("connection").cloned();
            (r.status().as_u16(), connection)
        })
    });
    within(Duration::from_secs(10), || {
        t.gw.limits.requests_in_flight() == 1
    });
    // Even a request that needs no session is refused: nothing else is done for it.
    let r = t
        .client(false)
        .get(t.url("auth.test", "/healthz"))
        .send()
        .expect("request");
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "3");
    assert!(r.text().unwrap().contains("Service très sollicité"));
    // The gateway closes the connection after an error page, and says so: a pooled client
    // does not send its next request on it.
    let (status, connection) = slow.join().expect("slow request").expect("answer");
    assert_eq!(status, 504);
    assert_eq!(
        connection.as_ref().map(|v| v.as_bytes()),
        Some(&b"close"[..])
    );
    // The place is free again.
    idle();
    assert_eq!(browser.get_json(&t.url("bip.test", "/"))["app"], "bip");
}

#[test]
fn a_hung_database_holds_a_directory_page_no_longer_than_the_page_deadline() {
    let Some((mut pg, t)) = on_own_postgres("page_timeout_ms = 1500\n") else {
        return;
    };
    let referent = t.signed_in("referent@mairie-exemple.fr");
    assert_eq!(page(&t, &referent, "auth.test", "/aia/utilisateurs").0, 200);

    // The server accepts nothing more and answers nothing (frozen, connections left open):
    // the page's queries would wait on TCP; the deadline answers instead.
    pg.pause();
    let started = std::time::Instant::now();
    let (status, body) = page(&t, &referent, "auth.test", "/aia/utilisateurs");
    let waited = started.elapsed();
    pg.resume();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("indisponible"), "{body}");
    assert!(
        waited < Duration::from_secs(10),
        "answered after {waited:?}"
    );

    // Once the server answers again, so does the page.
    within(Duration::from_secs(20), || {
        page(&t, &referent, "auth.test", "/aia/utilisateurs").0 == 200
    });
}
