//! How the proxy listens: its Pingora services, their threads and sockets, and the TLS
//! configuration they share (docs/decisions/0007-proxy-threading-layout.md).

use super::Proxy;
use crate::config::{Config, Threading, TlsConfig};
use crate::state::Gateway;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::TcpSocketOptions;
use pingora::server::Server;
use pingora::tls::{version, ServerConfig};
use std::sync::Arc;

/// TLS sessions remembered for resumption by session ID (TLS 1.2); TLS 1.3 clients resume with
/// stateless tickets instead. A few hundred bytes each.
const TLS_SESSION_CACHE: usize = 16 * 1024;

/// Whether Pingora's runtimes steal work between threads, for this layout.
pub fn work_stealing(config: &Config) -> bool {
    match config.threading {
        // Each service has one thread: nothing to steal from.
        Threading::PerThread => false,
        Threading::Shared => config.work_stealing,
    }
}

/// Adds the proxy's listening services to `server`: `server.threads` services of one thread
/// each on the same addresses (`SO_REUSEPORT`), or one service of `server.threads` threads.
pub fn add_services(server: &mut Server, gw: &Arc<Gateway>) -> Result<(), String> {
    let cfg = &gw.config;
    let tls = cfg.tls.as_ref().map(tls_server_config).transpose()?;
    let (services, threads, socket) = match cfg.threading {
        Threading::PerThread => {
            let mut socket = TcpSocketOptions::default();
            socket.so_reuseport = Some(true);
            (cfg.threads, Some(1), Some(socket))
        }
        Threading::Shared => (1, None, None),
    };
    let overloaded = crate::error_page::error_page(
        &cfg.public_url,
        &cfg.support,
        None,
        503,
        "Service très sollicité",
        crate::error_page::OVERLOADED,
    );
    let pages = error_pages(cfg);
    for _ in 0..services {
        let proxy = Proxy::new(gw.clone())?;
        let mut http = pingora::proxy::http_proxy(&server.configuration, proxy);
        let mut options = pingora::apps::HttpServerOptions::default();
        // Both need the patched pingora-core (docs/pingora-patches.md).
        options.header_timeout = Some(cfg.header_timeout);
        options.error_pages = Some(pages.clone());
        http.server_options = Some(options);
        // The connection limit wraps the proxy (src/proxy/admission.rs).
        let app = super::admission::Admitted::new(http, gw.limits, &overloaded);
        let mut service =
            pingora::services::listening::Service::new("Pingora HTTP Proxy Service".into(), app);
        service.threads = threads;
        let listen = cfg.listen.to_string();
        match &socket {
            Some(s) => service.add_tcp_with_settings(&listen, s.clone()),
            None => service.add_tcp(&listen),
        }
        if let (Some(t), Some(tls_config)) = (&cfg.tls, &tls) {
            let settings = TlsSettings::from_server_config(tls_config.clone());
            service.add_tls_with_settings(&t.listen.to_string(), socket.clone(), settings);
        }
        server.add_service(service);
    }
    Ok(())
}

/// The French pages of the errors Pingora answers by itself, before any hook of the proxy: a
/// request it cannot parse (400) and a refused method (405, CONNECT). The portal's page for
/// the same refusal, and no `Server: Pingora`. Other codes keep Pingora's answer (the proxy
/// answers them itself). Built once per start: a reload does not change them.
fn error_pages(cfg: &Config) -> pingora::apps::ErrorPages {
    use http::header;
    let page = |code: u16| {
        let status = http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::BAD_REQUEST);
        let (heading, message) = crate::error_page::rejection_text(status);
        bytes::Bytes::from(crate::error_page::error_page(
            &cfg.public_url,
            &cfg.support,
            None,
            code,
            heading,
            message,
        ))
    };
    let (bad_request, method) = (page(400), page(405));
    pingora::apps::ErrorPages(Arc::new(move |code| {
        let body = match code {
            400 => bad_request.clone(),
            405 => method.clone(),
            _ => return None,
        };
        let mut h = pingora::http::ResponseHeader::build(code, Some(5)).ok()?;
        h.insert_header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .ok()?;
        h.insert_header(header::CONTENT_LENGTH, body.len()).ok()?;
        h.insert_header(header::CACHE_CONTROL, "no-store").ok()?;
        h.insert_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .ok()?;
        Some((h, body))
    }))
}

/// One rustls configuration for every TLS listener, so that a session resumes whichever
/// thread's socket the new connection lands on. ALPN offers HTTP/2 first, then HTTP/1.1.
fn tls_server_config(tls: &TlsConfig) -> Result<Arc<ServerConfig>, String> {
    let fail = |e: &dyn std::fmt::Display| {
        format!(
            "server.tls: cannot use {} and {}: {e}",
            tls.cert_file.display(),
            tls.key_file.display()
        )
    };
    pingora::tls::install_default_crypto_provider();
    let (certs, key) = pingora::tls::load_certs_and_key_files(
        &tls.cert_file.to_string_lossy(),
        &tls.key_file.to_string_lossy(),
    )
    .map_err(|e| fail(&e))?
    .ok_or_else(|| fail(&"no certificate or no key in the files"))?;
    let mut config =
        ServerConfig::builder_with_protocol_versions(&[&version::TLS12, &version::TLS13])
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| fail(&e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(TLS_SESSION_CACHE);
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(|e| fail(&e))?;
    Ok(Arc::new(config))
}
