//! The baseline of bench/proxy: a bare Pingora reverse proxy with no authentication, built
//! from the same Pingora as the gateway (the same patched copy, the same profile), with the
//! same listener and threading layouts. The gateway's ratio to it is the gateway's own cost.
//!
//! Usage: bare_proxy LISTEN UPSTREAM THREADS [per_thread|shared] [work_stealing: true|false]
//! [HEADER_BYTES]
//!
//! With HEADER_BYTES, every request forwarded carries one more header of that many bytes (value
//! included): bench/proxy sizes it so that the upstream receives exactly as many bytes as the
//! gateway sends with its identity headers and signed assertion. That baseline is what any
//! proxy that must tell the application who the user is would pay; the gateway's ratio to it is
//! the cost of everything else it does.

use async_trait::async_trait;
use pingora::http::RequestHeader;
use pingora::listeners::TcpSocketOptions;
use pingora::prelude::*;
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::configuration::ServerConf;
use pingora::upstreams::peer::HttpPeer;

struct Bare {
    peer: HttpPeer,
    /// The extra header's value, shared by this service's requests (cloning it copies no
    /// bytes).
    extra: Option<http::HeaderValue>,
}

/// The extra header's name: with its ": " and CRLF, 20 bytes of the line.
const EXTRA_NAME: &str = "x-bench-identity";

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(self.peer.clone()))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        _ctx: &mut (),
    ) -> Result<()> {
        if let Some(value) = &self.extra {
            upstream_request.insert_header(EXTRA_NAME, value.clone())?;
        }
        Ok(())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!(
            "usage: {} LISTEN UPSTREAM THREADS [per_thread|shared] [true|false] [HEADER_BYTES]",
            args[0]
        );
        std::process::exit(2);
    }
    let (listen, upstream) = (&args[1], &args[2]);
    let threads: usize = match args[3].parse() {
        Ok(n) if n > 0 => n,
        _ => {
            eprintln!("THREADS must be a positive integer");
            std::process::exit(2);
        }
    };
    let per_thread = args.get(4).is_none_or(|l| l == "per_thread");
    let work_stealing = !per_thread && args.get(5).is_none_or(|w| w == "true");
    let line_bytes = EXTRA_NAME.len() + 4;
    let extra = match args.get(6).map(|n| n.parse::<usize>()) {
        None | Some(Ok(0)) => None,
        Some(Ok(n)) if n > line_bytes => {
            let value = "a".repeat(n - line_bytes);
            Some(http::HeaderValue::from_str(&value).expect("ASCII letters are a header value"))
        }
        _ => {
            eprintln!("HEADER_BYTES must be 0 or an integer above {line_bytes}");
            std::process::exit(2);
        }
    };
    let conf = ServerConf {
        threads,
        work_stealing,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let services = if per_thread { threads } else { 1 };
    for _ in 0..services {
        let bare = Bare {
            peer: HttpPeer::new(upstream.as_str(), false, String::new()),
            // Each service its own copy: a clone would share one reference count between the
            // threads, a cost the gateway does not pay (its identity lines are per thread).
            extra: extra
                .as_ref()
                .map(|v| http::HeaderValue::from_bytes(v.as_bytes()).expect("copied from a value")),
        };
        let mut service = pingora::proxy::http_proxy_service(&server.configuration, bare);
        if per_thread {
            service.threads = Some(1);
            let mut socket = TcpSocketOptions::default();
            socket.so_reuseport = Some(true);
            service.add_tcp_with_settings(listen, socket);
        } else {
            service.add_tcp(listen);
        }
        server.add_service(service);
    }
    server.run_forever();
}
