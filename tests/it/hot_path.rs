//! What the proxy's per-request path costs in memory, checked without running it: the futures
//! of the proxy's hooks are boxed by Pingora for every request, so their size is one allocation
//! per request. Kept under glibc's per-thread cache limit (1 032 bytes), that allocation stays
//! on the allocator's fast path; a large rare path (a directory read, a redirect, an error
//! page) held inline would make every request pay for it (docs/architecture.md, "A request to
//! an application"; the boxing is in src/proxy/service.rs and src/proxy/identity_cache.rs).

use crate::harness::TestGateway;
use pingora::proxy::{ProxyHttp, Session};

/// Below glibc's largest per-thread cached size, with room to spare.
const SMALL: usize = 1024;

#[test]
fn the_futures_of_the_proxied_request_stay_small() {
    let t = TestGateway::start();
    let proxy = convergences::proxy::Proxy::new(t.gw.clone()).unwrap();
    let mut session = Session::new_h1(Box::new(std::io::Cursor::new(Vec::<u8>::new())));
    let mut ctx = proxy.new_ctx();
    let mut sizes = Vec::new();
    // Built, never polled: the size of a future is known before it runs.
    sizes.push((
        "request_filter",
        std::mem::size_of_val(&*proxy.request_filter(&mut session, &mut ctx)),
    ));
    sizes.push((
        "upstream_peer",
        std::mem::size_of_val(&*proxy.upstream_peer(&mut session, &mut ctx)),
    ));
    let mut up = pingora::http::RequestHeader::build("GET", b"/", None).unwrap();
    sizes.push((
        "upstream_request_filter",
        std::mem::size_of_val(&*proxy.upstream_request_filter(&mut session, &mut up, &mut ctx)),
    ));
    let mut resp = pingora::http::ResponseHeader::build(200, None).unwrap();
    sizes.push((
        "response_filter",
        std::mem::size_of_val(&*proxy.response_filter(&mut session, &mut resp, &mut ctx)),
    ));
    sizes.push((
        "logging",
        std::mem::size_of_val(&*proxy.logging(&mut session, None, &mut ctx)),
    ));
    for (hook, size) in sizes {
        assert!(size <= SMALL, "{hook}: {size} bytes");
    }
    let gw = &t.gw;
    let identity = std::mem::size_of_val(&gw.identities.get(&gw.dir, 1));
    assert!(identity <= 256, "identity cache look-up: {identity} bytes");
}

/// A proxy with no hooks of its own: the yardstick for what the gateway adds.
struct Bare;

#[async_trait::async_trait]
impl ProxyHttp for Bare {
    type CTX = ();
    fn new_ctx(&self) {}
    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut (),
    ) -> pingora::Result<Box<pingora::upstreams::peer::HttpPeer>> {
        pingora::Error::e_explain(pingora::ErrorType::HTTPStatus(502), "unused")
    }
}

/// Size of Pingora's future for one request (`HttpServerApp::process_new_http`), for the
/// proxy `inner`: held inline by each connection's future (docs/pingora-patches.md, change 9),
/// so it is memory per open connection.
fn request_future_size<SV>(inner: SV) -> usize
where
    SV: ProxyHttp + Send + Sync + 'static,
    SV::CTX: Send + Sync,
{
    use pingora::apps::HttpServerApp;
    let conf = std::sync::Arc::new(pingora::server::configuration::ServerConf::default());
    let app = std::sync::Arc::new(pingora::proxy::http_proxy(&conf, inner));
    let session = pingora::protocols::http::ServerSession::new_http1(Box::new(
        std::io::Cursor::new(Vec::<u8>::new()),
    ));
    let (_tx, shutdown) = tokio::sync::watch::channel(false);
    let fut = app.process_new_http(session, &shutdown);
    std::mem::size_of_val(&fut)
}

#[test]
fn the_request_future_is_no_larger_than_a_bare_proxys() {
    let t = TestGateway::start();
    let proxy = convergences::proxy::Proxy::new(t.gw.clone()).unwrap();
    let ours = request_future_size(proxy);
    let bare = request_future_size(Bare);
    assert!(
        ours <= bare + 1024,
        "gateway {ours} bytes, bare proxy {bare} bytes"
    );
}
