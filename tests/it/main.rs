//! Integration tests: one binary, real gateways on ephemeral ports (see harness.rs).
//! Run on SQLite by default; on PostgreSQL with TEST_DATABASE_URL=postgres://... .

mod account_sessions;
mod aia;
mod attacks;
mod cli;
mod gateway;
mod harness;
mod lifecycle;
mod malformed;
mod scale;
mod second_factor;
mod security;
mod smtp;
mod tls;
