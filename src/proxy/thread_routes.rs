//! Per proxy thread, the routing table in use. Every request holds the table it was routed
//! with until it ends (a reload meanwhile does not change its application under it). Held as
//! a clone of the shared `Arc`, that hold is two atomic writes per request on one reference
//! count every proxy thread writes, a cache line passed from core to core at each request.
//! Here each thread keeps its own reference to the current table, and a request holds a
//! reference to the thread's: the count it writes is its thread's alone
//! (docs/architecture.md#a-request-to-an-application).

use super::routes::RouteTable;
use arc_swap::ArcSwap;
use std::cell::RefCell;
use std::sync::Arc;
use thread_local::ThreadLocal;

/// A request's hold on the routing table: a reference owned by the thread that routed it.
pub type HeldRoutes = Arc<Arc<RouteTable>>;

#[derive(Default)]
pub struct ThreadRoutes {
    threads: ThreadLocal<RefCell<Option<HeldRoutes>>>,
}

impl ThreadRoutes {
    /// The table now in `shared`, through this thread's reference, renewed when a reload has
    /// swapped the table.
    pub fn current(&self, shared: &ArcSwap<RouteTable>) -> HeldRoutes {
        // A guard, not a clone: arc-swap records it in this thread's own slot.
        let now = shared.load();
        let Ok(mut held) = self.threads.get_or_default().try_borrow_mut() else {
            // Not reached (nothing borrows it across a call); correct anyway.
            return Arc::new(arc_swap::Guard::into_inner(now));
        };
        if let Some(h) = held.as_ref().filter(|h| Arc::ptr_eq(&***h, &*now)) {
            return h.clone();
        }
        let fresh = Arc::new(arc_swap::Guard::into_inner(now));
        *held = Some(fresh.clone());
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn table() -> Arc<RouteTable> {
        let toml = "[server]\nportal_host = \"auth.localhost\"\n";
        let config = Config::from_toml("t.toml", toml, &[]).expect("configuration");
        Arc::new(RouteTable::new(&config))
    }

    #[test]
    fn a_thread_reuses_its_reference_until_the_table_is_swapped() {
        let shared = ArcSwap::new(table());
        let routes = ThreadRoutes::default();
        let first = routes.current(&shared);
        let again = routes.current(&shared);
        assert!(
            Arc::ptr_eq(&first, &again),
            "same table: the thread's own reference"
        );
        let swapped = table();
        shared.store(swapped.clone());
        let after = routes.current(&shared);
        assert!(
            Arc::ptr_eq(&*after, &swapped),
            "a reload is seen at the next request"
        );
        assert!(!Arc::ptr_eq(&first, &after));
        assert!(
            !Arc::ptr_eq(&*first, &swapped),
            "a request in flight keeps its old table"
        );
    }

    #[test]
    fn each_thread_has_its_own_reference() {
        let shared = ArcSwap::new(table());
        let routes = ThreadRoutes::default();
        let here = routes.current(&shared);
        let there =
            std::thread::scope(|s| s.spawn(|| routes.current(&shared)).join()).expect("thread");
        assert!(Arc::ptr_eq(&*here, &*there), "the same table");
        assert!(
            !Arc::ptr_eq(&here, &there),
            "held through different references"
        );
    }
}
