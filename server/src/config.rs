//! Command line and environment: `dirbridge [serve] [--listen ADDR] [--data-dir DIR]`.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub admin_password: Option<String>,
}

pub const USAGE: &str = "usage: dirbridge [serve] [--listen ADDR] [--data-dir DIR]

  --listen ADDR     address to listen on (env DIRBRIDGE_LISTEN, default 127.0.0.1:3000)
  --data-dir DIR    SQLite store and secret key (env DIRBRIDGE_DATA_DIR, default ./data)

On first start the admin 'admin' is created with the password from
DIRBRIDGE_ADMIN_PASSWORD, or a generated one printed once to stderr.";

/// Parses arguments (without the program name) over the environment.
pub fn parse(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
    let mut listen = env("DIRBRIDGE_LISTEN").unwrap_or_else(|| "127.0.0.1:3000".into());
    let mut data_dir = env("DIRBRIDGE_DATA_DIR").unwrap_or_else(|| "./data".into());
    let mut it = args.iter();
    let mut first = true;
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "serve" if first => {}
            "--listen" => listen = it.next().ok_or("--listen needs an address")?.clone(),
            "--data-dir" => data_dir = it.next().ok_or("--data-dir needs a directory")?.clone(),
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
    Ok(Config { listen, data_dir: data_dir.into(), admin_password: env("DIRBRIDGE_ADMIN_PASSWORD") })
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
}
