//! Parties across gateways: forming one (invite, accept, promote, kick, leave) with every
//! member told each change wherever they are connected; racing accepts that never
//! overfill a party nor put a player in two; members who come back within the reconnect
//! grace keep their place and those who do not (or whose gateway died) are dropped; and
//! every bad request answered with its documented code.

mod common;

use common::{Client, GatewayProcess, assert_error, ws_addr};
use proto::{Encoding, ErrorCode, ServerMessage};
use serde_json::json;

/// The party id, leader and members of a `party` reply.
fn party_of(reply: &ServerMessage) -> (String, String, Vec<String>) {
    match reply {
        ServerMessage::Party {
            party,
            leader,
            members,
            ..
        } => (
            party.to_string(),
            leader.to_string(),
            members.iter().map(ToString::to_string).collect(),
        ),
        other => panic!("expected party, got {other:?}"),
    }
}

/// Reads `client`'s pushes until a `party.updated` whose members are `members` (in join
/// order); its leader. Other pushes on the way are skipped (a member sees each step).
async fn until_updated(client: &mut Client, members: &[&str]) -> String {
    loop {
        match client.recv().await {
            ServerMessage::PartyUpdated {
                leader, members: m, ..
            } if m.iter().map(|p| p.as_str()).eq(members.iter().copied()) => {
                return leader.to_string();
            }
            ServerMessage::PartyUpdated { .. } | ServerMessage::PartyInvite { .. } => {}
            other => panic!("{}: expected party.updated, got {other:?}", client.player),
        }
    }
}

/// `from` invites `to` and `to` accepts; the party as `to` sees it.
async fn invite_and_accept(from: &mut Client, to: &mut Client) -> ServerMessage {
    let invited = from
        .request(json!({"type": "party.invite", "to": to.player}))
        .await;
    let party = match invited {
        ServerMessage::PartyInvited { party, .. } => party.to_string(),
        other => panic!("expected party.invited, got {other:?}"),
    };
    match to.recv().await {
        ServerMessage::PartyInvite { party: p, from: f } => {
            assert_eq!(p.as_str(), party);
            assert_eq!(f.as_str(), from.player);
        }
        other => panic!("expected the party.invite push, got {other:?}"),
    }
    to.request(json!({"type": "party.accept", "party": party}))
        .await
}

#[tokio::test]
async fn a_party_forms_across_gateways_and_every_member_is_told_each_change() {
    let ns = testkit::unique_namespace("party-life");
    let one = common::start(&ns, &[]).await;
    let two = common::start(&ns, &[]).await;
    let mut ann = Client::player(ws_addr(&one), "ann", Encoding::Json).await;
    let mut bob = Client::player(ws_addr(&two), "bob", Encoding::MsgPack).await;
    let mut cy = Client::player(ws_addr(&one), "cy", Encoding::Json).await;

    let created = ann.request(json!({"type": "party.create"})).await;
    let (party, leader, members) = party_of(&created);
    assert_eq!((leader.as_str(), members), ("ann", vec!["ann".to_owned()]));
    assert!(matches!(created, ServerMessage::Party { max_size: 5, .. }));

    let joined = invite_and_accept(&mut ann, &mut bob).await;
    assert_eq!(
        party_of(&joined),
        (
            party.clone(),
            "ann".into(),
            vec!["ann".into(), "bob".into()]
        )
    );
    assert_eq!(until_updated(&mut ann, &["ann", "bob"]).await, "ann");
    assert_eq!(until_updated(&mut bob, &["ann", "bob"]).await, "ann");

    // Any member may invite.
    invite_and_accept(&mut bob, &mut cy).await;
    for client in [&mut ann, &mut bob, &mut cy] {
        until_updated(client, &["ann", "bob", "cy"]).await;
    }

    // The lead passes; only the leader kicks.
    let promoted = ann
        .request(json!({"type": "party.promote", "player": "bob"}))
        .await;
    assert_eq!(party_of(&promoted).1, "bob");
    for client in [&mut ann, &mut bob, &mut cy] {
        assert_eq!(until_updated(client, &["ann", "bob", "cy"]).await, "bob");
    }
    let refused = ann
        .request(json!({"type": "party.kick", "player": "cy"}))
        .await;
    assert_error(&refused, ErrorCode::NotLeader);
    let kicked = bob
        .request(json!({"type": "party.kick", "player": "cy"}))
        .await;
    assert_eq!(
        party_of(&kicked).2,
        vec!["ann".to_owned(), "bob".to_owned()]
    );
    match cy.recv().await {
        ServerMessage::PartyLeft {
            party: p,
            reason,
            rid,
        } => {
            assert_eq!(
                (p.as_str(), reason.as_str(), rid),
                (party.as_str(), "kicked", None)
            );
        }
        other => panic!("cy expected party.left, got {other:?}"),
    }
    assert_error(
        &cy.request(json!({"type": "party.get"})).await,
        ErrorCode::NotInParty,
    );
    until_updated(&mut ann, &["ann", "bob"]).await;

    // The leader leaves: the longest-standing member left leads.
    let left = bob.request(json!({"type": "party.leave"})).await;
    assert!(
        matches!(&left, ServerMessage::PartyLeft { reason, rid: Some(_), .. } if reason == "left"),
        "{left:?}"
    );
    assert_eq!(until_updated(&mut ann, &["ann"]).await, "ann");
    let now = ann.request(json!({"type": "party.get"})).await;
    assert_eq!(party_of(&now), (party, "ann".into(), vec!["ann".into()]));
}

#[tokio::test]
async fn racing_accepts_never_overfill_a_party_and_no_player_lands_in_two() {
    let ns = testkit::unique_namespace("party-race");
    let overrides = [("parties.max_size", "3")];
    let one = common::start(&ns, &overrides).await;
    let two = common::start(&ns, &overrides).await;
    let gateways = [ws_addr(&one), ws_addr(&two)];

    // Six invitees race for the two free seats of a party of three.
    let mut lead = Client::player(gateways[0], "lead", Encoding::Json).await;
    let (party, ..) = party_of(&lead.request(json!({"type": "party.create"})).await);
    let mut guests = Vec::new();
    for i in 0..6 {
        let mut guest =
            Client::player(gateways[i % 2], &format!("racer-{i}"), Encoding::Json).await;
        let invited = lead
            .request(json!({"type": "party.invite", "to": guest.player}))
            .await;
        assert!(
            matches!(invited, ServerMessage::PartyInvited { .. }),
            "{invited:?}"
        );
        assert!(matches!(
            guest.recv().await,
            ServerMessage::PartyInvite { .. }
        ));
        guests.push(guest);
    }
    let accepts = guests.iter_mut().map(|guest| {
        let party = party.clone();
        async move {
            let reply = guest
                .request(json!({"type": "party.accept", "party": party}))
                .await;
            (guest.player.clone(), reply)
        }
    });
    let replies = futures::future::join_all(accepts).await;
    let seated: Vec<&String> = replies
        .iter()
        .filter(|(_, reply)| matches!(reply, ServerMessage::Party { .. }))
        .map(|(player, _)| player)
        .collect();
    assert_eq!(seated.len(), 2, "{replies:?}");
    for (_, reply) in replies.iter().filter(|(p, _)| !seated.contains(&p)) {
        assert_error(reply, ErrorCode::PartyFull);
    }
    let (_, _, members) = party_of(&lead.request(json!({"type": "party.get"})).await);
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(seated.iter().all(|p| members.contains(p)), "{members:?}");
    for guest in guests.iter_mut() {
        let mine = guest.request(json!({"type": "party.get"})).await;
        if seated.contains(&&guest.player) {
            assert_eq!(party_of(&mine).0, party);
        } else {
            assert_error(&mine, ErrorCode::NotInParty);
        }
    }

    // One player accepts two parties' invites at once: they land in exactly one.
    let mut red = Client::player(gateways[0], "red", Encoding::Json).await;
    let mut blue = Client::player(gateways[1], "blue", Encoding::Json).await;
    let mut both = Client::player(gateways[1], "both", Encoding::Json).await;
    let (red_party, ..) = party_of(&red.request(json!({"type": "party.create"})).await);
    let (blue_party, ..) = party_of(&blue.request(json!({"type": "party.create"})).await);
    for leader in [&mut red, &mut blue] {
        let invited = leader
            .request(json!({"type": "party.invite", "to": "both"}))
            .await;
        assert!(
            matches!(invited, ServerMessage::PartyInvited { .. }),
            "{invited:?}"
        );
    }
    for _ in 0..2 {
        assert!(matches!(
            both.recv().await,
            ServerMessage::PartyInvite { .. }
        ));
    }
    both.send(json!({"type": "party.accept", "party": red_party, "rid": 1}))
        .await;
    both.send(json!({"type": "party.accept", "party": blue_party, "rid": 2}))
        .await;
    let mut answers = Vec::new();
    while answers.len() < 2 {
        let message = both.recv().await;
        if message.rid().is_some() {
            answers.push(message);
        }
    }
    let joined: Vec<_> = answers
        .iter()
        .filter(|m| matches!(m, ServerMessage::Party { .. }))
        .collect();
    assert_eq!(joined.len(), 1, "{answers:?}");
    let refused = answers
        .iter()
        .find(|m| !matches!(m, ServerMessage::Party { .. }))
        .expect("one refusal");
    assert_error(refused, ErrorCode::AlreadyInParty);
    let in_red = party_of(&red.request(json!({"type": "party.get"})).await).2;
    let in_blue = party_of(&blue.request(json!({"type": "party.get"})).await).2;
    let memberships = [&in_red, &in_blue]
        .iter()
        .filter(|m| m.contains(&"both".to_owned()))
        .count();
    assert_eq!(memberships, 1, "red {in_red:?}, blue {in_blue:?}");
}

#[tokio::test]
async fn a_member_back_within_the_grace_keeps_their_place_and_the_lapsed_are_dropped() {
    let ns = testkit::unique_namespace("party-grace");
    // Quick grace for the test: a member away 1 s is gone; the session TTL (3 s) bounds
    // how long a dead gateway's members last.
    let overrides = [("gateway.reconnect_grace_ms", "1000")];
    let one = common::start(&ns, &overrides).await;
    let killed = GatewayProcess::start(&ns, &overrides).await;
    let mut ann = Client::player(ws_addr(&one), "ann", Encoding::Json).await;
    let mut bob = Client::player(ws_addr(&one), "bob", Encoding::Json).await;
    let mut cy = Client::player(ws_addr(&one), "cy", Encoding::Json).await;
    let mut dan = Client::player(killed.ws, "dan", Encoding::Json).await;
    let (party, ..) = party_of(&ann.request(json!({"type": "party.create"})).await);
    for other in [&mut bob, &mut cy, &mut dan] {
        invite_and_accept(&mut ann, other).await;
    }
    until_updated(&mut ann, &["ann", "bob", "cy", "dan"]).await;

    // bob drops and is straight back: still a member, and told the party again.
    bob.close().await;
    let mut bob = Client::player(ws_addr(&one), "bob", Encoding::MsgPack).await;
    match bob.recv().await {
        ServerMessage::PartyUpdated {
            party: p, members, ..
        } => {
            assert_eq!(p.as_str(), party);
            assert!(members.iter().any(|m| m.as_str() == "bob"), "{members:?}");
        }
        other => panic!("bob expected party.updated after welcome, got {other:?}"),
    }

    // cy goes and stays away past the grace: the others are told, and cy is out.
    cy.close().await;
    until_updated(&mut ann, &["ann", "bob", "dan"]).await;
    until_updated(&mut bob, &["ann", "bob", "dan"]).await;
    let mut cy = Client::player(ws_addr(&one), "cy", Encoding::Json).await;
    assert_error(
        &cy.request(json!({"type": "party.get"})).await,
        ErrorCode::NotInParty,
    );

    // dan's gateway dies (no cleanup): dan lapses after the session TTL and the grace.
    killed.kill().await;
    drop(dan);
    until_updated(&mut ann, &["ann", "bob"]).await;
    until_updated(&mut bob, &["ann", "bob"]).await;
}

#[tokio::test]
async fn the_heartbeat_keeps_the_party_and_rooms_of_a_player_who_joined_them_late() {
    let ns = testkit::unique_namespace("party-refresh");
    let one = common::start(&ns, &[]).await;
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let mut ann = Client::player(ws_addr(&one), "ann", Encoding::Json).await;
    let mut bob = Client::player(ws_addr(&one), "bob", Encoding::Json).await;
    // Two refreshes each first: both read that they are in no party, and from then on a
    // refresh leaves the party out until a request of theirs may have put them in one.
    common::ttl_pushed(&redis, &keys.player("ann").session(), 2).await;
    common::ttl_pushed(&redis, &keys.player("bob").session(), 2).await;

    party_of(&ann.request(json!({"type": "party.create"})).await);
    common::ttl_pushed(&redis, &keys.player("ann").party(), 2).await;
    invite_and_accept(&mut ann, &mut bob).await;
    common::ttl_pushed(&redis, &keys.player("bob").party(), 2).await;
    let joined = bob
        .request(json!({"type": "room.join", "room": "hall"}))
        .await;
    assert!(
        matches!(joined, ServerMessage::RoomJoined { .. }),
        "{joined:?}"
    );
    common::ttl_pushed(&redis, &keys.player("bob").rooms(), 2).await;
}

#[tokio::test]
async fn bad_party_requests_are_answered_with_their_codes() {
    let ns = testkit::unique_namespace("party-bad");
    let gateway = common::start(&ns, &[("parties.max_pending_invites", "2")]).await;
    let addr = ws_addr(&gateway);
    let mut ann = Client::player(addr, "ann", Encoding::Json).await;
    let mut bob = Client::player(addr, "bob", Encoding::Json).await;

    // Nothing to act on yet.
    for request in [
        json!({"type": "party.get"}),
        json!({"type": "party.leave"}),
        json!({"type": "party.invite", "to": "bob"}),
        json!({"type": "party.kick", "player": "bob"}),
        json!({"type": "party.promote", "player": "bob"}),
    ] {
        assert_error(&ann.request(request).await, ErrorCode::NotInParty);
    }
    for request in [
        json!({"type": "party.accept", "party": "pt-nope"}),
        json!({"type": "party.decline", "party": "pt-nope"}),
    ] {
        assert_error(&ann.request(request).await, ErrorCode::NotInvited);
    }
    // Malformed: a missing or invalid field.
    for request in [
        json!({"type": "party.accept"}),
        json!({"type": "party.invite", "to": "no spaces"}),
        json!({"type": "party.kick", "player": 7}),
    ] {
        assert_error(&ann.request(request).await, ErrorCode::BadRequest);
    }

    let (party, ..) = party_of(&ann.request(json!({"type": "party.create"})).await);
    assert_error(
        &ann.request(json!({"type": "party.create"})).await,
        ErrorCode::AlreadyInParty,
    );
    assert_error(
        &ann.request(json!({"type": "party.invite", "to": "ann"}))
            .await,
        ErrorCode::BadRequest,
    );
    assert_error(
        &ann.request(json!({"type": "party.invite", "to": "nobody-online"}))
            .await,
        ErrorCode::NotOnline,
    );
    assert_error(
        &ann.request(json!({"type": "party.kick", "player": "bob"}))
            .await,
        ErrorCode::NotInParty,
    );
    // A declined invite cannot be accepted.
    let invited = ann
        .request(json!({"type": "party.invite", "to": "bob"}))
        .await;
    assert!(
        matches!(invited, ServerMessage::PartyInvited { .. }),
        "{invited:?}"
    );
    assert!(matches!(
        bob.recv().await,
        ServerMessage::PartyInvite { .. }
    ));
    let declined = bob
        .request(json!({"type": "party.decline", "party": party}))
        .await;
    assert!(
        matches!(declined, ServerMessage::PartyDeclined { .. }),
        "{declined:?}"
    );
    assert_error(
        &bob.request(json!({"type": "party.accept", "party": party}))
            .await,
        ErrorCode::NotInvited,
    );
    // A member cannot be invited again; a queued player joins no party.
    invite_and_accept(&mut ann, &mut bob).await;
    assert_error(
        &ann.request(json!({"type": "party.invite", "to": "bob"}))
            .await,
        ErrorCode::AlreadyInParty,
    );
    let mut queued = Client::player(addr, "queued", Encoding::Json).await;
    let joined = queued
        .request(json!({"type": "queue.join", "queue": "duel", "region": "eu"}))
        .await;
    assert!(
        matches!(joined, ServerMessage::QueueJoined { .. }),
        "{joined:?}"
    );
    assert_error(
        &queued.request(json!({"type": "party.create"})).await,
        ErrorCode::InQueue,
    );
    let invited = ann
        .request(json!({"type": "party.invite", "to": "queued"}))
        .await;
    assert!(
        matches!(invited, ServerMessage::PartyInvited { .. }),
        "{invited:?}"
    );
    assert!(matches!(
        queued.recv().await,
        ServerMessage::PartyInvite { .. }
    ));
    assert_error(
        &queued
            .request(json!({"type": "party.accept", "party": party}))
            .await,
        ErrorCode::InQueue,
    );

    // At most two invites wait for one player.
    let mut popular = Client::player(addr, "popular", Encoding::Json).await;
    for (i, expected) in [(0, None), (1, None), (2, Some(ErrorCode::TooManyInvites))] {
        let mut host = Client::player(addr, &format!("host-{i}"), Encoding::Json).await;
        host.request(json!({"type": "party.create"})).await;
        let reply = host
            .request(json!({"type": "party.invite", "to": "popular"}))
            .await;
        match expected {
            None => assert!(
                matches!(reply, ServerMessage::PartyInvited { .. }),
                "{reply:?}"
            ),
            Some(code) => assert_error(&reply, code),
        }
    }
    // Two invites reached the player, and the refused third was never pushed: it would
    // have been published before host-2 was answered, so ahead of this ping's pong.
    for _ in 0..2 {
        let message = popular.recv().await;
        assert!(
            matches!(message, ServerMessage::PartyInvite { .. }),
            "{message:?}"
        );
    }
    common::still_served(&mut popular).await;
    assert_eq!(popular.recv_within(std::time::Duration::ZERO).await, None);
    common::still_served(&mut ann).await;
}
