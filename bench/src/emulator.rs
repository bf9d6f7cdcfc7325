//! A private emulator (moto server from `localstack/.venv`) on a free port, seeded with the
//! demo network and images, stopped when dropped.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub struct Emulator {
    pub endpoint: String,
    child: Child,
}

pub fn localstack(root: &Path) -> PathBuf {
    root.join("localstack")
}

impl Emulator {
    pub fn start(root: &Path, log: &Path) -> Result<Emulator> {
        let ls = localstack(root);
        if !ls.join(".venv/bin/moto_server").exists() {
            let st = Command::new(ls.join("install.sh"))
                .status()
                .context("run localstack/install.sh")?;
            if !st.success() {
                bail!("localstack/install.sh failed");
            }
        }
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let log = std::fs::File::create(log)?;
        let child = Command::new(ls.join(".venv/bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start moto_server")?;
        let emu = Emulator {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if Instant::now() > deadline {
                bail!("the emulator did not answer on port {port} within a minute");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = Command::new(ls.join(".venv/bin/python"))
            .arg(ls.join("seed.py"))
            .args([
                "--endpoint-url",
                &emu.endpoint,
                "--region",
                "us-east-1",
                "--json",
            ])
            .output()
            .context("run localstack/seed.py")?;
        if !out.status.success() {
            bail!("seed.py failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(emu)
    }

    pub fn env(&self) -> Vec<(&str, &str)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_REGION", "us-east-1"),
            ("REROLL_POLL_SECONDS", "0.5"),
        ]
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
