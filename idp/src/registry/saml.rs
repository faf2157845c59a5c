//! SAML 2.0 service providers (`protocol = "saml"`): their metadata and the attributes they may
//! receive.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// How the subject of a SAML assertion is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NameIdFormat {
    /// A new random value at every response.
    #[default]
    Transient,
    /// A stable value per SP (FrEduCtId).
    Persistent,
}

/// A registered SAML 2.0 service provider.
#[derive(Debug, Clone)]
pub struct SamlServiceProvider {
    pub entity_id: String,
    pub name: String,
    pub metadata: crate::protocol::saml::metadata::SpMetadata,
    /// Friendly names of the attributes it may receive.
    pub attributes: BTreeSet<String>,
    pub name_id_format: NameIdFormat,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SamlFile {
    #[allow(dead_code)]
    protocol: String,
    entity_id: String,
    #[serde(default)]
    name: Option<String>,
    /// The SP's metadata XML, relative to the registration file.
    metadata_file: PathBuf,
    #[serde(default)]
    attributes: BTreeSet<String>,
    #[serde(default)]
    name_id_format: NameIdFormat,
}

impl SamlFile {
    pub(super) fn into_provider(self, base_dir: &Path) -> Result<SamlServiceProvider, String> {
        let path = base_dir.join(&self.metadata_file);
        let xml = std::fs::read_to_string(&path)
            .map_err(|e| format!("`metadata_file`: cannot read {}: {e}", path.display()))?;
        let metadata = crate::protocol::saml::metadata::parse_sp_metadata(&xml)
            .map_err(|e| format!("`metadata_file`: {e}"))?;
        if metadata.entity_id != self.entity_id {
            return Err(format!(
                "`entity_id` {} differs from the metadata's entityID {}",
                self.entity_id, metadata.entity_id
            ));
        }
        for a in &self.attributes {
            if crate::protocol::saml::attributes::definition(a).is_none() {
                return Err(format!("`attributes`: unknown attribute {a}"));
            }
        }
        Ok(SamlServiceProvider {
            name: self.name.unwrap_or_else(|| self.entity_id.clone()),
            entity_id: self.entity_id,
            metadata,
            attributes: self.attributes,
            name_id_format: self.name_id_format,
        })
    }
}
