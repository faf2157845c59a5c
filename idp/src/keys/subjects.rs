//! Opaque, stable identifiers given to relying parties. They are keyed with a salt generated
//! once per deployment and kept in the database (not the server secret, which may change):
//! the same person always has the same `sub` at the same sector, and different ones elsewhere.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The deployment's subject salt.
#[derive(Clone)]
pub struct SubjectSalt(Vec<u8>);

impl std::fmt::Debug for SubjectSalt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubjectSalt(…)")
    }
}

impl SubjectSalt {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    fn derive(&self, parts: &[&[u8]]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The subject of an account for one sector (pairwise).
    pub fn pairwise(&self, sector: &str, account_id: i64) -> String {
        self.derive(&[b"pairwise", sector.as_bytes(), &account_id.to_be_bytes()])
    }

    /// The subject of an account for relying parties registered with public subjects.
    pub fn public(&self, account_id: i64) -> String {
        self.derive(&[b"public", &account_id.to_be_bytes()])
    }

    /// `FrEduCtId`: the stable opaque id of an account for one SAML SP, 96 hex characters.
    pub fn saml_id(&self, sp_entity_id: &str, account_id: i64) -> String {
        let mut mac = Hmac::<sha2::Sha384>::new_from_slice(&self.0).expect("HMAC takes any key");
        for p in [
            b"saml-id".as_slice(),
            sp_entity_id.as_bytes(),
            &account_id.to_be_bytes(),
        ] {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// `FrEduCtEleveINEHash`: a pupil's national id (INE) keyed with the deployment's salt, 32
    /// hex characters. The same at every SP, so that services can match a pupil's records
    /// with each other, but none can compute it from an INE, nor the INE from it.
    pub fn ine_hash(&self, ine: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        for p in [b"ine".as_slice(), ine.trim().to_uppercase().as_bytes()] {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// The transient NameID of an SSO session at one SP: the same for every assertion of the
    /// session there (so its logout names one session), another at every SP and in every
    /// session, and computed rather than looked up.
    pub fn saml_transient(&self, sid: &str, sp_entity_id: &str) -> String {
        let id = self.derive(&[b"saml-transient", sid.as_bytes(), sp_entity_id.as_bytes()]);
        format!("_{id}")
    }

    /// The SAML SessionIndex of an SSO session at one SP: different at every SP, so that two
    /// SPs cannot link their users through it.
    pub fn session_index(&self, sid: &str, sp_entity_id: &str) -> String {
        self.derive(&[b"saml-session", sid.as_bytes(), sp_entity_id.as_bytes()])
    }

    /// An opaque id of a pupil record for one sector (the children of a guardian).
    pub fn pupil(&self, sector: &str, pupil_id: i64) -> String {
        self.derive(&[b"pupil", sector.as_bytes(), &pupil_id.to_be_bytes()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_subjects_differ_by_sector_and_are_stable() {
        let salt = SubjectSalt::new(vec![1; 32]);
        assert_eq!(salt.pairwise("ent.fr", 1), salt.pairwise("ent.fr", 1));
        assert_ne!(salt.pairwise("ent.fr", 1), salt.pairwise("pronote.fr", 1));
        assert_ne!(salt.pairwise("ent.fr", 1), salt.pairwise("ent.fr", 2));
        assert_ne!(salt.pairwise("ent.fr", 1), salt.public(1));
        assert_ne!(
            salt.pairwise("a", 1),
            SubjectSalt::new(vec![2; 32]).pairwise("a", 1)
        );
        // length-prefixed: sector "ab" + id is not sector "a" + something
        assert_eq!(salt.public(7).len(), 43);
    }

    #[test]
    fn transient_name_ids_hold_for_one_session_at_one_sp() {
        let salt = SubjectSalt::new(vec![1; 32]);
        let at_ent = salt.saml_transient("sid-1", "https://ent.example.fr");
        assert_eq!(
            at_ent,
            salt.saml_transient("sid-1", "https://ent.example.fr")
        );
        assert_ne!(
            at_ent,
            salt.saml_transient("sid-2", "https://ent.example.fr")
        );
        assert_ne!(
            at_ent,
            salt.saml_transient("sid-1", "https://pronote.example.fr")
        );
        assert_ne!(
            at_ent,
            salt.session_index("sid-1", "https://ent.example.fr")
        );
        assert!(at_ent.starts_with('_'), "an XML ID-like value");
    }
}
