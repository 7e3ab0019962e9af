//! Certificates for the tests' TLS servers: a certificate authority made
//! for the test, and a certificate for 127.0.0.1 it signed, so a client
//! that trusts that authority, and only it, can check the server.

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};

/// An authority's certificate, and a server's certificate and key, in PEM.
pub struct Certificates {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

impl Default for Certificates {
    fn default() -> Self {
        Self::new()
    }
}

impl Certificates {
    /// A fresh authority, and a certificate for 127.0.0.1 signed by it.
    pub fn new() -> Self {
        let mut ca = CertificateParams::new(Vec::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let mut server = CertificateParams::new(Vec::new()).unwrap();
        server.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
        let key = KeyPair::generate().unwrap();
        let cert = server.signed_by(&key, &issuer).unwrap();
        Self {
            ca: ca_cert.pem(),
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}
