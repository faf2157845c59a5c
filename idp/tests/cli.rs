//! The operator's commands, run as a real process: `migrate`, `client add`, `keys rotate`,
//! `keys list`, `staff add`, `staff reset`, `totp`, `check`, and a configuration error that names its
//! key.

use std::process::Command;

fn idp() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_idp"));
    // keep the developer's IDP_* variables out of these runs
    for (k, _) in std::env::vars() {
        if k.starts_with("IDP_") {
            c.env_remove(k);
        }
    }
    c
}

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("idp.toml");
    std::fs::write(
        &path,
        format!(
            "issuer = \"https://connexion.example.fr\"\ndata_dir = \"{0}/data\"\nrelying_parties_dir = \"{0}/rp\"\n",
            dir.display()
        ),
    )
    .unwrap();
    path
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn client_add_writes_a_registration_the_server_loads() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let out = run(idp().args(["client", "add", "--config"]).arg(&cfg).args([
        "--client-id",
        "ent-lycee",
        "--name",
        "ENT du lycée",
        "--redirect-uri",
        "https://ent.lycee.fr/callback",
        "--claim",
        "given_name",
        "--refresh-tokens",
    ]));
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("client secret (shown once, store it now): "))
        .expect("the secret is printed once")
        .to_owned();
    assert!(secret.len() >= 40);
    let file = std::fs::read_to_string(dir.path().join("rp/ent-lycee.toml")).unwrap();
    assert!(!file.contains(&secret), "only a keyed hash is written");
    assert!(file.contains("client_secret_hash = \"hmac-sha256$"));

    // the server (same data dir, same secret) accepts the registration and the secret
    let server_secret =
        idp::keys::ServerSecret::load_or_generate(&dir.path().join("data/keys/server-secret"))
            .unwrap();
    let registry = idp::registry::Registry::load(&dir.path().join("rp"), &server_secret).unwrap();
    let client = registry.oidc_client("ent-lycee").unwrap();
    assert!(server_secret.verify_generated_secret(&secret, client.secret_hash.as_ref().unwrap()));
    assert!(client.allows(idp::registry::GrantType::RefreshToken));

    // a bad registration is refused before anything is written
    let out = idp()
        .args(["client", "add", "--config"])
        .arg(&cfg)
        .args([
            "--client-id",
            "bad",
            "--name",
            "x",
            "--redirect-uri",
            "http://evil.example/cb",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("https"));
    assert!(!dir.path().join("rp/bad.toml").exists());
}

#[test]
fn keys_rotate_keeps_the_old_key_published() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    run(idp().args(["migrate", "--config"]).arg(&cfg));
    let before = run(idp().args(["keys", "list", "--config"]).arg(&cfg));
    let rotated = run(idp().args(["keys", "rotate", "--config"]).arg(&cfg));
    let new_es256 = rotated
        .lines()
        .find_map(|l| l.strip_prefix("active ES256 key: "))
        .unwrap()
        .to_owned();
    assert!(!before.contains(&new_es256));
    let after = run(idp().args(["keys", "list", "--config"]).arg(&cfg));
    let jwks: serde_json::Value = serde_json::from_str(&after).unwrap();
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        4,
        "two retired, two new: {after}"
    );
    assert!(after.contains(&new_es256));
}

#[test]
fn a_bad_configuration_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let out = idp()
        .args(["migrate", "--config"])
        .arg(&cfg)
        .env("IDP_SESSION__IDLE_TIMEOUT_MINUTES", "soon")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("session.idle_timeout_minutes"), "{err}");
}

#[test]
fn staff_add_and_reset_print_a_password_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let add = |extra: &[&str]| {
        let mut c = idp();
        c.args(["staff", "add", "--config"]).arg(&cfg).args([
            "--identifier",
            "Admin.Rectorat",
            "--first-name",
            "Agnès",
            "--last-name",
            "DUPONT",
        ]);
        c.args(extra);
        c.output().unwrap()
    };
    let out = add(&["--role", "platform_admin"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("staff member admin.rectorat created (platform_admin)"));
    let password = text
        .lines()
        .find_map(|l| l.strip_prefix("password (shown once, hand it over now): "))
        .unwrap();
    assert!(password.len() >= 24, "{password}");
    let again = add(&["--role", "platform_admin"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is taken"));
    let unknown = add(&["--uai", "0999999Z"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown school 0999999Z"));
    let no_school = add(&["--role", "school_admin"]);
    assert!(String::from_utf8_lossy(&no_school.stderr).contains("at least one --uai"));

    let out = run(idp()
        .args(["staff", "reset", "--config"])
        .arg(&cfg)
        .args(["--identifier", "admin.rectorat"]));
    let new_password = out
        .lines()
        .find_map(|l| l.strip_prefix("new password for admin.rectorat (shown once): "))
        .unwrap();
    assert_ne!(new_password, password);

    let staff = |action: &str| {
        let mut c = idp();
        c.args(["staff", action, "--config"]).arg(&cfg);
        if action != "list" {
            c.args(["--identifier", "admin.rectorat"]);
        }
        run(&mut c)
    };
    assert!(
        staff("list").contains("admin.rectorat           platform_admin  active    totp-pending *")
    );
    staff("disable");
    assert!(staff("list").contains("platform_admin  disabled"));
    staff("enable");
    assert!(staff("list").contains("platform_admin  active"));
}

#[test]
fn totp_prints_the_code_of_a_secret() {
    let out = run(idp().args(["totp", idp::demo::DEMO_TOTP_SECRET]));
    let code = out.split_whitespace().next().unwrap();
    assert_eq!(code.len(), 6);
    assert!(code.bytes().all(|b| b.is_ascii_digit()));
    let bad = idp().args(["totp", "pas du base32 !"]).output().unwrap();
    assert!(!bad.status.success());
}

#[test]
fn audit_verify_seals_and_checks_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    // a few events: a staff member added, then reset
    run(idp().args(["staff", "add", "--config"]).arg(&cfg).args([
        "--identifier",
        "dane",
        "--first-name",
        "A",
        "--last-name",
        "B",
        "--role",
        "platform_admin",
    ]));
    run(idp()
        .args(["staff", "reset", "--config"])
        .arg(&cfg)
        .args(["--identifier", "dane"]));
    let out = run(idp().args(["audit", "verify", "--config"]).arg(&cfg));
    assert!(
        out.contains("2 events, 2 sealed, 0 waiting to be sealed"),
        "{out}"
    );
    assert!(out.contains("audit chain intact"));
}

#[test]
fn check_accepts_the_deploy_registrations_and_names_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/relying-parties");
    let secret = dir.path().join("server-secret");
    std::fs::write(
        &secret,
        "c2VydmVyIHNlY3JldCBvZiB0aGUgY2hlY2sgdGVzdCAhIQ==\n",
    )
    .unwrap();
    let write = |rp: &std::path::Path| {
        let path = dir.path().join("idp.toml");
        std::fs::write(
            &path,
            format!(
                "issuer = \"http://127.0.0.1:18080\"\nserver_secret_file = \"{}\"\n\
                 database_url = \"postgres://idp:hunter2@db/idp\"\n\
                 redis_url = \"redis://redis:6379/\"\nrelying_parties_dir = \"{}\"\n\
                 trusted_proxies = [\"172.28.0.0/24\"]\n",
                secret.display(),
                rp.display()
            ),
        )
        .unwrap();
        path
    };
    let out = run(idp()
        .arg("check")
        .arg("--config")
        .arg(write(shipped.as_ref())));
    assert!(out.contains("configuration valid"), "{out}");
    assert!(out.contains("1 OpenID Connect, 1 SAML, 1 CAS"), "{out}");
    assert!(!out.contains("hunter2"), "a password in the output: {out}");

    let broken = dir.path().join("rp");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(
        broken.join("ent.toml"),
        "protocol = \"oidc\"\nclient_id = \"ent\"\nredirect_uris = [\"http://ent.example.fr/cb\"]\n",
    )
    .unwrap();
    let out = idp()
        .arg("check")
        .arg("--config")
        .arg(write(&broken))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("ent.toml"), "{err}");
}
