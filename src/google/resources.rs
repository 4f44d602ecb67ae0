//! The resources the live checks read, in the shapes of the APIs' published discovery
//! documents (only the fields used), and the resource names they are read by. Pure.
//!
//! - Cloud KMS v1 `CryptoKey` (`projects.locations.keyRings.cryptoKeys.get`);
//! - Cloud Resource Manager v1 `Project` (`projects.get`: `projectNumber`);
//! - Artifact Registry v1 `Repository` (`projects.locations.repositories.get`: `kmsKeyName`).

// Names are split as the `kms` CEL library splits them: each value a segment of letters, digits,
// `_` and `-` (no `/`, `.` or escapes, so nothing in it can change the URL it goes into).
use cel_k8s::libs::kms::split_name;
use serde::Deserialize;

/// A resource name that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} name {name:?}: expected {expected}")]
pub struct NameError {
    pub what: &'static str,
    pub name: String,
    pub expected: &'static str,
}

/// `projects/P/locations/L/keyRings/R/cryptoKeys/K`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyName {
    pub project: String,
    pub location: String,
    pub key_ring: String,
    pub key: String,
}

impl KeyName {
    pub fn parse(name: &str) -> Result<KeyName, NameError> {
        let [project, location, key_ring, key] =
            split_name(name, ["projects", "locations", "keyRings", "cryptoKeys"]).ok_or_else(
                || NameError {
                    what: "key",
                    name: name.to_string(),
                    expected: "projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY",
                },
            )?;
        Ok(KeyName {
            project: project.into(),
            location: location.into(),
            key_ring: key_ring.into(),
            key: key.into(),
        })
    }

    /// The key's resource name.
    pub fn path(&self) -> String {
        format!("{}/cryptoKeys/{}", self.key_ring_path(), self.key)
    }

    /// Its key ring's resource name.
    pub fn key_ring_path(&self) -> String {
        format!(
            "projects/{}/locations/{}/keyRings/{}",
            self.project, self.location, self.key_ring
        )
    }
}

/// `projects/P/locations/L/repositories/R`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepositoryName {
    pub project: String,
    pub location: String,
    pub repository: String,
}

impl RepositoryName {
    pub fn parse(name: &str) -> Result<RepositoryName, NameError> {
        let [project, location, repository] =
            split_name(name, ["projects", "locations", "repositories"]).ok_or_else(|| {
                NameError {
                    what: "repository",
                    name: name.to_string(),
                    expected: "projects/PROJECT/locations/LOCATION/repositories/REPOSITORY",
                }
            })?;
        Ok(RepositoryName {
            project: project.into(),
            location: location.into(),
            repository: repository.into(),
        })
    }

    pub fn path(&self) -> String {
        format!(
            "projects/{}/locations/{}/repositories/{}",
            self.project, self.location, self.repository
        )
    }
}

/// A project ID (6 to 30 lower-case letters, digits and hyphens, starting with a letter) or a
/// project number, checked before it goes into a URL.
pub fn check_project(project: &str) -> Result<(), NameError> {
    let id = project.len() >= 6
        && project.len() <= 30
        && project.starts_with(|c: char| c.is_ascii_lowercase())
        && !project.ends_with('-')
        && project
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let number =
        !project.is_empty() && project.len() <= 20 && project.bytes().all(|b| b.is_ascii_digit());
    if id || number {
        Ok(())
    } else {
        Err(NameError {
            what: "project",
            name: project.to_string(),
            expected: "a project ID or number",
        })
    }
}

/// A Cloud KMS `CryptoKey`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CryptoKey {
    #[serde(default)]
    pub name: String,
    /// `ENCRYPT_DECRYPT` for the symmetric keys Cloud Run takes.
    #[serde(default)]
    pub purpose: String,
    /// The primary version; absent when the key has none (for example all destroyed).
    #[serde(default)]
    pub primary: Option<CryptoKeyVersion>,
    /// A duration such as `"7776000s"`; absent when the key does not rotate.
    #[serde(default)]
    pub rotation_period: Option<String>,
    /// RFC 3339; absent when the key does not rotate.
    #[serde(default)]
    pub next_rotation_time: Option<String>,
    #[serde(default)]
    pub version_template: Option<VersionTemplate>,
}

/// A `CryptoKeyVersion` (the primary one).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CryptoKeyVersion {
    #[serde(default)]
    pub name: String,
    /// `ENABLED`, `DISABLED`, `DESTROYED`, `DESTROY_SCHEDULED`, `PENDING_GENERATION`, ...
    #[serde(default)]
    pub state: String,
    /// `SOFTWARE`, `HSM`, `EXTERNAL`, `EXTERNAL_VPC`, ...
    #[serde(default)]
    pub protection_level: String,
}

/// A `CryptoKeyVersionTemplate`: what new versions will be.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionTemplate {
    #[serde(default)]
    pub protection_level: String,
    #[serde(default)]
    pub algorithm: String,
}

impl CryptoKey {
    /// The primary version's state, or `""` when there is no primary version.
    pub fn primary_state(&self) -> &str {
        self.primary.as_ref().map_or("", |p| p.state.as_str())
    }

    /// The primary version's protection level, else the version template's.
    pub fn protection_level(&self) -> &str {
        match &self.primary {
            Some(p) if !p.protection_level.is_empty() => &p.protection_level,
            _ => self
                .version_template
                .as_ref()
                .map_or("", |t| t.protection_level.as_str()),
        }
    }

    /// The rotation period in seconds, when set and well formed (`"7776000s"`, `"1.5s"`).
    pub fn rotation_period_seconds(&self) -> Option<u64> {
        let text = self.rotation_period.as_deref()?.strip_suffix('s')?;
        let whole = text.split('.').next()?;
        whole.parse().ok()
    }
}

/// A Cloud Resource Manager v1 `Project`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    #[serde(default)]
    pub project_id: String,
    /// An int64 sent as a JSON string.
    #[serde(default)]
    pub project_number: String,
    #[serde(default)]
    pub lifecycle_state: String,
}

/// An Artifact Registry v1 `Repository`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub format: String,
    /// The CMEK key protecting the repository; absent or empty with Google-managed encryption.
    #[serde(default)]
    pub kms_key_name: Option<String>,
}

impl Repository {
    /// The repository's CMEK key, if it has one.
    pub fn cmek_key(&self) -> Option<&str> {
        self.kms_key_name.as_deref().filter(|k| !k.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names() {
        let cases = [
            (
                "projects/p-1/locations/europe-west1/keyRings/r_1/cryptoKeys/k-1",
                true,
            ),
            ("projects/123/locations/us/keyRings/r/cryptoKeys/k", true),
            (
                "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
                false,
            ),
            ("projects/p/locations/l/keyRings/r/cryptoKey/k", false),
            ("projects/p/locations/l/keyRings/r/cryptoKeys/", false),
            ("projects/p/locations/l/keyRings/../cryptoKeys/k", false),
            ("projects/p/locations/l/keyRings/r%2F/cryptoKeys/k", false),
            ("projects/p/locations/l/keyRings/r?x/cryptoKeys/k", false),
            ("", false),
        ];
        for (name, ok) in cases {
            assert_eq!(KeyName::parse(name).is_ok(), ok, "{name}");
        }
        let key = KeyName::parse("projects/p/locations/l/keyRings/r/cryptoKeys/k").unwrap();
        assert_eq!(key.path(), "projects/p/locations/l/keyRings/r/cryptoKeys/k");
        assert_eq!(key.key_ring_path(), "projects/p/locations/l/keyRings/r");
        let error = KeyName::parse("projects/p").unwrap_err().to_string();
        assert!(error.contains("invalid key name \"projects/p\""), "{error}");
    }

    #[test]
    fn repository_names_and_projects() {
        assert!(
            RepositoryName::parse("projects/p/locations/europe-west1/repositories/images").is_ok()
        );
        assert!(RepositoryName::parse("projects/p/locations/europe-west1/repositories").is_err());
        for (project, ok) in [
            ("my-project", true),
            ("123456789012", true),
            ("short", false),
            ("Upper-case", false),
            ("ends-with-", false),
            ("has/slash1", false),
            ("", false),
        ] {
            assert_eq!(check_project(project).is_ok(), ok, "{project}");
        }
    }

    #[test]
    fn a_crypto_key_from_the_discovery_shape() {
        let key: CryptoKey = serde_json::from_str(
            r#"{"name": "projects/p/locations/l/keyRings/r/cryptoKeys/k",
                "primary": {"name": "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/3",
                            "state": "ENABLED", "protectionLevel": "HSM",
                            "algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION", "createTime": "2026-01-01T00:00:00Z"},
                "purpose": "ENCRYPT_DECRYPT", "createTime": "2025-01-01T00:00:00Z",
                "nextRotationTime": "2027-01-01T00:00:00Z", "rotationPeriod": "7776000s",
                "versionTemplate": {"protectionLevel": "HSM", "algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION"},
                "destroyScheduledDuration": "86400s"}"#,
        )
        .unwrap();
        assert_eq!(key.primary_state(), "ENABLED");
        assert_eq!(key.protection_level(), "HSM");
        assert_eq!(key.rotation_period_seconds(), Some(7_776_000));
        let bare: CryptoKey = serde_json::from_str(
            r#"{"purpose": "ENCRYPT_DECRYPT", "versionTemplate": {"protectionLevel": "SOFTWARE"}}"#,
        )
        .unwrap();
        assert_eq!(bare.primary_state(), "");
        assert_eq!(bare.protection_level(), "SOFTWARE");
        assert_eq!(bare.rotation_period_seconds(), None);
    }

    #[test]
    fn projects_and_repositories_from_the_discovery_shape() {
        let project: Project = serde_json::from_str(
            r#"{"projectNumber": "415104041262", "projectId": "my-project", "lifecycleState": "ACTIVE", "name": "My Project"}"#,
        )
        .unwrap();
        assert_eq!(project.project_number, "415104041262");
        let plain: Repository = serde_json::from_str(
            r#"{"name": "projects/p/locations/l/repositories/r", "format": "DOCKER"}"#,
        )
        .unwrap();
        assert_eq!(plain.cmek_key(), None);
        let cmek: Repository = serde_json::from_str(
            r#"{"name": "projects/p/locations/l/repositories/r", "format": "DOCKER",
                "kmsKeyName": "projects/p/locations/l/keyRings/r/cryptoKeys/k"}"#,
        )
        .unwrap();
        assert_eq!(
            cmek.cmek_key(),
            Some("projects/p/locations/l/keyRings/r/cryptoKeys/k")
        );
    }
}
