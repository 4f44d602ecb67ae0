//! Live data: facts read from Google Cloud that the `kms` library ([`crate::libs::kms`]) gives
//! expressions, as a snapshot the caller fills before evaluating. Evaluation stays pure and
//! synchronous: the evaluator never does I/O, it only asks the snapshot.
//!
//! A caller that reads Google evaluates once with a snapshot that answers [`LiveError::Pending`]
//! for what it does not hold yet and remembers what was asked, reads that, and evaluates again
//! with the answers (see `docs/live-checks.md`). Outside live mode no snapshot is bound:
//! `kms.available()` is false and the other `kms` functions fail with [`NOT_LIVE`].

use std::fmt;

/// The start of an evaluation error of a `kms` function whose answer could not be read from
/// Google (after its retries): a door decides what such a failure does (deny, warn, allow).
pub const UNAVAILABLE: &str = "live data unavailable";

/// The error of a `kms` function evaluated without live data (not in live mode).
pub const NOT_LIVE: &str =
    "live data not available: the gate runs without --live (test kms.available() first)";

/// The start of the error of a `kms` function whose answer has not been read yet.
pub const PENDING: &str = "live data pending";

/// Why a snapshot has no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveError {
    /// Not read yet: the snapshot noted the question.
    Pending,
    /// Reading it failed (Google could not be reached, refused the gate's identity, ...).
    Failed(String),
}

/// An answer: `Ok(None)` when Google says the resource does not exist.
pub type Answer<T> = Result<Option<T>, LiveError>;

/// A Cloud KMS key, as the `kms` library reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFacts {
    /// `ENCRYPT_DECRYPT`, `ASYMMETRIC_SIGN`, ...
    pub purpose: String,
    /// The primary version's state (`ENABLED`, `DISABLED`, `DESTROYED`, `DESTROY_SCHEDULED`,
    /// ...), or empty when the key has no primary version.
    pub state: String,
    /// `SOFTWARE`, `HSM`, `EXTERNAL`, ...
    pub protection_level: String,
    /// Seconds between automatic rotations, when the key rotates.
    pub rotation_period_seconds: Option<i64>,
    /// RFC 3339, when the key rotates.
    pub next_rotation_time: Option<String>,
}

/// An Artifact Registry repository, as the `kms` library reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoryFacts {
    /// The CMEK key protecting it, empty with Google-managed encryption.
    pub kms_key_name: String,
}

/// What the `kms` library asks. Names are checked before they are asked for: a key name is
/// `projects/P/locations/L/keyRings/R/cryptoKeys/K`, a repository
/// `projects/P/locations/L/repositories/R`, a project an ID or a number.
pub trait LiveData: fmt::Debug + Sync {
    /// The key named.
    fn key(&self, name: &str) -> Answer<KeyFacts>;
    /// The number of a project (an ID or a number).
    fn project_number(&self, project: &str) -> Answer<String>;
    /// Whether the Cloud Run service agent of the project with this number may use the key
    /// (`None`: the key does not exist).
    fn service_agent_can_use(&self, key: &str, project_number: &str) -> Answer<bool>;
    /// The Artifact Registry repository named.
    fn repository(&self, name: &str) -> Answer<RepositoryFacts>;
}
