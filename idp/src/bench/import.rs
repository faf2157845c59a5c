//! `idp bench --import-pupils N --import-guardians M`: writes one school's export of that
//! size, imports it into a fresh embedded database and prints how long each step took: the
//! first import (every account new), the same files again (nothing changes), and a re-import
//! with 1 % of pupils changing class.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use crate::config::Config;
use crate::demo::{FIRST_NAMES, LAST_NAMES, PARENT_FIRST_NAMES};
use crate::import::{ImportReport, Importer};

/// Writes an export with `pupils` pupils in classes of 28 and `guardians` guardians (one or
/// two per pupil); `shift` moves every hundredth pupil to the next class.
fn write_export(dir: &Path, pupils: usize, guardians: usize, shift: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("etablissement.csv"),
        "uai,nom,academie,degre\n0149990B,Cité scolaire du banc d'essai,14,2d\n",
    )?;
    let mut eleves = String::from("id_source,ine,nom,prenom,date_naissance,classe,niveau\n");
    let mut responsables = String::from("id_source,civilite,nom,prenom,email,mobile\n");
    let mut liens = String::from("id_eleve,id_responsable,rang\n");
    let classes = pupils.div_ceil(28).max(1);
    let mut guardian = 0;
    for i in 0..pupils {
        let last = LAST_NAMES[(i * 7 + i / 997) % LAST_NAMES.len()];
        let first = FIRST_NAMES[(i * 13 + i / 31) % FIRST_NAMES.len()];
        let mut class = i / 28;
        if shift && i % 100 == 0 {
            class = (class + 1) % classes;
        }
        let level = 1001 + (class % 4);
        writeln!(
            eleves,
            "E{i},{:09}{}{},{last},{first},{}-{:02}-{:02},C{class},{level}",
            i,
            char::from(b'A' + (i % 26) as u8),
            char::from(b'A' + (i / 26 % 26) as u8),
            2010 + (class % 4),
            i % 12 + 1,
            i % 28 + 1
        )?;
        // the first guardians go to every pupil; what is left gives some a second one
        let wanted = if guardians.saturating_sub(pupils) > i {
            2
        } else {
            1
        };
        for rank in 1..=wanted {
            if guardian >= guardians {
                break;
            }
            let parent = PARENT_FIRST_NAMES[(i * 5 + rank * 3) % PARENT_FIRST_NAMES.len()];
            writeln!(
                responsables,
                "R{guardian},{},{last},{parent},,06{:08}",
                if rank == 1 { "Mme" } else { "M." },
                guardian
            )?;
            writeln!(liens, "E{i},R{guardian},{rank}")?;
            guardian += 1;
        }
    }
    std::fs::write(dir.join("eleves.csv"), eleves)?;
    std::fs::write(dir.join("responsables.csv"), responsables)?;
    std::fs::write(dir.join("liens.csv"), liens)?;
    Ok(())
}

fn line(label: &str, seconds: f64, records: usize, report: &ImportReport) {
    println!(
        "  {label:<34} {seconds:>8.2} s  {:>9.0} records/s  created {:>6}  updated {:>5}  accounts {:>6}",
        records as f64 / seconds,
        report.created,
        report.updated,
        report.accounts_created
    );
}

pub async fn run(pupils: usize, guardians: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let export = dir.path().join("export");
    let mut table = toml::Table::new();
    table.insert("issuer".into(), "http://127.0.0.1:8080".into());
    table.insert(
        "data_dir".into(),
        dir.path().join("data").display().to_string().into(),
    );
    let importer = Importer::open(Config::from_table(table, std::env::vars())?).await?;
    println!("idp bench — import of one school: {pupils} pupils, {guardians} guardians (SQLite)");
    if cfg!(debug_assertions) {
        println!("  (debug build: use `cargo run --release -- bench …` for real figures)");
    }
    write_export(&export, pupils, guardians, false)?;
    let records = pupils + 2 * guardians;
    let now = crate::app::Clock::now(&crate::app::SystemClock);

    let started = Instant::now();
    let first = importer.import_dir(&export, None, now).await?;
    anyhow::ensure!(first.rejected == 0, "{}", first.to_text());
    line(
        "first import (all new)",
        started.elapsed().as_secs_f64(),
        records,
        &first,
    );

    let started = Instant::now();
    let again = importer.import_dir(&export, None, now + 60).await?;
    anyhow::ensure!(
        again.created == 0 && again.updated == 0,
        "not idempotent: {again:?}"
    );
    line(
        "same files again",
        started.elapsed().as_secs_f64(),
        records,
        &again,
    );

    write_export(&export, pupils, guardians, true)?;
    let started = Instant::now();
    let shifted = importer.import_dir(&export, None, now + 120).await?;
    line(
        "1 % of pupils change class",
        started.elapsed().as_secs_f64(),
        records,
        &shifted,
    );
    Ok(())
}
