//! Referrals (RFC 4511 4.1.10 and 4.5.3): which ones a repository follows,
//! to which server, at which base and with whose credentials. Pure: the
//! LDAP layer asks here, then connects.
//!
//! What is taken from a referral URL (RFC 4516) and what is not: the server
//! and the base DN (the other server's naming context), and the scope a
//! continuation reference asks for. Never its filter or attributes: what a
//! repository selects and reads is its own configuration, so a referral
//! cannot widen a login search or the entries a sync stores.

use crate::ldap_url::ServerUrl;
use app::model::{ReferralStrategy, Referrals};
use percent_encoding::percent_decode_str;

/// How many referrals deep a search follows (a referral met on a referred
/// server is one more); beyond that, and for a loop, it stops.
pub const MAX_HOPS: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlScope {
    Base,
    One,
    Sub,
}

/// An LDAP URL as a referral carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LdapUrl {
    pub server: ServerUrl,
    /// The base DN, percent-decoded (None: the search's own base).
    pub dn: Option<String>,
    pub scope: Option<UrlScope>,
}

impl LdapUrl {
    pub fn parse(text: &str) -> Result<LdapUrl, String> {
        let text = text.trim();
        let scheme_end = text.find("://").ok_or_else(|| format!("'{text}' is not an LDAP URL"))? + 3;
        let (authority_end, rest) = match text[scheme_end..].find('/') {
            Some(i) => (scheme_end + i, &text[scheme_end + i + 1..]),
            None => (text.len(), ""),
        };
        let server = ServerUrl::parse(&text[..authority_end]).map_err(|m| format!("'{text}' {m}"))?;
        let mut parts = rest.split('?');
        let decode = |s: &str| percent_decode_str(s).decode_utf8().map(|d| d.into_owned());
        let dn = parts
            .next()
            .filter(|d| !d.is_empty())
            .map(decode)
            .transpose()
            .map_err(|_| format!("'{text}': the DN is not UTF-8"))?;
        let _attributes = parts.next();
        let scope = match parts.next().map(|s| s.to_ascii_lowercase()) {
            None => None,
            Some(s) if s.is_empty() => None,
            Some(s) if s == "base" => Some(UrlScope::Base),
            Some(s) if s == "one" => Some(UrlScope::One),
            Some(s) if s == "sub" => Some(UrlScope::Sub),
            Some(s) => return Err(format!("'{text}': unknown scope '{s}'")),
        };
        Ok(LdapUrl { server, dn, scope })
    }
}

/// Whose credentials a referred server is bound with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReferredBind {
    /// The repository's own bind DN and password (`followAll`).
    Repository,
    /// The listed server's bind DN (None: anonymous) and stored password,
    /// by its configured URL (`followListed`).
    Listed { url: String, bind_dn: Option<String> },
}

/// Where a followed referral leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    /// `ldap[s]://host:port` of the referred server.
    pub server: String,
    pub base: Option<String>,
    pub scope: Option<UrlScope>,
    pub bind: ReferredBind,
}

/// What becomes of one referral URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Follow(Hop),
    /// Not followed by this strategy (the reason, for the log and traces).
    Ignore(String),
}

fn same_server(a: &ServerUrl, b: &ServerUrl) -> bool {
    a.tls == b.tls && a.port == b.port && a.host.eq_ignore_ascii_case(&b.host)
}

/// Decides one referral URL under the repository's strategy. A URL that
/// cannot be parsed is an error: the read it came from is incomplete.
pub fn decide(referrals: &Referrals, url: &str) -> Result<Decision, String> {
    if referrals.strategy == ReferralStrategy::FollowNone {
        return Ok(Decision::Ignore("referrals are not followed".into()));
    }
    let parsed = LdapUrl::parse(url)?;
    let bind = if referrals.strategy == ReferralStrategy::FollowAll {
        ReferredBind::Repository
    } else {
        let listed =
            referrals.servers.iter().find(|s| ServerUrl::parse(&s.url).is_ok_and(|u| same_server(&u, &parsed.server)));
        match listed {
            Some(s) => ReferredBind::Listed { url: s.url.clone(), bind_dn: s.bind_dn.clone() },
            None => return Ok(Decision::Ignore(format!("{} is not a listed referral server", parsed.server.to_url()))),
        }
    };
    Ok(Decision::Follow(Hop { server: parsed.server.to_url(), base: parsed.dn, scope: parsed.scope, bind }))
}

/// The referrals of one search, decided once each: hops in the order met,
/// none twice (a loop), none beyond [`MAX_HOPS`] deep.
#[derive(Debug, Default)]
pub struct Itinerary {
    seen: Vec<(String, Option<String>)>,
    pub ignored: Vec<String>,
}

impl Itinerary {
    /// The hops to take for `urls` met `depth` referrals deep (0: on the
    /// repository's own server).
    pub fn plan(&mut self, referrals: &Referrals, urls: &[String], depth: usize) -> Result<Vec<Hop>, String> {
        let mut hops = Vec::new();
        for url in urls {
            match decide(referrals, url)? {
                Decision::Ignore(why) => self.ignored.push(format!("{url}: {why}")),
                Decision::Follow(_) if depth >= MAX_HOPS => {
                    return Err(format!("{url}: more than {MAX_HOPS} referrals deep"));
                }
                Decision::Follow(hop) => {
                    let key = (hop.server.to_ascii_lowercase(), hop.base.as_ref().map(|b| crate::dn::normalize(b)));
                    if self.seen.contains(&key) {
                        self.ignored.push(format!("{url}: already followed (a referral loop)"));
                    } else {
                        self.seen.push(key);
                        hops.push(hop);
                    }
                }
            }
        }
        Ok(hops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::ReferralServer;

    fn referrals(strategy: ReferralStrategy, listed: &[(&str, Option<&str>)]) -> Referrals {
        Referrals {
            strategy,
            servers: listed
                .iter()
                .map(|(url, dn)| ReferralServer {
                    url: url.to_string(),
                    bind_dn: dn.map(String::from),
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn urls_give_server_decoded_base_and_scope() {
        let u = LdapUrl::parse("ldap://Other.Example:3890/ou=Remote%20Staff,dc=example,dc=org??sub").expect("parses");
        assert_eq!(u.server.to_url(), "ldap://Other.Example:3890");
        assert_eq!(u.dn.as_deref(), Some("ou=Remote Staff,dc=example,dc=org"));
        assert_eq!(u.scope, Some(UrlScope::Sub));
        let bare = LdapUrl::parse("ldaps://dc2.example.org").expect("parses");
        assert_eq!((bare.server.port, bare.dn, bare.scope), (636, None, None));
        let base = LdapUrl::parse("ldap://h:1/uid=a%2Cb,dc=x??base?(objectClass=*)").expect("parses");
        assert_eq!(base.dn.as_deref(), Some("uid=a,b,dc=x"));
        assert_eq!(base.scope, Some(UrlScope::Base));
        assert!(LdapUrl::parse("http://h/").is_err());
        assert!(LdapUrl::parse("ldap://h:1/dc=x??deep").is_err());
        assert!(LdapUrl::parse("ldap://h:1/%FF").is_err());
    }

    #[test]
    fn follow_none_ignores_even_unparseable_urls() {
        let r = referrals(ReferralStrategy::FollowNone, &[]);
        assert!(matches!(decide(&r, "ldap://a:1/dc=x"), Ok(Decision::Ignore(_))));
        assert!(matches!(decide(&r, "garbage"), Ok(Decision::Ignore(_))));
    }

    #[test]
    fn follow_all_uses_the_repository_credentials() {
        let r = referrals(ReferralStrategy::FollowAll, &[]);
        let Ok(Decision::Follow(hop)) = decide(&r, "ldap://a:1/ou=R,dc=x??sub") else { panic!("followed") };
        assert_eq!(hop.bind, ReferredBind::Repository);
        assert_eq!(hop.server, "ldap://a:1");
        assert!(decide(&r, "not a url").is_err());
    }

    #[test]
    fn follow_listed_only_to_listed_servers_each_with_its_own_credentials() {
        let r = referrals(
            ReferralStrategy::FollowListed,
            &[("ldap://A.example:1", Some("cn=reader,dc=a")), ("ldaps://b.example", None)],
        );
        let Ok(Decision::Follow(hop)) = decide(&r, "ldap://a.EXAMPLE:1/ou=R,dc=x") else { panic!("followed") };
        assert_eq!(
            hop.bind,
            ReferredBind::Listed { url: "ldap://A.example:1".into(), bind_dn: Some("cn=reader,dc=a".into()) }
        );
        let Ok(Decision::Follow(hop)) = decide(&r, "ldaps://b.example:636/dc=y") else { panic!("followed") };
        assert_eq!(hop.bind, ReferredBind::Listed { url: "ldaps://b.example".into(), bind_dn: None });
        // Same host, other port or scheme: not listed.
        assert!(matches!(decide(&r, "ldap://a.example:2/dc=x"), Ok(Decision::Ignore(_))));
        assert!(matches!(decide(&r, "ldaps://a.example:1/dc=x"), Ok(Decision::Ignore(_))));
        assert!(matches!(decide(&r, "ldap://evil.example/dc=x"), Ok(Decision::Ignore(_))));
    }

    #[test]
    fn an_itinerary_takes_each_hop_once_and_stops_deep_chains() {
        let r = referrals(ReferralStrategy::FollowAll, &[]);
        let mut trip = Itinerary::default();
        let urls = vec!["ldap://a:1/ou=R,dc=x".to_string(), "ldap://A:1/OU=r, DC=x".to_string()];
        let hops = trip.plan(&r, &urls, 0).expect("planned");
        assert_eq!(hops.len(), 1, "{hops:?}");
        assert_eq!(trip.ignored.len(), 1);
        assert!(trip.plan(&r, &["ldap://b:1/dc=x".to_string()], MAX_HOPS).is_err());
        assert_eq!(trip.plan(&r, &["ldap://b:1/dc=x".to_string()], MAX_HOPS - 1).expect("planned").len(), 1);
    }
}
