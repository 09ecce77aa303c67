//! Property: no request, however malformed (method, target, headers, body, encodings), makes
//! the gateway answer a 5xx while the portal and the upstreams are up, nor stops it. Requests
//! are generated from a fixed seed (reproducible; `MALFORMED_SEED` and `MALFORMED_CASES` change
//! it), sent raw over TCP, anonymous or with a real session and its CSRF token so that the
//! directory's handlers see the garbage too.

use crate::harness::{csrf_of, TestGateway, PASSWORD};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A small deterministic generator (xorshift64*): no dependency, same cases on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

const METHODS: &[&str] = &[
    "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "get", "TRACE", "PROPFIND",
];

const PATHS: &[&str] = &[
    "/",
    "/login",
    "/logout",
    "/sso/authorize",
    "/mot-de-passe/abc",
    "/premiere-visite",
    "/mot-de-passe-oublie",
    "/.well-known/jwks.json",
    "/readyz",
    "/_static/style.css",
    "/aia",
    "/aia/profil",
    "/aia/profil/photo",
    "/aia/photo/1",
    "/aia/utilisateurs",
    "/aia/utilisateurs?q=%00",
    "/aia/utilisateurs?structure=2&q=ab",
    "/aia/utilisateurs/export.csv",
    "/aia/utilisateurs/export.csv?q=a%00b",
    "/aia/utilisateurs/nouveau",
    "/aia/utilisateurs/3",
    "/aia/utilisateurs/3/editer",
    "/aia/utilisateurs/3/verrouillage",
    "/aia/utilisateurs/3/reinitialisation",
    "/aia/utilisateurs/99999999999999999999/supprimer",
    "/aia/structures",
    "/aia/structures/nouvelle",
    "/aia/structures/2/editer",
    "/aia/structures/2/referents",
    "/aia/structures/-1/export.csv",
    "/aia/applications",
    "/aia/applications/bip/utilisateur/affecter",
    "/aia/applications/bip/utilisateur/membres",
    "/aia/applications/%00/%ff/export.csv",
    "/aia/journal",
    "/aia/journal/export.csv",
    "/_convergences/callback",
];

/// Pieces of query strings and form bodies that have caused trouble elsewhere.
const PIECES: &[&str] = &[
    "%00",
    "%ff",
    "%c3%28",
    "%",
    "%%",
    "%0d%0a",
    "\u{0}",
    "é",
    "'",
    "\"",
    "<script>",
    "../..",
    "//evil.test",
    "/%09/evil.test",
    "\\\\evil",
    "-1",
    "99999999999999999999999",
    "0x10",
    "NaN",
    "1e309",
    "a@b",
    ",",
    "=",
    "&",
    "+",
    "[]",
    "q",
    "csrf",
    "return_to",
    "email",
    "password",
    "page",
    "structure",
    "id",
    "ids",
    "role",
    "code",
    "app",
    "hs",
];

fn garbage(rng: &mut Rng, max: usize) -> String {
    let n = rng.below(max + 1);
    let mut s = String::new();
    for _ in 0..n {
        if rng.chance(3) {
            let b = (rng.next() & 0xff) as u8;
            s.push_str(&format!("%{b:02X}"));
        } else {
            s.push_str(rng.pick::<&str>(PIECES));
        }
        if rng.chance(2) {
            s.push(*rng.pick(&['=', '&', ';', ',']));
        }
    }
    s
}

struct Case {
    bytes: Vec<u8>,
    summary: String,
}

fn make_case(rng: &mut Rng, port: u16, cookie: &str, csrf: &str) -> Case {
    let method = if rng.chance(20) {
        "G\u{1}T".to_string()
    } else {
        rng.pick(METHODS).to_string()
    };
    let host = *rng.pick(&[
        "auth.test",
        "bip.test",
        "AUTH.TEST",
        "nc.test",
        "unknown.test",
    ]);
    let mut target = rng.pick(PATHS).to_string();
    if rng.chance(2) {
        target.push('?');
        target.push_str(&garbage(rng, 6));
    }
    // The target's raw bytes must stay a single token for the request line to be parsed at all.
    let target: String = target
        .chars()
        .map(|c| if c == ' ' || c.is_control() { '_' } else { c })
        .collect();
    let mut body = if rng.chance(2) {
        garbage(rng, 12)
    } else {
        String::new()
    };
    if !csrf.is_empty() && rng.chance(2) {
        body = format!("csrf={csrf}&{body}");
    }
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\n");
    if !cookie.is_empty() {
        head.push_str(&format!("Cookie: {cookie}\r\n"));
    } else if rng.chance(3) {
        head.push_str(&format!("Cookie: {}\r\n", garbage(rng, 4)));
    }
    match rng.below(5) {
        0 => head.push_str("Content-Type: application/x-www-form-urlencoded\r\n"),
        1 => head.push_str("Content-Type: multipart/form-data; boundary=x\r\n"),
        2 => head.push_str("Content-Type: application/json\r\n"),
        3 => head.push_str(&format!("Content-Type: {}\r\n", garbage(rng, 2))),
        _ => {}
    }
    if rng.chance(2) {
        head.push_str("Accept: text/html\r\n");
    }
    for _ in 0..rng.below(3) {
        let name = *rng.pick(&[
            "X-Convergences-User",
            "X_Convergences_Roles",
            "Forwarded",
            "X-Forwarded-For",
            "Referer",
            "Origin",
            "Accept-Language",
            "Range",
            "If-None-Match",
        ]);
        head.push_str(&format!("{name}: {}\r\n", garbage(rng, 3)));
    }
    let chunked = rng.chance(6);
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        // A chunk whose size line lies half the time.
        let size = if rng.chance(2) {
            body.len()
        } else {
            body.len() / 2
        };
        head.push_str(&format!("{size:x}\r\n{body}\r\n0\r\n\r\n"));
        body.clear();
    } else {
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ));
    }
    let summary = head.lines().next().unwrap_or("").to_string();
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    Case { bytes, summary }
}

/// Sends one request; returns the status of the answer, or `None` when the gateway closed the
/// connection without one (what it may do with a request it cannot parse).
fn send(port: u16, bytes: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).ok()?;
    let mut buf = [0u8; 32];
    let mut got = 0;
    while got < 12 {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    let line = std::str::from_utf8(&buf[..got]).ok()?;
    line.get(9..12)?.parse().ok()
}

#[test]
fn no_malformed_request_gets_a_5xx_or_stops_the_gateway() {
    let seed: u64 = std::env::var("MALFORMED_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c0de);
    let cases: usize = std::env::var("MALFORMED_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let t = TestGateway::start();
    let b = t.browser();
    b.login("admin@cig-exemple.fr", PASSWORD);
    let (page, _) = b.visit(&t.url("auth.test", "/aia/utilisateurs/nouveau"));
    let csrf = csrf_of(&page.text().unwrap());
    let cookie = b.cookies(&t.url("auth.test", "/"));
    let mut rng = Rng(seed);
    let mut failures = Vec::new();
    let mut answered = 0;
    for i in 0..cases {
        let signed_in = rng.chance(2);
        let case = if signed_in {
            make_case(&mut rng, t.port, &cookie, &csrf)
        } else {
            make_case(&mut rng, t.port, "", "")
        };
        match send(t.port, &case.bytes) {
            Some(status) if status >= 500 => failures.push(format!(
                "case {i} ({}): {status} for {:?}",
                if signed_in { "signed in" } else { "anonymous" },
                String::from_utf8_lossy(&case.bytes)
            )),
            Some(_) => answered += 1,
            None => {}
        }
        let _ = case.summary;
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(answered > cases / 2, "only {answered} of {cases} answered");
    // Still serving, and the session still works.
    let r = b.client.get(t.url("auth.test", "/aia")).send().unwrap();
    assert_eq!(r.status(), 200);
}

/// A header sent a few bytes at a time, each read well within the per-read timeout, is cut at
/// `server.header_timeout_seconds` from its first byte (the "slow loris" way of holding
/// connections); a header that arrives in pieces within the deadline is served.
#[test]
fn a_request_header_sent_too_slowly_is_cut_at_the_header_deadline() {
    use crate::harness::Options;
    let t = TestGateway::start_with(Options {
        server_extra: "header_timeout_seconds = 1\n".into(),
        ..Default::default()
    });

    let mut quick = TcpStream::connect(("127.0.0.1", t.port)).expect("connect");
    quick
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .expect("write");
    std::thread::sleep(Duration::from_millis(300));
    quick
        .write_all(b"Host: auth.test\r\nConnection: close\r\n\r\n")
        .expect("write");
    quick
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut answer = Vec::new();
    let _ = quick.read_to_end(&mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "a header in two pieces within the deadline: {}",
        String::from_utf8_lossy(&answer)
    );

    let mut slow = TcpStream::connect(("127.0.0.1", t.port)).expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: auth.test\r\n")
        .expect("write");
    slow.set_read_timeout(Some(Duration::from_millis(250)))
        .expect("timeout");
    let started = std::time::Instant::now();
    let mut closed = false;
    // One more header line every 250 ms, for at most 15 s (the per-read timeout is 60 s).
    for i in 0..60 {
        let mut buf = [0u8; 256];
        match slow.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => panic!(
                "an answer to an unfinished header: {}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
        if slow
            .write_all(format!("X-Slow-{i}: a\r\n").as_bytes())
            .is_err()
        {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "the connection was still open after 15 s of a slow header"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "closed only after {:?}",
        started.elapsed()
    );
}

/// A request Pingora cannot parse is refused before any hook of the gateway: it still gets the
/// gateway's French page, without Pingora's name.
#[test]
fn a_request_the_proxy_cannot_parse_gets_the_french_page_and_no_server_name() {
    let t = TestGateway::start();
    for raw in [
        &b"GET / HTTP/1.1\r\nHost: bip.test\r\nNo colon here\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: bip.test\r\nX-A\x01: b\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", t.port)).expect("connect");
        s.write_all(raw).expect("write");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 400"), "{raw:?}: {answer}");
        assert!(answer.contains("Demande invalide"), "{raw:?}: {answer}");
        assert!(
            !answer.to_ascii_lowercase().contains("pingora"),
            "{raw:?}: {answer}"
        );
    }
}
