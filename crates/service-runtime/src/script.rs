//! Lua scripts, each declared once: its file, its keys and the type of its reply.
//!
//! Every script Rallypoint runs is a `static` [`LuaScript`] beside the code that runs it,
//! made from the `.lua` file next to that code. A run takes its KEYS only as a
//! [`ScriptKeys`], which nothing but `core_keys::scripts` can build, so the slot test in
//! `crates/core-keys/tests/slots.rs` covers every key set a script is ever given. The
//! reply is parsed into the declared type: a number, a string, a list, or an enum of the
//! script's answers declared with [`script_reply!`](crate::script_reply). Loading (a
//! node that answers `NOSCRIPT`, after a failover or a `SCRIPT FLUSH`, is sent the text)
//! and waiting for a client still connecting happen here and nowhere else.
//!
//! A script may be given a library: Lua functions that several scripts share (freeing a
//! game server's slot, say), written once in their own file and put in front of the
//! script's own text when it is first loaded.

use std::marker::PhantomData;
use std::sync::OnceLock;

use fred::error::{Error, ErrorKind};
use fred::prelude::{Client, ClientLike, LuaInterface};
use fred::types::scripts::Script;
use fred::types::{FromValue, MultipleValues};

pub use core_keys::scripts::ScriptKeys;

#[doc(hidden)]
pub use fred as __fred;

/// One Lua script whose reply parses as `R`.
pub struct LuaScript<R> {
    library: &'static str,
    source: &'static str,
    loaded: OnceLock<Script>,
    reply: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for LuaScript<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LuaScript")
            .field("file", &self.file())
            .finish_non_exhaustive()
    }
}

impl<R> LuaScript<R> {
    /// The script whose text is `source` (`include_str!` of its `.lua` file). Its first
    /// line names the file: `-- <name>.lua: what it does`.
    pub const fn new(source: &'static str) -> Self {
        Self::with_library("", source)
    }

    /// The script `source` with the shared Lua functions of `library` in front of it.
    pub const fn with_library(library: &'static str, source: &'static str) -> Self {
        Self {
            library,
            source,
            loaded: OnceLock::new(),
            reply: PhantomData,
        }
    }

    /// The script's file name, from its header line (for logs and errors).
    pub fn file(&self) -> &'static str {
        header_name(self.source)
    }
}

impl<R: FromValue> LuaScript<R> {
    fn script(&self) -> &Script {
        self.loaded.get_or_init(|| {
            if self.library.is_empty() {
                Script::from_lua(self.source)
            } else {
                Script::from_lua(format!("{}\n{}", self.library, self.source))
            }
        })
    }

    /// Runs the script on `keys` with `args` and parses its reply: `EVALSHA`, and where
    /// the node does not have the script (a new release's, or any after a failover or a
    /// `SCRIPT FLUSH`) `EVAL` with its text, which runs it and leaves it cached there: one
    /// more round trip on the same connection, where fred's `evalsha_with_reload` sends
    /// `SCRIPT LOAD` to every master (draining every connection first) and then the
    /// `EVALSHA` again.
    ///
    /// fred routes a script call by the client's copy of the cluster's slot map and fails
    /// it at once ("Missing cluster routing state") while a client is still connecting,
    /// where a plain command waits for the connection: a call that finds it so waits for
    /// the connection (at most the client's command timeout) and is sent once more
    /// (docs/STACK.md).
    pub async fn run<V>(&self, redis: &Client, keys: ScriptKeys, args: V) -> Result<R, Error>
    where
        V: TryInto<MultipleValues> + Send,
        V::Error: Into<Error> + Send,
    {
        let script = self.script();
        let keys = keys.into_vec();
        let args: MultipleValues = args.try_into().map_err(Into::into)?;
        let mut waited = false;
        loop {
            match redis
                .evalsha(script.sha1().clone(), keys.clone(), args.clone())
                .await
            {
                Err(err) if err.details().starts_with("NOSCRIPT") => {
                    let text = script.lua().cloned().unwrap_or_default();
                    return redis.eval(text, keys, args).await;
                }
                Err(err) if !waited && is_unrouted(&err) => {
                    waited = true;
                    connected(redis).await?;
                }
                answered => return answered,
            }
        }
    }
}

/// fred's error for a script call on a client with no slot map yet.
fn is_unrouted(err: &Error) -> bool {
    *err.kind() == ErrorKind::Cluster && err.details() == "Missing cluster routing state."
}

/// Waits until `redis` is connected, at most its command timeout.
async fn connected(redis: &Client) -> Result<(), Error> {
    let timeout = redis.perf_config().default_command_timeout;
    tokio::time::timeout(timeout, redis.wait_for_connect())
        .await
        .map_err(|_| {
            Error::new(
                ErrorKind::Timeout,
                "a script call waited for the Redis connection past the command timeout",
            )
        })?
}

/// The file name a script's header line gives (`-- pool_cancel.lua: ...`), or the first
/// line itself when it follows no such pattern.
fn header_name(source: &str) -> &str {
    let first = source.lines().next().unwrap_or_default();
    let named = first.trim_start_matches("--").trim_start();
    named.split(':').next().unwrap_or(named)
}

/// The error for a reply a script is not declared to give.
pub fn unexpected_reply(what: &str, reply: &str) -> Error {
    Error::new(
        ErrorKind::Parse,
        format!("{what}: unexpected script reply {reply:?}"),
    )
}

/// A reply that is a list of strings whose first one says what happened (`{'placed',
/// server, address}`): the tag and the rest.
pub fn tagged(value: fred::types::Value) -> Result<(String, Vec<String>), Error> {
    let mut parts: Vec<String> = value.convert()?;
    if parts.is_empty() {
        return Err(unexpected_reply("tagged reply", "{}"));
    }
    let tag = parts.remove(0);
    Ok((tag, parts))
}

/// Declares an enum of a script's answers, each given by the string (or number) the
/// script returns, and parses a reply into it; any other reply is an error naming it.
///
/// ```
/// service_runtime::script_reply! {
///     /// What draining a server did.
///     pub enum Drain { Left = "left", Draining = "draining", Unknown = "unknown" }
/// }
/// ```
#[macro_export]
macro_rules! script_reply {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $tag:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name { $( $(#[$vmeta])* $variant ),+ }

        impl $name {
            /// What the script returns for this answer.
            #[allow(dead_code)]
            $vis fn tag(self) -> &'static str {
                match self { $( Self::$variant => $tag ),+ }
            }
        }

        impl $crate::script::__fred::types::FromValue for $name {
            fn from_value(
                value: $crate::script::__fred::types::Value,
            ) -> Result<Self, $crate::script::__fred::error::Error> {
                let tag: String = value.convert()?;
                match tag.as_str() {
                    $( $tag => Ok(Self::$variant), )+
                    other => Err($crate::script::unexpected_reply(stringify!($name), other)),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::script_reply! {
        enum Answer { Yes = "yes", No = "0" }
    }

    #[test]
    fn replies_parse_into_their_enum_and_others_are_refused() {
        use fred::types::Value;
        assert_eq!(
            Answer::from_value(Value::from("yes")).ok(),
            Some(Answer::Yes)
        );
        assert_eq!(Answer::from_value(Value::Integer(0)).ok(), Some(Answer::No));
        let err = Answer::from_value(Value::from("maybe")).err();
        assert!(
            err.is_some_and(|e| e.details().contains("maybe")),
            "an undeclared reply is an error that shows it"
        );
        assert_eq!(Answer::No.tag(), "0");
    }

    #[test]
    fn the_file_name_comes_from_the_header() {
        static S: LuaScript<i64> = LuaScript::new("-- pool_ack.lua: the game server took it\n");
        assert_eq!(S.file(), "pool_ack.lua");
    }

    #[test]
    fn tagged_replies_split_off_their_tag() {
        use fred::types::Value;
        let value = Value::Array(vec!["placed".into(), "gs-1".into(), "1.2.3.4:7".into()]);
        let (tag, rest) = tagged(value).expect("a tagged reply");
        assert_eq!(tag, "placed");
        assert_eq!(rest, vec!["gs-1".to_owned(), "1.2.3.4:7".to_owned()]);
    }
}
