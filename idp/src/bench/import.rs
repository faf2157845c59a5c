//! The import part of `idp bench` (`--import-pupils N --import-guardians M`): writes one
//! school's export of that size, imports it and prints how long each step took: the first
//! import (every account new), the same files again (nothing changes), and a re-import with
//! 1 % of pupils changing class.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use super::server::Backends;
use crate::config::Config;
use crate::demo::{FIRST_NAMES, LAST_NAMES, PARENT_FIRST_NAMES};
use crate::import::{ImportReport, Importer};

/// The benchmark's school.
const BENCH_UAI: &str = "0149990B";

/// Writes an export with `pupils` pupils in classes of 28 and `guardians` guardians (one or
/// two per pupil); `shift` moves every hundredth pupil to the next class.
fn write_export(dir: &Path, pupils: usize, guardians: usize, shift: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("etablissement.csv"),
        format!("uai,nom,academie,degre\n{BENCH_UAI},Cité scolaire du banc d'essai,14,2d\n"),
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

/// What the import figures are.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportFigures {
    pub pupils: usize,
    pub guardians: usize,
    /// Records (pupils, guardians, links) per second of the first import, every account new.
    pub import_per_s: f64,
    pub first_import_s: f64,
    pub same_files_again_s: f64,
    pub one_percent_change_class_s: f64,
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

/// Imports one school of `pupils` pupils and `guardians` guardians three times (new, the same
/// again, 1 % moving class) into the backends' database, or a fresh SQLite file.
pub async fn run(
    pupils: usize,
    guardians: usize,
    backends: &Backends,
) -> anyhow::Result<ImportFigures> {
    let dir = tempfile::tempdir()?;
    let export = dir.path().join("export");
    // the import touches the database alone
    let database_only = Backends {
        postgres: backends.postgres.clone(),
        redis: None,
    };
    let table = super::server::config_table(dir.path(), 8080, &database_only);
    let importer = Importer::open(Config::from_table(table, std::iter::empty())?).await?;
    anyhow::ensure!(
        importer.directory.school(BENCH_UAI).await?.is_none(),
        "the database already holds the benchmark's school {BENCH_UAI}: run the benchmark on an empty database"
    );
    println!(
        "import of one school: {pupils} pupils, {guardians} guardians ({})",
        database_only.label()
    );
    write_export(&export, pupils, guardians, false)?;
    let records = pupils + 2 * guardians;
    let now = crate::app::Clock::now(&crate::app::SystemClock);

    let started = Instant::now();
    let first = importer.import_dir(&export, None, now).await?;
    anyhow::ensure!(first.rejected == 0, "{}", first.to_text());
    let first_s = started.elapsed().as_secs_f64();
    line("first import (all new)", first_s, records, &first);

    let started = Instant::now();
    let again = importer.import_dir(&export, None, now + 60).await?;
    anyhow::ensure!(
        again.created == 0 && again.updated == 0,
        "not idempotent: {again:?}"
    );
    let again_s = started.elapsed().as_secs_f64();
    line("same files again", again_s, records, &again);

    write_export(&export, pupils, guardians, true)?;
    let started = Instant::now();
    let shifted = importer.import_dir(&export, None, now + 120).await?;
    let shifted_s = started.elapsed().as_secs_f64();
    line("1 % of pupils change class", shifted_s, records, &shifted);
    Ok(ImportFigures {
        pupils,
        guardians,
        import_per_s: records as f64 / first_s,
        first_import_s: first_s,
        same_files_again_s: again_s,
        one_percent_change_class_s: shifted_s,
    })
}
