//! The live data one judgement reads: the answers read so far, and the questions asked that
//! have none yet. Pure: filled by the caller between evaluations (see [`super::judge`]).

use cel_k8s::live::{Answer, KeyFacts, LiveData, LiveError, RepositoryFacts};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// A question the `kms` extension asks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Question {
    /// A key, by name.
    Key(String),
    /// The number of a project (an ID or a number).
    ProjectNumber(String),
    /// Whether the Cloud Run service agent of a project number may use a key.
    ServiceAgentAccess { key: String, project_number: String },
    /// An Artifact Registry repository, by name.
    Repository(String),
}

/// What one question was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    Key(KeyFacts),
    ProjectNumber(String),
    ServiceAgentAccess(bool),
    Repository(RepositoryFacts),
}

/// The answer to one question: a fact, `None` for a resource that does not exist, or why it
/// could not be read.
pub type Reply = Result<Option<Fact>, String>;

/// The answers read, and the questions still open.
#[derive(Debug, Default)]
pub struct Snapshot {
    answers: HashMap<Question, Reply>,
    asked: Mutex<BTreeSet<Question>>,
}

impl Snapshot {
    pub fn new() -> Snapshot {
        Snapshot::default()
    }

    /// Records an answer.
    pub fn answer(&mut self, question: Question, reply: Reply) {
        self.answers.insert(question, reply);
    }

    /// The questions asked since the last call that have no answer, in order.
    pub fn take_open_questions(&self) -> Vec<Question> {
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *asked).into_iter().collect()
    }

    /// The replies that say the data could not be read.
    pub fn failures(&self) -> impl Iterator<Item = (&Question, &String)> {
        self.answers.iter().filter_map(|(q, r)| match r {
            Err(message) => Some((q, message)),
            Ok(_) => None,
        })
    }

    fn ask<T>(&self, question: Question, fact: impl FnOnce(Fact) -> Option<T>) -> Answer<T> {
        match self.answers.get(&question) {
            Some(Ok(Some(found))) => match fact(found.clone()) {
                Some(value) => Ok(Some(value)),
                None => Err(LiveError::Failed(
                    "the snapshot holds another kind of answer".into(),
                )),
            },
            Some(Ok(None)) => Ok(None),
            Some(Err(message)) => Err(LiveError::Failed(message.clone())),
            None => {
                self.asked
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(question);
                Err(LiveError::Pending)
            }
        }
    }
}

impl LiveData for Snapshot {
    fn key(&self, name: &str) -> Answer<KeyFacts> {
        self.ask(Question::Key(name.to_owned()), |f| match f {
            Fact::Key(k) => Some(k),
            _ => None,
        })
    }

    fn project_number(&self, project: &str) -> Answer<String> {
        self.ask(Question::ProjectNumber(project.to_owned()), |f| match f {
            Fact::ProjectNumber(n) => Some(n),
            _ => None,
        })
    }

    fn service_agent_can_use(&self, key: &str, project_number: &str) -> Answer<bool> {
        let question = Question::ServiceAgentAccess {
            key: key.to_owned(),
            project_number: project_number.to_owned(),
        };
        self.ask(question, |f| match f {
            Fact::ServiceAgentAccess(b) => Some(b),
            _ => None,
        })
    }

    fn repository(&self, name: &str) -> Answer<RepositoryFacts> {
        self.ask(Question::Repository(name.to_owned()), |f| match f {
            Fact::Repository(r) => Some(r),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unanswered_questions_are_noted_once_and_answers_are_read() {
        let mut snapshot = Snapshot::new();
        assert_eq!(snapshot.key("k"), Err(LiveError::Pending));
        assert_eq!(snapshot.key("k"), Err(LiveError::Pending));
        assert_eq!(snapshot.project_number("p"), Err(LiveError::Pending));
        assert_eq!(
            snapshot.take_open_questions(),
            vec![
                Question::Key("k".into()),
                Question::ProjectNumber("p".into())
            ]
        );
        assert!(snapshot.take_open_questions().is_empty());
        snapshot.answer(Question::Key("k".into()), Ok(None));
        snapshot.answer(
            Question::ProjectNumber("p".into()),
            Ok(Some(Fact::ProjectNumber("42".into()))),
        );
        snapshot.answer(Question::Repository("r".into()), Err("timeout".into()));
        assert_eq!(snapshot.key("k"), Ok(None));
        assert_eq!(snapshot.project_number("p"), Ok(Some("42".into())));
        assert_eq!(
            snapshot.repository("r"),
            Err(LiveError::Failed("timeout".into()))
        );
        assert!(snapshot.take_open_questions().is_empty());
        assert_eq!(snapshot.failures().count(), 1);
    }
}
