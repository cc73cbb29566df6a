//! A private OpenLDAP for tests, benchmarks and the demo: started from
//! Debian's slapd in a directory of its own, on free loopback ports, with
//! LDAP, StartTLS and LDAPS (a self-signed CA made with openssl), seeded
//! with generated LDIF, and stopped by the pid in its pidfile.
#![deny(clippy::unwrap_used)]

pub mod ldif;
pub mod samba;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
pub const ADMIN_PASSWORD: &str = "admin-secret";

#[derive(Debug)]
pub struct Slapd {
    pub dir: PathBuf,
    pub port: u16,
    pub tls_port: u16,
    _temp: Option<tempfile::TempDir>,
    keep_running: bool,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub users: usize,
    pub extra_groups: usize,
    /// Listen on these ports instead of free ones.
    pub ports: Option<(u16, u16)>,
    /// Offer RFC 4533 content synchronisation (the syncprov overlay); off, the
    /// server behaves like directories without it (timestamp fallback).
    pub content_sync: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { users: 200, extra_groups: 0, ports: None, content_sync: true }
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout)))
    }
}

/// Runs ldapmodify against `url`, bound as `bind_dn`, with the given LDIF.
fn ldap_modify(url: &str, bind_dn: &str, password: &str, ldif: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new("ldapmodify")
        .args(["-x", "-H", url, "-D", bind_dn, "-w", password])
        .stdin(std::process::Stdio::piped())
        // Not read: a large LDIF would fill the pipe with "modifying entry"
        // lines and block ldapmodify while we are still writing its input.
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child.stdin.take().ok_or("no stdin")?.write_all(ldif.as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

pub fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn find_slapd() -> Result<PathBuf, String> {
    for p in ["/usr/sbin/slapd", "/usr/local/sbin/slapd"] {
        if Path::new(p).exists() {
            return Ok(p.into());
        }
    }
    Err("slapd not found: run scripts/install-deps.sh (apt package slapd)".into())
}

/// Makes a CA and a server certificate for localhost / 127.0.0.1, and a
/// second, unrelated CA (for wrong-CA tests).
fn make_certificates(dir: &Path) -> Result<(), String> {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    for (name, cn) in [("ca", "dirbridge test CA"), ("other-ca", "Some Other CA")] {
        run(Command::new("openssl")
            .current_dir(dir)
            .args(["req", "-x509"])
            .args(ec)
            .args([
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
                "-days",
                "3650",
                "-subj",
                &format!("/CN={cn}"),
            ])
            .args([
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]))?;
    }
    run(Command::new("openssl").current_dir(dir).args(["req"]).args(ec).args([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]))?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| e.to_string())?;
    run(Command::new("openssl").current_dir(dir).args([
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "825",
        "-extfile",
        "server.ext",
    ]))?;
    Ok(())
}

fn slapd_conf(dir: &Path, users: usize, content_sync: bool) -> String {
    let d = dir.display();
    // Deletes (and renames out of scope) are replayed to refreshOnly clients
    // with a cookie as a syncIdSet instead of a full present phase.
    let syncprov =
        if content_sync { "overlay syncprov\nsyncprov-checkpoint 100 10\nsyncprov-sessionlog 200000\n" } else { "" };
    // Room for a million users with margin.
    let maxsize: u64 = ((users as u64 * 8 * 1024).max(256 << 20)).next_power_of_two();
    format!(
        r#"include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
moduleload refint
moduleload syncprov
moduleload ppolicy
TLSCACertificateFile {d}/ca.pem
TLSCertificateFile {d}/server.pem
TLSCertificateKeyFile {d}/server.key
loglevel none

database mdb
maxsize {maxsize}
suffix "dc=example,dc=org"
rootdn "{ADMIN_DN}"
rootpw {ADMIN_PASSWORD}
directory {d}/db
dbnosync
index objectClass eq
index uid,mail eq
index entryUUID,entryCSN eq
index member,memberOf eq
limits * size.pr=unlimited size.prtotal=unlimited
limits dn.exact="{ADMIN_DN}" size=unlimited time=unlimited
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read

{syncprov}overlay memberof
memberof-refint TRUE
overlay ppolicy
# Tell a locked account's binder so (whatever the password): dirbridge must
# not repeat that to a caller whose password the directory did not check.
ppolicy_use_lockout
"#
    )
}

impl Slapd {
    /// Starts a fresh directory in a temp dir that is removed on drop.
    pub fn start(options: Options) -> Result<Slapd, String> {
        let temp = tempfile::Builder::new().prefix("dirbridge-slapd-").tempdir().map_err(|e| e.to_string())?;
        let dir = temp.path().to_path_buf();
        let mut s = Slapd::start_in(&dir, options)?;
        s._temp = Some(temp);
        Ok(s)
    }

    /// Starts a fresh directory in `dir` (created, must be empty or absent).
    pub fn start_in(dir: &Path, options: Options) -> Result<Slapd, String> {
        let slapd = find_slapd()?;
        std::fs::create_dir_all(dir.join("db")).map_err(|e| e.to_string())?;
        make_certificates(dir)?;
        std::fs::write(dir.join("slapd.conf"), slapd_conf(dir, options.users, options.content_sync))
            .map_err(|e| e.to_string())?;
        let write_ldif = || -> std::io::Result<()> {
            let mut file = std::io::BufWriter::new(std::fs::File::create(dir.join("data.ldif"))?);
            ldif::write_to(&mut file, options.users, options.extra_groups)?;
            std::io::Write::flush(&mut file)
        };
        write_ldif().map_err(|e| format!("writing the directory's LDIF: {e}"))?;
        run(Command::new("slapadd")
            .args(["-q", "-w", "-f"])
            .arg(dir.join("slapd.conf"))
            .arg("-l")
            .arg(dir.join("data.ldif")))?;
        let (port, tls_port) = match options.ports {
            Some(p) => p,
            None => (free_port()?, free_port()?),
        };
        let mut s = Slapd { dir: dir.to_path_buf(), port, tls_port, _temp: None, keep_running: false };
        s.launch(&slapd)?;
        Ok(s)
    }

    fn launch(&mut self, slapd: &Path) -> Result<(), String> {
        let urls = format!("ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/", self.port, self.tls_port);
        // slapd daemonises itself and writes its pidfile.
        run(Command::new(slapd).args(["-h", &urls, "-f"]).arg(self.dir.join("slapd.conf")))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && std::net::TcpStream::connect(("127.0.0.1", self.tls_port)).is_ok()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("slapd did not start listening on {urls}"))
    }

    /// Starts slapd again on the same ports and data (after `stop`).
    pub fn restart(&mut self) -> Result<(), String> {
        let slapd = find_slapd()?;
        self.launch(&slapd)
    }

    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("slapd.pid")).ok()?.trim().parse().ok()
    }

    /// Stops slapd (SIGINT, then SIGKILL after 10 s) and waits until it is gone.
    pub fn stop(&self) {
        let Some(pid) = self.pid() else { return };
        let _ = Command::new("kill").args(["-INT", &pid.to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists() {
            if Instant::now() > deadline {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                std::thread::sleep(Duration::from_millis(100));
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_file(self.dir.join("slapd.pid"));
    }

    /// Leaves slapd running when this value is dropped (the demo's CLI).
    pub fn detach(mut self) {
        self.keep_running = true;
    }

    pub fn ldap_url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.tls_port)
    }
    pub fn ldaps_localhost_url(&self) -> String {
        format!("ldaps://localhost:{}", self.tls_port)
    }
    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.dir.join("ca.pem")).unwrap_or_default()
    }
    pub fn other_ca_pem(&self) -> String {
        std::fs::read_to_string(self.dir.join("other-ca.pem")).unwrap_or_default()
    }

    /// Runs ldapmodify as the admin with the given LDIF.
    pub fn modify(&self, ldif: &str) -> Result<(), String> {
        ldap_modify(&self.ldap_url(), ADMIN_DN, ADMIN_PASSWORD, ldif)
    }

    /// Connection facts as JSON (for scripts and Playwright).
    pub fn info_json(&self) -> String {
        serde_json::json!({
            "dir": self.dir,
            "ldapUrl": self.ldap_url(),
            "ldapsUrl": self.ldaps_url(),
            "port": self.port,
            "tlsPort": self.tls_port,
            "baseDn": ldif::BASE_DN,
            "adminDn": ADMIN_DN,
            "adminPassword": ADMIN_PASSWORD,
            "userPassword": ldif::USER_PASSWORD,
            "sampleUser": ldif::username(0),
            "lockedUser": ldif::LOCKED_USER,
            "caPem": self.ca_pem(),
            "pid": self.pid(),
        })
        .to_string()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        if !self.keep_running {
            self.stop();
        }
    }
}
