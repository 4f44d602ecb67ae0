//! The reads the live checks make, each one call of a published API method (response shapes
//! in [`super::resources`]): `Ok(None)` means Google answered NOT_FOUND.

use super::client::Call;
use super::iam::{self, KeyAccess, Level, Policy};
use super::resources::{check_project, CryptoKey, KeyName, Project, Repository, RepositoryName};
use super::{Api, GoogleClient, GoogleError};
use hyper::Method;
use serde::de::DeserializeOwned;
use serde_json::json;

/// The IAM policy version asked for: 3, so that conditional bindings show their condition.
const POLICY_VERSION: u32 = 3;

fn decode<T: DeserializeOwned>(
    api: Api,
    resource: &str,
    answer: Option<std::sync::Arc<serde_json::Value>>,
) -> Result<Option<T>, GoogleError> {
    answer
        .map(|value| {
            T::deserialize(&*value).map_err(|e| GoogleError::Decode {
                api: api.name(),
                resource: resource.to_string(),
                message: e.to_string(),
            })
        })
        .transpose()
}

impl GoogleClient {
    /// `cloudkms.projects.locations.keyRings.cryptoKeys.get`.
    pub async fn crypto_key(&self, key: &KeyName) -> Result<Option<CryptoKey>, GoogleError> {
        let resource = key.path();
        let answer = self
            .call(Call {
                api: Api::Kms,
                method: Method::GET,
                path: format!("v1/{resource}"),
                body: None,
                resource: &resource,
                permission: "cloudkms.cryptoKeys.get",
            })
            .await?;
        decode(Api::Kms, &resource, answer)
    }

    /// `cloudkms.projects.locations.keyRings.cryptoKeys.getIamPolicy`.
    pub async fn key_iam_policy(&self, key: &KeyName) -> Result<Option<Policy>, GoogleError> {
        self.kms_iam_policy(key.path(), "cloudkms.cryptoKeys.getIamPolicy")
            .await
    }

    /// `cloudkms.projects.locations.keyRings.getIamPolicy`.
    pub async fn key_ring_iam_policy(&self, key: &KeyName) -> Result<Option<Policy>, GoogleError> {
        self.kms_iam_policy(key.key_ring_path(), "cloudkms.keyRings.getIamPolicy")
            .await
    }

    async fn kms_iam_policy(
        &self,
        resource: String,
        permission: &'static str,
    ) -> Result<Option<Policy>, GoogleError> {
        let answer = self
            .call(Call {
                api: Api::Kms,
                method: Method::GET,
                path: format!(
                    "v1/{resource}:getIamPolicy?options.requestedPolicyVersion={POLICY_VERSION}"
                ),
                body: None,
                resource: &resource,
                permission,
            })
            .await?;
        decode(Api::Kms, &resource, answer)
    }

    /// `cloudresourcemanager.projects.get` (v1), for the project number.
    pub async fn project(&self, project: &str) -> Result<Option<Project>, GoogleError> {
        check_project(project)?;
        let resource = format!("projects/{project}");
        let answer = self
            .call(Call {
                api: Api::ResourceManager,
                method: Method::GET,
                path: format!("v1/{resource}"),
                body: None,
                resource: &resource,
                permission: "resourcemanager.projects.get",
            })
            .await?;
        decode(Api::ResourceManager, &resource, answer)
    }

    /// The project number of a project ID (a number is returned as it is, without a call).
    pub async fn project_number(&self, project: &str) -> Result<Option<String>, GoogleError> {
        check_project(project)?;
        if project.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Some(project.to_string()));
        }
        Ok(self
            .project(project)
            .await?
            .map(|p| p.project_number)
            .filter(|n| !n.is_empty()))
    }

    /// `cloudresourcemanager.projects.getIamPolicy` (v1, a POST).
    pub async fn project_iam_policy(&self, project: &str) -> Result<Option<Policy>, GoogleError> {
        check_project(project)?;
        let resource = format!("projects/{project}");
        let answer = self
            .call(Call {
                api: Api::ResourceManager,
                method: Method::POST,
                path: format!("v1/{resource}:getIamPolicy"),
                body: Some(json!({"options": {"requestedPolicyVersion": POLICY_VERSION}})),
                resource: &resource,
                permission: "resourcemanager.projects.getIamPolicy",
            })
            .await?;
        decode(Api::ResourceManager, &resource, answer)
    }

    /// `artifactregistry.projects.locations.repositories.get`.
    pub async fn repository(
        &self,
        repository: &RepositoryName,
    ) -> Result<Option<Repository>, GoogleError> {
        let resource = repository.path();
        let answer = self
            .call(Call {
                api: Api::ArtifactRegistry,
                method: Method::GET,
                path: format!("v1/{resource}"),
                body: None,
                resource: &resource,
                permission: "artifactregistry.repositories.get",
            })
            .await?;
        decode(Api::ArtifactRegistry, &resource, answer)
    }

    /// Whether the Cloud Run service agent of `project_number` can use the key: the policies of
    /// the key, its key ring and the key's project, judged by [`iam::key_access`]. A policy
    /// that is NOT_FOUND counts as empty; any other error is returned (the caller decides).
    pub async fn service_agent_key_access(
        &self,
        key: &KeyName,
        project_number: &str,
    ) -> Result<KeyAccess, GoogleError> {
        let (on_key, on_ring, on_project) = tokio::try_join!(
            self.key_iam_policy(key),
            self.key_ring_iam_policy(key),
            self.project_iam_policy(&key.project),
        )?;
        let empty = Policy::default();
        let agent = iam::cloud_run_service_agent(project_number);
        Ok(iam::key_access(
            &agent,
            &[
                (Level::Key, on_key.as_ref().unwrap_or(&empty)),
                (Level::KeyRing, on_ring.as_ref().unwrap_or(&empty)),
                (Level::Project, on_project.as_ref().unwrap_or(&empty)),
            ],
        ))
    }
}
