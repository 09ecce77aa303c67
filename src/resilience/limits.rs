//! Admission limits of one process: open connections and requests in flight. Beyond them a
//! new connection or request gets a 503 with `Retry-After` at once, so that an overload costs
//! a short answer instead of memory, sockets and queueing time for everyone
//! (docs/operations.md#overload).

use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Limits {
    max_connections: usize,
    max_requests: usize,
    connections: Count,
    requests: Count,
    /// Seconds a refused client is asked to wait, ready for the header.
    pub retry_after: http::HeaderValue,
    /// Set from the counts when the metrics are read ([`Limits::publish`]), not on every
    /// request: a gauge update is a compare-and-swap loop on a line both proxy threads write.
    connections_gauge: metrics::Gauge,
    requests_gauge: metrics::Gauge,
    refused_connections: metrics::Counter,
    refused_requests: metrics::Counter,
}

/// A count alone on its cache lines (x86 fetches them in pairs): every request writes it, from
/// every proxy thread, and nothing read on the way should share its line.
#[repr(align(128))]
struct Count(AtomicUsize);

/// What a [`Permit`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Connection,
    Request,
}

/// A place taken among the connections or the requests in flight, given back on drop.
///
/// It points at limits that live as long as the process ([`Limits::new`]): holding them
/// through a shared `Arc` would add two atomic writes per request to one reference count
/// every proxy thread writes, on the cache line of the counts themselves.
pub struct Permit {
    limits: &'static Limits,
    kind: Kind,
}

impl Limits {
    /// Made once per gateway and kept for the life of the process (a few hundred bytes), so
    /// that a [`Permit`] needs no reference count.
    pub fn new(
        max_connections: usize,
        max_requests: usize,
        retry_after_seconds: u64,
    ) -> &'static Limits {
        Box::leak(Box::new(Limits {
            max_connections,
            max_requests,
            connections: Count(AtomicUsize::new(0)),
            requests: Count(AtomicUsize::new(0)),
            retry_after: http::HeaderValue::from(retry_after_seconds),
            connections_gauge: metrics::gauge!("convergences_open_connections"),
            requests_gauge: metrics::gauge!("convergences_requests_in_flight"),
            refused_connections: metrics::counter!("convergences_overload_refused_total", "what" => "connection"),
            refused_requests: metrics::counter!("convergences_overload_refused_total", "what" => "request"),
        }))
    }

    /// A place for a new connection, or `None` when `max_connections` are open.
    pub fn connection(&'static self) -> Option<Permit> {
        self.take(Kind::Connection)
    }

    /// A place for a new request, or `None` when `max_requests` are in flight.
    pub fn request(&'static self) -> Option<Permit> {
        self.take(Kind::Request)
    }

    pub fn open_connections(&self) -> usize {
        self.connections.0.load(Ordering::Relaxed)
    }

    pub fn requests_in_flight(&self) -> usize {
        self.requests.0.load(Ordering::Relaxed)
    }

    /// Sets the load gauges from the counts, for a metrics scrape.
    pub fn publish(&self) {
        self.connections_gauge.set(self.open_connections() as f64);
        self.requests_gauge.set(self.requests_in_flight() as f64);
    }

    fn parts(&self, kind: Kind) -> (&AtomicUsize, usize, &metrics::Counter) {
        match kind {
            Kind::Connection => (
                &self.connections.0,
                self.max_connections,
                &self.refused_connections,
            ),
            Kind::Request => (&self.requests.0, self.max_requests, &self.refused_requests),
        }
    }

    fn take(&'static self, kind: Kind) -> Option<Permit> {
        let (count, max, refused) = self.parts(kind);
        if count.fetch_add(1, Ordering::AcqRel) >= max {
            count.fetch_sub(1, Ordering::AcqRel);
            refused.increment(1);
            return None;
        }
        Some(Permit { limits: self, kind })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let (count, _, _) = self.limits.parts(self.kind);
        count.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::Limits;

    #[test]
    fn permits_are_bounded_and_given_back_on_drop() {
        let l = Limits::new(1, 2, 1);
        let c = l.connection().expect("first connection");
        assert!(l.connection().is_none(), "over max_connections");
        let r1 = l.request().expect("request 1");
        let r2 = l.request().expect("request 2");
        assert!(l.request().is_none(), "over max_requests");
        assert_eq!((l.open_connections(), l.requests_in_flight()), (1, 2));
        drop(r1);
        assert!(l.request().is_some(), "a finished request frees its place");
        drop((c, r2));
        assert_eq!((l.open_connections(), l.requests_in_flight()), (0, 0));
        assert_eq!(l.retry_after, "1");
    }
}
