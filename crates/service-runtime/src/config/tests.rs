use std::io::Write as _;

use super::*;

const SERVICE_DEFAULTS: &str = "[demo]\nport = 8080\n";

fn env(pairs: &[(&str, &str)]) -> Option<config::Map<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

#[derive(Debug, serde::Deserialize)]
struct Demo {
    port: u16,
}

#[test]
fn defaults_load_and_validate() {
    let loaded =
        LoadedConfig::load_with_env(SERVICE_DEFAULTS, None, env(&[])).expect("defaults are valid");
    assert_eq!(loaded.common.redis.urls.len(), 3);
    assert_eq!(loaded.common.redis.namespace, "rp");
    assert_eq!(loaded.section::<Demo>("demo").expect("section").port, 8080);
}

#[test]
fn environment_overrides_file_overrides_defaults() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(
        file,
        "[redis]\nnamespace = \"from-file\"\ncommand_timeout_ms = 1234\n[demo]\nport = 9000"
    )
    .expect("write");
    let loaded = LoadedConfig::load_with_env(
        SERVICE_DEFAULTS,
        Some(file.path()),
        env(&[
            ("RALLYPOINT_REDIS__NAMESPACE", "from-env"),
            (
                "RALLYPOINT_REDIS__URLS",
                "redis://10.0.0.1:7000, rediss://10.0.0.2:7001",
            ),
            ("RALLYPOINT_DEMO__PORT", "9100"),
        ]),
    )
    .expect("valid");
    assert_eq!(loaded.common.redis.namespace, "from-env");
    assert_eq!(loaded.common.redis.command_timeout_ms, 1234);
    assert_eq!(
        loaded.common.redis.urls,
        vec!["redis://10.0.0.1:7000", "rediss://10.0.0.2:7001"]
    );
    assert_eq!(loaded.section::<Demo>("demo").expect("section").port, 9100);
}

#[test]
fn secrets_keep_leading_zeros() {
    let loaded = LoadedConfig::load_with_env(
        SERVICE_DEFAULTS,
        None,
        env(&[("RALLYPOINT_REDIS__PASSWORD", "0123")]),
    )
    .expect("valid");
    assert_eq!(loaded.common.redis.password.expose(), "0123");
}

#[test]
fn the_config_prints_without_its_secrets() {
    let loaded = LoadedConfig::load_with_env(
        SERVICE_DEFAULTS,
        None,
        env(&[
            ("RALLYPOINT_REDIS__PASSWORD", "redis-password-not-shown"),
            ("RALLYPOINT_OPS__ADMIN_TOKEN", "admin-token-not-shown"),
        ]),
    )
    .expect("valid");
    let printed = format!("{:?}", loaded.common);
    assert!(printed.contains("password: \"<redacted>\""), "{printed}");
    assert!(!printed.contains("not-shown"), "{printed}");
}

fn error_for(pairs: &[(&str, &str)]) -> ConfigError {
    match LoadedConfig::load_with_env(SERVICE_DEFAULTS, None, env(pairs)) {
        Ok(_) => panic!("{pairs:?} should be refused"),
        Err(err) => err,
    }
}

#[test]
fn bad_values_name_their_key_in_one_line() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("RALLYPOINT_REDIS__URLS", "nonsense")], "redis.urls"),
        (&[("RALLYPOINT_REDIS__URLS", "")], "redis.urls"),
        (&[("RALLYPOINT_REDIS__MODE", "sentinel")], "redis.mode"),
        (&[("RALLYPOINT_REDIS__NAMESPACE", "a:b")], "redis.namespace"),
        (
            &[("RALLYPOINT_REDIS__COMMAND_TIMEOUT_MS", "soon")],
            "redis.command_timeout_ms",
        ),
        (
            &[("RALLYPOINT_REDIS__COMMAND_TIMEOUT_MS", "0")],
            "redis.command_timeout_ms",
        ),
        (&[("RALLYPOINT_REDIS__TLS", "maybe")], "redis.tls"),
        (&[("RALLYPOINT_OPS__LISTEN", "everywhere")], "ops.listen"),
        (&[("RALLYPOINT_LOG__FORMAT", "xml")], "log.format"),
        (&[("RALLYPOINT_INSTANCE__ID", "has space")], "instance.id"),
        (
            &[("RALLYPOINT_SHUTDOWN__DRAIN_DEADLINE_MS", "-5")],
            "shutdown.drain_deadline_ms",
        ),
    ];
    for (pairs, key) in cases {
        let err = error_for(pairs);
        assert_eq!(err.key, *key, "{pairs:?} gave {err}");
        let line = err.to_string();
        assert!(!line.contains('\n'), "one line: {line}");
        assert!(line.contains(key), "names the key: {line}");
    }
}

#[test]
fn a_bad_service_section_names_its_key() {
    let loaded = LoadedConfig::load_with_env(
        SERVICE_DEFAULTS,
        None,
        env(&[("RALLYPOINT_DEMO__PORT", "huge")]),
    )
    .expect("common sections are fine");
    let err = loaded
        .section::<Demo>("demo")
        .expect_err("port is not a number");
    assert_eq!(err.key, "demo.port", "{err}");
}

#[test]
fn a_missing_config_file_is_named() {
    let err = LoadedConfig::load_with_env(
        SERVICE_DEFAULTS,
        Some(Path::new("/nonexistent/rp.toml")),
        env(&[]),
    )
    .expect_err("missing file");
    assert_eq!(err.key, "--config");
}

#[test]
fn a_variable_naming_no_section_is_refused_with_its_key() {
    // One underscore instead of two: the key would be `redis_urls`, read by nobody.
    let err = LoadedConfig::load_with_env(
        SERVICE_DEFAULTS,
        None,
        env(&[("RALLYPOINT_REDIS_URLS", "redis://10.0.0.1:7000")]),
    )
    .expect_err("refused");
    assert_eq!(err.key, "redis_urls", "{err}");
    assert!(err.to_string().contains("RALLYPOINT_REDIS__URLS"), "{err}");
    // Another service's section is fine (one environment shared by every service), and
    // so is the service's own.
    LoadedConfig::load_with_env(
        SERVICE_DEFAULTS,
        None,
        env(&[
            (
                "RALLYPOINT_GATEWAY__JWT_SECRET",
                "shared-by-everyone-0123456789",
            ),
            ("RALLYPOINT_DEMO__PORT", "9000"),
        ]),
    )
    .expect("valid");
}
