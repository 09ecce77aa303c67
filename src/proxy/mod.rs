//! The Pingora proxy: routes each request to the portal (axum, over a Unix socket) or to an
//! application, and enforces SPEC section 4 on the way (login, role, identity headers).

pub mod assertion;
pub mod headers;
pub mod identity_cache;
pub mod identity_encoding;
pub mod routes;
pub mod service;

pub use service::Proxy;
