//! Behaviour under faults and overload (docs/operations.md, docs/decisions/0009-fail-fast-and-degrade-on-purpose.md):
//! a circuit breaker per remote dependency, so that requests are refused at once while a
//! dependency is known to be down instead of each waiting out a timeout, and admission limits
//! on connections and requests in flight, so that memory and connections stay bounded when the
//! process is overloaded. Both are atomics only: nothing here takes a lock or allocates on a
//! request's path.

pub mod breaker;
pub mod limits;

pub use breaker::{Breaker, BreakerSettings, Refused};
pub use limits::{Limits, Permit};
