//! LDAP server URLs and CA certificates as a repository configures them:
//! parsing only (pure), shared by validation and the LDAP layer.

/// A parsed `ldap://` / `ldaps://` server URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl ServerUrl {
    pub fn parse(input: &str) -> Result<ServerUrl, String> {
        let s = input.trim();
        let (tls, rest) = if let Some(r) = strip_prefix_ci(s, "ldaps://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(s, "ldap://") {
            (false, r)
        } else {
            return Err("must start with ldap:// or ldaps://".into());
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('/') || authority.contains('?') {
            return Err("must be only scheme, host and port (put DNs in the users section)".into());
        }
        if authority.contains('@') {
            return Err("must not contain credentials".into());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or("an IPv6 address needs a closing ']'")?;
            if h.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("'{h}' is not an IPv6 address"));
            }
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err("has no host".into());
        }
        if !host.contains(':')
            && !host
                .split('.')
                .all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        {
            return Err(format!("'{host}' is not a valid host name"));
        }
        let port = match port {
            None => {
                if tls {
                    636
                } else {
                    389
                }
            }
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(format!("'{p}' is not a valid port (1-65535)")),
            },
        };
        Ok(ServerUrl { tls, host, port })
    }

    pub fn to_url(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("{}://{}:{}", if self.tls { "ldaps" } else { "ldap" }, host, self.port)
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)).then(|| &s[prefix.len()..])
}

/// Parses PEM text into DER certificates, checking each is an X.509 certificate.
pub fn parse_pem_certificates(pem: &str) -> Result<Vec<Vec<u8>>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut out = Vec::new();
    for item in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let der = item.map_err(|e| format!("not valid PEM: {e}"))?;
        x509_parser::parse_x509_certificate(&der).map_err(|e| format!("a certificate could not be parsed: {e}"))?;
        out.push(der.to_vec());
    }
    if out.is_empty() {
        return Err("no '-----BEGIN CERTIFICATE-----' block found".into());
    }
    Ok(out)
}
