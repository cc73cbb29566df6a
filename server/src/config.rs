//! Command line and environment: `dirbridge [serve] [--listen ADDR] [--data-dir DIR]`.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub admin_password: Option<String>,
    pub login: LoginLimits,
    /// Audit entries older than this are pruned (`DIRBRIDGE_AUDIT_RETENTION_DAYS`).
    pub audit_retention_days: u32,
    /// Serve `/metrics` without credentials on this address too
    /// (`--metrics-listen`, `DIRBRIDGE_METRICS_LISTEN`).
    pub metrics_listen: Option<SocketAddr>,
}

pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 365;

/// Settings of logins by bind, from the environment (README, Configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Wrong passwords per account in the window before logins are refused;
    /// keep it below the directory's own lockout threshold.
    pub max_failures_per_account: u32,
    pub max_failures_per_address: u32,
    pub window_seconds: u32,
    /// Pooled connections per repository: searches, and user binds.
    pub service_connections: u32,
    pub bind_connections: u32,
    /// How long a login waits for a free pooled connection.
    pub pool_wait_seconds: u32,
}

impl Default for LoginLimits {
    fn default() -> Self {
        use crate::throttle::Policy;
        LoginLimits {
            max_failures_per_account: Policy::PER_ACCOUNT.max_failures,
            max_failures_per_address: Policy::PER_ADDRESS.max_failures,
            window_seconds: Policy::PER_ACCOUNT.window_seconds as u32,
            service_connections: 4,
            bind_connections: 8,
            pool_wait_seconds: 5,
        }
    }
}

/// The environment variables of [`LoginLimits`], with their bounds.
const LOGIN_SETTINGS: [(&str, u32, u32); 6] = [
    ("DIRBRIDGE_LOGIN_MAX_FAILURES", 1, 1000),
    ("DIRBRIDGE_LOGIN_MAX_FAILURES_PER_ADDRESS", 1, 10_000_000),
    ("DIRBRIDGE_LOGIN_WINDOW_SECONDS", 1, 86_400),
    ("DIRBRIDGE_LDAP_POOL_SIZE", 1, 256),
    ("DIRBRIDGE_LDAP_BIND_POOL_SIZE", 1, 256),
    ("DIRBRIDGE_LDAP_POOL_WAIT_SECONDS", 1, 300),
];

fn login_limits(env: &impl Fn(&str) -> Option<String>) -> Result<LoginLimits, String> {
    let mut limits = LoginLimits::default();
    for (name, min, max) in LOGIN_SETTINGS {
        let Some(text) = env(name) else { continue };
        let value: u32 = text
            .trim()
            .parse()
            .ok()
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(|| format!("{name}='{text}' must be a whole number from {min} to {max}"))?;
        let field = match name {
            "DIRBRIDGE_LOGIN_MAX_FAILURES" => &mut limits.max_failures_per_account,
            "DIRBRIDGE_LOGIN_MAX_FAILURES_PER_ADDRESS" => &mut limits.max_failures_per_address,
            "DIRBRIDGE_LOGIN_WINDOW_SECONDS" => &mut limits.window_seconds,
            "DIRBRIDGE_LDAP_POOL_SIZE" => &mut limits.service_connections,
            "DIRBRIDGE_LDAP_BIND_POOL_SIZE" => &mut limits.bind_connections,
            _ => &mut limits.pool_wait_seconds,
        };
        *field = value;
    }
    Ok(limits)
}

pub const USAGE: &str = "usage: dirbridge [serve] [--listen ADDR] [--data-dir DIR]
       dirbridge rotate-key [--data-dir DIR]   (with dirbridge stopped)

  --listen ADDR     address to listen on (env DIRBRIDGE_LISTEN, default 127.0.0.1:3000)
  --data-dir DIR    SQLite store and secret key (env DIRBRIDGE_DATA_DIR, default ./data)
  --metrics-listen ADDR  also serve /metrics there, without credentials (env DIRBRIDGE_METRICS_LISTEN)

On first start the admin 'admin' is created with the password from
DIRBRIDGE_ADMIN_PASSWORD, or a generated one printed once to stderr.
Login throttling and LDAP pools: DIRBRIDGE_LOGIN_MAX_FAILURES (4),
DIRBRIDGE_LOGIN_MAX_FAILURES_PER_ADDRESS (50), DIRBRIDGE_LOGIN_WINDOW_SECONDS
(900), DIRBRIDGE_LDAP_POOL_SIZE (4), DIRBRIDGE_LDAP_BIND_POOL_SIZE (8),
DIRBRIDGE_LDAP_POOL_WAIT_SECONDS (5).";

/// Parses arguments (without the program name) over the environment.
pub fn parse(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
    let mut listen = env("DIRBRIDGE_LISTEN").unwrap_or_else(|| "127.0.0.1:3000".into());
    let mut data_dir = env("DIRBRIDGE_DATA_DIR").unwrap_or_else(|| "./data".into());
    let mut metrics_listen = env("DIRBRIDGE_METRICS_LISTEN").filter(|v| !v.trim().is_empty());
    let mut it = args.iter();
    let mut first = true;
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "serve" if first => {}
            "--listen" => listen = it.next().ok_or("--listen needs an address")?.clone(),
            "--data-dir" => data_dir = it.next().ok_or("--data-dir needs a directory")?.clone(),
            "--metrics-listen" => metrics_listen = Some(it.next().ok_or("--metrics-listen needs an address")?.clone()),
            "-h" | "--help" => return Err(USAGE.into()),
            other => {
                if let Some(v) = other.strip_prefix("--listen=") {
                    listen = v.into();
                } else if let Some(v) = other.strip_prefix("--data-dir=") {
                    data_dir = v.into();
                } else {
                    return Err(format!("unknown argument '{other}'\n\n{USAGE}"));
                }
            }
        }
        first = false;
    }
    let listen = listen.parse().map_err(|_| format!("'{listen}' is not a socket address like 127.0.0.1:3000"))?;
    let login = login_limits(&env)?;
    let metrics_listen = match metrics_listen {
        None => None,
        Some(text) => Some(
            text.parse()
                .map_err(|_| format!("metrics address '{text}' is not a socket address like 127.0.0.1:9100"))?,
        ),
    };
    let audit_retention_days = match env("DIRBRIDGE_AUDIT_RETENTION_DAYS") {
        None => DEFAULT_AUDIT_RETENTION_DAYS,
        Some(text) => match text.trim().parse::<u32>() {
            Ok(days) if (1..=36_500).contains(&days) => days,
            _ => {
                return Err(format!("DIRBRIDGE_AUDIT_RETENTION_DAYS: '{text}' is not a number of days from 1 to 36500"))
            }
        },
    };
    Ok(Config {
        listen,
        data_dir: data_dir.into(),
        admin_password: env("DIRBRIDGE_ADMIN_PASSWORD"),
        login,
        audit_retention_days,
        metrics_listen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_env_and_flags() {
        let none = |_: &str| None;
        let c = parse(&[], none).expect("defaults");
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        let env = |k: &str| (k == "DIRBRIDGE_LISTEN").then(|| "0.0.0.0:8080".to_string());
        assert_eq!(parse(&[], env).expect("env").listen.to_string(), "0.0.0.0:8080");
        let c = parse(&args(&["serve", "--listen", "127.0.0.1:9", "--data-dir=/tmp/x"]), env).expect("flags win");
        assert_eq!((c.listen.to_string(), c.data_dir), ("127.0.0.1:9".into(), PathBuf::from("/tmp/x")));
        assert!(parse(&args(&["--listen", "nope"]), none).is_err());
        assert!(parse(&args(&["--bogus"]), none).is_err());
    }

    #[test]
    fn login_limits_from_the_environment() {
        assert_eq!(parse(&[], |_| None).expect("defaults").login, LoginLimits::default());
        let env = |k: &str| match k {
            "DIRBRIDGE_LOGIN_MAX_FAILURES" => Some("3".to_string()),
            "DIRBRIDGE_LDAP_BIND_POOL_SIZE" => Some(" 16 ".to_string()),
            _ => None,
        };
        let limits = parse(&[], env).expect("parsed").login;
        assert_eq!((limits.max_failures_per_account, limits.bind_connections), (3, 16));
        assert_eq!(limits.window_seconds, 900);
        for bad in ["0", "-1", "many", "1001"] {
            let env = |k: &str| (k == "DIRBRIDGE_LOGIN_MAX_FAILURES").then(|| bad.to_string());
            let err = parse(&[], env).expect_err(bad);
            assert!(err.contains("DIRBRIDGE_LOGIN_MAX_FAILURES"), "{err}");
        }
    }
}
