//! Reading one school's export: four UTF-8 CSV files with headers (`,` or `;` separated), read
//! and checked whole. Every bad line is reported with its file, line and reason in French;
//! a school with one bad line is not imported at all.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::domain::contact::{is_email, normalize_mobile};
use crate::store::{Degree, GuardianRank, School};

pub const SCHOOL_FILE: &str = "etablissement.csv";
pub const PUPILS_FILE: &str = "eleves.csv";
pub const GUARDIANS_FILE: &str = "responsables.csv";
pub const LINKS_FILE: &str = "liens.csv";

/// Why one line (or a whole file) was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub file: &'static str,
    /// 1 is the header line; 0 when the file itself is at fault.
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PupilLine {
    pub line: u64,
    pub source_id: String,
    pub ine: Option<String>,
    pub last_name: String,
    pub first_name: String,
    pub birth_date: String,
    pub class_name: Option<String>,
    pub level: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardianLine {
    pub line: u64,
    pub source_id: String,
    pub civility: Option<String>,
    pub last_name: String,
    pub first_name: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkLine {
    pub line: u64,
    pub pupil_source_id: String,
    pub guardian_source_id: String,
    pub rank: GuardianRank,
}

/// A school's export, every line checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchoolExport {
    pub school: School,
    pub pupils: Vec<PupilLine>,
    pub guardians: Vec<GuardianLine>,
    pub links: Vec<LinkLine>,
}

/// The contents of the four files (`None`: the file is missing).
pub struct ExportFiles<'a> {
    pub school: Option<&'a [u8]>,
    pub pupils: Option<&'a [u8]>,
    pub guardians: Option<&'a [u8]>,
    pub links: Option<&'a [u8]>,
}

/// Reads and checks an export; `today` (`YYYY-MM-DD`) bounds birth dates.
pub fn parse(files: &ExportFiles<'_>, today: &str) -> Result<SchoolExport, Vec<Rejection>> {
    let mut rejections = Vec::new();
    let school = read_school(files.school, &mut rejections);
    let (pupils, pupil_ids) = read_pupils(files.pupils, today, &mut rejections);
    let (guardians, guardian_ids) = read_guardians(files.guardians, &mut rejections);
    let links = read_links(files.links, &pupil_ids, &guardian_ids, &mut rejections);
    match school {
        Some(school) if rejections.is_empty() => Ok(SchoolExport {
            school,
            pupils,
            guardians,
            links,
        }),
        _ => Err(rejections),
    }
}

/// One CSV file: its rows by column name, each with its line number.
struct Table {
    file: &'static str,
    columns: HashMap<String, usize>,
    rows: Vec<(u64, Vec<String>)>,
}

impl Table {
    /// Files the problems of one line; true if there was any.
    fn reject_all(
        &self,
        line: u64,
        problems: Vec<String>,
        rejections: &mut Vec<Rejection>,
    ) -> bool {
        let any = !problems.is_empty();
        rejections.extend(problems.into_iter().map(|reason| Rejection {
            file: self.file,
            line,
            reason,
        }));
        any
    }

    fn get<'r>(&self, row: &'r [String], column: &str) -> &'r str {
        self.columns
            .get(column)
            .and_then(|&i| row.get(i))
            .map_or("", |v| v.trim())
    }
}

fn read_table(
    file: &'static str,
    bytes: Option<&[u8]>,
    required: &[&str],
    rejections: &mut Vec<Rejection>,
) -> Option<Table> {
    let reject = |line: u64, reason: String| Rejection { file, line, reason };
    let Some(bytes) = bytes else {
        rejections.push(reject(0, "fichier absent".into()));
        return None;
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Err(e) = std::str::from_utf8(bytes) {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        rejections.push(reject(
            line,
            "le fichier n'est pas encodé en UTF-8 (réenregistrez-le en UTF-8)".into(),
        ));
        return None;
    }
    let header_line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let delimiter = if header_line.contains(&b';') && !header_line.contains(&b',') {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(bytes);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            rejections.push(reject(1, format!("en-tête illisible ({e})")));
            return None;
        }
    };
    let columns: HashMap<String, usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim().to_lowercase(), i))
        .collect();
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|c| !columns.contains_key(*c))
        .collect();
    if !missing.is_empty() {
        rejections.push(reject(
            1,
            format!(
                "colonne(s) manquante(s) dans l'en-tête : {} (attendu : {})",
                missing.join(", "),
                required.join(",")
            ),
        ));
        return None;
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        match record {
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line());
                if r.iter().all(|v| v.trim().is_empty()) {
                    continue;
                }
                if r.len() != headers.len() {
                    rejections.push(reject(
                        line,
                        format!(
                            "{} valeur(s) au lieu de {} (séparateur ou guillemet en trop ?)",
                            r.len(),
                            headers.len()
                        ),
                    ));
                    continue;
                }
                rows.push((line, r.iter().map(str::to_owned).collect()));
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                rejections.push(reject(line, format!("ligne illisible ({e})")));
            }
        }
    }
    Some(Table {
        file,
        columns,
        rows,
    })
}

fn read_school(bytes: Option<&[u8]>, rejections: &mut Vec<Rejection>) -> Option<School> {
    let table = read_table(
        SCHOOL_FILE,
        bytes,
        &["uai", "nom", "academie", "degre"],
        rejections,
    )?;
    let [(line, row)] = table.rows.as_slice() else {
        rejections.push(Rejection {
            file: SCHOOL_FILE,
            line: 0,
            reason: format!(
                "une ligne d'établissement attendue, {} trouvée(s) (un dossier par établissement)",
                table.rows.len()
            ),
        });
        return None;
    };
    let mut problems = Vec::new();
    let uai = table.get(row, "uai").to_uppercase();
    if !is_uai(&uai) {
        problems.push(format!(
            "UAI « {uai} » invalide (7 chiffres et une lettre, par exemple 0141234A)"
        ));
    }
    let name = table.get(row, "nom");
    if name.is_empty() {
        problems.push("nom de l'établissement vide".into());
    }
    let academie = table.get(row, "academie");
    if academie.is_empty()
        || academie.len() > 3
        || !academie.chars().all(|c| c.is_ascii_alphanumeric())
    {
        problems.push(format!(
            "code d'académie « {academie} » invalide (par exemple 14)"
        ));
    }
    let degree = Degree::parse(table.get(row, "degre"));
    if degree.is_none() {
        problems.push(format!(
            "degré « {} » invalide (1d ou 2d)",
            table.get(row, "degre")
        ));
    }
    if table.reject_all(*line, problems, rejections) {
        return None;
    }
    Some(School {
        uai,
        name: name.to_owned(),
        academie: academie.to_owned(),
        degree: degree?,
    })
}

fn read_pupils(
    bytes: Option<&[u8]>,
    today: &str,
    rejections: &mut Vec<Rejection>,
) -> (Vec<PupilLine>, HashSet<String>) {
    let Some(table) = read_table(
        PUPILS_FILE,
        bytes,
        &[
            "id_source",
            "ine",
            "nom",
            "prenom",
            "date_naissance",
            "classe",
            "niveau",
        ],
        rejections,
    ) else {
        return Default::default();
    };
    let mut seen_ids = HashMap::new();
    let mut seen_ines = HashMap::new();
    let mut pupils = Vec::with_capacity(table.rows.len());
    for (line, row) in &table.rows {
        let mut problems = Vec::new();
        let source_id = table.get(row, "id_source");
        let ine = table.get(row, "ine").to_uppercase();
        let last_name = table.get(row, "nom");
        let first_name = table.get(row, "prenom");
        let birth_date = table.get(row, "date_naissance");
        let level = table.get(row, "niveau");
        if source_id.is_empty() {
            problems.push("id_source vide".to_owned());
        } else if let Some(first) = seen_ids.insert(source_id.to_owned(), *line) {
            problems.push(format!(
                "id_source « {source_id} » déjà utilisé ligne {first}"
            ));
        }
        if !ine.is_empty() {
            if !is_ine(&ine) {
                problems.push(format!(
                    "INE « {ine} » invalide (11 caractères, finissant par une lettre)"
                ));
            } else if let Some(first) = seen_ines.insert(ine.clone(), *line) {
                problems.push(format!("INE « {ine} » déjà donné ligne {first}"));
            }
        }
        if !has_letter(last_name) {
            problems.push("nom vide".into());
        }
        if !has_letter(first_name) {
            problems.push("prénom vide".into());
        }
        if let Err(reason) = check_birth_date(birth_date, today) {
            problems.push(reason);
        }
        if !is_mefstat4(level) {
            problems.push(format!(
                "niveau « {level} » invalide (code MEFSTAT4 à 4 chiffres)"
            ));
        }
        if table.reject_all(*line, problems, rejections) {
            continue;
        }
        pupils.push(PupilLine {
            line: *line,
            source_id: source_id.to_owned(),
            ine: (!ine.is_empty()).then_some(ine),
            last_name: last_name.to_owned(),
            first_name: first_name.to_owned(),
            birth_date: birth_date.to_owned(),
            class_name: non_empty(table.get(row, "classe")),
            level: non_empty(level),
        });
    }
    (pupils, seen_ids.into_keys().collect())
}

fn read_guardians(
    bytes: Option<&[u8]>,
    rejections: &mut Vec<Rejection>,
) -> (Vec<GuardianLine>, HashSet<String>) {
    let Some(table) = read_table(
        GUARDIANS_FILE,
        bytes,
        &["id_source", "civilite", "nom", "prenom", "email", "mobile"],
        rejections,
    ) else {
        return Default::default();
    };
    let mut seen_ids = HashMap::new();
    let mut guardians = Vec::with_capacity(table.rows.len());
    for (line, row) in &table.rows {
        let mut problems = Vec::new();
        let source_id = table.get(row, "id_source");
        let last_name = table.get(row, "nom");
        let first_name = table.get(row, "prenom");
        let email = table.get(row, "email");
        let mobile = table.get(row, "mobile");
        if source_id.is_empty() {
            problems.push("id_source vide".to_owned());
        } else if let Some(first) = seen_ids.insert(source_id.to_owned(), *line) {
            problems.push(format!(
                "id_source « {source_id} » déjà utilisé ligne {first}"
            ));
        }
        let civility = match table.get(row, "civilite") {
            "" => None,
            "M." | "M" | "Monsieur" => Some("M."),
            "Mme" | "MME" | "Madame" => Some("Mme"),
            other => {
                problems.push(format!("civilité « {other} » invalide (M., Mme ou vide)"));
                None
            }
        };
        if !has_letter(last_name) {
            problems.push("nom vide".into());
        }
        if !has_letter(first_name) {
            problems.push("prénom vide".into());
        }
        if !email.is_empty() && !is_email(email) {
            problems.push(format!("adresse électronique « {email} » invalide"));
        }
        let mobile = match mobile {
            "" => None,
            m => match normalize_mobile(m) {
                Some(m) => Some(m),
                None => {
                    problems.push(format!(
                        "« {m} » n'est pas un numéro de portable (06 ou 07, ou +indicatif)"
                    ));
                    None
                }
            },
        };
        if table.reject_all(*line, problems, rejections) {
            continue;
        }
        guardians.push(GuardianLine {
            line: *line,
            source_id: source_id.to_owned(),
            civility: civility.map(str::to_owned),
            last_name: last_name.to_owned(),
            first_name: first_name.to_owned(),
            email: non_empty(email).map(|e| e.to_lowercase()),
            mobile,
        });
    }
    (guardians, seen_ids.into_keys().collect())
}

/// `pupil_ids` and `guardian_ids` hold every id of the other files, lines refused there
/// included, so that their links are not refused a second time.
fn read_links(
    bytes: Option<&[u8]>,
    pupil_ids: &HashSet<String>,
    guardian_ids: &HashSet<String>,
    rejections: &mut Vec<Rejection>,
) -> Vec<LinkLine> {
    let Some(table) = read_table(
        LINKS_FILE,
        bytes,
        &["id_eleve", "id_responsable", "rang"],
        rejections,
    ) else {
        return Vec::new();
    };
    let mut seen = HashMap::new();
    let mut links = Vec::with_capacity(table.rows.len());
    for (line, row) in &table.rows {
        let mut problems = Vec::new();
        let pupil = table.get(row, "id_eleve");
        let guardian = table.get(row, "id_responsable");
        let rank = GuardianRank::parse(&table.get(row, "rang").to_lowercase());
        if !pupil_ids.contains(pupil) {
            problems.push(format!("élève « {pupil} » absent de {PUPILS_FILE}"));
        }
        if !guardian_ids.contains(guardian) {
            problems.push(format!(
                "responsable « {guardian} » absent de {GUARDIANS_FILE}"
            ));
        }
        if rank.is_none() {
            problems.push(format!(
                "rang « {} » invalide (1, 2 ou autre)",
                table.get(row, "rang")
            ));
        }
        if let Some(first) = seen.insert((pupil.to_owned(), guardian.to_owned()), *line) {
            problems.push(format!("lien déjà donné ligne {first}"));
        }
        if table.reject_all(*line, problems, rejections) {
            continue;
        }
        let Some(rank) = rank else { continue };
        links.push(LinkLine {
            line: *line,
            pupil_source_id: pupil.to_owned(),
            guardian_source_id: guardian.to_owned(),
            rank,
        });
    }
    links
}

/// An empty level, or a MEFSTAT4 code: four digits.
fn is_mefstat4(level: &str) -> bool {
    level.is_empty() || (level.len() == 4 && level.chars().all(|c| c.is_ascii_digit()))
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

fn has_letter(name: &str) -> bool {
    name.chars().any(char::is_alphabetic)
}

/// `0141234A`: seven digits and a check letter.
fn is_uai(uai: &str) -> bool {
    // bytes, not a str slice: an 8-byte value may end inside a multi-byte character
    let b = uai.as_bytes();
    b.len() == 8 && b[..7].iter().all(u8::is_ascii_digit) && b[7].is_ascii_uppercase()
}

/// The national pupil identifier: 11 characters, digits or capitals, the last a letter.
fn is_ine(ine: &str) -> bool {
    ine.len() == 11
        && ine
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        && ine.ends_with(|c: char| c.is_ascii_uppercase())
}

/// A birth date `YYYY-MM-DD` that exists, after 1900 and not after `today`.
fn check_birth_date(date: &str, today: &str) -> Result<(), String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let invalid = || format!("date de naissance « {date} » invalide (attendu AAAA-MM-JJ)");
    let parsed = time::Date::parse(date, &format).map_err(|_| invalid())?;
    if parsed.year() < 1900 {
        return Err(invalid());
    }
    if date > today {
        return Err(format!("date de naissance « {date} » dans le futur"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHOOL: &str = "uai,nom,academie,degre\n0141234A,Collège Jean Moulin,14,2d\n";
    const PUPILS: &str = "id_source,ine,nom,prenom,date_naissance,classe,niveau\n\
        E1,070123456AB,MARTIN,Léa,2012-03-14,4e A,1003\n\
        E2,,DURAND,Jules,2013-06-21,6e B,\n";
    const GUARDIANS: &str = "id_source,civilite,nom,prenom,email,mobile\n\
        R1,Mme,MARTIN,Claire,Claire.Martin@example.fr,06 11 22 33 44\n\
        R2,M.,DURAND,Paul,,+33 6 12 34 56 78\n";
    const LINKS: &str = "id_eleve,id_responsable,rang\nE1,R1,1\nE2,R2,autre\n";

    fn files<'a>(
        school: &'a str,
        pupils: &'a str,
        guardians: &'a str,
        links: &'a str,
    ) -> ExportFiles<'a> {
        ExportFiles {
            school: Some(school.as_bytes()),
            pupils: Some(pupils.as_bytes()),
            guardians: Some(guardians.as_bytes()),
            links: Some(links.as_bytes()),
        }
    }

    #[test]
    fn a_clean_export_is_read_whole() {
        let export = parse(&files(SCHOOL, PUPILS, GUARDIANS, LINKS), "2026-12-01").unwrap();
        assert_eq!(export.school.uai, "0141234A");
        assert_eq!(export.school.degree, Degree::Secondary);
        assert_eq!(export.pupils.len(), 2);
        assert_eq!(export.pupils[0].line, 2);
        assert_eq!(export.pupils[0].first_name, "Léa");
        assert_eq!(export.pupils[1].ine, None);
        assert_eq!(export.pupils[1].level, None);
        assert_eq!(
            export.guardians[0].email.as_deref(),
            Some("claire.martin@example.fr")
        );
        assert_eq!(export.guardians[0].mobile.as_deref(), Some("0611223344"));
        assert_eq!(export.guardians[1].mobile.as_deref(), Some("0612345678"));
        assert_eq!(export.links[1].rank, GuardianRank::Other);
    }

    #[test]
    fn semicolons_and_a_byte_order_mark_are_accepted() {
        let school = "\u{feff}uai;nom;academie;degre\n0141234A;Collège Jean Moulin, Caen;14;2d\n";
        let export = parse(&files(school, PUPILS, GUARDIANS, LINKS), "2026-12-01").unwrap();
        assert_eq!(export.school.name, "Collège Jean Moulin, Caen");
    }

    #[test]
    fn every_bad_line_is_reported_with_its_reason() {
        let pupils = "id_source,ine,nom,prenom,date_naissance,classe,niveau\n\
            E1,070123456AB,MARTIN,Léa,2012-03-14,4e A,1003\n\
            E2,,DURAND,Jules,2013-13-01,6e B,\n\
            E1,,,Noa,2012-01-01,6e B,12\n";
        let links = "id_eleve,id_responsable,rang\nE1,R1,1\nE9,R2,3\n";
        let rejected = parse(&files(SCHOOL, pupils, GUARDIANS, links), "2026-12-01").unwrap_err();
        let lines: Vec<(&str, u64)> = rejected.iter().map(|r| (r.file, r.line)).collect();
        assert_eq!(
            lines,
            vec![
                (PUPILS_FILE, 3),
                (PUPILS_FILE, 4),
                (PUPILS_FILE, 4),
                (PUPILS_FILE, 4),
                (LINKS_FILE, 3),
                (LINKS_FILE, 3)
            ]
        );
        assert!(
            rejected[0].reason.contains("2013-13-01"),
            "{:?}",
            rejected[0]
        );
        assert!(rejected[1].reason.contains("déjà utilisé ligne 2"));
        assert!(rejected[4].reason.contains("E9"));
        assert!(rejected[5].reason.contains("rang"));
    }

    #[test]
    fn missing_files_and_columns_are_named() {
        let mut f = files(SCHOOL, PUPILS, GUARDIANS, LINKS);
        f.links = None;
        let rejected = parse(&f, "2026-12-01").unwrap_err();
        assert_eq!(rejected[0].file, LINKS_FILE);
        assert_eq!(rejected[0].reason, "fichier absent");
        let rejected = parse(
            &files("uai,nom\n0141234A,X\n", PUPILS, GUARDIANS, LINKS),
            "2026-12-01",
        )
        .unwrap_err();
        assert!(
            rejected[0].reason.contains("academie, degre"),
            "{:?}",
            rejected[0]
        );
        let latin1 = b"uai,nom,academie,degre\n0141234A,Coll\xe8ge,14,2d\n";
        let mut f = files(SCHOOL, PUPILS, GUARDIANS, LINKS);
        f.school = Some(latin1);
        let rejected = parse(&f, "2026-12-01").unwrap_err();
        assert_eq!(
            (rejected[0].line, rejected[0].reason.contains("UTF-8")),
            (2, true)
        );
    }

    #[test]
    fn birth_dates_must_exist_and_be_past() {
        assert!(check_birth_date("2012-02-29", "2026-12-01").is_ok());
        assert!(check_birth_date("2013-02-29", "2026-12-01").is_err());
        assert!(check_birth_date("14/03/2012", "2026-12-01").is_err());
        assert!(check_birth_date("2027-01-01", "2026-12-01").is_err());
    }

    #[test]
    fn a_uai_ending_inside_a_multi_byte_character_is_refused_not_a_panic() {
        // found by fuzz/csv_import: eight bytes whose last character is two bytes long
        assert!(!is_uai("014999Ѧ"));
        assert!(!is_uai("0141234é"));
        assert!(is_uai("0141234A"));
        let rejected = parse(
            &files(
                "uai,nom,academie,degre\n014999Ѧ,Collège,14,2d\n",
                PUPILS,
                GUARDIANS,
                LINKS,
            ),
            "2026-12-01",
        )
        .unwrap_err();
        assert!(rejected[0].reason.contains("UAI"), "{:?}", rejected[0]);
    }
}
