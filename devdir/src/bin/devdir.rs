//! `devdir start DIR [--users N] [--groups N] [--port P --tls-port Q]`: starts a
//! private slapd in DIR (removed first) and prints its facts as JSON.
//! `devdir stop DIR`: stops it. Used by the demo, Playwright and benchmarks.

use devdir::{Options, Slapd};
use std::path::PathBuf;

fn main() {
    if let Err(e) = run() {
        eprintln!("devdir: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: devdir start DIR [--users N] [--groups N] [--port P --tls-port Q] | devdir stop DIR";
    let (cmd, dir) = match args.as_slice() {
        [c, d, ..] => (c.as_str(), PathBuf::from(d)),
        _ => return Err(usage.into()),
    };
    match cmd {
        "start" => {
            let mut options = Options::default();
            let mut port = None;
            let mut tls_port = None;
            let mut it = args[2..].iter();
            while let Some(flag) = it.next() {
                let value = it.next().ok_or(format!("{flag} needs a value"))?;
                let n: usize = value.parse().map_err(|_| format!("{flag}: '{value}' is not a number"))?;
                match flag.as_str() {
                    "--users" => options.users = n,
                    "--groups" => options.extra_groups = n,
                    "--port" => port = Some(n as u16),
                    "--tls-port" => tls_port = Some(n as u16),
                    _ => return Err(usage.into()),
                }
            }
            if let (Some(p), Some(q)) = (port, tls_port) {
                options.ports = Some((p, q));
            }
            stop(&dir);
            let _ = std::fs::remove_dir_all(&dir);
            let slapd = Slapd::start_in(&dir, options)?;
            let info = slapd.info_json();
            std::fs::write(dir.join("info.json"), &info).map_err(|e| e.to_string())?;
            println!("{info}");
            slapd.detach();
            Ok(())
        }
        "stop" => {
            stop(&dir);
            Ok(())
        }
        _ => Err(usage.into()),
    }
}

fn stop(dir: &std::path::Path) {
    if let Some(pid) = std::fs::read_to_string(dir.join("slapd.pid")).ok().and_then(|p| p.trim().parse::<u32>().ok()) {
        let _ = std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status();
        for _ in 0..200 {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
    }
}
