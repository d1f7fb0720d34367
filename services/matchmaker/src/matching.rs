//! Forming matches: a pure function of the queue's definition, the time and the queued
//! tickets, so the rules are tested on hand-made queues whose best answer is known.
//!
//! The rules:
//! - **Oldest first.** Tickets are taken as anchors in the order they were queued.
//! - **A window that widens.** An anchor accepts ratings within `initial_window +
//!   widen_per_second x seconds waited` of its own, up to `max_window`; the anchor, being
//!   the oldest of its match, has the widest window of any of them.
//! - **Nearest ratings.** The anchor takes the eligible tickets nearest its rating inside
//!   the window; if there are not enough, it waits (younger tickets may still match).
//! - **Balanced teams.** The chosen players are split into teams so the teams' rating sums
//!   differ as little as possible ([`balance`]).
//! - **Parties stay whole.** A ticket seats one player or a party; a party is never split
//!   across teams, a ticket that does not fit the seats left is passed over (a farther
//!   one may fit). When the nearest tickets that fit cannot be split into full teams
//!   (a party of four and two of three for teams of five), other sets of the nearest
//!   tickets are tried, nearer first, within a bounded search (`pick`); if none
//!   splits, the anchor waits.
//! - **Backfill first.** A running match's open backfill request ([`fill_backfill`]) is
//!   filled before new matches form: for each team it wants players for, the eligible
//!   tickets nearest the team's mean rating, inside the window widened from when it asked
//!   (or the ticket's own, if wider), a party only where its whole size is wanted.

use std::collections::HashSet;

use queues::{OpenBackfill, QueueDefinition, QueuedTicket};

use crate::mirror::Mirror;

/// The rating window of a ticket that has waited `waited_ms`.
pub fn window(definition: &QueueDefinition, waited_ms: u64) -> f64 {
    let widened =
        definition.initial_window + definition.widen_per_second * (waited_ms as f64 / 1000.0);
    widened.min(definition.max_window)
}

/// Forms up to `limit` matches from `mirror`'s tickets for which `eligible` holds. Each
/// match is its teams, each team its tickets.
pub fn form_matches<'a>(
    definition: &QueueDefinition,
    now_ms: u64,
    mirror: &'a Mirror,
    eligible: impl Fn(&QueuedTicket) -> bool,
    limit: usize,
) -> Vec<Vec<Vec<&'a QueuedTicket>>> {
    let size = definition.match_size();
    let team_size = definition.team_size as usize;
    let mut taken: HashSet<&str> = HashSet::new();
    let mut matches = Vec::new();
    if size < 2 || mirror.seats() < size {
        return matches;
    }
    // A ticket with no other ticket within the widest window on either side cannot be in
    // any match this tick: one pass in rating order finds the few that can, so a large
    // queue of far-apart tickets costs a walk, not a neighbour search per ticket.
    let reach = definition.max_window;
    let mut possible: Vec<&QueuedTicket> = Vec::new();
    let mut previous: Option<&QueuedTicket> = None;
    let mut previous_added = false;
    for ticket in mirror.by_rating() {
        if let Some(prev) = previous
            && ticket.rating - prev.rating <= reach
        {
            if !previous_added {
                possible.push(prev);
            }
            possible.push(ticket);
            previous_added = true;
        } else {
            previous_added = false;
        }
        previous = Some(ticket);
    }
    if possible.iter().map(|t| t.size()).sum::<usize>() < size {
        return matches;
    }
    // Anchors oldest first, as the rules say.
    possible.sort_by(|a, b| {
        a.enqueued_ms
            .cmp(&b.enqueued_ms)
            .then_with(|| a.id.cmp(&b.id))
    });
    for anchor in possible {
        if matches.len() >= limit {
            break;
        }
        if taken.contains(anchor.id.as_str()) || !eligible(anchor) || anchor.size() > team_size {
            continue;
        }
        let w = window(definition, now_ms.saturating_sub(anchor.enqueued_ms));
        let usable = |t: &&QueuedTicket| {
            (t.rating - anchor.rating).abs() <= w && !taken.contains(t.id.as_str()) && eligible(t)
        };
        // Nearest first from both sides; the rating order stops each side at the window.
        let mut below = mirror
            .below(anchor)
            .take_while(|t| anchor.rating - t.rating <= w)
            .filter(usable)
            .peekable();
        let mut above = mirror
            .above(anchor)
            .take_while(|t| t.rating - anchor.rating <= w)
            .filter(usable)
            .peekable();
        // The usable tickets nearest the anchor, nearest first, read as the search needs
        // them (for solo players, just the match's worth).
        let nearest = std::iter::from_fn(|| match (below.peek(), above.peek()) {
            (Some(b), Some(a)) => {
                if anchor.rating - b.rating <= a.rating - anchor.rating {
                    below.next()
                } else {
                    above.next()
                }
            }
            (Some(_), None) => below.next(),
            (None, Some(_)) => above.next(),
            (None, None) => None,
        })
        // A party larger than a team waits for ever (it is refused at join).
        .filter(|ticket| ticket.size() <= team_size)
        .take(size + SEARCH_CANDIDATES);
        let Some(teams) = pick(anchor, nearest, definition, team_size) else {
            // No set of these tickets makes full teams with the anchor: it waits.
            continue;
        };
        for ticket in teams.iter().flatten() {
            taken.insert(ticket.id.as_str());
        }
        matches.push(teams);
    }
    matches
}

/// The tickets that fill (some of) `backfill` now, each with the team it joins: per team,
/// the nearest to the team's mean rating among those `eligible`, within the window, until
/// the team has what it wants or nobody fits. Empty when nobody fits yet.
pub fn fill_backfill<'a>(
    definition: &QueueDefinition,
    now_ms: u64,
    mirror: &'a Mirror,
    eligible: impl Fn(&QueuedTicket) -> bool,
    backfill: &OpenBackfill,
) -> Vec<(usize, &'a QueuedTicket)> {
    let asked_window = window(definition, now_ms.saturating_sub(backfill.requested_ms));
    let reach = definition.max_window;
    let mut chosen: Vec<(usize, &QueuedTicket)> = Vec::new();
    for (&team, &wanted) in &backfill.wanted {
        let Some(&mean) = backfill.means.get(team) else {
            continue;
        };
        let mut candidates: Vec<&QueuedTicket> = mirror
            .rated_within(mean - reach, mean + reach)
            .filter(|t| {
                let own = window(definition, now_ms.saturating_sub(t.enqueued_ms));
                (t.rating - mean).abs() <= asked_window.max(own)
                    && eligible(t)
                    && !chosen.iter().any(|(_, c)| c.id == t.id)
            })
            .collect();
        candidates.sort_by(|a, b| {
            (a.rating - mean)
                .abs()
                .total_cmp(&(b.rating - mean).abs())
                .then_with(|| a.enqueued_ms.cmp(&b.enqueued_ms))
                .then_with(|| a.id.cmp(&b.id))
        });
        let mut left = wanted;
        for ticket in candidates {
            if left == 0 {
                break;
            }
            // A party comes whole, or not at all.
            if ticket.size() <= left {
                left -= ticket.size();
                chosen.push((team, ticket));
            }
        }
    }
    chosen
}

/// Tickets near an anchor a search for its match looks at beyond the match's size,
/// nearest first.
const SEARCH_CANDIDATES: usize = 32;
/// Steps (a ticket tried in a set) a search takes per anchor at most, so a queue of
/// parties that cannot make full teams costs a bounded amount per tick.
const SEARCH_BUDGET: usize = 2048;

/// The nearest set of tickets that, with `anchor`, seats exactly the match and splits into
/// full teams: the nearest tickets that fit first (for solo players the first set tried),
/// then, where the parties do not split into full teams (a party of four and two of three
/// for two teams of five, say), other sets, nearer ones first, within [`SEARCH_BUDGET`]. Two
/// tickets seating one player (a join racing a lost reply) are never in one set.
fn pick<'a>(
    anchor: &'a QueuedTicket,
    nearest: impl Iterator<Item = &'a QueuedTicket>,
    definition: &QueueDefinition,
    team_size: usize,
) -> Option<Vec<Vec<&'a QueuedTicket>>> {
    struct Search<'a, I> {
        /// The candidates read so far, and the rest.
        nearest: Vec<&'a QueuedTicket>,
        more: I,
        /// Seats of the anchor and every candidate read; whether none is left to read.
        seats_read: usize,
        exhausted: bool,
        size: usize,
        teams: usize,
        team_size: usize,
        steps: usize,
    }
    impl<'a, I: Iterator<Item = &'a QueuedTicket>> Search<'a, I> {
        /// The `i`th nearest candidate, read when first needed.
        fn candidate(&mut self, i: usize) -> Option<&'a QueuedTicket> {
            while self.nearest.len() <= i {
                let Some(next) = self.more.next() else {
                    self.exhausted = true;
                    return None;
                };
                self.seats_read += next.size();
                self.nearest.push(next);
            }
            Some(self.nearest[i])
        }

        /// Extends `chosen` (seating `seats`) with tickets from `from` on.
        fn extend(
            &mut self,
            chosen: &mut Vec<&'a QueuedTicket>,
            seats: usize,
            from: usize,
        ) -> Option<Vec<Vec<&'a QueuedTicket>>> {
            if seats == self.size {
                return balance(chosen.clone(), self.teams, self.team_size);
            }
            let mut i = from;
            while let Some(ticket) = self.candidate(i) {
                i += 1;
                // Not enough seats among all the candidates: no set can work.
                if self.steps >= SEARCH_BUDGET || (self.exhausted && self.seats_read < self.size) {
                    return None;
                }
                self.steps += 1;
                let clash = ticket
                    .members
                    .iter()
                    .any(|m| chosen.iter().any(|c| c.seats(&m.player)));
                if clash || seats + ticket.size() > self.size {
                    continue;
                }
                chosen.push(ticket);
                if let Some(teams) = self.extend(chosen, seats + ticket.size(), i) {
                    return Some(teams);
                }
                chosen.pop();
            }
            None
        }
    }
    let mut search = Search {
        nearest: Vec::new(),
        more: nearest,
        seats_read: anchor.size(),
        exhausted: false,
        size: definition.match_size(),
        teams: definition.teams as usize,
        team_size,
        steps: 0,
    };
    search.extend(&mut vec![anchor], anchor.size(), 0)
}

/// Splits `tickets` (seating exactly `teams x team_size` players) into full teams whose
/// rating sums (each member at their own rating) differ as little as possible, every
/// party whole on one team: exactly for two teams of up to twelve tickets, greedily
/// otherwise (the largest party, then the strongest, to the weakest team with room).
/// Within a team, strongest first. `None` when the parties cannot make full teams.
pub fn balance(
    mut tickets: Vec<&QueuedTicket>,
    teams: usize,
    team_size: usize,
) -> Option<Vec<Vec<&QueuedTicket>>> {
    tickets.sort_by(|a, b| b.rating.total_cmp(&a.rating).then_with(|| a.id.cmp(&b.id)));
    if teams == 2 && tickets.len() <= 12 {
        return balance_two_exactly(tickets, team_size);
    }
    let mut order = tickets;
    order.sort_by_key(|t| std::cmp::Reverse(t.size()));
    let mut out: Vec<Vec<&QueuedTicket>> = vec![Vec::with_capacity(team_size); teams];
    let mut seats = vec![0_usize; teams];
    let mut sums = vec![0.0_f64; teams];
    for ticket in order {
        let team = (0..teams)
            .filter(|&t| seats[t] + ticket.size() <= team_size)
            .min_by(|&a, &b| sums[a].total_cmp(&sums[b]).then(a.cmp(&b)))?;
        seats[team] += ticket.size();
        sums[team] += strength(ticket);
        out[team].push(ticket);
    }
    for team in &mut out {
        team.sort_by(|a, b| b.rating.total_cmp(&a.rating).then_with(|| a.id.cmp(&b.id)));
    }
    seats.iter().all(|&s| s == team_size).then_some(out)
}

/// A ticket's weight on its team: the sum of its members' ratings.
fn strength(ticket: &QueuedTicket) -> f64 {
    ticket.members.iter().map(|m| m.rating).sum()
}

/// Two teams: try every split of whole tickets that seats `team_size` in each and puts
/// the strongest ticket in team 0.
fn balance_two_exactly(
    tickets: Vec<&QueuedTicket>,
    team_size: usize,
) -> Option<Vec<Vec<&QueuedTicket>>> {
    let n = tickets.len();
    let total: f64 = tickets.iter().map(|t| strength(t)).sum();
    let mut best: Option<(f64, u32)> = None;
    for mask in 0_u32..(1 << n) {
        if mask & 1 == 0 {
            continue;
        }
        let in_first = |i: &usize| mask & (1 << i) != 0;
        let seats: usize = (0..n).filter(in_first).map(|i| tickets[i].size()).sum();
        if seats != team_size {
            continue;
        }
        let sum: f64 = (0..n).filter(in_first).map(|i| strength(tickets[i])).sum();
        let difference = (total - 2.0 * sum).abs();
        if best.is_none_or(|(d, _)| difference < d) {
            best = Some((difference, mask));
        }
    }
    let (_, mask) = best?;
    let (first, second): (Vec<_>, Vec<_>) = tickets
        .into_iter()
        .enumerate()
        .partition(|(i, _)| mask & (1 << i) != 0);
    Some(vec![
        first.into_iter().map(|(_, t)| t).collect(),
        second.into_iter().map(|(_, t)| t).collect(),
    ])
}

#[cfg(test)]
mod tests;
