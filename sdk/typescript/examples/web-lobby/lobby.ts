/**
 * The web lobby: one page on the TypeScript SDK in the browser (the browser's own
 * WebSocket). Sign in as a guest, chat in `lobby:main` (a room that keeps history in the
 * local stack), whisper, form a party, queue for `duel` and see `match.found`.
 */
import { Client, RequestError, type Push } from "../../src/index.js";

const ROOM = "lobby:main";
const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`no #${id} in the page`);
  return element as T;
};
const input = (id: string): HTMLInputElement => $<HTMLInputElement>(id);

let client: Client | undefined;

function log(text: string, kind: "message" | "whisper" | "system" = "message"): void {
  const line = document.createElement("div");
  line.className = kind;
  line.textContent = text;
  $("chat-log").append(line);
  $("chat-log").scrollTop = $("chat-log").scrollHeight;
}

function describe(error: unknown): string {
  return error instanceof RequestError ? `${error.code}: ${error.message}` : String(error);
}

async function act(what: string, call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (error) {
    log(`${what} failed: ${describe(error)}`, "system");
  }
}

function showParty(party: { party: string; leader: string; members: string[] } | undefined): void {
  $("party").textContent = party ? `${party.party}: ${party.members.join(", ")} (leader ${party.leader})` : "none";
}

function showMatch(found: Push<"match.found">, me: string): void {
  $("match").classList.remove("hidden");
  $("match-id").textContent = found.match;
  $("match-server").textContent = found.server.address;
  const team = found.teams.findIndex((members) => members.some((m) => m.player === me));
  $("match-team").textContent = String(team);
  $("match-teams").textContent = found.teams
    .map((members, i) => `team ${i}: ${members.map((m) => `${m.player} (${Math.round(m.rating)})`).join(", ")}`)
    .join(" | ");
  $("match-token").textContent = found.join_token;
  $("queue-state").textContent = "matched";
}

async function signIn(): Promise<void> {
  const guest = input("guest").value.trim();
  const urls = input("gateways").value.split(",").map((u) => u.trim()).filter(Boolean);
  $("signin-error").textContent = "";
  try {
    client = await Client.connect({ urls, auth: { guest } });
  } catch (error) {
    $("signin-error").textContent = `cannot sign in: ${describe(error)}`;
    return;
  }
  const c = client;
  $("signin-box").classList.add("hidden");
  $("lobby").classList.remove("hidden");
  $("me").textContent = c.player;
  $("gateway").textContent = c.welcome.gateway;

  c.on("room.message", (m) => log(`${m.from}: ${typeof m.body === "string" ? m.body : JSON.stringify(m.body)}`));
  c.on("whisper", (w) => log(`(whisper) ${w.from}: ${typeof w.body === "string" ? w.body : JSON.stringify(w.body)}`, "whisper"));
  c.on("notice", (n) => log(`notice: ${JSON.stringify(n.body)}`, "system"));
  c.on("room.presence", (p) => {
    if (p.joined.length) log(`${p.joined.join(", ")} joined`, "system");
    if (p.left.length) log(`${p.left.join(", ")} left`, "system");
  });
  c.on("queue.joined", () => ($("queue-state").textContent = "searching"));
  c.on("queue.left", () => ($("queue-state").textContent = "idle"));
  c.on("match.found", (found) => showMatch(found, c.player));
  c.on("match.cancelled", (m) => {
    log(`match ${m.match} cancelled: ${m.reason}`, "system");
    $("queue-state").textContent = m.requeued ? "searching" : "idle";
  });
  c.on("match.ready_check", (check) => {
    log(`ready check for ${check.match}: accepting`, "system");
    void act("accept", () => c.acceptMatch(check.match));
  });
  c.on("party.invite", (invite) => {
    const button = document.createElement("button");
    button.textContent = `Join ${invite.from}'s party`;
    button.className = "party-accept";
    button.onclick = () =>
      void act("joining the party", async () => {
        showParty(await c.acceptParty(invite.party));
        button.remove();
      });
    $("party-invites").append(button);
  });
  c.on("party.updated", (p) => showParty(p));
  c.on("party.left", () => showParty(undefined));
  c.on("disconnected", (e) => ($("connection").textContent = `reconnecting (${e.reason})`));
  c.on("reconnected", (e) => {
    $("connection").textContent = "connected";
    $("gateway").textContent = e.welcome.gateway;
    if (e.status) $("queue-state").textContent = e.status.state;
  });
  c.on("closed", (e) => ($("connection").textContent = `closed: ${e.reason}`));

  await act("joining the room", async () => {
    const joined = await c.joinRoom(ROOM);
    log(`joined ${ROOM} (${joined.members} here)`, "system");
    const history = await c.roomHistory(ROOM, { limit: 20 });
    for (const m of history.messages) log(`${m.from}: ${typeof m.body === "string" ? m.body : JSON.stringify(m.body)}`);
  });
}

$("signin").onclick = () => void signIn();
input("guest").onkeydown = (e) => {
  if (e.key === "Enter") void signIn();
};
const send = (): void => {
  const text = input("chat-input").value;
  if (!client || !text) return;
  input("chat-input").value = "";
  void act("sending", () => client!.sendToRoom(ROOM, text));
};
$("chat-send").onclick = send;
input("chat-input").onkeydown = (e) => {
  if (e.key === "Enter") send();
};
$("whisper-send").onclick = () => {
  const to = input("whisper-to").value.trim();
  const text = input("whisper-input").value;
  if (!client || !to || !text) return;
  input("whisper-input").value = "";
  void act("whispering", async () => {
    await client!.whisper(to, text);
    log(`(to ${to}) ${text}`, "whisper");
  });
};
$("party-create").onclick = () => void act("creating a party", async () => showParty(await client!.createParty()));
$("party-invite").onclick = () =>
  void act("inviting", async () => {
    const invited = await client!.inviteToParty(input("party-invitee").value.trim());
    log(`invited ${invited.to} to ${invited.party}`, "system");
  });
$("party-leave").onclick = () =>
  void act("leaving the party", async () => {
    await client!.leaveParty();
    showParty(undefined);
  });
$("queue-duel").onclick = () =>
  void act("queueing", async () => {
    await client!.joinQueue("duel", input("region").value.trim());
    $("queue-state").textContent = "searching";
  });
$("queue-leave").onclick = () =>
  void act("leaving the queue", async () => {
    await client!.leaveQueue();
    $("queue-state").textContent = "idle";
  });
