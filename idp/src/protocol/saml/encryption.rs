//! Encrypted assertions (XML Encryption 1.1, as the SAML core §2.3.4 uses it): the signed
//! Assertion element is encrypted with a fresh AES-256 key (GCM, or CBC for SPs that list only
//! CBC), and that key is wrapped with RSA-OAEP for the certificate in the SP's metadata. The
//! plaintext is the assertion's serialized bytes: no canonicalisation is involved, and the
//! signature inside stays valid once the SP decrypts it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::rand::rand_bytes;
use openssl::rsa::Padding;
use openssl::symm::{Cipher, encrypt, encrypt_aead};

pub const AES256_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes256-gcm";
pub const AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
pub const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";

/// The data-encryption algorithm for an SP: AES-256-GCM unless its metadata lists only CBC.
pub fn choose_algorithm(listed: &[String]) -> &'static str {
    let lists = |a: &str| listed.iter().any(|l| l == a);
    if listed.is_empty() || lists(AES256_GCM) || !lists(AES256_CBC) {
        AES256_GCM
    } else {
        AES256_CBC
    }
}

fn random(n: usize) -> Result<Vec<u8>, String> {
    let mut bytes = vec![0u8; n];
    rand_bytes(&mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// `<saml2:EncryptedAssertion>` holding `assertion_xml` encrypted for `sp_cert_der`.
pub fn encrypted_assertion(
    assertion_xml: &str,
    sp_cert_der: &[u8],
    algorithm: &str,
) -> Result<String, String> {
    let cert =
        openssl::x509::X509::from_der(sp_cert_der).map_err(|e| format!("SP certificate: {e}"))?;
    let rsa = cert
        .public_key()
        .and_then(|k| k.rsa())
        .map_err(|_| "the SP's encryption key is not RSA".to_owned())?;
    let key = random(32)?;
    let cipher_value = if algorithm == AES256_CBC {
        let iv = random(16)?;
        let mut out = iv.clone();
        out.extend(
            encrypt(
                Cipher::aes_256_cbc(),
                &key,
                Some(&iv),
                assertion_xml.as_bytes(),
            )
            .map_err(|e| e.to_string())?,
        );
        out
    } else {
        let iv = random(12)?;
        let mut tag = [0u8; 16];
        let ciphertext = encrypt_aead(
            Cipher::aes_256_gcm(),
            &key,
            Some(&iv),
            &[],
            assertion_xml.as_bytes(),
            &mut tag,
        )
        .map_err(|e| e.to_string())?;
        let mut out = iv;
        out.extend(ciphertext);
        out.extend(tag);
        out
    };
    let mut wrapped = vec![0u8; rsa.size() as usize];
    let n = rsa
        .public_encrypt(&key, &mut wrapped, Padding::PKCS1_OAEP)
        .map_err(|e| e.to_string())?;
    wrapped.truncate(n);
    Ok(format!(
        r#"<saml2:EncryptedAssertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion"><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="{algorithm}"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="{RSA_OAEP_MGF1P}"><ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/></xenc:EncryptionMethod><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml2:EncryptedAssertion>"#,
        STANDARD.encode(wrapped),
        STANDARD.encode(cipher_value),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::symm::{decrypt, decrypt_aead};

    fn cipher_values(xml: &str) -> Vec<Vec<u8>> {
        xml.split("<xenc:CipherValue>")
            .skip(1)
            .map(|s| {
                STANDARD
                    .decode(s.split("</xenc:CipherValue>").next().unwrap())
                    .unwrap()
            })
            .collect()
    }

    fn key_pair() -> (openssl::pkey::PKey<openssl::pkey::Private>, Vec<u8>) {
        let idp = samael::idp::IdentityProvider::generate_new(samael::idp::KeyType::Rsa(
            samael::idp::Rsa::Rsa2048,
        ))
        .unwrap();
        let cert = idp
            .create_certificate(&samael::idp::CertificateParams {
                common_name: "sp",
                issuer_name: "sp",
                days_until_expiration: 1,
            })
            .unwrap();
        let rsa = openssl::rsa::Rsa::private_key_from_der(&idp.export_private_key_der().unwrap())
            .unwrap();
        (
            openssl::pkey::PKey::from_rsa(rsa).unwrap(),
            cert.der_data().to_vec(),
        )
    }

    fn unwrap_key(
        private: &openssl::pkey::PKey<openssl::pkey::Private>,
        wrapped: &[u8],
    ) -> Vec<u8> {
        let rsa = private.rsa().unwrap();
        let mut key = vec![0u8; rsa.size() as usize];
        let n = rsa
            .private_decrypt(wrapped, &mut key, Padding::PKCS1_OAEP)
            .unwrap();
        key.truncate(n);
        key
    }

    #[test]
    fn gcm_round_trip() {
        let (private, cert) = key_pair();
        let xml =
            encrypted_assertion("<saml2:Assertion>x</saml2:Assertion>", &cert, AES256_GCM).unwrap();
        assert!(xml.contains(AES256_GCM) && xml.contains(RSA_OAEP_MGF1P));
        let values = cipher_values(&xml);
        let key = unwrap_key(&private, &values[0]);
        let data = &values[1];
        let (iv, rest) = data.split_at(12);
        let (ciphertext, tag) = rest.split_at(rest.len() - 16);
        let plain =
            decrypt_aead(Cipher::aes_256_gcm(), &key, Some(iv), &[], ciphertext, tag).unwrap();
        assert_eq!(plain, b"<saml2:Assertion>x</saml2:Assertion>");
    }

    #[test]
    fn cbc_round_trip_and_choice() {
        let (private, cert) = key_pair();
        let xml = encrypted_assertion("<a/>", &cert, AES256_CBC).unwrap();
        let values = cipher_values(&xml);
        let key = unwrap_key(&private, &values[0]);
        let (iv, ciphertext) = values[1].split_at(16);
        assert_eq!(
            decrypt(Cipher::aes_256_cbc(), &key, Some(iv), ciphertext).unwrap(),
            b"<a/>"
        );
        assert_eq!(choose_algorithm(&[]), AES256_GCM);
        assert_eq!(choose_algorithm(&[AES256_CBC.to_owned()]), AES256_CBC);
        assert_eq!(
            choose_algorithm(&[AES256_CBC.to_owned(), AES256_GCM.to_owned()]),
            AES256_GCM
        );
        assert_eq!(choose_algorithm(&["http://other".to_owned()]), AES256_GCM);
    }
}
