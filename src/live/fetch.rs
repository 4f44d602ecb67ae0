//! Answering the `kms` extension's questions from Google: every open question of a round read
//! concurrently through the one [`GoogleClient`] (its cache, retries and concurrency cap), and
//! turned into the snapshot's replies.

use super::snapshot::{Fact, Question, Reply};
use crate::google::resources::{KeyName, RepositoryName};
use crate::google::{
    AdcTokenSource, CallObserver, FileTokenSource, GoogleClient, GoogleClientOptions, GoogleError,
    TokenSource,
};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::runtime::{Handle, Runtime};

/// How live mode reads Google: the client's options, where its token comes from, and what a
/// failure to read does.
#[derive(Debug, Clone, Default)]
pub struct LiveSettings {
    pub client: GoogleClientOptions,
    /// A file holding an access token; `None`: Application Default Credentials.
    pub access_token_file: Option<PathBuf>,
    pub unreachable: super::Unreachable,
}

impl LiveSettings {
    /// The token source: the file's, or Application Default Credentials (found now).
    pub async fn token_source(&self) -> Result<Arc<dyn TokenSource>, GoogleError> {
        Ok(match &self.access_token_file {
            Some(path) => Arc::new(FileTokenSource::new(path.clone())),
            None => Arc::new(AdcTokenSource::discover().await?),
        })
    }

    /// The Google client, telling `observer` about its calls (metrics) when given.
    pub async fn client(
        &self,
        observer: Option<Arc<dyn CallObserver>>,
    ) -> Result<GoogleClient, GoogleError> {
        let tokens = self.token_source().await?;
        match observer {
            Some(observer) => GoogleClient::with_observer(self.client.clone(), tokens, observer),
            None => GoogleClient::new(self.client.clone(), tokens),
        }
    }

    /// Live mode inside the server (on its runtime).
    pub async fn live_on_current_runtime(
        &self,
        observer: Option<Arc<dyn CallObserver>>,
    ) -> Result<super::Live, GoogleError> {
        let client = self.client(observer).await?;
        Ok(super::Live {
            source: super::Source::Google(Fetcher::on_current_runtime(client)),
            unreachable: self.unreachable,
        })
    }

    /// Live mode for a command without a runtime (it gets one of its own).
    pub fn live_with_runtime(&self) -> Result<super::Live, GoogleError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| GoogleError::Client(format!("cannot start the runtime: {e}")))?;
        let client = runtime.block_on(self.client(None))?;
        Ok(super::Live {
            source: super::Source::Google(Fetcher::with_runtime(client, Arc::new(runtime))),
            unreachable: self.unreachable,
        })
    }
}

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
    /// thread that is not a runtime's worker (the server's evaluation threads) or outside any
    /// runtime.
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
