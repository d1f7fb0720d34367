//! A queue-region held in memory by the instance holding its lease: loaded from a
//! snapshot, kept current from the queue's change log, and indexed by age and by rating so
//! a tick never re-reads the queue from Redis.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use queues::{Change, QueuedTicket};

/// A rating as a sortable key: thousandths of a point.
pub fn rating_key(rating: f64) -> i64 {
    (rating * 1000.0).round() as i64
}

/// The tickets of one queue-region. The rating index owns the tickets, so a tick's walk
/// in rating order reads them in place (at 100,000 queued, a hash lookup per ticket was
/// most of a tick).
#[derive(Debug, Default)]
pub struct Mirror {
    by_rating: BTreeMap<(i64, String), QueuedTicket>,
    by_age: BTreeSet<(u64, String)>,
    /// Each ticket's place in the two orders, by id.
    places: HashMap<String, (i64, u64)>,
    /// Players the tickets seat (a party's ticket seats its members).
    seats: usize,
}

impl Mirror {
    /// A mirror holding exactly `tickets`.
    pub fn load(tickets: Vec<QueuedTicket>) -> Self {
        let mut mirror = Self::default();
        for ticket in tickets {
            mirror.insert(ticket);
        }
        mirror
    }

    pub fn apply(&mut self, change: Change) {
        match change {
            Change::Joined(ticket) => self.insert(ticket),
            Change::Left(id) => {
                self.remove(&id);
            }
            // Not about tickets: the worker keeps the backfill requests.
            Change::BackfillRequested(_) | Change::BackfillClosed(_) => {}
        }
    }

    pub fn insert(&mut self, ticket: QueuedTicket) {
        self.remove(&ticket.id);
        let key = rating_key(ticket.rating);
        self.places
            .insert(ticket.id.clone(), (key, ticket.enqueued_ms));
        self.by_age.insert((ticket.enqueued_ms, ticket.id.clone()));
        self.seats += ticket.size();
        self.by_rating.insert((key, ticket.id.clone()), ticket);
    }

    /// Copies each ticket's trace context from `previous` (the mirror this one replaces on
    /// a resync), so a player who waits across a resync stays in their trace.
    pub fn keep_traces(&mut self, previous: &Mirror) {
        for ticket in self.by_rating.values_mut() {
            if ticket.trace.is_none()
                && let Some(old) = previous.get(&ticket.id)
            {
                ticket.trace.clone_from(&old.trace);
            }
        }
    }

    pub fn remove(&mut self, id: &str) -> Option<QueuedTicket> {
        let (key, enqueued_ms) = self.places.remove(id)?;
        self.by_age.remove(&(enqueued_ms, id.to_owned()));
        let removed = self.by_rating.remove(&(key, id.to_owned()));
        if let Some(ticket) = &removed {
            self.seats = self.seats.saturating_sub(ticket.size());
        }
        removed
    }

    pub fn get(&self, id: &str) -> Option<&QueuedTicket> {
        let (key, _) = self.places.get(id)?;
        self.by_rating.get(&(*key, id.to_owned()))
    }

    pub fn len(&self) -> usize {
        self.places.len()
    }

    /// Players the tickets seat.
    pub fn seats(&self) -> usize {
        self.seats
    }

    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// Tickets, oldest first.
    pub fn oldest_first(&self) -> impl Iterator<Item = &QueuedTicket> {
        self.by_age.iter().filter_map(|(_, id)| self.get(id))
    }

    /// The oldest ticket's enqueue time.
    pub fn oldest_enqueued_ms(&self) -> Option<u64> {
        self.by_age.first().map(|(at, _)| *at)
    }

    /// Tickets with a rating below `ticket`'s (ties broken by id), nearest first.
    pub fn below<'a>(
        &'a self,
        ticket: &QueuedTicket,
    ) -> impl Iterator<Item = &'a QueuedTicket> + 'a {
        self.by_rating
            .range(..(rating_key(ticket.rating), ticket.id.clone()))
            .rev()
            .map(|(_, t)| t)
    }

    /// Tickets with a rating above `ticket`'s (ties broken by id), nearest first.
    pub fn above<'a>(
        &'a self,
        ticket: &QueuedTicket,
    ) -> impl Iterator<Item = &'a QueuedTicket> + 'a {
        use std::ops::Bound;
        self.by_rating
            .range((
                Bound::Excluded((rating_key(ticket.rating), ticket.id.clone())),
                Bound::Unbounded,
            ))
            .map(|(_, t)| t)
    }

    /// Tickets rated `low..=high`, lowest first.
    pub fn rated_within(&self, low: f64, high: f64) -> impl Iterator<Item = &QueuedTicket> {
        use std::ops::Bound;
        self.by_rating
            .range((
                Bound::Included((rating_key(low), String::new())),
                Bound::Excluded((rating_key(high).saturating_add(1), String::new())),
            ))
            .map(|(_, t)| t)
    }

    /// Tickets, lowest rating first.
    pub fn by_rating(&self) -> impl Iterator<Item = &QueuedTicket> {
        self.by_rating.values()
    }

    /// Every ticket, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &QueuedTicket> {
        self.by_rating.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(id: &str, trace: Option<&str>) -> QueuedTicket {
        QueuedTicket {
            id: id.into(),
            members: vec![queues::Member {
                player: format!("p-{id}"),
                rating: 1500.0,
            }],
            rating: 1500.0,
            enqueued_ms: 1,
            trace: trace.map(str::to_owned),
        }
    }

    #[test]
    fn a_resync_keeps_the_traces_the_change_log_gave() {
        let before = Mirror::load(vec![
            ticket("a", Some("trace-a")),
            ticket("gone", Some("x")),
        ]);
        let mut after = Mirror::load(vec![ticket("a", None), ticket("new", None)]);
        after.keep_traces(&before);
        assert_eq!(
            after.get("a").and_then(|t| t.trace.as_deref()),
            Some("trace-a")
        );
        assert_eq!(after.get("new").and_then(|t| t.trace.as_deref()), None);
        assert!(after.get("gone").is_none());
    }
}
