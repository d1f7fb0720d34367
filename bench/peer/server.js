'use strict';
// The Node.js peer the benchmark compares against: one Socket.IO 4.8 server process with
// @socket.io/redis-adapter's sharded adapter (Redis 7 sharded Pub/Sub, one channel per
// room) on a Redis Cluster. Started by deploy/local/peer.sh; see README there.
//
// env: PORT         port to listen on (127.0.0.1 only)
//      REDIS_NODES  comma list of cluster nodes, e.g. 127.0.0.1:7200,127.0.0.1:7201
//
// Wire protocol (Engine.IO v4 / Socket.IO v5, default JSON parser, websocket only):
//   connect  40{"player":"<id>"}              auth; refused (44{"message":...}) without it
//   join     42N["join","<room>"]             ack 43N[{"ok":true}] or [{"error":"bad room"}]
//   send     42N["send",{"room":..,"body":..}] every member (sender too) gets
//            42["msg",{"room":..,"from":<player>,"body":..,"ts":<ms>}], then ack {"ok":true};
//            ack {"error":"not in room"} when the sender has not joined the room
//   leave    42N["leave","<room>"]            ack {"ok":true}
//   alive    42N["alive"]                     ack {"ok":true} (the load generator's ping)
// GET /ready answers 200 "ready" once the adapter is in place.
// No per-message logging: this process is what gets measured.

const http = require('http');
const { Server } = require('socket.io');
const { createShardedAdapter } = require('@socket.io/redis-adapter');
const { createCluster } = require('redis');

const HOST = '127.0.0.1';
const MAX_NAME = 64;

function fail(msg) {
  console.error(`peer: ${msg}`);
  process.exit(1);
}

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  fail(`PORT must be a TCP port, got '${process.env.PORT || ''}'`);
}
const redisNodes = (process.env.REDIS_NODES || '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
if (redisNodes.length === 0) {
  fail('REDIS_NODES must list at least one host:port');
}

function validName(s) {
  return typeof s === 'string' && s.length > 0 && s.length <= MAX_NAME;
}

function reply(ack, value) {
  if (typeof ack === 'function') ack(value);
}

let ready = false;
const httpServer = http.createServer((req, res) => {
  // socket.io answers /socket.io/ itself; everything else lands here.
  if (req.method === 'GET' && req.url === '/ready') {
    res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' });
    res.end(ready ? 'ready' : 'starting');
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found');
});

const io = new Server(httpServer, {
  transports: ['websocket'],
  perMessageDeflate: false,
  serveClient: false,
});

io.use((socket, next) => {
  const auth = socket.handshake.auth;
  const player = auth && auth.player;
  if (!validName(player)) {
    next(new Error('player required'));
    return;
  }
  socket.data.player = player;
  next();
});

io.on('connection', (socket) => {
  socket.on('join', (room, ack) => {
    if (!validName(room)) {
      reply(ack, { error: 'bad room' });
      return;
    }
    socket.join(room);
    reply(ack, { ok: true });
  });

  socket.on('send', (payload, ack) => {
    const room = payload !== null && typeof payload === 'object' ? payload.room : undefined;
    if (!validName(room) || !socket.rooms.has(room)) {
      reply(ack, { error: 'not in room' });
      return;
    }
    io.to(room).emit('msg', {
      room,
      from: socket.data.player,
      body: payload.body,
      ts: Date.now(),
    });
    reply(ack, { ok: true });
  });

  socket.on('alive', (ack) => reply(ack, { ok: true }));

  socket.on('leave', (room, ack) => {
    if (typeof room === 'string') socket.leave(room);
    reply(ack, { ok: true });
  });
});

const pubClient = createCluster({
  rootNodes: redisNodes.map((n) => ({ url: `redis://${n}` })),
});
const subClient = pubClient.duplicate();
let lastRedisError = 0;
function onRedisError(which) {
  return (err) => {
    // Errors only (reconnects and the like), at most one line a second.
    const now = Date.now();
    if (now - lastRedisError >= 1000) {
      lastRedisError = now;
      console.error(`peer: redis ${which} client: ${err && err.message ? err.message : err}`);
    }
  };
}
pubClient.on('error', onRedisError('pub'));
subClient.on('error', onRedisError('sub'));

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  ready = false;
  console.log(`peer: ${signal}, shutting down`);
  const force = setTimeout(() => {
    console.error('peer: shutdown took more than 5 s; exiting anyway');
    process.exit(1);
  }, 5000);
  force.unref();
  try {
    await io.close();
  } catch (err) {
    console.error(`peer: closing socket.io: ${err.message}`);
  }
  await Promise.allSettled([pubClient.quit(), subClient.quit()]);
  clearTimeout(force);
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

async function main() {
  await Promise.all([pubClient.connect(), subClient.connect()]);
  io.adapter(createShardedAdapter(pubClient, subClient, { subscriptionMode: 'dynamic' }));
  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(port, HOST, resolve);
  });
  ready = true;
  console.log(`peer listening on ${HOST}:${port}`);
}

main().catch((err) => fail(`startup failed: ${err && err.stack ? err.stack : err}`));
