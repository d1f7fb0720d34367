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

use std::sync::{Arc, OnceLock};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::SinkExt;
use futures::stream::SplitSink;
use proto::{CloseCode, Encoding, ServerMessage};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Frames written per flush at most: a burst is written in one go, but one client's burst
/// does not keep its writer busy forever.
const MAX_BATCH: usize = 64;

/// The sending side of one client's connection. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbound {
    tx: mpsc::Sender<Message>,
    encoding: Encoding,
    control: Arc<Control>,
}

/// How the connection's tasks tell each other to stop.
#[derive(Debug, Default)]
struct Control {
    /// Set once: the code the socket is (to be) closed with.
    close_code: OnceLock<CloseCode>,
    /// Fires when the socket must close now, without writing what is still queued.
    abort: CancellationToken,
    /// Fires when the writer has stopped: the connection is over.
    done: CancellationToken,
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
    /// A queue of `capacity` frames for a connection speaking `encoding`, and its receiver
    /// for [`run_writer`].
    pub fn new(capacity: usize, encoding: Encoding) -> (Self, mpsc::Receiver<Message>) {
        let (tx, rx) = mpsc::channel(capacity);
        (
            Self {
                tx,
                encoding,
                control: Arc::default(),
            },
            rx,
        )
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Encodes `message` for this connection and queues it. A failure needs no handling
    /// by the caller: a full queue has already disconnected the client (and counted it),
    /// and a closed one means the connection is over.
    pub fn send(&self, message: &ServerMessage) {
        let _handled_inside = self.push(
            Encoded::new(message).frame(self.encoding),
            message.type_name(),
        );
    }

    /// Queues an already encoded frame (`None`: the message could not be encoded, which
    /// [`Encoded`] has already logged).
    pub fn push(&self, frame: Option<Message>, type_name: &'static str) -> Result<(), PushError> {
        let Some(frame) = frame else {
            return Ok(());
        };
        match self.tx.try_send(frame) {
            Ok(()) => {
                metrics::counter!("rallypoint_gateway_messages_out_total", "type" => type_name)
                    .increment(1);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                if self.abort(CloseCode::TooSlow) {
                    metrics::counter!("rallypoint_gateway_disconnects_total", "reason" => "too_slow")
                        .increment(1);
                    tracing::info!(
                        "a client's outbound queue is full: disconnecting it as too slow"
                    );
                }
                Err(PushError::TooSlow)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(PushError::Closed),
        }
    }

    /// Sends what is queued, then closes the socket with `code`. If the queue is full the
    /// socket is closed at once instead.
    pub fn close(&self, code: CloseCode) {
        if self.control.close_code.set(code).is_err() {
            return;
        }
        let frame = Message::Close(Some(CloseFrame {
            code: code.code(),
            reason: Utf8Bytes::from_static(code.reason()),
        }));
        if self.tx.try_send(frame).is_err() {
            self.control.abort.cancel();
        }
    }

    /// Closes the socket with `code` now, dropping what is queued. False if it was
    /// already closing.
    pub fn abort(&self, code: CloseCode) -> bool {
        let first = self.control.close_code.set(code).is_ok();
        self.control.abort.cancel();
        first
    }

    /// Stops the writer without a close frame: the client closed, or the socket broke.
    pub fn abort_quietly(&self) {
        self.control.abort.cancel();
    }

    /// Resolves once the writer has stopped (the socket is closed or broken).
    pub async fn closed(&self) {
        self.control.done.cancelled().await;
    }

    pub fn is_closed(&self) -> bool {
        self.control.done.is_cancelled()
    }

    /// The code the connection was closed with, if it was closed by us.
    pub fn close_code(&self) -> Option<CloseCode> {
        self.control.close_code.get().copied()
    }
}

/// Writes queued frames to the socket until a close frame is written, the connection is
/// aborted, or the socket breaks. Batches what is queued into one flush.
pub async fn run_writer(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Message>,
    outbound: Outbound,
) {
    let control = outbound.control.clone();
    drop(outbound);
    loop {
        let first = tokio::select! {
            biased;
            () = control.abort.cancelled() => break,
            frame = rx.recv() => frame,
        };
        let Some(first) = first else { break };
        let write = async {
            let mut closing = matches!(first, Message::Close(_));
            sink.feed(first).await?;
            let mut batch = 1;
            while !closing && batch < MAX_BATCH {
                let Ok(next) = rx.try_recv() else { break };
                closing = matches!(next, Message::Close(_));
                sink.feed(next).await?;
                batch += 1;
            }
            sink.flush().await?;
            Ok::<bool, axum::Error>(closing)
        };
        let outcome = tokio::select! {
            biased;
            () = control.abort.cancelled() => break,
            outcome = write => outcome,
        };
        match outcome {
            Ok(false) => {}
            Ok(true) => break,
            Err(err) => {
                tracing::debug!(error = %err, "socket write failed; the client is gone");
                break;
            }
        }
    }
    if control.abort.is_cancelled() {
        // Best effort: a client that is merely slow still learns why, within a moment.
        if let Some(code) = control.close_code.get() {
            let frame = Message::Close(Some(CloseFrame {
                code: code.code(),
                reason: Utf8Bytes::from_static(code.reason()),
            }));
            let _gone_anyway =
                tokio::time::timeout(std::time::Duration::from_millis(100), sink.send(frame)).await;
        }
    }
    control.done.cancel();
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
