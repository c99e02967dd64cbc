//! The scrape endpoint's connection table: a cap on open connections that never locks
//! a new client out. At the cap, the oldest connection with no request in flight (an
//! idle keep-alive, or a client that connected and said nothing) is closed to make
//! room; only when every open connection is busy is the new one refused. So thousands
//! of idle sockets cost at most `cap` connections' memory, and a kubelet probe still
//! gets in.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::Notify;

pub struct Connections {
    cap: usize,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    /// By id, so the first entries are the oldest.
    open: BTreeMap<u64, Arc<Connection>>,
}

/// One open connection: how many of its responses are still being produced or sent,
/// and the signal that evicts it.
#[derive(Default)]
pub struct Connection {
    busy: AtomicUsize,
    evict: Notify,
}

/// A place in the table, released when the connection's task ends.
pub struct Slot {
    id: u64,
    connection: Arc<Connection>,
    connections: Arc<Connections>,
}

impl Connections {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap: cap.max(1),
            table: Mutex::new(Table::default()),
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        crate::lock(&self.table)
    }

    pub fn open(&self) -> usize {
        self.table().open.len()
    }

    /// A slot for a new connection, evicting the oldest idle one at the cap; `None`
    /// when every open connection is busy.
    pub fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut table = self.table();
        if table.open.len() >= self.cap {
            let idle = table
                .open
                .iter()
                .find(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
                .map(|(&id, _)| id)?;
            if let Some(evicted) = table.open.remove(&idle) {
                // Stored if its task is not waiting yet: it ends as soon as it looks.
                evicted.evict.notify_one();
            }
        }
        let id = table.next_id;
        table.next_id += 1;
        let connection = Arc::new(Connection::default());
        table.open.insert(id, connection.clone());
        Some(Slot {
            id,
            connection,
            connections: self.clone(),
        })
    }
}

impl Slot {
    pub fn connection(&self) -> Arc<Connection> {
        self.connection.clone()
    }

    /// Resolves when the table evicts this connection to make room.
    pub async fn evicted(&self) {
        self.connection.evict.notified().await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connections.table().open.remove(&self.id);
    }
}

impl Connection {
    /// Marks a response in flight until the returned body is fully sent or dropped.
    pub fn busy<B>(self: &Arc<Self>, body: B) -> Tracked<B> {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Tracked {
            body,
            connection: self.clone(),
        }
    }
}

/// A response body that keeps its connection busy while it exists.
pub struct Tracked<B> {
    body: B,
    connection: Arc<Connection>,
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        self.connection.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_idle_connection_makes_room_and_busy_ones_are_kept() {
        let table = Connections::new(2);
        let first = table.admit().expect("room");
        let second = table.admit().expect("room");
        let busy_body = first.connection().busy(());
        // At the cap: the first is busy, so the second (idle) is evicted.
        let third = table.admit().expect("an idle one makes room");
        assert_eq!(table.open(), 2);
        assert!(futures::FutureExt::now_or_never(second.evicted()).is_some());
        assert!(futures::FutureExt::now_or_never(first.evicted()).is_none());
        // Both open ones busy: refused.
        let _busy_too = third.connection().busy(());
        assert!(table.admit().is_none());
        drop(busy_body);
        assert!(table.admit().is_some(), "idle again once its body is sent");
        drop((first, second, third));
    }

    #[test]
    fn a_closed_connection_frees_its_place() {
        let table = Connections::new(1);
        let slot = table.admit().unwrap();
        drop(slot);
        assert_eq!(table.open(), 0);
    }
}
