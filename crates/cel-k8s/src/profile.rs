//! Which CEL an expression may use: the Kubernetes release whose admission environment it
//! targets, and which of cmek-gate's extensions beyond Kubernetes it asks for.
//!
//! The release table is Kubernetes' own (`k8s.io/apiserver` v0.37.2,
//! `pkg/cel/environment/base.go`, see `docs/kubernetes-versions.md`): what a release's
//! `MustBaseEnvSet(version).NewExpressionsEnv()` compiles. Releases before 1.30 are not offered
//! (the gate's oldest target), so what 1.30 already had (sets, IP and CIDR, optionals,
//! quantities, strings version 2) is never gated.

use std::fmt;

/// A Kubernetes release, `1.MINOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubernetesVersion {
    minor: u8,
}

impl KubernetesVersion {
    /// The oldest release the gate targets.
    pub const OLDEST: KubernetesVersion = KubernetesVersion { minor: 30 };
    /// The newest release the gate knows (the default target).
    pub const NEWEST: KubernetesVersion = KubernetesVersion { minor: 37 };

    /// `1.minor`, if the gate targets it.
    pub const fn new(minor: u8) -> Option<KubernetesVersion> {
        if minor >= Self::OLDEST.minor && minor <= Self::NEWEST.minor {
            Some(KubernetesVersion { minor })
        } else {
            None
        }
    }

    pub fn minor(self) -> u8 {
        self.minor
    }

    /// Every release the gate targets, oldest first.
    pub fn all() -> impl Iterator<Item = KubernetesVersion> {
        (Self::OLDEST.minor..=Self::NEWEST.minor).map(|minor| KubernetesVersion { minor })
    }

    /// The cost limits of this release's API server for admission policies (`k8s.io/apiserver`
    /// `pkg/apis/cel/config.go`): the same for every release the gate targets.
    pub fn cost_limits(self) -> CostLimits {
        CostLimits {
            per_call: 1_000_000,
            per_binding: 10_000_000,
        }
    }
}

/// The runtime cost limits an API server applies to admission policies, in cel-go's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostLimits {
    /// `PerCallLimit`: one evaluation of one expression.
    pub per_call: u64,
    /// `RuntimeCELCostBudget`: every expression of one policy binding on one request, for
    /// ValidatingAdmissionPolicy and MutatingAdmissionPolicy alike.
    pub per_binding: u64,
}

impl Default for KubernetesVersion {
    fn default() -> Self {
        KubernetesVersion::NEWEST
    }
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.minor)
    }
}

/// A `--kubernetes-version` (or setting) that is not a release the gate targets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("{0:?} is not a Kubernetes version: write MAJOR.MINOR, e.g. {newest}", newest = KubernetesVersion::NEWEST)]
    Malformed(String),
    #[error("Kubernetes {0} is not supported: the gate targets {oldest} to {newest}", oldest = KubernetesVersion::OLDEST, newest = KubernetesVersion::NEWEST)]
    OutOfRange(String),
}

impl std::str::FromStr for KubernetesVersion {
    type Err = VersionError;

    /// `1.33` (a leading `v` and a patch, `v1.33.2`, are accepted and the patch ignored).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = || VersionError::Malformed(text.to_owned());
        let trimmed = text.trim();
        let bare = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let mut parts = bare.split('.');
        let number = |part: Option<&str>| -> Result<u32, VersionError> {
            let part = part.ok_or_else(malformed)?;
            if part.is_empty() || part.len() > 4 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(malformed());
            }
            part.parse().map_err(|_| malformed())
        };
        let major = number(parts.next())?;
        let minor = number(parts.next())?;
        if let Some(patch) = parts.next() {
            number(Some(patch))?;
        }
        if parts.next().is_some() {
            return Err(malformed());
        }
        u8::try_from(minor)
            .ok()
            .filter(|_| major == 1)
            .and_then(KubernetesVersion::new)
            .ok_or_else(|| VersionError::OutOfRange(format!("{major}.{minor}")))
    }
}

/// What cmek-gate offers beyond Kubernetes' CEL: never by default, only where a policy asks
/// (`cmek-gate.dev/cel-extensions`) or the gate is told to (`--cel-extensions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Extension {
    /// cel-go's ext.Math: `math.*`, `math.greatest`, `math.least`.
    Math,
    /// cel-go's ext.Encoders: `base64.encode`, `base64.decode`.
    Encoders,
    /// cel-go's ext.Bindings: `cel.bind`.
    Bind,
    /// cel-go's ext.Strings at version 3: `string.reverse()`.
    Strings,
    /// cmek-gate's live Cloud KMS and Artifact Registry facts: `kms.*` ([`crate::libs::kms`]).
    Kms,
}

impl Extension {
    pub const ALL: [Extension; 5] = [
        Extension::Math,
        Extension::Encoders,
        Extension::Bind,
        Extension::Strings,
        Extension::Kms,
    ];

    /// The name a policy or setting asks for it by.
    pub fn name(self) -> &'static str {
        match self {
            Extension::Math => "math",
            Extension::Encoders => "encoders",
            Extension::Bind => "bind",
            Extension::Strings => "strings",
            Extension::Kms => "kms",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Extensions(u8);

/// A name in an extension list that is no extension.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown CEL extension {name:?} (the extensions are {})", Extension::ALL.map(Extension::name).join(", "))]
pub struct UnknownExtension {
    pub name: String,
}

impl Extensions {
    /// None.
    pub const NONE: Extensions = Extensions(0);

    /// Every extension.
    pub fn all() -> Extensions {
        Extension::ALL.into_iter().collect()
    }

    /// A comma-separated list of names (`math,bind`; spaces and empty items are ignored).
    pub fn parse(list: &str) -> Result<Extensions, UnknownExtension> {
        let mut set = Extensions::NONE;
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let extension = Extension::ALL
                .into_iter()
                .find(|e| e.name() == name)
                .ok_or_else(|| UnknownExtension {
                    name: name.to_owned(),
                })?;
            set = set.with(extension);
        }
        Ok(set)
    }

    pub fn with(self, extension: Extension) -> Extensions {
        Extensions(self.0 | extension.bit())
    }

    pub fn union(self, other: Extensions) -> Extensions {
        Extensions(self.0 | other.0)
    }

    pub fn contains(self, extension: Extension) -> bool {
        self.0 & extension.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Extension> {
        Extension::ALL
            .into_iter()
            .filter(move |e| self.contains(*e))
    }
}

impl FromIterator<Extension> for Extensions {
    fn from_iter<I: IntoIterator<Item = Extension>>(iter: I) -> Self {
        iter.into_iter().fold(Extensions::NONE, Extensions::with)
    }
}

impl fmt::Display for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Extension::name).collect();
        f.write_str(&names.join(","))
    }
}

/// Something not every target offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// Kubernetes' named formats (`format.dns1123Label()`, ...): 1.31.
    NamedFormats,
    /// cel-go's two-variable comprehensions: 1.32.
    TwoVariableComprehensions,
    /// Kubernetes' semver library (version 1): 1.33.
    Semver,
    /// cel-go's optional library at version 2 (`list.first()`, `list.last()`,
    /// `optional.unwrap(list)`, `list.unwrapOpt()`): cel-go v0.23, first vendored by 1.33.
    OptionalVersion2,
    /// cel-go's ext.Lists at version 3 (`slice`, `flatten`, `sort`, `sortBy`, `distinct`,
    /// `reverse`, `lists.range`): 1.34.
    ListsVersion3,
    /// Kubernetes' lists library at version 1 (`includes`): 1.37.
    ListsIncludes,
    /// In no Kubernetes release: one of cmek-gate's extensions.
    Extension(Extension),
    /// In no Kubernetes release, and no extension offers it; the text says what to write.
    Never(&'static str),
}

impl Feature {
    /// The first release that has it, for those Kubernetes has.
    pub fn since(self) -> Option<KubernetesVersion> {
        let minor = match self {
            Feature::NamedFormats => 31,
            Feature::TwoVariableComprehensions => 32,
            Feature::Semver | Feature::OptionalVersion2 => 33,
            Feature::ListsVersion3 => 34,
            Feature::ListsIncludes => 37,
            Feature::Extension(_) | Feature::Never(_) => return None,
        };
        KubernetesVersion::new(minor)
    }
}

/// The CEL an expression may use: a Kubernetes release's admission environment, plus the
/// extensions asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Profile {
    pub version: KubernetesVersion,
    pub extensions: Extensions,
}

impl Profile {
    /// The newest release with every extension: everything the crate implements.
    pub fn everything() -> Profile {
        Profile {
            version: KubernetesVersion::NEWEST,
            extensions: Extensions::all(),
        }
    }

    pub fn new(version: KubernetesVersion, extensions: Extensions) -> Profile {
        Profile {
            version,
            extensions,
        }
    }

    /// Whether an expression targeting this profile may use `feature`.
    pub fn offers(&self, feature: Feature) -> bool {
        match feature {
            Feature::Extension(e) => self.extensions.contains(e),
            Feature::Never(_) => false,
            other => other.since().is_some_and(|since| self.version >= since),
        }
    }

    /// Why `what` (a function or macro, as written) is refused here, saying how to have it.
    pub fn refusal(&self, what: &str, feature: Feature) -> String {
        match feature {
            Feature::Extension(e) => format!(
                "{what} is not in Kubernetes' CEL: it is cmek-gate's \"{name}\" extension; ask for it \
                 with the policy annotation cmek-gate.dev/cel-extensions: \"{name}\" \
                 (or --cel-extensions {name}), and the API server will still refuse the policy",
                name = e.name()
            ),
            Feature::Never(hint) => format!("{what} is not offered here: {hint}"),
            other => format!(
                "{what} needs Kubernetes {} or newer; --kubernetes-version is {}",
                other.since().unwrap_or(KubernetesVersion::NEWEST),
                self.version
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_or_say_why_not() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("1.30", Ok("1.30")),
            ("1.37", Ok("1.37")),
            ("v1.33", Ok("1.33")),
            ("1.34.2", Ok("1.34")),
            (" 1.31 ", Ok("1.31")),
            (
                "1.29",
                Err("Kubernetes 1.29 is not supported: the gate targets 1.30 to 1.37"),
            ),
            (
                "1.38",
                Err("Kubernetes 1.38 is not supported: the gate targets 1.30 to 1.37"),
            ),
            (
                "2.30",
                Err("Kubernetes 2.30 is not supported: the gate targets 1.30 to 1.37"),
            ),
            (
                "1.300",
                Err("Kubernetes 1.300 is not supported: the gate targets 1.30 to 1.37"),
            ),
            (
                "1",
                Err("\"1\" is not a Kubernetes version: write MAJOR.MINOR, e.g. 1.37"),
            ),
            (
                "1.",
                Err("\"1.\" is not a Kubernetes version: write MAJOR.MINOR, e.g. 1.37"),
            ),
            (
                "latest",
                Err("\"latest\" is not a Kubernetes version: write MAJOR.MINOR, e.g. 1.37"),
            ),
            (
                "1.3x",
                Err("\"1.3x\" is not a Kubernetes version: write MAJOR.MINOR, e.g. 1.37"),
            ),
            (
                "1.33.1.1",
                Err("\"1.33.1.1\" is not a Kubernetes version: write MAJOR.MINOR, e.g. 1.37"),
            ),
            (
                "-1.33",
                Err("\"-1.33\" is not a Kubernetes version: write MAJOR.MINOR, e.g. 1.37"),
            ),
        ];
        for (text, expected) in cases {
            let got = text
                .parse::<KubernetesVersion>()
                .map(|v| v.to_string())
                .map_err(|e| e.to_string());
            assert_eq!(
                got,
                expected.map(str::to_owned).map_err(str::to_owned),
                "{text}"
            );
        }
        assert_eq!(KubernetesVersion::all().count(), 8);
        // k8s.io/apiserver/pkg/apis/cel/config.go has had the same limits since before 1.30.
        for version in KubernetesVersion::all() {
            let limits = version.cost_limits();
            assert_eq!(
                (limits.per_call, limits.per_binding),
                (1_000_000, 10_000_000)
            );
        }
        assert_eq!(KubernetesVersion::default(), KubernetesVersion::NEWEST);
    }

    #[test]
    fn extension_lists_parse_or_name_the_unknown_one() {
        let set = Extensions::parse(" math, bind,,kms ").unwrap();
        assert_eq!(set.to_string(), "math,bind,kms");
        assert!(set.contains(Extension::Kms) && !set.contains(Extension::Strings));
        assert_eq!(Extensions::parse("").unwrap(), Extensions::NONE);
        assert_eq!(
            Extensions::parse("math,base64").unwrap_err().to_string(),
            "unknown CEL extension \"base64\" (the extensions are math, encoders, bind, strings, kms)"
        );
        assert_eq!(Extensions::all().iter().count(), Extension::ALL.len());
    }

    #[test]
    fn a_profile_offers_what_its_release_and_extensions_have() {
        let at = |minor: u8, extensions: &str| {
            Profile::new(
                KubernetesVersion::new(minor).unwrap(),
                Extensions::parse(extensions).unwrap(),
            )
        };
        let cases = [
            (at(30, ""), Feature::NamedFormats, false),
            (at(31, ""), Feature::NamedFormats, true),
            (at(31, ""), Feature::TwoVariableComprehensions, false),
            (at(32, ""), Feature::TwoVariableComprehensions, true),
            (at(32, ""), Feature::Semver, false),
            (at(33, ""), Feature::Semver, true),
            (at(33, ""), Feature::ListsVersion3, false),
            (at(34, ""), Feature::ListsVersion3, true),
            (at(36, ""), Feature::ListsIncludes, false),
            (at(37, ""), Feature::ListsIncludes, true),
            (at(37, ""), Feature::Extension(Extension::Math), false),
            (at(30, "math"), Feature::Extension(Extension::Math), true),
            (at(37, "math"), Feature::Extension(Extension::Bind), false),
            (Profile::everything(), Feature::Never("x"), false),
        ];
        for (profile, feature, offered) in cases {
            assert_eq!(profile.offers(feature), offered, "{profile:?} {feature:?}");
        }
        assert_eq!(
            at(36, "").refusal("`list.includes`", Feature::ListsIncludes),
            "`list.includes` needs Kubernetes 1.37 or newer; --kubernetes-version is 1.36"
        );
        assert!(at(37, "")
            .refusal("`math.abs`", Feature::Extension(Extension::Math))
            .contains("cmek-gate.dev/cel-extensions: \"math\""));
    }
}
