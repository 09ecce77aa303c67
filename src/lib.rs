//! Convergences: a single sign-on gateway (Pingora) and identity directory (the AIA) for a
//! French HR service centre and its affiliated local authorities. What it does:
//! docs/product.md; how the code fits together: docs/architecture.md; why: docs/decisions/.

pub mod auth;
pub mod cli;
pub mod config;
pub mod data_dir;
pub mod demo;
pub mod directory;
pub mod error_page;
pub mod import;
pub mod lifecycle;
pub mod mail;
pub mod oidc;
pub mod proxy;
pub mod resilience;
pub mod second_factor;
pub mod server;
pub mod session;
pub mod state;
pub mod telemetry;
pub mod web;
