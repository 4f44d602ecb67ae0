//! Live mode (`--live`): policies that read Google through the `kms` CEL extension. Evaluation
//! stays pure and synchronous; [`judge`] runs it in rounds: evaluate with a [`Snapshot`] that
//! answers "pending" for what it does not hold and notes the question, read the questions (from
//! Google, concurrently and cached, or from a [`Fixture`]), evaluate again with the answers,
//! while new questions appear (at most [`MAX_ROUNDS`] times).
//!
//! When Google cannot be read, the policies that needed it fail with the reason
//! [`crate::engine::LIVE_UNAVAILABLE_REASON`]; [`Unreachable`] says what that does.

pub mod fetch;
pub mod fixture;
pub mod snapshot;

pub use fetch::LiveSettings;
pub use fixture::Fixture;
pub use snapshot::{Fact, Question, Reply, Snapshot};

use crate::engine::{self, Decision, Phases, Request, Warning, LIVE_UNAVAILABLE_REASON};
use crate::google::resources::{CryptoKey, Repository};
use crate::policy::PolicySet;
use cel_k8s::live::{KeyFacts, RepositoryFacts};

/// Most evaluations of one request: a policy may ask a question whose name comes from an
/// earlier answer (a repository's key), so a second round is normal; more is bounded.
pub const MAX_ROUNDS: usize = 4;

/// The audit annotation an allowed request carries when live data could not be read
/// (`--live-unreachable allow`).
pub const UNREACHABLE_ANNOTATION: &str = "cmek-gate.dev/live-unreachable";

/// What a policy failure for want of live data does (`--live-unreachable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Unreachable {
    /// Deny, as any failed evaluation under `failurePolicy: Fail` (fail closed; the default).
    #[default]
    Deny,
    /// Allow, with the failure as a warning.
    Warn,
    /// Allow, with the failure in the audit annotation `cmek-gate.dev/live-unreachable`.
    Allow,
}

/// Evaluates in rounds until no new question is asked (see the module's documentation):
/// `evaluate` judges with the snapshot, `resolve` answers the open questions.
pub fn judge<T>(
    mut evaluate: impl FnMut(&Snapshot) -> T,
    mut resolve: impl FnMut(&[Question]) -> Vec<(Question, Reply)>,
) -> T {
    let mut snapshot = Snapshot::new();
    let mut outcome = evaluate(&snapshot);
    for _ in 1..MAX_ROUNDS {
        let open = snapshot.take_open_questions();
        if open.is_empty() {
            break;
        }
        for (question, reply) in resolve(&open) {
            snapshot.answer(question, reply);
        }
        outcome = evaluate(&snapshot);
    }
    outcome
}

/// Applies `--live-unreachable` to a decision: the violations of policies that could not read
/// live data stay (deny), become warnings (warn), or are dropped into an audit annotation
/// (allow).
pub fn apply_unreachable(decision: &mut Decision, mode: Unreachable) {
    if mode == Unreachable::Deny {
        return;
    }
    let (unreachable, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut decision.violations)
        .into_iter()
        .partition(|v| v.reason == LIVE_UNAVAILABLE_REASON);
    decision.violations = kept;
    if unreachable.is_empty() {
        return;
    }
    match mode {
        Unreachable::Deny => {}
        Unreachable::Warn => decision
            .warnings
            .extend(unreachable.into_iter().map(|v| Warning {
                policy: v.policy,
                binding: v.binding,
                message: format!(
                    "allowed without live data (--live-unreachable warn): {}",
                    v.message
                ),
            })),
        Unreachable::Allow => {
            let text = unreachable
                .iter()
                .map(|v| format!("[{}] {}", v.policy, v.message))
                .collect::<Vec<_>>()
                .join("; ");
            decision
                .audit_annotations
                .insert(UNREACHABLE_ANNOTATION.to_owned(), text);
        }
    }
}

/// Where live answers come from.
pub enum Source {
    /// Google, through the client (each round's questions read concurrently, cached).
    Google(fetch::Fetcher),
    /// A fixture (policy test suites).
    Fixture(Fixture),
}

/// Live mode: where answers come from, and what a failure to read them does.
pub struct Live {
    pub source: Source,
    pub unreachable: Unreachable,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match self.source {
            Source::Google(_) => "google",
            Source::Fixture(_) => "fixture",
        };
        f.debug_struct("Live")
            .field("source", &source)
            .field("unreachable", &self.unreachable)
            .finish()
    }
}

impl Live {
    /// Answers questions (blocking on Google's answers: call it off the async workers).
    pub fn resolve(&self, questions: &[Question]) -> Vec<(Question, Reply)> {
        match &self.source {
            Source::Google(fetcher) => fetcher.resolve_blocking(questions),
            Source::Fixture(fixture) => questions
                .iter()
                .map(|q| (q.clone(), fixture.reply(q)))
                .collect(),
        }
    }

    /// [`engine::admit_telling`] with live data, then `--live-unreachable`.
    pub fn admit_telling(
        &self,
        set: &PolicySet,
        request: &Request,
        phases: Phases,
    ) -> (Decision, bool) {
        let (mut decision, alone) = judge(
            |snapshot| {
                let live = Request {
                    live: Some(snapshot),
                    ..request.clone()
                };
                engine::admit_telling(set, &live, phases)
            },
            |questions| self.resolve(questions),
        );
        apply_unreachable(&mut decision, self.unreachable);
        (decision, alone)
    }
}

/// [`engine::admit`], in live mode when `live` is given.
pub fn admit(live: Option<&Live>, set: &PolicySet, request: &Request, phases: Phases) -> Decision {
    admit_telling(live, set, request, phases).0
}

/// [`engine::admit_telling`], in live mode when `live` is given.
pub fn admit_telling(
    live: Option<&Live>,
    set: &PolicySet,
    request: &Request,
    phases: Phases,
) -> (Decision, bool) {
    match live {
        Some(live) => live.admit_telling(set, request, phases),
        None => engine::admit_telling(set, request, phases),
    }
}

/// The key facts the `kms` extension gives, from Google's `CryptoKey`.
pub fn key_facts(key: &CryptoKey) -> KeyFacts {
    KeyFacts {
        purpose: key.purpose.clone(),
        state: key.primary_state().to_owned(),
        protection_level: key.protection_level().to_owned(),
        rotation_period_seconds: key
            .rotation_period_seconds()
            .map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
        next_rotation_time: key.next_rotation_time.clone(),
    }
}

/// The repository facts the `kms` extension gives, from Google's `Repository`.
pub fn repository_facts(repository: &Repository) -> RepositoryFacts {
    RepositoryFacts {
        kms_key_name: repository.cmek_key().unwrap_or_default().to_owned(),
    }
}

/// The API a question is read from, by its gcloud name (for messages).
pub fn api_of(question: &Question) -> &'static str {
    match question {
        Question::Key(_) | Question::ServiceAgentAccess { .. } => "cloudkms",
        Question::ProjectNumber(_) => "cloudresourcemanager",
        Question::Repository(_) => "artifactregistry",
    }
}

#[cfg(test)]
mod tests;
