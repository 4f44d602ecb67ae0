//! Answering the `kms` extension's questions from Google: every open question of a round read
//! concurrently through the one [`GoogleClient`] (its cache, retries and concurrency cap), and
//! turned into the snapshot's replies.

use super::snapshot::{Fact, Question, Reply};
use crate::google::resources::{KeyName, RepositoryName};
use crate::google::GoogleClient;
use std::sync::Arc;
use tokio::runtime::{Handle, Runtime};

/// Reads questions from Google on a Tokio runtime: the server's (its handle), or one of its
/// own (the CLI).
pub struct Fetcher {
    client: GoogleClient,
    handle: Handle,
    _runtime: Option<Arc<Runtime>>,
}

impl Fetcher {
    /// A fetcher on the current runtime (inside the server).
    pub fn on_current_runtime(client: GoogleClient) -> Fetcher {
        Fetcher {
            client,
            handle: Handle::current(),
            _runtime: None,
        }
    }

    /// A fetcher with a runtime of its own (the CLI, which has none).
    pub fn with_runtime(client: GoogleClient, runtime: Arc<Runtime>) -> Fetcher {
        Fetcher {
            client,
            handle: runtime.handle().clone(),
            _runtime: Some(runtime),
        }
    }

    pub fn client(&self) -> &GoogleClient {
        &self.client
    }

    /// Answers the questions, blocking this thread until they are read: call it from a
    /// blocking thread (the server's evaluations run on one) or outside any runtime.
    pub fn resolve_blocking(&self, questions: &[Question]) -> Vec<(Question, Reply)> {
        self.handle.block_on(resolve(&self.client, questions))
    }
}

/// Answers the questions concurrently.
pub async fn resolve(client: &GoogleClient, questions: &[Question]) -> Vec<(Question, Reply)> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, question) in questions.iter().cloned().enumerate() {
        let client = client.clone();
        tasks.spawn(async move { (i, reply(&client, &question).await) });
    }
    let mut replies: Vec<Option<Reply>> = vec![None; questions.len()];
    while let Some(done) = tasks.join_next().await {
        if let Ok((i, reply)) = done {
            replies[i] = Some(reply);
        }
    }
    questions
        .iter()
        .cloned()
        .zip(replies)
        .map(|(q, r)| (q, r.unwrap_or_else(|| Err("the read was cancelled".into()))))
        .collect()
}

/// Reads one answer.
pub async fn reply(client: &GoogleClient, question: &Question) -> Reply {
    let text = |e: crate::google::GoogleError| e.to_string();
    match question {
        Question::Key(name) => {
            let name = KeyName::parse(name).map_err(|e| e.to_string())?;
            let key = client.crypto_key(&name).await.map_err(text)?;
            Ok(key.map(|k| Fact::Key(super::key_facts(&k))))
        }
        Question::ProjectNumber(project) => {
            let number = client.project_number(project).await.map_err(text)?;
            Ok(number.map(Fact::ProjectNumber))
        }
        Question::ServiceAgentAccess {
            key,
            project_number,
        } => {
            let name = KeyName::parse(key).map_err(|e| e.to_string())?;
            let access = client
                .service_agent_key_access(&name, project_number)
                .await
                .map_err(text)?;
            Ok(Some(Fact::ServiceAgentAccess(access.can_use())))
        }
        Question::Repository(name) => {
            let name = RepositoryName::parse(name).map_err(|e| e.to_string())?;
            let repository = client.repository(&name).await.map_err(text)?;
            Ok(repository.map(|r| Fact::Repository(super::repository_facts(&r))))
        }
    }
}
