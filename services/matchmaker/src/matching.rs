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

use std::collections::HashSet;

use queues::{QueueDefinition, QueuedTicket};

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
    let mut taken: HashSet<&str> = HashSet::new();
    let mut matches = Vec::new();
    if size < 2 || mirror.len() < size {
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
    if possible.len() < size {
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
        if taken.contains(anchor.id.as_str()) || !eligible(anchor) {
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
        let mut chosen = vec![anchor];
        while chosen.len() < size {
            let next = match (below.peek(), above.peek()) {
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
            };
            match next {
                // Two tickets of one player (a join racing a lost reply) never meet.
                Some(ticket) if chosen.iter().any(|c| c.player == ticket.player) => {}
                Some(ticket) => chosen.push(ticket),
                None => break,
            }
        }
        if chosen.len() < size {
            continue;
        }
        for ticket in &chosen {
            taken.insert(ticket.id.as_str());
        }
        matches.push(balance(
            chosen,
            definition.teams as usize,
            definition.team_size as usize,
        ));
    }
    matches
}

/// Splits `players` (exactly `teams x team_size`) into teams whose rating sums differ as
/// little as possible: exactly for two teams of up to six, greedily (strongest player to
/// the weakest team with room) otherwise. Within a team, strongest first.
pub fn balance(
    mut players: Vec<&QueuedTicket>,
    teams: usize,
    team_size: usize,
) -> Vec<Vec<&QueuedTicket>> {
    players.sort_by(|a, b| b.rating.total_cmp(&a.rating).then_with(|| a.id.cmp(&b.id)));
    if teams == 2 && players.len() == 2 * team_size && team_size <= 6 {
        return balance_two_exactly(players, team_size);
    }
    let mut out: Vec<Vec<&QueuedTicket>> = vec![Vec::with_capacity(team_size); teams];
    let mut sums = vec![0.0_f64; teams];
    for player in players {
        let team = (0..teams)
            .filter(|&t| out[t].len() < team_size)
            .min_by(|&a, &b| sums[a].total_cmp(&sums[b]).then(a.cmp(&b)))
            .unwrap_or(0);
        sums[team] += player.rating;
        out[team].push(player);
    }
    out
}

/// Two teams: try every split that puts the strongest player in team 0.
fn balance_two_exactly(players: Vec<&QueuedTicket>, team_size: usize) -> Vec<Vec<&QueuedTicket>> {
    let n = players.len();
    let total: f64 = players.iter().map(|p| p.rating).sum();
    let mut best: Option<(f64, u32)> = None;
    for mask in 0_u32..(1 << n) {
        if mask & 1 == 0 || mask.count_ones() as usize != team_size {
            continue;
        }
        let sum: f64 = (0..n)
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| players[i].rating)
            .sum();
        let difference = (total - 2.0 * sum).abs();
        if best.is_none_or(|(d, _)| difference < d) {
            best = Some((difference, mask));
        }
    }
    let mask = best.map_or(0, |(_, m)| m);
    let (first, second): (Vec<_>, Vec<_>) = players
        .into_iter()
        .enumerate()
        .partition(|(i, _)| mask & (1 << i) != 0);
    vec![
        first.into_iter().map(|(_, p)| p).collect(),
        second.into_iter().map(|(_, p)| p).collect(),
    ]
}

#[cfg(test)]
mod tests;
