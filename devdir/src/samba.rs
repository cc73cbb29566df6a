//! A private Samba AD DC, the Active Directory stand-in of the tests:
//! provisioned from Debian's samba in a temp dir, LDAP on 127.0.0.1:389
//! (Samba's port cannot be moved: root is needed and one instance runs at a
//! time), seeded with users and groups over LDAP.

use crate::run;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BASE_DN: &str = "DC=dirbridge,DC=test";
pub const ADMIN_DN: &str = "CN=Administrator,CN=Users,DC=dirbridge,DC=test";
/// Meets AD's password complexity rules.
pub const ADMIN_PASSWORD: &str = "Adm1n-Passw0rd!";
pub const PEOPLE_DN: &str = "OU=People,DC=dirbridge,DC=test";
pub const GROUPS_DN: &str = "OU=Groups,DC=dirbridge,DC=test";
/// Every seeded user is a member.
pub const ALL_USERS_GROUP: &str = "Everyone";
/// Users 0, 1 and 2.
pub const SMALL_GROUP: &str = "Team";
const PORT: u16 = 389;

/// userAccountControl: a normal account without a password (LDAP cannot set
/// one without TLS), enabled (544) or disabled (546).
const ENABLED: u32 = 544;
const DISABLED: u32 = 546;

pub fn username(n: usize) -> String {
    format!("aduser{n:05}")
}
pub fn user_dn(n: usize) -> String {
    format!("CN={},{PEOPLE_DN}", username(n))
}
pub fn group_dn(name: &str) -> String {
    format!("CN={name},{GROUPS_DN}")
}
/// Every tenth user is disabled.
pub fn is_disabled(n: usize) -> bool {
    n % 10 == 9
}

#[derive(Debug)]
pub struct SambaDc {
    pub dir: PathBuf,
    child: Child,
    _temp: tempfile::TempDir,
}

fn samba_conf_set(conf: &Path, setting: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(conf).map_err(|e| format!("{}: {e}", conf.display()))?;
    let text = text.replacen("[global]\n", &format!("[global]\n\t{setting}\n"), 1);
    std::fs::write(conf, text).map_err(|e| format!("{}: {e}", conf.display()))
}

/// The seed: OU=People with `users` users, OU=Groups with a group of all of
/// them and a small one.
fn seed_ldif(users: usize) -> String {
    let mut ldif = String::new();
    for ou in [PEOPLE_DN, GROUPS_DN] {
        let name = ou.trim_start_matches("OU=").split(',').next().unwrap_or_default();
        ldif.push_str(&format!("dn: {ou}\nchangetype: add\nobjectClass: organizationalUnit\nou: {name}\n\n"));
    }
    for n in 0..users {
        let uac = if is_disabled(n) { DISABLED } else { ENABLED };
        ldif.push_str(&format!(
            "dn: {}\nchangetype: add\nobjectClass: user\nsAMAccountName: {u}\ngivenName: Ad{n}\nsn: User\nmail: {u}@dirbridge.test\nuserAccountControl: {uac}\n\n",
            user_dn(n),
            u = username(n),
        ));
    }
    for (group, members) in [(ALL_USERS_GROUP, users), (SMALL_GROUP, users.min(3))] {
        ldif.push_str(&format!(
            "dn: {}\nchangetype: add\nobjectClass: group\nsAMAccountName: {group}\n",
            group_dn(group)
        ));
        for n in 0..members {
            ldif.push_str(&format!("member: {}\n", user_dn(n)));
        }
        ldif.push('\n');
    }
    ldif
}

impl SambaDc {
    /// Provisions a fresh domain (~6 s), starts it and seeds `users` users
    /// (~150 users/s: Samba writes slowly).
    pub fn start(users: usize) -> Result<SambaDc, String> {
        if std::net::TcpStream::connect(("127.0.0.1", PORT)).is_ok() {
            return Err(format!("port {PORT} is taken: another directory (a Samba AD DC?) is running"));
        }
        let temp = tempfile::Builder::new().prefix("dirbridge-samba-").tempdir().map_err(|e| e.to_string())?;
        let dir = temp.path().to_path_buf();
        let d = dir.display();
        run(Command::new("samba-tool")
            .args(["domain", "provision", "--server-role=dc", "--dns-backend=NONE", "--use-rfc2307"])
            .args(["--realm=DIRBRIDGE.TEST", "--domain=DIRBRIDGE"])
            .arg(format!("--adminpass={ADMIN_PASSWORD}"))
            .arg(format!("--targetdir={d}"))
            .args(["--option=server services = ldap, cldap", "--option=interfaces = 127.0.0.1"])
            .args(["--option=bind interfaces only = yes"])
            .arg(format!("--option=log file = {d}/log.%m"))
            .arg(format!("--option=pid directory = {d}")))
        .map_err(|e| format!("{e}\n(samba-tool comes with the samba-ad-dc and samba-ad-provision packages: run scripts/install-deps.sh)"))?;
        let conf = dir.join("etc/smb.conf");
        // Provisioning drops this option; without it simple binds over
        // plain LDAP are refused.
        samba_conf_set(&conf, "ldap server require strong auth = no")?;
        let log = std::fs::File::create(dir.join("samba.out")).map_err(|e| e.to_string())?;
        let child = Command::new("samba")
            .args(["--foreground", "--no-process-group", "-s"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("samba: {e}"))?;
        let samba = SambaDc { dir, child, _temp: temp };
        samba.wait_for_ldap()?;
        samba.modify(&seed_ldif(users))?;
        Ok(samba)
    }

    fn wait_for_ldap(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let answered = Command::new("ldapsearch")
                .args(["-x", "-H", &self.ldap_url(), "-D", ADMIN_DN, "-w", ADMIN_PASSWORD])
                .args(["-s", "base", "-b", BASE_DN, "(objectClass=*)", "dn"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if answered {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let log = std::fs::read_to_string(self.dir.join("samba.out")).unwrap_or_default();
        Err(format!("samba did not answer LDAP on port {PORT} within 60 s:\n{log}"))
    }

    pub fn ldap_url(&self) -> String {
        format!("ldap://127.0.0.1:{PORT}")
    }

    /// The DN of the object whose objectGUID has this string form, as the
    /// server itself reads the form (AD's `<GUID=...>` DN syntax).
    pub fn dn_of_guid(&self, guid: &str) -> Result<String, String> {
        let out = Command::new("ldapsearch")
            .args(["-x", "-LLL", "-o", "ldif-wrap=no", "-H", &self.ldap_url(), "-D", ADMIN_DN, "-w", ADMIN_PASSWORD])
            .args(["-s", "base", "-b", &format!("<GUID={guid}>"), "(objectClass=*)", "1.1"])
            .output()
            .map_err(|e| format!("ldapsearch: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("dn: "))
            .map(str::to_string)
            .ok_or_else(|| format!("no object with GUID {guid}: {}", String::from_utf8_lossy(&out.stderr)))
    }

    /// Runs `samba-tool` on this domain's own database, e.g. `["user",
    /// "setpassword", NAME, "--newpassword=..."]` (LDAP cannot set
    /// passwords without TLS; samba-tool writes them directly).
    pub fn samba_tool(&self, args: &[&str]) -> Result<(), String> {
        run(Command::new("samba-tool").args(args).arg("-s").arg(self.dir.join("etc/smb.conf")))
    }

    /// Runs ldapmodify as the domain administrator with the given LDIF.
    pub fn modify(&self, ldif: &str) -> Result<(), String> {
        crate::ldap_modify(&self.ldap_url(), ADMIN_DN, ADMIN_PASSWORD, ldif)
    }
}

impl Drop for SambaDc {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_has_every_user_in_the_big_group_and_three_in_the_small_one() {
        let ldif = seed_ldif(12);
        assert_eq!(ldif.matches("objectClass: user\n").count(), 12);
        assert_eq!(ldif.matches(&format!("member: {}\n", user_dn(0))).count(), 2);
        assert_eq!(ldif.matches(&format!("member: {}\n", user_dn(3))).count(), 1);
        assert_eq!(ldif.matches("userAccountControl: 546\n").count(), 1);
        assert!(ldif.contains(
            "dn: OU=People,DC=dirbridge,DC=test\nchangetype: add\nobjectClass: organizationalUnit\nou: People\n"
        ));
    }
}
