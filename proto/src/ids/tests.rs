use super::*;

#[test]
fn accepts_the_documented_alphabet() {
    for ok in [
        "a",
        "Player_1",
        "eu-west.2",
        "match:42",
        &"x".repeat(MAX_ID_LEN),
    ] {
        assert_eq!(Id::parse(ok).map(|id| id.into_string()), Ok(ok.to_owned()));
    }
}

#[test]
fn rejects_with_a_reason() {
    assert_eq!(Id::parse(""), Err(IdError::Empty));
    assert_eq!(
        Id::parse(&"x".repeat(65)),
        Err(IdError::TooLong { len: 65 })
    );
    assert_eq!(Id::parse("ab c"), Err(IdError::BadChar { ch: ' ', at: 2 }));
    assert_eq!(Id::parse("aé"), Err(IdError::BadChar { ch: 'é', at: 1 }));
    assert_eq!(Id::parse("a/b"), Err(IdError::BadChar { ch: '/', at: 1 }));
}

#[test]
fn owned_and_borrowed_conversions_agree() {
    let id = Id::try_from(String::from("p1")).ok();
    assert_eq!(id, "p1".parse().ok());
    assert!(id.is_some_and(|id| id == "p1" && id.as_str() == "p1"));
    assert!(Id::try_from(String::from("p 1")).is_err());
}

#[test]
fn serde_rejects_invalid_ids() {
    let err = serde_json::from_str::<Id>("\"bad id\"")
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("invalid id")));
    assert!(serde_json::from_str::<Id>("7").is_err());
    assert_eq!(
        serde_json::to_string(&Id::parse("p1").ok()).ok().as_deref(),
        Some("\"p1\"")
    );
}
