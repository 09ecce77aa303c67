//! The Pingora proxy: routes each request to the portal (axum, over a Unix socket) or to an
//! application, and enforces the gateway contract (docs/gateway.md) on the way: login, role,
//! identity headers. Request flow: docs/architecture.md#a-request-to-an-application.

pub mod admission;
pub mod assertion;
pub mod client_addr;
mod forwarding;
mod handshake;
pub mod headers;
pub mod identity_cache;
pub mod identity_encoding;
pub mod listeners;
mod memo;
mod pages;
pub mod reserved_headers;
pub mod routes;
pub mod service;
mod thread_routes;

pub use service::Proxy;
