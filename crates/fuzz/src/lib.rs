//! Fuzz campaigns: proptest strategies and a runner shared by the tests in `tests/`, one
//! file per decoder a stranger can reach. Each campaign feeds a decoder arbitrary bytes and
//! structure-aware mutations of valid inputs (a field replaced, removed or added, a value
//! swapped for an extreme one, bytes flipped or cut off) and checks the decoder's promise:
//! no panic, and either a valid result or the documented error.
//!
//! The size is `RALLYPOINT_FUZZ_CASES` inputs per campaign (default 300: the quick run in
//! `make test`); `make fuzz` runs large ones and sums what each campaign reports in the
//! file named by `RALLYPOINT_FUZZ_REPORT`.

use std::io::Write as _;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value};

/// Inputs per campaign when `RALLYPOINT_FUZZ_CASES` is not set.
pub const DEFAULT_CASES: u32 = 300;

/// How many inputs each campaign tries.
pub fn cases() -> u32 {
    std::env::var("RALLYPOINT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_CASES)
}

/// Runs `check` on [`cases`] inputs drawn from `strategy`. A failed check or a panic
/// fails the test with the smallest input proptest could shrink it to. The count is
/// printed and, where `RALLYPOINT_FUZZ_REPORT` names a file, appended to it.
pub fn campaign<S: Strategy>(
    name: &str,
    strategy: S,
    check: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let cases = cases();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        // Shrinking a failure is worth a while; a campaign that passes never shrinks.
        max_shrink_iters: 2_000,
        ..Config::default()
    });
    if let Err(failure) = runner.run(&strategy, check) {
        panic!("fuzz {name}: {failure}");
    }
    eprintln!("fuzz {name}: {cases} inputs, no panic, every answer as documented");
    if let Ok(path) = std::env::var("RALLYPOINT_FUZZ_REPORT")
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        let _ = writeln!(file, "{name} {cases}");
    }
}

/// Strings that break naive code: empty, long, not ASCII, control characters, ids'
/// neighbours.
pub fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "", " ", "duel", "eu", "lobby", "p2", "guest:", "guest:x", "bad id", "é", "\u{0}",
            "\u{202e}", "💥", "..", "a:b:c", "-", "null", "[]", "{}",
        ])
        .prop_map(String::from),
        "[A-Za-z0-9_.:-]{60,70}",
        ".{0,16}",
        prop::collection::vec(any::<char>(), 0..8).prop_map(|c| c.into_iter().collect()),
    ]
}

/// Numbers at and past the edges.
pub fn nasty_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            Value::from(0),
            Value::from(-1),
            Value::from(1),
            Value::from(i64::MIN),
            Value::from(i64::MAX),
            Value::from(u64::MAX),
            Value::from(u32::MAX),
            Value::from(u32::MAX as u64 + 1),
            Value::from(1e300),
            Value::from(-0.0),
            Value::from(0.5),
        ]),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        nasty_number(),
        nasty_string().prop_map(Value::from),
    ]
}

/// Any JSON value, a few levels deep.
pub fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(nasty_string(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One structural change to a JSON document.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// The node at a position is replaced by another value.
    Replace(prop::sample::Index, Value),
    /// A key of the object at a position is removed.
    Remove(prop::sample::Index, prop::sample::Index),
    /// A key is added to (or overwritten in) the object at a position.
    Insert(prop::sample::Index, String, Value),
    /// A field's name is kept and its value wrapped in an array (a typical type confusion).
    Wrap(prop::sample::Index),
}

/// Structure-aware changes: 1 to 4 of them.
pub fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let one = prop_oneof![
        3 => (any::<prop::sample::Index>(), json_value()).prop_map(|(at, v)| Mutation::Replace(at, v)),
        2 => (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(at, key)| Mutation::Remove(at, key)),
        2 => (any::<prop::sample::Index>(), nasty_string(), json_value())
            .prop_map(|(at, k, v)| Mutation::Insert(at, k, v)),
        1 => any::<prop::sample::Index>().prop_map(Mutation::Wrap),
    ];
    prop::collection::vec(one, 1..5)
}

/// Every node of `value`, depth first, as a path of steps (object key or array index).
fn paths(value: &Value) -> Vec<Vec<Step>> {
    let mut out = vec![Vec::new()];
    let mut stack = vec![(Vec::new(), value)];
    while let Some((path, node)) = stack.pop() {
        let children: Vec<(Step, &Value)> = match node {
            Value::Object(map) => map.iter().map(|(k, v)| (Step::Key(k.clone()), v)).collect(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (Step::At(i), v))
                .collect(),
            _ => Vec::new(),
        };
        for (step, child) in children {
            let mut p: Vec<Step> = path.clone();
            p.push(step);
            out.push(p.clone());
            stack.push((p, child));
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    At(usize),
}

fn node_mut<'a>(value: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    let mut node = value;
    for step in path {
        node = match (step, node) {
            (Step::Key(k), Value::Object(map)) => map.get_mut(k)?,
            (Step::At(i), Value::Array(items)) => items.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

/// `value` with `mutations` applied in turn.
pub fn mutate(mut value: Value, mutations: &[Mutation]) -> Value {
    for mutation in mutations {
        let all = paths(&value);
        let pick = |at: &prop::sample::Index| all[at.index(all.len())].clone();
        match mutation {
            Mutation::Replace(at, replacement) => {
                if let Some(node) = node_mut(&mut value, &pick(at)) {
                    *node = replacement.clone();
                }
            }
            Mutation::Remove(at, key) => {
                if let Some(Value::Object(map)) = node_mut(&mut value, &pick(at))
                    && !map.is_empty()
                {
                    let k = map.keys().nth(key.index(map.len())).cloned();
                    if let Some(k) = k {
                        map.remove(&k);
                    }
                }
            }
            Mutation::Insert(at, key, inserted) => {
                if let Some(Value::Object(map)) = node_mut(&mut value, &pick(at)) {
                    map.insert(key.clone(), inserted.clone());
                }
            }
            Mutation::Wrap(at) => {
                if let Some(node) = node_mut(&mut value, &pick(at)) {
                    *node = Value::Array(vec![node.take()]);
                }
            }
        }
    }
    value
}

/// Byte-level damage after encoding: some bytes overwritten, and maybe the tail cut off.
pub fn byte_damage()
-> impl Strategy<Value = (Vec<(prop::sample::Index, u8)>, Option<prop::sample::Index>)> {
    (
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        prop::option::weighted(0.2, any::<prop::sample::Index>()),
    )
}

/// `bytes` with `damage` done.
pub fn damaged(
    mut bytes: Vec<u8>,
    damage: &(Vec<(prop::sample::Index, u8)>, Option<prop::sample::Index>),
) -> Vec<u8> {
    if bytes.is_empty() {
        return bytes;
    }
    for (at, byte) in &damage.0 {
        let i = at.index(bytes.len());
        bytes[i] = *byte;
    }
    if let Some(cut) = &damage.1 {
        bytes.truncate(cut.index(bytes.len()));
    }
    bytes
}

/// Damage to a text (a token): some characters overwritten, and maybe the tail cut off.
pub fn text_damage() -> impl Strategy<
    Value = (
        Vec<(prop::sample::Index, char)>,
        Option<prop::sample::Index>,
    ),
> {
    (
        prop::collection::vec((any::<prop::sample::Index>(), any::<char>()), 0..4),
        prop::option::weighted(0.2, any::<prop::sample::Index>()),
    )
}

/// `text` with `damage` done.
pub fn damaged_text(
    text: &str,
    damage: &(
        Vec<(prop::sample::Index, char)>,
        Option<prop::sample::Index>,
    ),
) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return String::new();
    }
    for (at, c) in &damage.0 {
        let i = at.index(chars.len());
        chars[i] = *c;
    }
    if let Some(cut) = &damage.1 {
        chars.truncate(cut.index(chars.len()));
    }
    chars.into_iter().collect()
}

/// A JSON object from `pairs` (for writing samples).
pub fn object(pairs: &[(&str, Value)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .cloned()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<Map<_, _>>(),
    )
}

/// `value` as JSON bytes.
pub fn to_json(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// `value` as MessagePack bytes (maps with named fields, as clients send).
pub fn to_msgpack(value: &Value) -> Vec<u8> {
    rmp_serde::to_vec_named(value).unwrap_or_default()
}

/// Arbitrary bytes, up to `max` long.
pub fn any_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}
