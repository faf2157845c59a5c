//! Durable data behind one trait per aggregate. [`sql::SqlStore`] implements them all for
//! SQLite (embedded) and PostgreSQL with the same SQL; both pass one shared test suite
//! (`idp/tests/storage.rs`).

use async_trait::async_trait;

use crate::audit::{Actor, AuditEvent, NewAuditEvent};
use crate::domain::account::{Account, AccountKind};
use crate::domain::staff::{SchoolAccount, SchoolScope, StaffRole};

pub mod sql;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("conflicting write: {0}")]
    Conflict(String),
    #[error("malformed stored data: {0}")]
    Corrupt(String),
    #[error("invalid data: {0}")]
    Invalid(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Degree of a school: primary (`1d`) or secondary (`2d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Degree {
    Primary,
    Secondary,
}

impl Degree {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "1d",
            Self::Secondary => "2d",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "1d" => Some(Self::Primary),
            "2d" => Some(Self::Secondary),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct School {
    /// Unité administrative immatriculée, e.g. `0141234A`.
    pub uai: String,
    pub name: String,
    pub academie: String,
    pub degree: Degree,
}

/// A guardian's legal rank for a pupil.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardianRank {
    First,
    Second,
    Other,
}

impl GuardianRank {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::First => "1",
            Self::Second => "2",
            Self::Other => "autre",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "1" => Some(Self::First),
            "2" => Some(Self::Second),
            "autre" => Some(Self::Other),
            _ => None,
        }
    }
}

/// The secret a provisioned account starts with.
#[derive(Debug, Clone)]
pub enum ProvisionedCredential {
    /// A password already chosen (argon2id PHC string): the account is activated.
    Password { hash: String },
    /// A temporary password handed out by the school (keyed hash) and its expiry.
    Temporary {
        secret_hash: String,
        expires_at: i64,
    },
    /// No password here: the person signs in through an upstream provider (FranceConnect);
    /// the account is activated.
    ExternalOnly,
}

/// What to do about the account of a record that has none yet.
#[derive(Debug, Clone)]
pub enum AccountProvision {
    /// Create an account; its identifier is `preferred` if given and free, else generated
    /// from the person's names.
    New {
        preferred: Option<String>,
        credential: ProvisionedCredential,
        email: Option<String>,
        mobile: Option<String>,
    },
    /// Link the record to the existing account with this identifier (one guardian known to
    /// two schools).
    Existing { identifier: String },
}

#[derive(Debug, Clone)]
pub struct PupilRecord {
    pub source_id: String,
    pub ine: Option<String>,
    pub last_name: String,
    pub first_name: String,
    pub birth_date: String,
    pub class_name: Option<String>,
    /// MEFSTAT4 level.
    pub level: Option<String>,
    pub account: Option<AccountProvision>,
}

#[derive(Debug, Clone)]
pub struct GuardianRecord {
    pub source_id: String,
    pub civility: Option<String>,
    pub last_name: String,
    pub first_name: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub account: Option<AccountProvision>,
}

#[derive(Debug, Clone)]
pub struct LinkRecord {
    pub pupil_source_id: String,
    pub guardian_source_id: String,
    pub rank: GuardianRank,
}

/// One school's records, as its information system knows them.
#[derive(Debug, Clone)]
pub struct SchoolSnapshot {
    pub school: School,
    pub classes: Vec<String>,
    pub pupils: Vec<PupilRecord>,
    pub guardians: Vec<GuardianRecord>,
    pub links: Vec<LinkRecord>,
}

/// What provisioning a school did. Records are the pupils, guardians and links of the
/// school's files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvisionReport {
    /// Records that were not known.
    pub created: usize,
    /// Records that changed (a class, a mobile, a rank; a pupil back; a link removed).
    pub updated: usize,
    /// Pupils the school no longer lists: their record is closed now, their account disabled
    /// after the grace period.
    pub left: usize,
    /// Accounts disabled by this run: their pupil left more than the grace period ago and is
    /// enrolled nowhere else.
    pub disabled: usize,
    /// The accounts created, in the order of the records.
    pub accounts_created: Vec<CreatedAccount>,
    /// New guardian records matched to an account in use (names, and e-mail or mobile): its
    /// holder is asked at the next sign-in instead of a second account being created.
    pub regroupings_proposed: usize,
}

/// An account created for a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedAccount {
    pub kind: AccountKind,
    /// The record's id in the school's information system.
    pub source_id: String,
    pub identifier: String,
}

/// A child as a guardian's account shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSummary {
    pub pupil_id: i64,
    /// The pupil's own account, if the school gave one.
    pub account_id: Option<i64>,
    /// The pupil's id in the school's information system.
    pub source_id: String,
    pub first_name: String,
    pub last_name: String,
    pub birth_date: String,
    pub uai: String,
    pub school_name: String,
    pub class_name: Option<String>,
    pub level: Option<String>,
    pub rank: GuardianRank,
    pub degree: Degree,
}

/// Where a pupil is enrolled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The pupil's id in the school's information system.
    pub source_id: String,
    pub uai: String,
    /// Code of the school's académie.
    pub academie: String,
    pub degree: Degree,
    /// National pupil identifier (INE).
    pub ine: Option<String>,
    pub school_name: String,
    pub class_name: Option<String>,
    pub level: Option<String>,
}

/// One of a guardian account's records in a school's information system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedGuardian {
    pub uai: String,
    /// Code of the school's académie.
    pub academie: String,
    pub degree: Degree,
    /// The guardian's id in the school's information system.
    pub source_id: String,
    /// `M.` or `Mme`, as the school recorded it.
    pub civility: Option<String>,
}

/// Accounts of pupils and guardians.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// The account with this identifier (already normalized), closed ones included.
    async fn by_identifier(&self, identifier: &str) -> StoreResult<Option<Account>>;
    async fn by_id(&self, id: i64) -> StoreResult<Option<Account>>;
    /// The pupils linked to a guardian account through any of its guardian records.
    async fn children_of(&self, account_id: i64) -> StoreResult<Vec<ChildSummary>>;
    /// Where the pupil of this account is enrolled (current record).
    async fn placement_of(&self, account_id: i64) -> StoreResult<Option<Placement>>;
    /// The school records of a guardian account, by school.
    async fn guardian_records_of(&self, account_id: i64) -> StoreResult<Vec<RecordedGuardian>>;
    /// A new password after "Mot de passe oublié", in one transaction: it replaces the
    /// password, ends the temporary one, marks the account activated, and revokes the
    /// account's OpenID Connect grants.
    async fn set_password(&self, account_id: i64, hash: &str, now: i64) -> StoreResult<()>;
    /// The first connection, in one transaction: the chosen password replaces the temporary
    /// one only if the account is still as the steps found it (active, not activated, not
    /// locked, the same temporary secret, not expired), and the links the guardian disputes
    /// are marked. Returns whether the account was activated.
    async fn activate(&self, activation: &Activation<'_>) -> StoreResult<bool>;
    /// Identifiers of the open accounts whose confirmed e-mail is this one (recovery).
    async fn identifiers_by_email(&self, email: &str) -> StoreResult<Vec<String>>;
    /// Identifiers of the open accounts reachable at this mobile: confirmed on the account, or
    /// recorded by a school on one of its guardian records (recovery).
    async fn identifiers_by_mobile(&self, mobile: &str) -> StoreResult<Vec<String>>;
    /// The mobiles a recovery code may be sent to for an account: its own confirmed one, else
    /// those the schools recorded on its guardian records.
    async fn recovery_mobiles(&self, account_id: i64) -> StoreResult<Vec<String>>;
    /// A guardian's own account (sign-up by mobile), in one transaction: created with the
    /// chosen password and the proven mobile, and the guardian records attached to it.
    /// `Conflict` when a record got an account in the meantime.
    async fn sign_up(&self, sign_up: &SignUp<'_>) -> StoreResult<LinkedAccount>;
    /// Makes the pending e-mail whose link token has this hash the account's confirmed
    /// e-mail, once: returns the account id and the address, or `None` (unknown, used or
    /// expired token).
    async fn confirm_email(&self, token_hash: &str, now: i64)
    -> StoreResult<Option<(i64, String)>>;
    /// How many accounts of each kind exist (readiness and statistics).
    async fn count(&self, kind: AccountKind) -> StoreResult<i64>;
    /// "Mes informations": replaces the password if the account still has the one that was
    /// just checked (`checked_hash`), and revokes the account's OpenID Connect grants but
    /// those of the session that changed it (`kept_session`, its `sid`), in one transaction;
    /// false when the password changed in the meantime.
    async fn change_password(
        &self,
        account_id: i64,
        checked_hash: &str,
        new_hash: &str,
        kept_session: &str,
        now: i64,
    ) -> StoreResult<bool>;
    /// A new e-mail address to confirm, replacing one pending; the mail with its link is
    /// queued in the same transaction. The confirmed address stays until the link is opened.
    async fn request_email(
        &self,
        account_id: i64,
        email: &PendingEmail<'_>,
        now: i64,
    ) -> StoreResult<()>;
    /// A new mobile to confirm by the code sent to it, replacing one pending; the SMS is queued
    /// in the same transaction. The confirmed mobile stays until the code is typed.
    async fn request_mobile(
        &self,
        account_id: i64,
        mobile: &PendingMobile<'_>,
        now: i64,
    ) -> StoreResult<()>;
    /// A code typed for the pending mobile: each call uses one try, whatever the code.
    async fn confirm_mobile(
        &self,
        account_id: i64,
        code_hash: &str,
        now: i64,
    ) -> StoreResult<MobileConfirmation>;
    /// Gives an open account a new temporary password, in one transaction: its own password
    /// ends (the first connection comes again) and its OpenID Connect grants are revoked. A
    /// lock stays (lifting one is for staff). False when the account is not open.
    async fn issue_temporary_password(
        &self,
        account_id: i64,
        secret_hash: &str,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<bool>;
}

/// A mobile waiting for the one-time code sent to it.
#[derive(Debug, Clone)]
pub struct PendingMobile<'a> {
    pub number: &'a str,
    /// Keyed hash of the code.
    pub code_hash: &'a str,
    pub expires_at: i64,
    pub tries: i64,
    /// The SMS with the code, queued with the change.
    pub message: &'a NewMessage,
}

/// What typing a code for a pending mobile did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MobileConfirmation {
    /// The code was right: this number is now the account's mobile.
    Confirmed(String),
    /// Wrong code; this many tries are left.
    Wrong { tries_left: i64 },
    /// No code to type: none pending, expired, or no try left.
    Expired,
}

/// Taking the children of another guardian account (`from`) into the one used (`into`).
#[derive(Debug, Clone)]
pub struct Merge<'a> {
    pub into: i64,
    pub from: i64,
    pub source_address: Option<&'a str>,
    pub now: i64,
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeResult {
    /// The guardian records moved and the other account is closed.
    Merged {
        /// Guardian records moved (one per school).
        records: usize,
        /// The identifier of the account now closed.
        closed_identifier: String,
    },
    /// One of the two accounts is no longer an open guardian account (a merge at the same
    /// moment won): nothing was changed.
    Stale,
}

/// A new guardian record an import matched to an account in use, waiting for its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegroupProposal {
    pub guardian_id: i64,
    pub uai: String,
    pub school_name: String,
    pub tries_left: i64,
    /// The record's children still at school, whose birth dates confirm it.
    pub children: Vec<LinkableChild>,
}

/// Bringing children together on one guardian account: merging two accounts, and the
/// proposals of the automatic regrouping.
#[async_trait]
pub trait GroupingStore: Send + Sync {
    /// In one transaction: the guardian records of `from` move to `into`, `from` is closed
    /// (its secrets cleared, `merged_into` set), its upstream identities move where `into` has
    /// none at that provider (the others are dropped), its OpenID Connect grants are revoked,
    /// its proposals are withdrawn, and both accounts get an audit event. Two merges of the
    /// same accounts at once: one wins, the other is `Stale` and changes nothing.
    async fn merge_accounts(&self, merge: &Merge<'_>) -> StoreResult<MergeResult>;
    /// The proposals an account has not answered, whose record still has no account.
    async fn regroup_proposals(&self, account_id: i64) -> StoreResult<Vec<RegroupProposal>>;
    /// Attaches the proposed record to the account, ends the proposal and audits it, in one
    /// transaction; false if the proposal is no longer open or the record got an account.
    async fn accept_regroup(
        &self,
        account_id: i64,
        guardian_id: i64,
        source_address: Option<&str>,
        now: i64,
    ) -> StoreResult<bool>;
    /// Wrong birth dates for a proposal: one try used; at none left the proposal is declined.
    /// Returns the tries left, or `None` when the proposal was no longer open (answered
    /// meanwhile).
    async fn regroup_mistyped(
        &self,
        account_id: i64,
        guardian_id: i64,
        now: i64,
    ) -> StoreResult<Option<i64>>;
    /// "Ce ne sont pas mes enfants": the proposal is declined and not asked again.
    async fn decline_regroup(&self, account_id: i64, guardian_id: i64, now: i64)
    -> StoreResult<()>;
}

/// The schools' records: schools, classes, pupils, guardians and their links.
#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// Makes the stored records of a school what the snapshot says, creating the requested
    /// accounts, all in one transaction: on any error nothing is written. Records are matched
    /// by (UAI, source id), so the same snapshot twice changes nothing the second time. A new
    /// pupil whose INE is known in another school keeps that account (a move). Pupils missing
    /// from the snapshot leave; their accounts are disabled once they left more than
    /// `leaving_grace` seconds ago and are enrolled nowhere else.
    async fn provision_school(
        &self,
        snapshot: &SchoolSnapshot,
        now: i64,
        leaving_grace: i64,
    ) -> StoreResult<ProvisionReport>;
    async fn school(&self, uai: &str) -> StoreResult<Option<School>>;
    async fn classes(&self, uai: &str) -> StoreResult<Vec<String>>;
}

/// What a first connection writes.
#[derive(Debug, Clone)]
pub struct Activation<'a> {
    pub account_id: i64,
    /// The temporary secret the steps began with.
    pub temporary_secret_hash: &'a str,
    pub password_hash: &'a str,
    /// Pupils whose link to this guardian's records is disputed.
    pub disputed_pupils: &'a [i64],
    /// An e-mail address given at the first connection, to confirm by the link mailed.
    pub email: Option<PendingEmail<'a>>,
    pub now: i64,
}

/// What a guardian's sign-up by mobile writes.
#[derive(Debug, Clone)]
pub struct SignUp<'a> {
    pub guardian_ids: &'a [i64],
    pub first_name: &'a str,
    pub last_name: &'a str,
    /// The mobile the one-time code was sent to: the account's, confirmed.
    pub mobile: &'a str,
    pub password_hash: &'a str,
    pub now: i64,
}

/// An e-mail address waiting for its holder to open the link sent to it.
#[derive(Debug, Clone)]
pub struct PendingEmail<'a> {
    pub address: &'a str,
    /// Keyed hash of the link's token.
    pub token_hash: &'a str,
    pub expires_at: i64,
    /// The mail with the link, queued with the change.
    pub message: &'a NewMessage,
}

/// A guardian record that may name someone signing in through an upstream provider, with
/// the children it is responsible for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardianCandidate {
    pub guardian_id: i64,
    pub uai: String,
    pub school_name: String,
    pub civility: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
    /// The account the record has, or the account in use an import proposed it to
    /// (automatic regrouping): linking it there answers the proposal.
    pub account_id: Option<i64>,
    pub children: Vec<LinkableChild>,
}

/// A child of a guardian record, whose birth date confirms the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkableChild {
    pub pupil_id: i64,
    pub first_name: String,
    pub last_name: String,
    pub birth_date: String,
    pub school_name: String,
    pub class_name: Option<String>,
}

/// Linking an upstream identity to the guardian records it was matched to and confirmed for.
#[derive(Debug, Clone)]
pub struct ExternalLink<'a> {
    pub provider: &'a str,
    pub subject: &'a str,
    pub guardian_ids: &'a [i64],
    /// The account the records already have; `None`: a new account is created for them.
    pub account_id: Option<i64>,
    /// For a new account: the names and the mobile of the record (an e-mail is never taken
    /// as confirmed from a record).
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub mobile: Option<&'a str>,
    pub now: i64,
}

/// The account an upstream identity was linked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedAccount {
    pub account_id: i64,
    pub identifier: String,
    pub created: bool,
}

/// Identities at upstream providers (FranceConnect `sub`s) and the guardian records they
/// are matched to.
#[async_trait]
pub trait ExternalIdentityStore: Send + Sync {
    /// The account an upstream identity was linked to.
    async fn account_for_external(
        &self,
        provider: &str,
        subject: &str,
    ) -> StoreResult<Option<Account>>;
    /// Guardian records filed under one of these folded last names that `keep` accepts
    /// (first name, last name, civility), with their children still at school (loaded for
    /// the kept ones only).
    async fn guardians_named(
        &self,
        folded_last_names: &[String],
        keep: &(dyn for<'n> Fn(&'n str, &'n str, Option<&'n str>) -> bool + Send + Sync),
    ) -> StoreResult<Vec<GuardianCandidate>>;
    /// In one transaction: the account (existing, or created without a password), the
    /// records attached to it, and the upstream identity recorded. `Conflict` when the
    /// identity or a record was linked elsewhere in the meantime.
    async fn link_external(&self, link: &ExternalLink<'_>) -> StoreResult<LinkedAccount>;
    /// The providers an account has an identity at.
    async fn providers_of(&self, account_id: i64) -> StoreResult<Vec<String>>;
    /// Records an identity for an account that proved it is its holder. `Conflict` when the
    /// identity is another account's, or the account has one at this provider already.
    async fn add_external_identity(
        &self,
        provider: &str,
        subject: &str,
        account_id: i64,
        now: i64,
    ) -> StoreResult<()>;
}

/// The append-only audit log.
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn append(&self, event: &NewAuditEvent) -> StoreResult<()>;
    /// The most recent events about an account, newest first.
    async fn for_account(&self, account_id: i64, limit: i64) -> StoreResult<Vec<AuditEvent>>;
    /// The most recent events of these kinds about an account, newest first ("Historique").
    async fn history(
        &self,
        account_id: i64,
        events: &[&str],
        limit: i64,
    ) -> StoreResult<Vec<AuditEvent>>;
}

/// What a verification of the audit chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub events: i64,
    pub sealed: i64,
    /// Written, not sealed yet (the sealer runs every second).
    pub waiting: i64,
    /// Neither sealed nor waiting: taken out of the sealer's list.
    pub outside: i64,
    /// The first link that does not hold.
    pub broken: Option<crate::audit::BrokenLink>,
}

impl ChainReport {
    pub fn holds(&self) -> bool {
        self.broken.is_none() && self.outside == 0
    }
}

/// The audit log's hash chain: events are sealed into it after they are written.
#[async_trait]
pub trait AuditChain: Send + Sync {
    /// Links up to `limit` waiting events into the chain, oldest first, in one transaction
    /// that holds the chain's end (sealers on several nodes take turns); returns how many.
    async fn seal(&self, limit: i64, now: i64) -> StoreResult<usize>;
    /// Recomputes the whole chain from its start.
    async fn verify_chain(&self) -> StoreResult<ChainReport>;
}

/// Readiness of the database.
#[async_trait]
pub trait Health: Send + Sync {
    async fn ping(&self) -> StoreResult<()>;
}

/// A token-signing key as stored: its private half is sealed with the server secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    /// `ES256` or `RS256`.
    pub alg: String,
    pub sealed_private_key: String,
    pub created_at: i64,
    /// When a newer key replaced it; it stays published until its tokens have expired.
    pub retired_at: Option<i64>,
}

/// Signing keys and deployment-wide settings, shared by every node through the database.
#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>>;
    /// Adds `keys` only if there is no key at all (the first start of the first node);
    /// true if they were added.
    async fn add_initial_signing_keys(&self, keys: &[StoredSigningKey]) -> StoreResult<bool>;
    /// Retires every active key and adds the new ones, in one transaction.
    async fn rotate_signing_keys(&self, keys: &[StoredSigningKey], now: i64) -> StoreResult<()>;
    /// The value of a setting, if it was ever set.
    async fn setting(&self, name: &str) -> StoreResult<Option<String>>;
    /// The value of a setting, set to `value_if_absent` the first time (race-free).
    async fn setting_or_insert(&self, name: &str, value_if_absent: &str) -> StoreResult<String>;
}

/// One authorization given by a person to a client: the family of its refresh tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub account_id: i64,
    pub scope: String,
    pub auth_time: i64,
    /// `ECT` or `FC`.
    pub origin: String,
    /// The SSO session's public id (`sid`), if the grant came from one.
    pub session_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl Grant {
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// A refresh token to store: its keyed hash and expiry.
#[derive(Debug, Clone, Copy)]
pub struct NewRefreshToken<'a> {
    pub hash: &'a str,
    pub expires_at: i64,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// First use: the token is now spent and its successor stored.
    Fresh(Grant),
    /// Already spent: the whole grant has been revoked.
    Reused(Grant),
    /// Unknown, expired, of another client, or of a revoked or expired grant. Nothing changed.
    Invalid,
}

/// Grants, refresh tokens and consents of the OpenID Connect provider.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Stores a grant and its first refresh token, in one transaction.
    async fn create_grant(
        &self,
        grant: &Grant,
        refresh: Option<NewRefreshToken<'_>>,
    ) -> StoreResult<()>;
    async fn grant(&self, id: &str) -> StoreResult<Option<Grant>>;
    async fn revoke_grant(&self, id: &str, now: i64) -> StoreResult<()>;
    /// At logout: revokes the grants of an SSO session, except `offline_access` ones (which
    /// were asked for to outlive the session, OIDC Back-Channel Logout §2.7).
    async fn revoke_session_grants(&self, session_id: &str, now: i64) -> StoreResult<u64>;
    /// Spends a refresh token of `client_id` and stores its successor, in one transaction; a
    /// token spent before revokes its whole grant (reuse detection).
    async fn rotate_refresh_token(
        &self,
        hash: &str,
        client_id: &str,
        successor: NewRefreshToken<'_>,
        now: i64,
    ) -> StoreResult<RefreshUse>;
    /// The grant of a refresh token that is live (unspent, unexpired, grant live).
    async fn live_refresh_token(&self, hash: &str, now: i64) -> StoreResult<Option<(Grant, i64)>>;
    /// The scope a person consented to for a client.
    async fn consent(&self, account_id: i64, client_id: &str) -> StoreResult<Option<String>>;
    async fn save_consent(
        &self,
        account_id: i64,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> StoreResult<()>;
}

/// The way a message goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(Self::Email),
            "sms" => Some(Self::Sms),
            _ => None,
        }
    }
}

/// A message to send: an e-mail (subject, text and HTML) or an SMS (text only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub channel: Channel,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: Option<String>,
    /// The account it is about, if any (for the audit and the school's help desk).
    pub account_id: Option<i64>,
}

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: i64,
    pub message: NewMessage,
    pub created_at: i64,
    pub attempts: i64,
    pub sent_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub last_error: Option<String>,
}

/// Outgoing messages, written with the change that causes them and sent by a worker.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Queues a message on its own (when no other write causes it).
    async fn enqueue(&self, message: &NewMessage, now: i64) -> StoreResult<i64>;
    /// Claims up to `limit` messages that are due: each is leased to the caller until
    /// `now + lease`, so that no other worker sends it meanwhile.
    async fn claim_due(&self, now: i64, lease: i64, limit: i64) -> StoreResult<Vec<OutboxMessage>>;
    /// The message was accepted by the SMTP server or the gateway.
    async fn mark_sent(&self, id: i64, now: i64) -> StoreResult<()>;
    /// Sending failed: try again at `retry_at`, or never (`None`: given up).
    async fn mark_failed(
        &self,
        id: i64,
        now: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> StoreResult<()>;
    /// The latest messages, newest first (the development outbox page).
    async fn recent(&self, limit: i64) -> StoreResult<Vec<OutboxMessage>>;
    /// What is still to be sent (neither sent nor given up), for metrics.
    async fn backlog(&self) -> StoreResult<OutboxBacklog>;
}

/// Messages still to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxBacklog {
    pub waiting: i64,
    /// When the oldest of them was queued.
    pub oldest_created_at: Option<i64>,
}

/// A staff member as stored (school administration).
#[derive(Clone, PartialEq, Eq)]
pub struct StaffMember {
    pub id: i64,
    pub identifier: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub role: StaffRole,
    pub active: bool,
    /// argon2id PHC string.
    pub password_hash: Option<String>,
    /// The TOTP secret, sealed with the server secret; `None` until the second factor is
    /// enrolled.
    pub sealed_totp_secret: Option<String>,
    /// The step of the last code accepted: a code is good once.
    pub totp_last_step: Option<i64>,
    /// The UAIs of a school administrator.
    pub schools: Vec<String>,
}

impl std::fmt::Debug for StaffMember {
    // never the password's hash or the second factor's secret in a log line
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffMember")
            .field("id", &self.id)
            .field("identifier", &self.identifier)
            .field("role", &self.role)
            .field("active", &self.active)
            .field("enrolled", &self.sealed_totp_secret.is_some())
            .field("schools", &self.schools)
            .finish_non_exhaustive()
    }
}

impl StaffMember {
    pub fn scope(&self) -> SchoolScope {
        SchoolScope::of(self.role, self.schools.clone())
    }
    pub fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// A staff member to create (`idp staff add`, the demo).
#[derive(Debug, Clone)]
pub struct NewStaff<'a> {
    pub identifier: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: Option<&'a str>,
    pub role: StaffRole,
    pub password_hash: &'a str,
    /// A school administrator's UAIs; each must be a known school.
    pub schools: &'a [String],
    pub now: i64,
}

/// Staff accounts, their schools and their second factor.
#[async_trait]
pub trait StaffStore: Send + Sync {
    async fn staff_by_identifier(&self, identifier: &str) -> StoreResult<Option<StaffMember>>;
    async fn staff_by_id(&self, id: i64) -> StoreResult<Option<StaffMember>>;
    /// Creates a staff member with their schools, in one transaction. `Conflict` when the
    /// identifier is taken, `Invalid` (naming it) when a UAI is not a known school.
    async fn add_staff(&self, staff: &NewStaff<'_>) -> StoreResult<i64>;
    /// Stores the TOTP secret the first code proved, and that code's step; false when a
    /// secret was stored meanwhile.
    async fn enrol_totp(&self, staff_id: i64, sealed_secret: &str, step: i64) -> StoreResult<bool>;
    /// Records the step of a code just accepted if it is later than the last one recorded;
    /// false for a code already used (on any node).
    async fn use_totp_step(&self, staff_id: i64, step: i64) -> StoreResult<bool>;
    /// A new password and no second factor (a lost phone): the next sign-in enrols again.
    /// Returns the staff member's id, `None` for an unknown identifier.
    async fn reset_staff(&self, identifier: &str, password_hash: &str) -> StoreResult<Option<i64>>;
    /// Allows or stops the staff member's sign-ins (someone who left the school); returns
    /// their id, `None` for an unknown identifier.
    async fn set_staff_active(&self, identifier: &str, active: bool) -> StoreResult<Option<i64>>;
    /// Every staff member, by identifier.
    async fn all_staff(&self) -> StoreResult<Vec<StaffMember>>;
}

/// Who acts in the administration, on which school, from where.
#[derive(Debug, Clone)]
pub struct StaffAction<'a> {
    /// A staff member, or an académie tool (an OIDC client of the admin API).
    pub actor: &'a Actor,
    /// Identifier of the staff member or client, for the audit.
    pub by: &'a str,
    pub uai: &'a str,
    pub source_address: Option<&'a str>,
    pub now: i64,
}

/// What staff may change on an account of their school.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    /// Lifts a lock.
    Unlock,
    /// No more sign-ins; its OpenID Connect grants are revoked.
    Disable,
    /// Undoes a disabling by staff.
    Enable,
}

/// A school's accounts as its administrators see and change them. Every method takes the
/// school, and only ever reads or writes accounts that have a current record there.
#[async_trait]
pub trait SchoolAdminStore: Send + Sync {
    /// Every school, by name (a platform administrator's choice).
    async fn schools(&self) -> StoreResult<Vec<School>>;
    /// The open accounts with a current record in the school: pupils enrolled there, and
    /// guardians on its files.
    async fn school_accounts(&self, uai: &str) -> StoreResult<Vec<SchoolAccount>>;
    /// New temporary passwords (`(account, keyed hash)`), in one transaction with their audit
    /// events: every account's own password ends and its grants are revoked. `Conflict` and
    /// nothing written when one of them is not an active account of the school.
    async fn regenerate_passwords(
        &self,
        action: &StaffAction<'_>,
        passwords: &[(i64, String)],
        expires_at: i64,
    ) -> StoreResult<()>;
    /// Unlocks, disables or enables accounts of the school, with their audit events, in one
    /// transaction; returns those that changed. An account that is not the school's, or to
    /// which the change does not apply (unlocking an account without a lock, enabling an
    /// account that staff did not disable), is left as it is.
    async fn change_accounts(
        &self,
        action: &StaffAction<'_>,
        account_ids: &[i64],
        change: AccountChange,
    ) -> StoreResult<Vec<i64>>;
}
