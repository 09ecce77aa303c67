//! The proxy's upstream side as an application sees it (docs/pingora-patches.md, changes 10
//! and 11): a keep-alive client's requests travel over one upstream connection; a connection
//! the application closes, or writes on, while it is idle is never handed to a request, and
//! the gateway closes its end of it without waiting for one; bodies larger than every buffer
//! on the way stream through in both directions, intact, over a connection that is reused
//! afterwards. An upstream that refuses connections is skipped for the next one; one that
//! fails or is too slow gives the French 502 or 504 page, in either threading layout.

use crate::harness::{app_cookie_of, rt, Options, TestGateway, PASSWORD};
use crate::page::Page;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// What the application does to its idle connections when the test says so.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Idle {
    Keep,
    /// Closes them, as a server does when its keep-alive timeout passes.
    Close,
    /// Writes an answer no request asked for on them (some servers send a 408 before they
    /// close), and leaves them open.
    Write,
}

#[derive(Debug, PartialEq)]
enum Event {
    /// The application did what `Idle` says on connection `n` (numbered from 1).
    Acted(usize),
    /// The gateway closed its end of connection `n`.
    ClosedByGateway(usize),
}

/// A keep-alive HTTP/1.1 application whose answer names the connection it came over.
struct Application {
    addr: std::net::SocketAddr,
    accepted: Arc<AtomicUsize>,
    idle: watch::Sender<Idle>,
    events: mpsc::Receiver<Event>,
}

impl Application {
    fn start() -> Application {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (idle, idle_rx) = watch::channel(Idle::Keep);
        let (tx, events) = mpsc::channel();
        let count = accepted.clone();
        rt().spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((conn, _)) = listener.accept().await {
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::spawn(serve(conn, n, idle_rx.clone(), tx.clone()));
            }
        });
        Application {
            addr,
            accepted,
            idle,
            events,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn next_event(&self) -> Event {
        self.events
            .recv_timeout(Duration::from_secs(10))
            .expect("an event from the application")
    }
}

async fn serve(
    mut conn: tokio::net::TcpStream,
    n: usize,
    mut idle: watch::Receiver<Idle>,
    events: mpsc::Sender<Event>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // A whole request head (the test's requests have no body).
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            tokio::select! {
                read = conn.read(&mut chunk) => match read {
                    Ok(0) | Err(_) => {
                        let _ = events.send(Event::ClosedByGateway(n));
                        return;
                    }
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                },
                changed = idle.changed(), if buf.is_empty() => {
                    if changed.is_err() {
                        return;
                    }
                    let what = *idle.borrow_and_update();
                    if what == Idle::Keep {
                        continue;
                    }
                    if what == Idle::Write {
                        let _ = conn
                            .write_all(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n")
                            .await;
                    } else {
                        let _ = conn.shutdown().await;
                    }
                    let _ = events.send(Event::Acted(n));
                    // Only the gateway's close is awaited from here.
                    let mut rest = Vec::new();
                    let _ = conn.read_to_end(&mut rest).await;
                    let _ = events.send(Event::ClosedByGateway(n));
                    return;
                }
            }
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        buf.drain(..end);
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        while buf.len() < length {
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
        }
        let received: Vec<u8> = buf.drain(..length).collect();
        // GET /download/<size>: that many bytes of `pattern`; otherwise the connection's
        // number, and the size and checksum of the body received, if any.
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        let body = match path.strip_prefix("/download/") {
            Some(size) => pattern(size.parse().unwrap()),
            None if length > 0 => {
                format!("connection {n}, {length} bytes, {}", checksum(&received)).into_bytes()
            }
            None => format!("connection {n}").into_bytes(),
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        if conn.write_all(head.as_bytes()).await.is_err() || conn.write_all(&body).await.is_err() {
            return;
        }
    }
}

/// Bytes no buffer could produce by accident (not a repeated block).
fn pattern(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (i % 251) as u8 ^ (i >> 12) as u8)
        .collect()
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h: u64, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn gateway_before(app: &Application) -> TestGateway {
    TestGateway::start_with(Options {
        bip_upstreams: Some(format!("\"{}\"", app.addr)),
        ..Default::default()
    })
}

/// One request to the application through the gateway, over the browser's keep-alive
/// connection to the application's host (the first one also goes through the sign-on
/// handshake): (status, body).
fn get(t: &TestGateway, b: &crate::harness::Browser<'_>, path: &str) -> (u16, String) {
    let (r, _) = b.visit(&t.url("bip.test", path));
    (r.status().as_u16(), r.text().unwrap())
}

#[test]
fn a_keep_alive_clients_requests_share_one_upstream_connection() {
    let app = Application::start();
    let t = gateway_before(&app);
    let b = t.browser();
    b.login("agent@mairie-exemple.fr", PASSWORD);
    for i in 0..20 {
        assert_eq!(
            get(&t, &b, &format!("/page/{i}")),
            (200, "connection 1".to_string())
        );
    }
    assert_eq!(app.accepted(), 1);
}

#[test]
fn a_connection_the_application_closes_while_idle_is_closed_and_not_reused() {
    let app = Application::start();
    let t = gateway_before(&app);
    let b = t.browser();
    b.login("agent@mairie-exemple.fr", PASSWORD);
    assert_eq!(get(&t, &b, "/"), (200, "connection 1".to_string()));
    app.idle.send(Idle::Close).unwrap();
    assert_eq!(app.next_event(), Event::Acted(1));
    // With no request to come, the gateway closes its end of it too (within its sweep
    // interval, a second): no half-closed socket is left behind.
    assert_eq!(app.next_event(), Event::ClosedByGateway(1));
    app.idle.send(Idle::Keep).unwrap();
    // The next request goes over a new connection, with no error.
    assert_eq!(get(&t, &b, "/"), (200, "connection 2".to_string()));
    assert_eq!(get(&t, &b, "/"), (200, "connection 2".to_string()));
    assert_eq!(app.accepted(), 2);
}

#[test]
fn an_answer_the_application_sent_unasked_on_an_idle_connection_never_reaches_a_request() {
    let app = Application::start();
    let t = gateway_before(&app);
    let b = t.browser();
    b.login("agent@mairie-exemple.fr", PASSWORD);
    assert_eq!(get(&t, &b, "/"), (200, "connection 1".to_string()));
    app.idle.send(Idle::Write).unwrap();
    assert_eq!(app.next_event(), Event::Acted(1));
    app.idle.send(Idle::Keep).unwrap();
    // Had the gateway reused connection 1, this request would read the stray 408 as its answer.
    assert_eq!(get(&t, &b, "/"), (200, "connection 2".to_string()));
    assert_eq!(app.next_event(), Event::ClosedByGateway(1));
    assert_eq!(app.accepted(), 2);
}

#[test]
fn large_bodies_stream_through_both_ways_and_the_connection_serves_on() {
    let app = Application::start();
    let t = gateway_before(&app);
    let b = t.browser();
    b.login("agent@mairie-exemple.fr", PASSWORD);
    assert_eq!(get(&t, &b, "/"), (200, "connection 1".to_string()));
    // Far more than the pipe between the request's halves holds (4 chunks) and than the
    // sockets' buffers: the halves wait on each other many times.
    let size = 8 << 20;
    let upload = pattern(size);
    let r = b
        .client
        .post(t.url("bip.test", "/upload"))
        .body(upload.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().unwrap(),
        format!("connection 1, {size} bytes, {}", checksum(&upload))
    );
    let r = b
        .client
        .get(t.url("bip.test", &format!("/download/{size}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.bytes().unwrap() == pattern(size),
        "the download arrives intact"
    );
    assert_eq!(get(&t, &b, "/"), (200, "connection 1".to_string()));
    assert_eq!(app.accepted(), 1);
}

#[test]
fn in_the_shared_layout_sequential_requests_of_two_clients_share_one_upstream_connection() {
    // One service whose threads share a pool (server.threading = "shared"): a connection put
    // back by one thread is taken by another when that one has none of its own.
    let app = Application::start();
    let t = TestGateway::start_with(Options {
        bip_upstreams: Some(format!("\"{}\"", app.addr)),
        server_extra: "threading = \"shared\"\n".into(),
        ..Default::default()
    });
    let first = t.browser();
    first.login("agent@mairie-exemple.fr", PASSWORD);
    let second = t.browser();
    second.login("agent@mairie-exemple.fr", PASSWORD);
    for _ in 0..10 {
        assert_eq!(get(&t, &first, "/"), (200, "connection 1".to_string()));
        assert_eq!(get(&t, &second, "/"), (200, "connection 1".to_string()));
    }
    assert_eq!(app.accepted(), 1);
}

#[test]
fn upstream_failures_give_french_pages_and_fail_over() {
    // First upstream refuses connections, second answers: requests still succeed.
    // Nothing listens on port 1 (and an ephemeral port could be taken by a parallel test).
    let dead = 1u16;
    let live = crate::harness::echo_upstream("bip-2");
    let t = TestGateway::start_with(crate::harness::Options {
        extra_apps: format!(
            "[[apps]]\nslug = \"down\"\nname = \"Down\"\nhost = \"down.test\"\nupstreams = [\"127.0.0.1:{dead}\"]\nconnect_timeout_ms = 300\n"
        ),
        bip_upstreams: Some(format!("\"127.0.0.1:{dead}\", \"{}\"", live.addr)),
        ..Default::default()
    });
    let b = t.browser();
    b.login("referent@mairie-exemple.fr", PASSWORD);
    for _ in 0..4 {
        assert_eq!(b.get_json(&t.url("bip.test", "/"))["app"], "bip-2");
    }
    let admin = t.user_id("referent@mairie-exemple.fr");
    t.block_on(t.gw.dir.assign_role(admin, "down", "utilisateur", 2, None))
        .unwrap();
    t.gw.user_changed(admin);
    let c = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(
            "down.test",
            std::net::SocketAddr::from(([127, 0, 0, 1], t.port)),
        )
        .build()
        .unwrap();
    // Give the down host its cookie through the handshake, then hit the dead upstream.
    let (r, handshake) = b.authorize("down", &format!("http://down.test:{}/", t.port));
    let callback = r.headers()["location"].to_str().unwrap().to_string();
    let r = c.get(&callback).header("cookie", handshake).send().unwrap();
    let cookie = app_cookie_of(&r);
    let r = c
        .get(format!("http://down.test:{}/", t.port))
        .header("cookie", cookie)
        .send()
        .unwrap();
    // The connection is closed after an error page, and the page says so.
    assert_eq!(r.headers()["connection"], "close");
    assert_eq!(
        Page::of(r).assert_error(502).heading,
        "Application indisponible"
    );
    // Too slow (read timeout 2 s in the test configuration): 504 page.
    let r = b.client.get(t.url("bip.test", "/slow")).send().unwrap();
    assert_eq!(
        Page::of(r).assert_error(504).heading,
        "Application trop lente"
    );
}

/// The upstream read timeout runs on a different timer when the proxy threads share one
/// work-stealing runtime (docs/pingora-patches.md, change 12): it must fire there too. The
/// upstream answers /slow after 3 s; only a timeout that fired at 2 s gives the 504.
#[test]
fn in_the_shared_layout_a_slow_upstream_still_gets_the_timeout_page() {
    let t = TestGateway::start_with(Options {
        server_extra: "threading = \"shared\"\nwork_stealing = true\n".into(),
        ..Default::default()
    });
    let b = t.browser();
    b.login("agent@mairie-exemple.fr", PASSWORD);
    assert_eq!(b.get_json(&t.url("bip.test", "/"))["app"], "bip");
    let r = b.client.get(t.url("bip.test", "/slow")).send().unwrap();
    assert_eq!(
        Page::of(r).assert_error(504).heading,
        "Application trop lente"
    );
}
