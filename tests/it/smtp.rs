//! A real SMTP server for the tests: speaks enough of RFC 5321 (EHLO/HELO, MAIL, RCPT, DATA,
//! RSET, NOOP, QUIT) for lettre to deliver to it, and keeps what it receives.

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[derive(Clone, Debug)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
}

impl Received {
    /// The message with quoted-printable soft breaks and escapes undone (good enough to find
    /// links and French sentences in it).
    pub fn text(&self) -> String {
        let joined = self.data.replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() {
                if let Ok(v) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    pub fn link(&self) -> Option<String> {
        let text = self.text();
        let start = text.find("http://")?;
        let end = text[start..]
            .find(|c: char| c.is_whitespace() || c == '<' || c == '"')
            .map_or(text.len(), |e| start + e);
        Some(text[start..end].to_string())
    }
}

pub struct SmtpSink {
    pub port: u16,
    pub inbox: Arc<Mutex<Vec<Received>>>,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind smtp");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let inbox: Arc<Mutex<Vec<Received>>> = Arc::default();
        let store = inbox.clone();
        crate::harness::rt().spawn(async move {
            let l = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            while let Ok((sock, _)) = l.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = session(sock, store).await;
                });
            }
        });
        SmtpSink { port, inbox }
    }

    pub fn messages_to(&self, to: &str) -> Vec<Received> {
        self.inbox
            .lock()
            .map(|v| {
                v.iter()
                    .filter(|m| m.to.iter().any(|t| t == to))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits (bounded) until `to` has received `n` messages: delivery is asynchronous.
    pub fn wait_for(&self, to: &str, n: usize) -> Vec<Received> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let got = self.messages_to(to);
            if got.len() >= n {
                return got;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no mail for {to} (got {})",
                got.len()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

async fn session(
    sock: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<Received>>>,
) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 sink ESMTP\r\n").await?;
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            w.write_all(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if upper.starts_with("HELO")
            || upper.starts_with("MAIL FROM")
            || upper.starts_with("NOOP")
        {
            w.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RSET") {
            to.clear();
            w.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO") {
            let addr = cmd
                .split_once(':')
                .map(|(_, a)| {
                    a.trim()
                        .trim_start_matches('<')
                        .split('>')
                        .next()
                        .unwrap_or("")
                        .to_string()
                })
                .unwrap_or_default();
            to.push(addr);
            w.write_all(b"250 OK\r\n").await?;
        } else if upper == "DATA" {
            w.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(
                    line.strip_prefix('.')
                        .filter(|_| line.starts_with(".."))
                        .unwrap_or(&line),
                );
            }
            if let Ok(mut v) = store.lock() {
                v.push(Received {
                    to: std::mem::take(&mut to),
                    data,
                });
            }
            w.write_all(b"250 OK queued\r\n").await?;
        } else if upper == "QUIT" {
            w.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            w.write_all(b"502 not implemented\r\n").await?;
        }
    }
}
