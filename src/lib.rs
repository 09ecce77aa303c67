//! Convergences: a single sign-on gateway (Pingora) and identity directory (the AIA) for a
//! French HR service centre and its affiliated local authorities. See shared/SPEC.md.

pub mod auth;
pub mod cli;
pub mod config;
pub mod data_dir;
pub mod demo;
pub mod directory;
pub mod import;
pub mod lifecycle;
pub mod mail;
pub mod proxy;
pub mod server;
pub mod session;
pub mod state;
pub mod telemetry;
pub mod web;
