//! The URL's TLS settings, and connections to the test server in each mode. The server's side
//! varies: Debian's PostgreSQL has ssl on with a self-signed ("snakeoil") certificate, others
//! have ssl off; each test says in one line what it could not check.

use super::{Mode, Split, split};
use crate::store::pg::Pg;
use crate::store::pg::scratch::ScratchDb;

#[test]
fn the_tls_settings_are_taken_out_of_the_url() {
    let s = split(
        "postgres://u:pw@h/db?sslmode=verify-ca&application_name=x&sslrootcert=%2Ftmp%2Fa%20b.pem",
    )
    .unwrap();
    assert_eq!(
        s,
        Split {
            rest: "postgres://u:pw@h/db?application_name=x".into(),
            mode: Mode::VerifyCa,
            rootcert: Some("/tmp/a b.pem".into()),
        }
    );
    assert_eq!(split("postgres://h/db?sslmode=require").unwrap().rest, "postgres://h/db");
    let s = split("postgres://h/db").unwrap();
    assert_eq!((s.mode, s.rootcert), (Mode::Prefer, None));
    for (given, mode) in [
        ("disable", Mode::Disable),
        ("allow", Mode::Prefer),
        ("prefer", Mode::Prefer),
        ("require", Mode::Require),
        ("verify-full", Mode::VerifyFull),
    ] {
        assert_eq!(split(&format!("postgres://h/d?sslmode={given}")).unwrap().mode, mode);
    }
    let e = split("postgres://u:s3cret@h/db?sslmode=always").unwrap_err().to_string();
    assert!(e.contains("sslmode=always is not one of") && !e.contains("s3cret"), "{e}");
}

#[test]
fn an_unreadable_sslrootcert_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let url = format!("postgres://u:s3cret@h/db?sslmode=require&sslrootcert={}", missing.display());
    let e = super::config(&url).err().expect("a missing file is refused").to_string();
    assert!(e.contains(&format!("sslrootcert={}", missing.display())), "{e}");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let url = format!("postgres://h/db?sslrootcert={}", empty.display());
    let e = super::config(&url).err().expect("a file without certificates is refused").to_string();
    assert!(e.contains("holds no PEM certificate"), "{e}");
    // Not needed (nor read) when TLS is off.
    assert!(super::config(&format!("{url}&sslmode=disable")).is_ok());
}

/// The scratch database's URL without the TLS settings the tests' server URL may carry.
fn plain_url(db: &ScratchDb) -> String {
    split(db.url()).expect("the test URL").rest
}

/// `url` with `params` added to its query.
fn with(url: &str, params: &str) -> String {
    let joint = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joint}{params}")
}

/// Connects (creating the schema) and tells whether the connection is encrypted.
fn encrypted(url: &str) -> Result<bool, String> {
    let mut pg = Pg::connect(url, true).map_err(|e| e.to_string())?;
    let sql = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    Ok(pg.client.query_one(sql, &[]).expect("pg_stat_ssl").get(0))
}

/// A setting of the server, read over a plain connection.
fn setting(url: &str, name: &str) -> String {
    let mut pg = Pg::connect(&with(url, "sslmode=disable"), true).expect("plain connection");
    pg.client.query_one(&format!("SHOW {name}"), &[]).expect(name).get(0)
}

#[test]
fn each_sslmode_connects_as_it_says() {
    let Some(db) = ScratchDb::create("pg::tls::each_sslmode") else { return };
    let url = &plain_url(&db);
    assert_eq!(encrypted(&with(url, "sslmode=disable")), Ok(false));
    let ssl = setting(url, "ssl") == "on";
    // prefer (the default) takes TLS whenever the server offers it, whatever its certificate.
    assert_eq!(encrypted(url), Ok(ssl));
    assert_eq!(encrypted(&with(url, "sslmode=prefer")), Ok(ssl));
    if ssl {
        return;
    }
    eprintln!("pg::tls::each_sslmode: the server has ssl off; TLS itself not checked");
    let e = encrypted(&with(url, "sslmode=require")).unwrap_err();
    assert!(e.contains("the server does not offer TLS"), "{e}");
}

/// The certificate file of a server with ssl on, when this machine can read it (the server is
/// local), else `None` having said so.
fn server_certificate(url: &str, test: &str) -> Option<String> {
    if setting(url, "ssl") != "on" {
        eprintln!("{test}: not run (the server has ssl off)");
        return None;
    }
    let file =
        std::path::Path::new(&setting(url, "data_directory")).join(setting(url, "ssl_cert_file"));
    if std::fs::metadata(&file).is_err() {
        eprintln!(
            "{test}: not run (the server's certificate {} is not readable here)",
            file.display()
        );
        return None;
    }
    Some(file.display().to_string())
}

/// A CA certificate made for these tests, whose key is thrown away: it signs no server's.
const OTHER_CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/pg/tls/other-ca.pem");

#[test]
fn require_checks_who_signed_the_certificate() {
    let test = "pg::tls::require_checks_the_signer";
    let Some(db) = ScratchDb::create(test) else { return };
    let Some(cert) = server_certificate(&plain_url(&db), test) else { return };
    // A password that must not appear in any message (the test server trusts local users).
    let url = plain_url(&db).replacen("postgres@", "postgres:pw-s3cret@", 1);
    let refused = |params: &str| {
        let e = encrypted(&with(&url, params)).expect_err(params);
        assert!(!e.contains("pw-s3cret"), "{e}");
        e
    };
    let e = refused(&format!("sslmode=verify-ca&sslrootcert={OTHER_CA}"));
    assert!(
        e.contains(&format!("certificate is not signed by the CA in sslrootcert={OTHER_CA}"))
            && e.contains("give sslrootcert=/path/to/ca.pem")
            && e.contains("sslmode=disable on a private network"),
        "{e}"
    );
    // Trusting the server's own (self-signed) certificate: the signer is then good.
    let trusted = with(&url, &format!("sslrootcert={cert}"));
    assert_eq!(encrypted(&with(&trusted, "sslmode=verify-ca")), Ok(true));
}

#[test]
fn the_certificates_name_is_checked() {
    let test = "pg::tls::the_certificates_name_is_checked";
    let Some(db) = ScratchDb::create(test) else { return };
    let Some(cert) = server_certificate(&plain_url(&db), test) else { return };
    // The name goes in the URL's host and the address in hostaddr, so the name need not
    // resolve here. Debian's certificate names the machine as it was when it was made.
    let url = plain_url(&db);
    let (before, after) = url.split_once('@').expect("user@host in the test URL");
    let (address, port_and_rest) = after.split_once(':').expect("host:port in the test URL");
    if address.parse::<std::net::IpAddr>().is_err() {
        return eprintln!("{test}: not run (the test server is not given by its address)");
    }
    let tried = |name: &str, params: &str| {
        let url = format!("{before}@{name}:{port_and_rest}");
        encrypted(&with(&url, &format!("hostaddr={address}&{params}")))
    };
    let full = format!("sslmode=verify-full&sslrootcert={cert}");
    // require (and prefer, once a CA is given) check the name as verify-full does.
    for params in
        [full.clone(), format!("sslmode=require&sslrootcert={cert}"), format!("sslrootcert={cert}")]
    {
        let e = tried("elsewhere.invalid", &params).unwrap_err();
        assert!(e.contains("not issued for the host name elsewhere.invalid"), "{params}: {e}");
    }
    // The system's CAs: Debian adds its self-signed certificate to them, so there the refusal
    // is for the name, elsewhere for the signer.
    let e = tried("elsewhere.invalid", "sslmode=require").unwrap_err();
    assert!(
        e.contains("certificate is not signed by a CA this system trusts; give sslrootcert=")
            || e.contains("not issued for the host name elsewhere.invalid"),
        "{e}"
    );
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let names = ["localhost", hostname.trim()];
    if !names.iter().any(|name| tried(name, &full) == Ok(true)) {
        eprintln!("{test}: name check not run (the server's certificate names neither {names:?})");
    }
}
