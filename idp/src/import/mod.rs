//! `idp import DIR`: one school's export (see [`files`]) becomes the school's records, in one
//! transaction. New pupils and guardians get an account with a generated identifier and a
//! temporary password, handed out on a credential letter ([`letters`]).

pub mod files;
pub mod letters;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use serde::Serialize;

use crate::audit::{Actor, AuditKind, NewAuditEvent};
use crate::config::Config;
use crate::domain::account::AccountKind;
use crate::keys::ServerSecret;
use crate::store::*;
use files::{ExportFiles, Rejection, SchoolExport};
use letters::Letter;

/// What `idp import` prints and writes with `--report`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub uai: Option<String>,
    /// Records (pupils, guardians, links) created.
    pub created: usize,
    /// Records changed.
    pub updated: usize,
    /// Accounts disabled: their pupil left more than the grace period ago.
    pub disabled: usize,
    /// Lines refused; when there is any, nothing was imported.
    pub rejected: usize,
    /// Pupils who left the school with this import.
    pub left: usize,
    /// New accounts (each has a credential letter).
    pub accounts_created: usize,
    /// Guardian records proposed to an account in use instead of getting one of their own
    /// (automatic regrouping, asked at that account's next sign-in).
    pub regroupings_proposed: usize,
    pub rejections: Vec<Rejection>,
    /// The letters written, one PDF per class.
    pub letters: Vec<PathBuf>,
}

impl ImportReport {
    /// The summary in French, one line, then one line per rejection.
    pub fn to_text(&self) -> String {
        let uai = self.uai.as_deref().unwrap_or("?");
        let mut text = if self.rejected > 0 {
            format!(
                "Import de {uai} refusé : {} ligne(s) rejetée(s), rien n'a été modifié.\n",
                self.rejected
            )
        } else {
            format!(
                "Import de {uai} : {} créé(s), {} modifié(s), {} sorti(s), {} désactivé(s), 0 rejeté ; {} compte(s) créé(s), {} regroupement(s) proposé(s).\n",
                self.created,
                self.updated,
                self.left,
                self.disabled,
                self.accounts_created,
                self.regroupings_proposed
            )
        };
        for r in &self.rejections {
            text.push_str(&format!("  {} ligne {} : {}\n", r.file, r.line, r.reason));
        }
        for path in &self.letters {
            text.push_str(&format!("  courriers : {}\n", path.display()));
        }
        text
    }
}

/// What an import needs: the school records, the audit log, the key of generated secrets and
/// the configuration (validity of temporary passwords, grace period, public URL).
pub struct Importer {
    pub directory: Arc<dyn DirectoryStore>,
    pub audit: Arc<dyn AuditLog>,
    pub secret: ServerSecret,
    pub config: Config,
}

impl Importer {
    /// Opens the database of a deployment (bringing its schema up to date).
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                config.data_dir.display()
            )
        })?;
        let secret = crate::app::server_secret(&config)?;
        let store = crate::store::sql::SqlStore::open(&config.resolved_database_url()?, 2)
            .await
            .context("cannot open the database")?;
        let store = Arc::new(store);
        Ok(Self {
            directory: store.clone(),
            audit: store,
            secret,
            config,
        })
    }
}

/// Reads the four files of `dir`; a missing file is reported by the parser.
pub fn read_dir(dir: &Path) -> anyhow::Result<[Option<Vec<u8>>; 4]> {
    let read = |name: &str| -> anyhow::Result<Option<Vec<u8>>> {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    };
    anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
    Ok([
        read(files::SCHOOL_FILE)?,
        read(files::PUPILS_FILE)?,
        read(files::GUARDIANS_FILE)?,
        read(files::LINKS_FILE)?,
    ])
}

/// The temporary password generated for each record, kept in memory until the letters of
/// the accounts actually created are written.
type Issued = HashMap<(AccountKind, String), String>;

impl Importer {
    /// Imports the school exported in `dir` at time `now`; writes the new accounts' letters
    /// into `letters_dir` if given.
    pub async fn import_dir(
        &self,
        dir: &Path,
        letters_dir: Option<&Path>,
        now: i64,
    ) -> anyhow::Result<ImportReport> {
        let [school, pupils, guardians, links] = read_dir(dir)?;
        let export_files = ExportFiles {
            school: school.as_deref(),
            pupils: pupils.as_deref(),
            guardians: guardians.as_deref(),
            links: links.as_deref(),
        };
        let today = crate::domain::identity::french_date(now);
        let export = match files::parse(&export_files, &today) {
            Ok(export) => export,
            Err(rejections) => return self.refused(rejections, now).await,
        };
        self.import(&export, letters_dir, now).await
    }

    async fn refused(&self, rejections: Vec<Rejection>, now: i64) -> anyhow::Result<ImportReport> {
        self.audit
            .append(&NewAuditEvent {
                at: now,
                kind: AuditKind::SchoolImportRefused,
                actor: Actor::System,
                subject: None,
                source_address: None,
                details: serde_json::json!({ "rejected": rejections.len() }),
            })
            .await?;
        Ok(ImportReport {
            rejected: rejections.len(),
            rejections,
            ..ImportReport::default()
        })
    }

    /// Imports a checked export.
    pub async fn import(
        &self,
        export: &SchoolExport,
        letters_dir: Option<&Path>,
        now: i64,
    ) -> anyhow::Result<ImportReport> {
        let expires_at = now + i64::from(self.config.password.temporary_validity_days) * 86_400;
        let mut issued = Issued::new();
        let mut credential = |kind: AccountKind, source_id: &str| {
            let password = crate::keys::temporary_password();
            let provision = AccountProvision::New {
                preferred: None,
                credential: ProvisionedCredential::Temporary {
                    secret_hash: self.secret.hash_generated_secret(&password),
                    expires_at,
                },
                // the school's e-mail and mobile stay on the guardian record: the account
                // owns only what its holder confirmed
                email: None,
                mobile: None,
            };
            issued.insert((kind, source_id.to_owned()), password);
            provision
        };
        let mut classes: Vec<String> = Vec::new();
        let mut pupils = Vec::with_capacity(export.pupils.len());
        for p in &export.pupils {
            if let Some(class) = &p.class_name
                && !classes.contains(class)
            {
                classes.push(class.clone());
            }
            let provision = credential(AccountKind::Eleve, &p.source_id);
            pupils.push(PupilRecord {
                source_id: p.source_id.clone(),
                ine: p.ine.clone(),
                last_name: p.last_name.clone(),
                first_name: p.first_name.clone(),
                birth_date: p.birth_date.clone(),
                class_name: p.class_name.clone(),
                level: p.level.clone(),
                account: Some(provision),
            });
        }
        let mut guardians = Vec::with_capacity(export.guardians.len());
        for g in &export.guardians {
            let provision = credential(AccountKind::Responsable, &g.source_id);
            guardians.push(GuardianRecord {
                source_id: g.source_id.clone(),
                civility: g.civility.clone(),
                last_name: g.last_name.clone(),
                first_name: g.first_name.clone(),
                email: g.email.clone(),
                mobile: g.mobile.clone(),
                account: Some(provision),
            });
        }
        let snapshot = SchoolSnapshot {
            school: export.school.clone(),
            classes,
            pupils,
            guardians,
            links: export
                .links
                .iter()
                .map(|l| LinkRecord {
                    pupil_source_id: l.pupil_source_id.clone(),
                    guardian_source_id: l.guardian_source_id.clone(),
                    rank: l.rank,
                })
                .collect(),
        };
        let provisioned = self
            .directory
            .provision_school(&snapshot, now, self.config.import.leaving_grace_seconds())
            .await
            .with_context(|| {
                format!(
                    "import of {} failed, nothing was changed",
                    export.school.uai
                )
            })?;
        let mut report = ImportReport {
            uai: Some(export.school.uai.clone()),
            created: provisioned.created,
            updated: provisioned.updated,
            disabled: provisioned.disabled,
            left: provisioned.left,
            accounts_created: provisioned.accounts_created.len(),
            regroupings_proposed: provisioned.regroupings_proposed,
            ..ImportReport::default()
        };
        self.audit
            .append(&NewAuditEvent {
                at: now,
                kind: AuditKind::SchoolProvisioned,
                actor: Actor::System,
                subject: None,
                source_address: None,
                details: serde_json::json!({
                    "uai": export.school.uai,
                    "created": report.created,
                    "updated": report.updated,
                    "left": report.left,
                    "disabled": report.disabled,
                    "accounts_created": report.accounts_created,
                    "regroupings_proposed": report.regroupings_proposed,
                }),
            })
            .await?;
        if let Some(dir) = letters_dir {
            report.letters = self
                .write_letters(
                    export,
                    &provisioned.accounts_created,
                    &issued,
                    expires_at,
                    dir,
                )
                .with_context(|| {
                    format!(
                        "the accounts were created but their letters could not be written in {}; \
                         give them new temporary passwords from the school administration",
                        dir.display()
                    )
                })?;
        }
        Ok(report)
    }

    fn write_letters(
        &self,
        export: &SchoolExport,
        created: &[CreatedAccount],
        issued: &Issued,
        expires_at: i64,
        dir: &Path,
    ) -> anyhow::Result<Vec<PathBuf>> {
        let pupils: HashMap<&str, &files::PupilLine> = export
            .pupils
            .iter()
            .map(|p| (p.source_id.as_str(), p))
            .collect();
        let guardians: HashMap<&str, &files::GuardianLine> = export
            .guardians
            .iter()
            .map(|g| (g.source_id.as_str(), g))
            .collect();
        let mut children: HashMap<&str, Vec<&files::PupilLine>> = HashMap::new();
        for l in &export.links {
            if let Some(p) = pupils.get(l.pupil_source_id.as_str()) {
                children
                    .entry(l.guardian_source_id.as_str())
                    .or_default()
                    .push(p);
            }
        }
        let valid_until = crate::domain::identity::french_long_date(expires_at);
        let sign_in_url = format!("{}/", self.config.issuer_id());
        let mut by_class: HashMap<String, Vec<(String, Letter)>> = HashMap::new();
        for account in created {
            let Some(password) = issued.get(&(account.kind, account.source_id.clone())) else {
                continue;
            };
            let (class, sort_key, addressee, context, profile) = match account.kind {
                AccountKind::Eleve => {
                    let Some(p) = pupils.get(account.source_id.as_str()) else {
                        continue;
                    };
                    let class = p.class_name.clone().unwrap_or_default();
                    (
                        class.clone(),
                        format!("{} {}", p.last_name, p.first_name),
                        format!("{} {}", p.first_name, p.last_name),
                        letters::pupil_context(Some(&class)),
                        AccountKind::Eleve.label_fr(),
                    )
                }
                AccountKind::Responsable => {
                    let Some(g) = guardians.get(account.source_id.as_str()) else {
                        continue;
                    };
                    let kids = children.get(account.source_id.as_str());
                    let class = kids
                        .and_then(|k| k.first())
                        .and_then(|p| p.class_name.clone())
                        .unwrap_or_default();
                    let names: Vec<String> = kids
                        .map(|k| {
                            k.iter()
                                .map(|p| match &p.class_name {
                                    Some(c) => format!("{} {} ({c})", p.first_name, p.last_name),
                                    None => format!("{} {}", p.first_name, p.last_name),
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    (
                        class,
                        format!("{} {}", g.last_name, g.first_name),
                        letters::guardian_addressee(
                            g.civility.as_deref(),
                            &g.first_name,
                            &g.last_name,
                        ),
                        letters::guardian_context(&names),
                        AccountKind::Responsable.label_fr(),
                    )
                }
            };
            by_class.entry(class).or_default().push((
                sort_key,
                Letter {
                    school_name: export.school.name.clone(),
                    uai: export.school.uai.clone(),
                    addressee,
                    context,
                    profile: profile.to_owned(),
                    identifier: account.identifier.clone(),
                    temporary_password: password.clone(),
                    valid_until: valid_until.clone(),
                    sign_in_url: sign_in_url.clone(),
                    renewal: false,
                },
            ));
        }
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        let mut classes: Vec<_> = by_class.into_iter().collect();
        classes.sort_by(|a, b| a.0.cmp(&b.0));
        for (class, mut letters) in classes {
            letters.sort_by(|a, b| a.0.cmp(&b.0));
            let letters: Vec<Letter> = letters.into_iter().map(|(_, l)| l).collect();
            let path = dir.join(letters::file_name(&export.school.uai, &class));
            // the letters hold live secrets: readable by their owner only
            let temporary = dir.join(format!(
                ".{}.part",
                path.file_name().unwrap_or_default().to_string_lossy()
            ));
            write_private_bytes(&temporary, &letters::pdf(&letters))?;
            std::fs::rename(&temporary, &path)?;
            written.push(path);
        }
        Ok(written)
    }
}

fn write_private_bytes(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
