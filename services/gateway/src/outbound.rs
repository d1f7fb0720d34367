//! The way out to one client: a bounded queue of encoded frames and the task that writes
//! them to the socket.
//!
//! Everything that sends to a client (replies, inbox pushes, room fan-out, drain) goes
//! through an [`Outbound`]. Pushing never waits: a client whose queue is full is too slow
//! to keep up, and is disconnected (close 4003, counted) rather than allowed to grow memory
//! or hold up the sender, which may be fanning one message out to thousands.
//!
//! A frame is encoded once per wire encoding and shared ([`Encoded`]): a room message to
//! a thousand local members is one JSON encode, one MessagePack encode and a thousand
//! reference-count bumps.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::SinkExt;
use futures::stream::SplitSink;
use proto::{CloseCode, Encoding, ServerMessage};
use tokio::sync::Notify;

/// Frames written per flush at most: a burst is written in one go, but one client's burst
/// does not keep its writer busy forever.
const MAX_BATCH: usize = 64;

/// A drained queue keeps at most this many slots: a burst must not leave an idle
/// connection holding the memory it needed once.
const IDLE_SLOTS: usize = 8;

/// The sending side of one client's connection. Cheap to clone (one pointer).
#[derive(Debug, Clone)]
pub struct Outbound {
    inner: Arc<Inner>,
}

/// The queue and the signals between the connection's tasks. A plain `VecDeque` under a
/// std mutex (never held across an await) rather than a channel: an idle connection then
/// holds a few hundred bytes here, not a channel's preallocated block.
#[derive(Debug)]
struct Inner {
    encoding: Encoding,
    capacity: usize,
    state: Mutex<State>,
    /// Wakes the idle writer: a frame was queued, or the connection was aborted.
    wake: Notify,
    /// Interrupts a writer blocked on the socket: the connection was aborted.
    abort: Notify,
    /// Wakes whoever waits for the writer to stop.
    done: Notify,
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Message>,
    /// The code the socket is (to be) closed with; set once.
    close_code: Option<CloseCode>,
    /// Stop now, without writing what is still queued.
    aborted: bool,
    /// The writer has stopped: the connection is over.
    finished: bool,
}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The queue was full: the client is being disconnected as too slow.
    TooSlow,
    /// The connection is closing or closed.
    Closed,
}

impl Outbound {
    /// A queue of at most `capacity` frames for a connection speaking `encoding`; hand a
    /// clone to [`run_writer`].
    pub fn new(capacity: usize, encoding: Encoding) -> Self {
        Self {
            inner: Arc::new(Inner {
                encoding,
                capacity,
                state: Mutex::new(State::default()),
                wake: Notify::new(),
                abort: Notify::new(),
                done: Notify::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn encoding(&self) -> Encoding {
        self.inner.encoding
    }

    /// Encodes `message` for this connection and queues it. A failure needs no handling
    /// by the caller: a full queue has already disconnected the client (and counted it),
    /// and a closed one means the connection is over.
    pub fn send(&self, message: &ServerMessage) {
        let _handled_inside = self.push(
            Encoded::new(message).frame(self.encoding()),
            message.type_name(),
        );
    }

    /// Queues an already encoded frame (`None`: the message could not be encoded, which
    /// [`Encoded`] has already logged), and counts it.
    pub fn push(&self, frame: Option<Message>, type_name: &'static str) -> Result<(), PushError> {
        self.push_uncounted(frame)?;
        metrics::counter!("rallypoint_gateway_messages_out_total", "type" => type_name)
            .increment(1);
        Ok(())
    }

    /// [`Outbound::push`] for a fan-out, which counts its frames once for the whole batch
    /// (a metrics lookup per frame was a visible share of a busy gateway's time).
    pub fn push_uncounted(&self, frame: Option<Message>) -> Result<(), PushError> {
        let Some(frame) = frame else {
            return Ok(());
        };
        {
            let mut state = self.state();
            if state.finished || state.close_code.is_some() {
                return Err(PushError::Closed);
            }
            if state.frames.len() >= self.inner.capacity {
                state.close_code = Some(CloseCode::TooSlow);
                state.aborted = true;
                drop(state);
                self.wake_for_abort();
                metrics::counter!("rallypoint_gateway_disconnects_total", "reason" => "too_slow")
                    .increment(1);
                tracing::info!("a client's outbound queue is full: disconnecting it as too slow");
                return Err(PushError::TooSlow);
            }
            state.frames.push_back(frame);
        }
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Sends what is queued, then closes the socket with `code`. If the queue is full the
    /// socket is closed at once instead.
    pub fn close(&self, code: CloseCode) {
        let aborted = {
            let mut state = self.state();
            if state.close_code.is_some() || state.finished {
                return;
            }
            state.close_code = Some(code);
            if state.frames.len() >= self.inner.capacity {
                state.aborted = true;
            } else {
                state.frames.push_back(close_frame(code));
            }
            state.aborted
        };
        if aborted {
            self.wake_for_abort();
        } else {
            self.inner.wake.notify_one();
        }
    }

    /// Closes the socket with `code` now, dropping what is queued. False if it was
    /// already closing.
    pub fn abort(&self, code: CloseCode) -> bool {
        let first = {
            let mut state = self.state();
            let first = state.close_code.is_none();
            if first {
                state.close_code = Some(code);
            }
            state.aborted = true;
            first
        };
        self.wake_for_abort();
        first
    }

    /// Stops the writer without a close frame: the client closed, or the socket broke.
    pub fn abort_quietly(&self) {
        self.state().aborted = true;
        self.wake_for_abort();
    }

    /// Wakes the writer whether it is idle or blocked on the socket (both store a permit,
    /// so a writer about to wait still sees it).
    fn wake_for_abort(&self) {
        self.inner.wake.notify_one();
        self.inner.abort.notify_one();
    }

    /// Resolves once the writer has stopped (the socket is closed or broken).
    pub async fn closed(&self) {
        loop {
            let done = self.inner.done.notified();
            tokio::pin!(done);
            // Registered before the check, so a finish in between is not missed.
            done.as_mut().enable();
            if self.is_closed() {
                return;
            }
            done.await;
        }
    }

    pub fn is_closed(&self) -> bool {
        self.state().finished
    }

    /// The code the connection was closed with, if it was closed by us.
    pub fn close_code(&self) -> Option<CloseCode> {
        self.state().close_code
    }

    /// The next frame to write; `Err(())` when the writer must stop at once.
    fn next_frame(&self) -> Result<Option<Message>, ()> {
        let mut state = self.state();
        if state.aborted {
            return Err(());
        }
        let frame = state.frames.pop_front();
        if frame.is_none() && state.frames.capacity() > IDLE_SLOTS {
            state.frames.shrink_to(IDLE_SLOTS);
        }
        Ok(frame)
    }

    fn is_aborted(&self) -> bool {
        self.state().aborted
    }
}

fn close_frame(code: CloseCode) -> Message {
    Message::Close(Some(CloseFrame {
        code: code.code(),
        reason: Utf8Bytes::from_static(code.reason()),
    }))
}

/// Writes queued frames to the socket until a close frame is written, the connection is
/// aborted, or the socket breaks. Batches what is queued into one flush.
pub async fn run_writer(mut sink: SplitSink<WebSocket, Message>, outbound: Outbound) {
    'writing: loop {
        let mut batch = 0;
        let mut closing = false;
        let write = async {
            while batch < MAX_BATCH && !closing {
                let Ok(next) = outbound.next_frame() else {
                    return Err(None::<axum::Error>);
                };
                let Some(frame) = next else { break };
                closing = matches!(frame, Message::Close(_));
                sink.feed(frame).await.map_err(Some)?;
                batch += 1;
            }
            if batch > 0 {
                sink.flush().await.map_err(Some)?;
            }
            Ok(())
        };
        // A write blocked on a client that stopped reading must still give way to an abort.
        let outcome = tokio::select! {
            biased;
            () = aborted(&outbound) => break 'writing,
            outcome = write => outcome,
        };
        match outcome {
            Ok(()) if closing => break,
            Ok(()) if batch > 0 => {}
            Ok(()) => outbound.inner.wake.notified().await,
            Err(None) => break,
            Err(Some(err)) => {
                tracing::debug!(error = %err, "socket write failed; the client is gone");
                break;
            }
        }
    }
    let code = {
        let state = outbound.state();
        state.aborted.then_some(state.close_code).flatten()
    };
    if let Some(code) = code {
        // Best effort: a client that is merely slow still learns why, within a moment.
        let _gone_anyway = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            sink.send(close_frame(code)),
        )
        .await;
    }
    outbound.state().finished = true;
    outbound.inner.done.notify_waiters();
}

/// Resolves once the connection is aborted.
async fn aborted(outbound: &Outbound) {
    while !outbound.is_aborted() {
        outbound.inner.abort.notified().await;
    }
}

/// One server message, encoded at most once per encoding, lazily.
#[derive(Debug)]
pub struct Encoded<'a> {
    message: &'a ServerMessage,
    json: OnceLock<Option<Message>>,
    msgpack: OnceLock<Option<Message>>,
}

impl<'a> Encoded<'a> {
    pub fn new(message: &'a ServerMessage) -> Self {
        Self {
            message,
            json: OnceLock::new(),
            msgpack: OnceLock::new(),
        }
    }

    pub fn type_name(&self) -> &'static str {
        self.message.type_name()
    }

    /// The frame for `encoding` (a clone of the shared bytes after the first call).
    pub fn frame(&self, encoding: Encoding) -> Option<Message> {
        let cell = match encoding {
            Encoding::Json => &self.json,
            Encoding::MsgPack => &self.msgpack,
        };
        cell.get_or_init(|| encode(self.message, encoding)).clone()
    }
}

fn encode(message: &ServerMessage, encoding: Encoding) -> Option<Message> {
    let bytes = match proto::encode_server(message, encoding) {
        Ok(bytes) => bytes,
        Err(err) => {
            // Our own types always encode; this is a bug, not a client's fault.
            tracing::error!(error = %err, kind = message.type_name(), "cannot encode a server message");
            return None;
        }
    };
    match encoding {
        Encoding::MsgPack => Some(Message::Binary(bytes)),
        Encoding::Json => match Utf8Bytes::try_from(bytes) {
            Ok(text) => Some(Message::Text(text)),
            Err(err) => {
                tracing::error!(error = %err, "JSON encoder produced invalid UTF-8");
                None
            }
        },
    }
}
