//! `idp import`: a school's CSV export, run as the operator runs it (the binary, its report
//! and exit code), and in-process against a running server, from the credential letter to the
//! first connection.

mod support;

use std::io::Read as _;
use std::path::Path;
use std::process::Command;

use idp::import::Importer;
use reqwest::StatusCode;
use support::{TestServer, browser};

const SCHOOL: &str = "uai,nom,academie,degre\n0149999X,Collège Victor Hugo,14,2d\n";
const PUPILS: &str = "id_source,ine,nom,prenom,date_naissance,classe,niveau\n\
    VH1,071234567AB,LEROY,Zoé,2013-05-02,5e A,1002\n\
    VH2,071234568CD,N'DIAYE,Moussa,2012-11-19,4e B,1003\n";
const GUARDIANS: &str = "id_source;civilite;nom;prenom;email;mobile\n\
    VR1;Mme;LEROY;Anne;anne.leroy@example.fr;06 01 02 03 04\n\
    VR2;M.;N'DIAYE;Ibrahima;;07.11.22.33.44\n";
const LINKS: &str = "id_eleve,id_responsable,rang\nVH1,VR1,1\nVH2,VR2,1\n";

fn write_export(dir: &Path, pupils: &str) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in [
        ("etablissement.csv", SCHOOL),
        ("eleves.csv", pupils),
        ("responsables.csv", GUARDIANS),
        ("liens.csv", LINKS),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

fn idp() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_idp"));
    for (k, _) in std::env::vars() {
        if k.starts_with("IDP_") {
            c.env_remove(k);
        }
    }
    c
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_command_imports_once_reports_and_refuses_a_bad_school_whole() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    write_export(&export, PUPILS);
    let data = dir.path().join("data");
    let letters = dir.path().join("courriers");
    let json = dir.path().join("report.json");
    let import = |extra: &[&str]| {
        idp()
            .arg("import")
            .arg(&export)
            .arg("--data-dir")
            .arg(&data)
            .arg("--report")
            .arg(&json)
            .args(extra)
            .output()
            .unwrap()
    };

    let out = import(&["--letters", letters.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Import de 0149999X : 6 créé(s), 0 modifié(s)"),
        "{stdout}"
    );
    let r = report(&json);
    assert_eq!(
        (&r["created"], &r["updated"], &r["disabled"], &r["rejected"]),
        (&6.into(), &0.into(), &0.into(), &0.into())
    );
    assert_eq!(r["accounts_created"], 4);
    assert_eq!(r["rejections"], serde_json::json!([]));
    // one PDF per class; a guardian's letter goes with their child's
    let mut files: Vec<String> = std::fs::read_dir(&letters)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, vec!["0149999X-4e_B.pdf", "0149999X-5e_A.pdf"]);
    let pages = letter_pages(&letters.join("0149999X-5e_A.pdf"));
    assert_eq!(pages.len(), 2);
    assert!(pages.iter().any(|p| p.contains("Madame Anne LEROY")));

    // the same files again change nothing and make no letter
    let out = import(&[]);
    assert!(out.status.success());
    let r = report(&json);
    assert_eq!((&r["created"], &r["updated"]), (&0.into(), &0.into()));
    assert_eq!(r["accounts_created"], 0);

    // a new pupil, a class change and a bad line: nothing at all is imported
    let bad = format!(
        "{PUPILS}VH3,,MARTIN,Noé,2014-02-30,6e C,1001\nVH4,,PETIT,Lou,2014-01-12,6e C,1001\n"
    )
    .replace("5e A,1002", "4e B,1003");
    write_export(&export, &bad);
    let out = import(&[]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("refusé"), "{stdout}");
    assert!(
        stdout.contains("eleves.csv ligne 4 : date de naissance « 2014-02-30 » invalide"),
        "{stdout}"
    );
    let r = report(&json);
    assert_eq!((&r["rejected"], &r["created"]), (&1.into(), &0.into()));
    assert_eq!(r["rejections"][0]["line"], 4);
    assert_eq!(r["rejections"][0]["file"], "eleves.csv");

    // corrected: the new pupil and the class change, nothing else
    write_export(&export, &bad.replace("2014-02-30", "2014-02-28"));
    let out = import(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let r = report(&json);
    // two pupils (no guardian links in the file for them), one class change
    assert_eq!((&r["created"], &r["updated"]), (&2.into(), &1.into()));
    assert_eq!(r["accounts_created"], 2);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sans courrier"),
        "the operator is told that letters were not asked for"
    );
}

/// The text shown on each page of a letters PDF.
fn letter_pages(path: &Path) -> Vec<String> {
    let pdf = std::fs::read(path).unwrap();
    let mut pages = Vec::new();
    let mut rest = &pdf[..];
    while let Some(start) = find(rest, b">>\nstream\n") {
        let body = &rest[start + 10..];
        let end = find(body, b"\nendstream").unwrap();
        let mut text = Vec::new();
        flate2::read::ZlibDecoder::new(&body[..end])
            .read_to_end(&mut text)
            .unwrap();
        // WinAnsi is Latin-1 for the letters French needs
        pages.push(text.iter().map(|&b| char::from(b)).collect());
        rest = &body[end..];
    }
    pages
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `(Identifiant : x)` → `x`.
fn shown(page: &str, label: &str) -> String {
    let start = page.find(&format!("({label} : ")).unwrap() + label.len() + 4;
    page[start..].split(')').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_letter_opens_the_first_connection() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    write_export(dir.path(), PUPILS);
    let importer = Importer {
        directory: server.state.directory.clone(),
        audit: server.state.audit.clone(),
        secret: server.state.secret.clone(),
        config: server.state.config.clone(),
    };
    let letters = dir.path().join("courriers");
    let report = importer
        .import_dir(dir.path(), Some(&letters), server.clock_now())
        .await
        .unwrap();
    assert_eq!(report.accounts_created, 4);
    let pages = letter_pages(&letters.join("0149999X-4e_B.pdf"));
    let moussa = pages
        .iter()
        .find(|p| p.contains("(Moussa N'DIAYE)"))
        .expect("Moussa's letter");
    assert!(moussa.contains("Élève, classe : 4e B"), "{moussa}");
    let identifier = shown(moussa, "Identifiant");
    let password = shown(moussa, "Mot de passe provisoire");
    assert_eq!(identifier, "moussa.ndiaye");
    assert_eq!(password.len(), 14);

    let b = browser();
    let r = support::post_sign_in(&server, &b, "eleve", &identifier, &password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with("/premiere-connexion?id="), "{to}");
    // a wrong temporary password does not
    let r =
        support::post_sign_in(&server, &browser(), "eleve", &identifier, "abcd-efgh-jkmn").await;
    assert_ne!(
        r.headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(|l| l.starts_with("/premiere-connexion")),
        Some(true)
    );
}
