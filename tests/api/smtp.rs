//! A real SMTP server for the tests: aiosmtpd (PyPI) writing what it receives to a Maildir.
//! Installed with pip on first use if missing (`.ci/run` installs it too).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

static INSTALL: Once = Once::new();

fn ensure_aiosmtpd() {
    INSTALL.call_once(|| {
        let have = |py: &str| {
            Command::new(py)
                .args(["-c", "import aiosmtpd"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !have("python3") {
            let _ = Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "aiosmtpd"])
                .status();
        }
        assert!(
            have("python3"),
            "the email tests need aiosmtpd: python3 -m pip install aiosmtpd"
        );
    });
}

/// A free TCP port on 127.0.0.1 (nothing listens on it when this returns).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        Self::start_on(free_port())
    }

    /// Listens on `port` (a test may have pointed the server at it while it was down).
    pub fn start_on(port: u16) -> SmtpSink {
        ensure_aiosmtpd();
        let dir = tempfile::tempdir().unwrap();
        let mut sink = SmtpSink {
            port,
            dir,
            child: None,
        };
        sink.up();
        sink
    }

    fn up(&mut self) {
        let maildir: PathBuf = self.dir.path().join("mail");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        self.child = Some(child);
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "aiosmtpd did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every message received so far, raw.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.dir.path().join("mail").join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                if let Ok(bytes) = std::fs::read(entry.path()) {
                    out.push(bytes);
                }
            }
        }
        out
    }

    /// Waits until at least `n` messages arrived (or `timeout`), then a little longer to see
    /// any extra ones, and returns them all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let started = Instant::now();
        while self.messages().len() < n && started.elapsed() < timeout {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.messages()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A received message, parsed: headers by name, and the plain-text and HTML bodies decoded.
pub struct Received {
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub text: String,
    pub html: String,
}

pub fn parse(raw: &[u8]) -> Received {
    let mail = mailparse::parse_mail(raw).expect("a parsable message");
    let header = |name: &str| {
        mailparse::MailHeaderMap::get_first_value(mail.headers.as_slice(), name).unwrap_or_default()
    };
    let mut text = String::new();
    let mut html = String::new();
    fn walk(part: &mailparse::ParsedMail, text: &mut String, html: &mut String) {
        if part.subparts.is_empty() {
            let body = part.get_body().unwrap_or_default();
            match part.ctype.mimetype.as_str() {
                "text/plain" => text.push_str(&body),
                "text/html" => html.push_str(&body),
                _ => {}
            }
        }
        for sub in &part.subparts {
            walk(sub, text, html);
        }
    }
    walk(&mail, &mut text, &mut html);
    Received {
        to: header("To"),
        subject: header("Subject"),
        message_id: header("Message-ID"),
        text,
        html,
    }
}
