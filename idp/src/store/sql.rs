//! The SQL implementation of every storage trait, for SQLite and PostgreSQL alike: the queries
//! use `$n` parameters, 64-bit integers and text only, which both backends read the same way
//! through sqlx's `Any` driver. Only the migrations differ (`migrations/sqlite`,
//! `migrations/postgres`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Connection, Executor, Row};

use super::*;

mod admin;
mod audit;
mod directory;
mod grouping;
mod oidc;
mod outbox;
mod upstream;
use crate::audit::{AuditEvent, NewAuditEvent};
use crate::domain::account::{Account, AccountKind, AccountState};
use crate::domain::names::fold_for_matching;

/// Which database a URL points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> StoreResult<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::Invalid(
                "database URL must start with sqlite: or postgres:".into(),
            ))
        }
    }
}

/// A pool of connections to one database, implementing every storage trait.
#[derive(Clone)]
pub struct SqlStore {
    pub(super) pool: AnyPool,
    backend: Backend,
    /// SQLite's write lock, taken here first (see [`SqlStore::write_turn`]); `None` for
    /// PostgreSQL, whose writers do not exclude each other.
    writer: Option<Arc<tokio::sync::Mutex<()>>>,
    /// SQLite: the task that checkpoints the write-ahead log, stopped with the last clone.
    _checkpoints: Option<Arc<Checkpoints>>,
}

/// Copies SQLite's write-ahead log into the database every second, off the request path: left
/// to itself, SQLite checkpoints inside the commit that crosses 1,000 pages, with an fsync,
/// while that writer holds the lock and every other writer waits (refresh p99 ≈ 200 ms).
struct Checkpoints(tokio::task::JoinHandle<()>);

impl Checkpoints {
    fn start(pool: AnyPool) -> Self {
        Self(tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                // PASSIVE: copies what no reader still needs, never waits for the lock
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&pool)
                    .await
                {
                    tracing::warn!(error = %e, "SQLite checkpoint failed");
                }
            }
        }))
    }
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A write transaction, holding this process's turn to write until it ends.
pub(super) struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub(super) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

pub(super) fn db_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(d.message().to_owned())
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::ColumnNotFound(_) => {
            StoreError::Corrupt(e.to_string())
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}

impl SqlStore {
    /// Connects, configures SQLite for concurrent use (WAL, busy timeout, foreign keys), and
    /// brings the schema up to date.
    pub async fn open(url: &str, max_connections: u32) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)?;
        let options: AnyConnectOptions = url.parse().map_err(db_error)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn: &mut AnyConnection, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        // checkpoints are the background task's (see Checkpoints)
                        conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(db_error)?;
        let sqlite = backend == Backend::Sqlite;
        let store = Self {
            writer: sqlite.then(Arc::default),
            _checkpoints: sqlite.then(|| Arc::new(Checkpoints::start(pool.clone()))),
            pool,
            backend,
        };
        store.migrate().await?;
        store.fill_match_names().await?;
        Ok(store)
    }

    /// This process's turn to write. SQLite lets one connection write at a time, and one that
    /// finds the lock taken sleeps and polls (1, 2, 5 … 100 ms under the busy timeout): under
    /// load, writers would sleep more than they work. So the writers of this process queue
    /// here, in order, and SQLite's busy timeout is left for other processes (`idp import`
    /// beside the server). PostgreSQL needs no turn.
    pub(super) async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.writer {
            Some(writer) => Some(writer.clone().lock_owned().await),
            None => None,
        }
    }

    /// Begins a transaction that will write, in this process's turn. On SQLite it takes the
    /// write lock at once (`BEGIN IMMEDIATE`): a deferred transaction that read first and then
    /// wrote after another process committed would fail with "database is locked", whatever
    /// the busy timeout.
    pub(super) async fn begin_write(&self) -> StoreResult<WriteTx> {
        let turn = self.write_turn().await;
        let statement = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        let tx = self.pool.begin_with(statement).await.map_err(db_error)?;
        Ok(WriteTx { tx, _turn: turn })
    }

    /// Folds the last names of guardian records imported before they were kept folded (the
    /// folding is Unicode-aware, which SQL cannot do on both backends).
    async fn fill_match_names(&self) -> StoreResult<()> {
        let rows = sqlx::query("SELECT id, last_name FROM guardians WHERE match_last_name IS NULL")
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for row in &rows {
            let id: i64 = row.try_get("id").map_err(db_error)?;
            let last: String = row.try_get("last_name").map_err(db_error)?;
            sqlx::query("UPDATE guardians SET match_last_name = $1 WHERE id = $2")
                .bind(fold_for_matching(&last))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        tracing::info!(records = rows.len(), "guardian names folded for matching");
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the migrations that have not run yet.
    pub async fn migrate(&self) -> StoreResult<()> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("../migrations/postgres"),
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

const ACCOUNT_COLUMNS: &str = "id, identifier, kind, state, first_name, last_name, birth_date, \
     password_hash, temporary_secret_hash, temporary_expires_at, email, email_confirmed, mobile, \
     created_at, activated_at, locked_until, pending_email, pending_mobile";

fn account_from_row(row: &AnyRow) -> StoreResult<Account> {
    let kind: String = row.try_get("kind").map_err(db_error)?;
    let state: String = row.try_get("state").map_err(db_error)?;
    Ok(Account {
        id: row.try_get("id").map_err(db_error)?,
        identifier: row.try_get("identifier").map_err(db_error)?,
        kind: AccountKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("account kind {kind}")))?,
        state: AccountState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("account state {state}")))?,
        first_name: row.try_get("first_name").map_err(db_error)?,
        last_name: row.try_get("last_name").map_err(db_error)?,
        birth_date: row.try_get("birth_date").map_err(db_error)?,
        password_hash: row.try_get("password_hash").map_err(db_error)?,
        temporary_secret_hash: row.try_get("temporary_secret_hash").map_err(db_error)?,
        temporary_expires_at: row.try_get("temporary_expires_at").map_err(db_error)?,
        email: row.try_get("email").map_err(db_error)?,
        email_confirmed: row.try_get::<i64, _>("email_confirmed").map_err(db_error)? != 0,
        mobile: row.try_get("mobile").map_err(db_error)?,
        created_at: row.try_get("created_at").map_err(db_error)?,
        activated_at: row.try_get("activated_at").map_err(db_error)?,
        locked_until: row.try_get("locked_until").map_err(db_error)?,
        pending_email: row.try_get("pending_email").map_err(db_error)?,
        pending_mobile: row.try_get("pending_mobile").map_err(db_error)?,
    })
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn by_identifier(&self, identifier: &str) -> StoreResult<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE identifier = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(identifier)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn by_id(&self, id: i64) -> StoreResult<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn children_of(&self, account_id: i64) -> StoreResult<Vec<ChildSummary>> {
        let rows = sqlx::query(
            "SELECT p.id, p.account_id, p.source_id, p.first_name, p.last_name, p.birth_date, p.uai, s.name AS school_name, \
                    s.degree, c.name AS class_name, p.level, MIN(l.rank) AS rank \
             FROM guardians g \
             JOIN guardianships l ON l.guardian_id = g.id \
             JOIN pupils p ON p.id = l.pupil_id \
             JOIN schools s ON s.uai = p.uai \
             LEFT JOIN classes c ON c.id = p.class_id \
             WHERE g.account_id = $1 AND p.left_at IS NULL AND l.disputed_at IS NULL \
             GROUP BY p.id, p.account_id, p.source_id, p.first_name, p.last_name, p.birth_date, p.uai, s.name, s.degree, c.name, p.level \
             ORDER BY p.birth_date, p.first_name",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                let rank: String = r.try_get("rank").map_err(db_error)?;
                let degree: String = r.try_get("degree").map_err(db_error)?;
                Ok(ChildSummary {
                    degree: Degree::parse(&degree)
                        .ok_or_else(|| StoreError::Corrupt(format!("degree {degree}")))?,
                    pupil_id: r.try_get("id").map_err(db_error)?,
                    account_id: r.try_get("account_id").map_err(db_error)?,
                    source_id: r.try_get("source_id").map_err(db_error)?,
                    first_name: r.try_get("first_name").map_err(db_error)?,
                    last_name: r.try_get("last_name").map_err(db_error)?,
                    birth_date: r.try_get("birth_date").map_err(db_error)?,
                    uai: r.try_get("uai").map_err(db_error)?,
                    school_name: r.try_get("school_name").map_err(db_error)?,
                    class_name: r.try_get("class_name").map_err(db_error)?,
                    level: r.try_get("level").map_err(db_error)?,
                    rank: GuardianRank::parse(&rank)
                        .ok_or_else(|| StoreError::Corrupt(format!("rank {rank}")))?,
                })
            })
            .collect()
    }

    async fn placement_of(&self, account_id: i64) -> StoreResult<Option<Placement>> {
        let row = sqlx::query(
            "SELECT p.source_id, p.uai, p.ine, s.name AS school_name, s.academie, s.degree, c.name AS class_name, p.level \
             FROM pupils p JOIN schools s ON s.uai = p.uai \
             LEFT JOIN classes c ON c.id = p.class_id \
             WHERE p.account_id = $1 AND p.left_at IS NULL \
             ORDER BY p.id DESC LIMIT 1",
        )
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(|r| {
            let degree: String = r.try_get("degree").map_err(db_error)?;
            Ok(Placement {
                source_id: r.try_get("source_id").map_err(db_error)?,
                uai: r.try_get("uai").map_err(db_error)?,
                academie: r.try_get("academie").map_err(db_error)?,
                degree: Degree::parse(&degree)
                    .ok_or_else(|| StoreError::Corrupt(format!("degree {degree}")))?,
                ine: r.try_get("ine").map_err(db_error)?,
                school_name: r.try_get("school_name").map_err(db_error)?,
                class_name: r.try_get("class_name").map_err(db_error)?,
                level: r.try_get("level").map_err(db_error)?,
            })
        })
        .transpose()
    }

    async fn guardian_records_of(&self, account_id: i64) -> StoreResult<Vec<RecordedGuardian>> {
        let rows = sqlx::query(
            "SELECT g.uai, s.academie, s.degree, g.source_id, g.civility \
             FROM guardians g JOIN schools s ON s.uai = g.uai \
             WHERE g.account_id = $1 ORDER BY g.uai, g.source_id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                let degree: String = r.try_get("degree").map_err(db_error)?;
                Ok(RecordedGuardian {
                    uai: r.try_get("uai").map_err(db_error)?,
                    academie: r.try_get("academie").map_err(db_error)?,
                    degree: Degree::parse(&degree)
                        .ok_or_else(|| StoreError::Corrupt(format!("degree {degree}")))?,
                    source_id: r.try_get("source_id").map_err(db_error)?,
                    civility: r.try_get("civility").map_err(db_error)?,
                })
            })
            .collect()
    }

    async fn activate(&self, a: &Activation<'_>) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE accounts SET password_hash = $1, temporary_secret_hash = NULL, \
                 temporary_expires_at = NULL, activated_at = $2, updated_at = $2 \
             WHERE id = $3 AND state = 'active' AND password_hash IS NULL \
               AND activated_at IS NULL AND temporary_secret_hash = $4 \
               AND temporary_expires_at > $2 AND (locked_until IS NULL OR locked_until <= $2)",
        )
        .bind(a.password_hash)
        .bind(a.now)
        .bind(a.account_id)
        .bind(a.temporary_secret_hash)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(email) = &a.email {
            sqlx::query(
                "UPDATE accounts SET pending_email = $1, pending_email_token_hash = $2, \
                     pending_email_expires_at = $3 WHERE id = $4",
            )
            .bind(email.address)
            .bind(email.token_hash)
            .bind(email.expires_at)
            .bind(a.account_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            outbox::enqueue_in(&mut tx, email.message, a.now).await?;
        }
        for pupil in a.disputed_pupils {
            sqlx::query(
                "UPDATE guardianships SET disputed_at = $1 \
                 WHERE pupil_id = $2 AND disputed_at IS NULL \
                   AND guardian_id IN (SELECT id FROM guardians WHERE account_id = $3)",
            )
            .bind(a.now)
            .bind(pupil)
            .bind(a.account_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn set_password(&self, account_id: i64, hash: &str, now: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE accounts SET password_hash = $1, temporary_secret_hash = NULL, \
                 temporary_expires_at = NULL, activated_at = COALESCE(activated_at, $2), \
                 updated_at = $2 \
             WHERE id = $3 AND state <> 'closed'",
        )
        .bind(hash)
        .bind(now)
        .bind(account_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Invalid(format!(
                "no open account with id {account_id}"
            )));
        }
        // whoever knew the old password may hold refresh tokens: they stop working too
        revoke_account_grants(&mut tx, account_id, None, now).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn identifiers_by_email(&self, email: &str) -> StoreResult<Vec<String>> {
        sqlx::query(
            "SELECT identifier FROM accounts \
             WHERE email = $1 AND email_confirmed = 1 AND state = 'active' ORDER BY identifier",
        )
        .bind(email)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(|r| r.try_get("identifier").map_err(db_error))
        .collect()
    }

    async fn identifiers_by_mobile(&self, mobile: &str) -> StoreResult<Vec<String>> {
        sqlx::query(
            "SELECT identifier FROM accounts WHERE state = 'active' AND (mobile = $1 \
                 OR id IN (SELECT account_id FROM guardians WHERE mobile = $1)) \
             ORDER BY identifier",
        )
        .bind(mobile)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(|r| r.try_get("identifier").map_err(db_error))
        .collect()
    }

    async fn recovery_mobiles(&self, account_id: i64) -> StoreResult<Vec<String>> {
        let own: Option<String> = sqlx::query("SELECT mobile FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .map(|r| r.try_get("mobile"))
            .transpose()
            .map_err(db_error)?
            .flatten();
        if let Some(own) = own {
            return Ok(vec![own]);
        }
        let mut recorded: Vec<String> = sqlx::query(
            "SELECT DISTINCT mobile FROM guardians WHERE account_id = $1 AND mobile IS NOT NULL",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(|r| r.try_get("mobile").map_err(db_error))
        .collect::<StoreResult<_>>()?;
        recorded.sort();
        Ok(recorded)
    }

    async fn sign_up(&self, s: &SignUp<'_>) -> StoreResult<LinkedAccount> {
        if s.guardian_ids.is_empty() {
            return Err(StoreError::Invalid(
                "no guardian record to sign up for".into(),
            ));
        }
        // dropped without commit on any error: nothing is written
        let mut tx = self.begin_write().await?;
        let provision = AccountProvision::New {
            preferred: None,
            credential: ProvisionedCredential::Password {
                hash: s.password_hash.to_owned(),
            },
            email: None,
            mobile: Some(s.mobile.to_owned()),
        };
        let holder = directory::NewHolder {
            kind: AccountKind::Responsable,
            first_name: s.first_name,
            last_name: s.last_name,
            birth_date: None,
        };
        let (account_id, identifier) = directory::provision_account(
            &mut tx,
            &mut directory::Identifiers::default(),
            &provision,
            &holder,
            s.now,
        )
        .await?;
        for guardian_id in s.guardian_ids {
            let attached = sqlx::query(
                "UPDATE guardians SET account_id = $1 WHERE id = $2 AND account_id IS NULL",
            )
            .bind(account_id)
            .bind(guardian_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            if attached.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!(
                    "guardian record {guardian_id} has an account already"
                )));
            }
        }
        tx.commit().await.map_err(db_error)?;
        Ok(LinkedAccount {
            account_id,
            identifier: identifier
                .ok_or_else(|| StoreError::Corrupt("a new account without identifier".into()))?,
            created: true,
        })
    }

    async fn confirm_email(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<(i64, String)>> {
        let _turn = self.write_turn().await;
        let row = sqlx::query(
            "UPDATE accounts SET email = pending_email, email_confirmed = 1, pending_email = NULL, \
                 pending_email_token_hash = NULL, pending_email_expires_at = NULL, updated_at = $1 \
             WHERE pending_email_token_hash = $2 AND pending_email_expires_at > $1 \
               AND state = 'active' \
             RETURNING id, email",
        )
        .bind(now)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(|r| {
            Ok((
                r.try_get("id").map_err(db_error)?,
                r.try_get("email").map_err(db_error)?,
            ))
        })
        .transpose()
    }

    async fn count(&self, kind: AccountKind) -> StoreResult<i64> {
        sqlx::query("SELECT COUNT(*) AS n FROM accounts WHERE kind = $1")
            .bind(kind.as_str())
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get("n"))
            .map_err(db_error)
    }

    async fn change_password(
        &self,
        account_id: i64,
        checked_hash: &str,
        new_hash: &str,
        kept_session: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE accounts SET password_hash = $1, updated_at = $2 \
             WHERE id = $3 AND password_hash = $4 AND state = 'active'",
        )
        .bind(new_hash)
        .bind(now)
        .bind(account_id)
        .bind(checked_hash)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        // whoever knew the old password may hold refresh tokens: they stop working, but for
        // the services of the browser that changed it
        revoke_account_grants(&mut tx, account_id, Some(kept_session), now).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn request_email(
        &self,
        account_id: i64,
        email: &PendingEmail<'_>,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE accounts SET pending_email = $1, pending_email_token_hash = $2, \
                 pending_email_expires_at = $3, updated_at = $4 \
             WHERE id = $5 AND state = 'active'",
        )
        .bind(email.address)
        .bind(email.token_hash)
        .bind(email.expires_at)
        .bind(now)
        .bind(account_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Invalid(format!(
                "no open account with id {account_id}"
            )));
        }
        outbox::enqueue_in(&mut tx, email.message, now).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn request_mobile(
        &self,
        account_id: i64,
        mobile: &PendingMobile<'_>,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE accounts SET pending_mobile = $1, pending_mobile_code_hash = $2, \
                 pending_mobile_expires_at = $3, pending_mobile_tries = $4, updated_at = $5 \
             WHERE id = $6 AND state = 'active'",
        )
        .bind(mobile.number)
        .bind(mobile.code_hash)
        .bind(mobile.expires_at)
        .bind(mobile.tries)
        .bind(now)
        .bind(account_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Invalid(format!(
                "no open account with id {account_id}"
            )));
        }
        outbox::enqueue_in(&mut tx, mobile.message, now).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn confirm_mobile(
        &self,
        account_id: i64,
        code_hash: &str,
        now: i64,
    ) -> StoreResult<MobileConfirmation> {
        // the try is used first, in one statement: two codes typed at once use two tries
        let _turn = self.write_turn().await;
        let row = sqlx::query(
            "UPDATE accounts SET pending_mobile_tries = pending_mobile_tries - 1 \
             WHERE id = $1 AND state = 'active' AND pending_mobile IS NOT NULL \
               AND pending_mobile_tries > 0 AND pending_mobile_expires_at > $2 \
             RETURNING pending_mobile, pending_mobile_code_hash, pending_mobile_tries",
        )
        .bind(account_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let Some(row) = row else {
            return Ok(MobileConfirmation::Expired);
        };
        let number: Option<String> = row.try_get("pending_mobile").map_err(db_error)?;
        let stored: Option<String> = row.try_get("pending_mobile_code_hash").map_err(db_error)?;
        let tries_left: i64 = row.try_get("pending_mobile_tries").map_err(db_error)?;
        let right = stored.as_deref().is_some_and(|stored| {
            crate::keys::constant_time_eq(stored.as_bytes(), code_hash.as_bytes())
        });
        if !right {
            return Ok(MobileConfirmation::Wrong { tries_left });
        }
        // still in this process's turn to write, taken above
        let confirmed = sqlx::query(
            "UPDATE accounts SET mobile = pending_mobile, pending_mobile = NULL, \
                 pending_mobile_code_hash = NULL, pending_mobile_expires_at = NULL, \
                 pending_mobile_tries = 0, updated_at = $1 \
             WHERE id = $2 AND pending_mobile_code_hash = $3 AND pending_mobile = $4 \
             RETURNING mobile",
        )
        .bind(now)
        .bind(account_id)
        .bind(code_hash)
        .bind(number)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(match confirmed {
            Some(r) => MobileConfirmation::Confirmed(r.try_get("mobile").map_err(db_error)?),
            // a new code was asked for in the meantime
            None => MobileConfirmation::Expired,
        })
    }

    async fn issue_temporary_password(
        &self,
        account_id: i64,
        secret_hash: &str,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        // a lock stays: lifting one is for staff
        let sql = temporary_password_update("", "state = 'active'");
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(secret_hash)
            .bind(expires_at)
            .bind(now)
            .bind(account_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        revoke_account_grants(&mut tx, account_id, None, now).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }
}

/// The statement that gives account `$4` the temporary password `$1` valid until `$2` (at
/// `$3`), ending its own password: the first connection comes again. `also` sets more
/// columns; `applies` is the condition the account must meet.
pub(super) fn temporary_password_update(also: &str, applies: &str) -> String {
    let also = if also.is_empty() {
        String::new()
    } else {
        format!("{also}, ")
    };
    format!(
        "UPDATE accounts SET password_hash = NULL, temporary_secret_hash = $1, \
             temporary_expires_at = $2, activated_at = NULL, {also}updated_at = $3 \
         WHERE id = $4 AND {applies}"
    )
}

/// `$first, $first+1, …`: `count` numbered placeholders for an `IN (…)` list.
pub(super) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Revokes the live OpenID Connect grants of an account (their refresh tokens stop working),
/// but those of the SSO session `kept` (its `sid`) when given.
pub(super) async fn revoke_account_grants(
    tx: &mut AnyConnection,
    account_id: i64,
    kept: Option<&str>,
    now: i64,
) -> StoreResult<u64> {
    let query = match kept {
        None => sqlx::query(
            "UPDATE oidc_grants SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(account_id),
        Some(sid) => sqlx::query(
            "UPDATE oidc_grants SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL \
               AND (session_id IS NULL OR session_id <> $3)",
        )
        .bind(now)
        .bind(account_id)
        .bind(sid),
    };
    query
        .execute(&mut *tx)
        .await
        .map(|done| done.rows_affected())
        .map_err(db_error)
}

/// Appends an audit event inside a transaction, so that it is written with the change it
/// records or not at all; it waits for the sealer (`audit_unsealed`) in the same transaction.
pub(super) async fn audit_in(tx: &mut AnyConnection, e: &NewAuditEvent) -> StoreResult<()> {
    let id: i64 = sqlx::query(
        "INSERT INTO audit_events (at, event, actor, subject_account_id, source_address, details) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(e.at)
    .bind(e.kind.as_str())
    .bind(e.actor.to_text())
    .bind(e.subject)
    .bind(e.source_address.as_deref())
    .bind(e.details.to_string())
    .fetch_one(&mut *tx)
    .await
    .and_then(|r| r.try_get("id"))
    .map_err(db_error)?;
    sqlx::query("INSERT INTO audit_unsealed (event_id) VALUES ($1)")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub(super) fn audit_event_from_row(r: &AnyRow) -> StoreResult<AuditEvent> {
    Ok(AuditEvent {
        id: r.try_get("id").map_err(db_error)?,
        at: r.try_get("at").map_err(db_error)?,
        event: r.try_get("event").map_err(db_error)?,
        actor: r.try_get("actor").map_err(db_error)?,
        subject: r.try_get("subject_account_id").map_err(db_error)?,
        source_address: r.try_get("source_address").map_err(db_error)?,
        details: r.try_get("details").map_err(db_error)?,
    })
}

#[async_trait]
impl AuditLog for SqlStore {
    async fn append(&self, e: &NewAuditEvent) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        audit_in(&mut tx, e).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn for_account(&self, account_id: i64, limit: i64) -> StoreResult<Vec<AuditEvent>> {
        sqlx::query(
            "SELECT id, at, event, actor, subject_account_id, source_address, details \
             FROM audit_events WHERE subject_account_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(account_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(audit_event_from_row)
        .collect()
    }

    async fn history(
        &self,
        account_id: i64,
        events: &[&str],
        limit: i64,
    ) -> StoreResult<Vec<AuditEvent>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        // $1 the account, $2 the limit, then one placeholder per kind
        let kinds = placeholders(3, events.len());
        let sql = format!(
            "SELECT id, at, event, actor, subject_account_id, source_address, details \
             FROM audit_events WHERE subject_account_id = $1 AND event IN ({kinds}) \
             ORDER BY at DESC, id DESC LIMIT $2"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(account_id).bind(limit);
        for event in events {
            query = query.bind(*event);
        }
        query
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(audit_event_from_row)
            .collect()
    }
}

#[async_trait]
impl Health for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        conn.ping().await.map_err(db_error)
    }
}
