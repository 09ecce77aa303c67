//! Integration tests: one binary, real gateways on ephemeral ports (see harness.rs).
//! Run on SQLite by default; on PostgreSQL with TEST_DATABASE_URL=postgres://... .

mod account_sessions;
mod aia;
mod attacks;
mod cli;
mod demo_test_provider;
mod fake_idp;
mod faults;
mod gateway;
mod guides;
mod guides_directory;
mod harness;
mod hot_path;
mod identity_cache;
mod identity_providers;
mod identity_providers_interop;
mod identity_providers_policy;
mod lifecycle;
mod malformed;
mod oidc_acr;
mod oidc_backchannel;
mod oidc_conformance;
mod oidc_cors;
mod oidc_demo_rp;
mod oidc_provider;
mod page;
mod public_pages;
mod scale;
mod second_factor;
mod security;
mod smtp;
mod snapshot_pages;
mod strong_auth;
mod tls;
mod upstream_pool;
mod world;
