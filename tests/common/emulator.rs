//! A private local AWS emulator (moto server) for one test.
//!
//! `Emulator::start()` installs the emulator once (`localstack/install.sh`, idempotent and safe
//! to run from concurrent tests), starts `moto_server` on a free port of 127.0.0.1, waits until
//! it answers and stops it again when dropped. Its log goes to a temporary directory and is
//! printed when startup fails.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long the server may take to answer after it was spawned.
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Emulator {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    pub port: u16,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Emulator {
    /// Starts a fresh, empty emulator. Panics (with the server's log) when it cannot.
    pub fn start() -> Emulator {
        install();
        let dir = tempfile::tempdir().expect("temporary directory for the emulator log");
        let log = dir.path().join("moto.log");
        let port = free_port();
        let log_file = std::fs::File::create(&log).expect("emulator log file");
        let child = Command::new(localstack().join(".venv/bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file handle"))
            .stderr(log_file)
            .spawn()
            .expect("spawn localstack/.venv/bin/moto_server");
        let mut emulator = Emulator {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            child,
            log,
            _dir: dir,
        };
        emulator.wait_until_ready();
        emulator
    }

    /// Seeds the demo network and images (`localstack/seed.py`) and returns its JSON summary:
    /// `vpc_id`, `subnet_ids`, `security_group_id`, `ami_ids`, `amis[]`, `account_id`, …
    pub fn seed(&self, region: &str) -> serde_json::Value {
        let out = Command::new(localstack().join(".venv/bin/python"))
            .arg(localstack().join("seed.py"))
            .args([
                "--endpoint-url",
                &self.endpoint,
                "--region",
                region,
                "--json",
            ])
            .output()
            .expect("run localstack/seed.py");
        assert!(
            out.status.success(),
            "seed.py failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "seed.py printed no JSON ({e}):\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Seeds the first of `regions` with the demo AMIs only and the others with the demo
    /// network only (`seed.py --regions … --split`): a restore from scratch.
    pub fn seed_split(&self, regions: &[&str]) -> serde_json::Value {
        let out = Command::new(localstack().join(".venv/bin/python"))
            .arg(localstack().join("seed.py"))
            .args([
                "--endpoint-url",
                &self.endpoint,
                "--regions",
                &regions.join(","),
                "--split",
                "--json",
            ])
            .output()
            .expect("run localstack/seed.py");
        assert!(
            out.status.success(),
            "seed.py failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("seed.py prints JSON")
    }

    /// Runs a Python snippet with boto3 against this emulator (`ENDPOINT` is set in it);
    /// returns what it printed.
    pub fn python(&self, code: &str) -> String {
        let out = Command::new(localstack().join(".venv/bin/python"))
            .args(["-c", code])
            .env("ENDPOINT", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .output()
            .expect("run the emulator venv's python");
        assert!(
            out.status.success(),
            "python failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Creates an S3 bucket (the emulator takes unsigned requests: a bare PUT makes one).
    pub fn create_bucket(&self, bucket: &str) {
        let mut stream =
            TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).expect("connect to the emulator");
        write!(
            stream,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n",
            self.port
        )
        .expect("send CreateBucket");
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .expect("read CreateBucket's answer");
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "CreateBucket {bucket}: {answer}"
        );
    }

    /// The server's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "moto_server exited during startup ({status}):\n{}",
                    self.log()
                );
            }
            if answers(self.port) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "moto_server did not answer on {} within {START_TIMEOUT:?}:\n{}",
                    self.endpoint,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now (the OS picks it; we let it go at once).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// The emulator venv's Python, with boto3 and the emulator's other client libraries,
/// installed first when missing.
pub fn python() -> PathBuf {
    install();
    localstack().join(".venv/bin/python")
}

fn localstack() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("localstack")
}

/// Runs `localstack/install.sh` once per test binary (a fresh machine gets the emulator's
/// venv from the first test that needs it).
pub fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let out = Command::new(localstack().join("install.sh"))
            .output()
            .expect("run localstack/install.sh");
        assert!(
            out.status.success(),
            "localstack/install.sh failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// True when an HTTP server answers on the port.
fn answers(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}
