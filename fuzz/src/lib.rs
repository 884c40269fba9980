//! Helpers shared by the fuzz targets: a scratch file per process (the CSV reader and the config
//! loader read paths), and a minimal loopback HTTP server for the `$batch` response target.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A file named `name` in a folder of this process's own (in `/dev/shm` when there is one, so
/// that writing an input per run costs no disk I/O). The folder is created on first use.
pub fn scratch_path(name: &str) -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let shm = PathBuf::from("/dev/shm");
        let base = if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("coupler-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir
    });
    dir.join(name)
}

/// What the stub server answers to the next `$batch` request.
#[derive(Debug, Clone, Default)]
pub struct StubAnswer {
    pub status: u16,
    /// Raw header lines (`Name: value`), written as given.
    pub headers: Vec<String>,
    pub body: Vec<u8>,
}

/// A loopback HTTP/1.1 server standing in for Dataverse: it answers the token request with a
/// bearer token and every other request with the [`StubAnswer`] currently set.
pub struct Stub {
    pub url: String,
    answer: Arc<Mutex<StubAnswer>>,
}

impl Stub {
    pub fn start() -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let answer = Arc::new(Mutex::new(StubAnswer::default()));
        let shared = answer.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        Stub { url, answer }
    }

    pub fn set(&self, answer: StubAnswer) {
        *self.answer.lock().unwrap() = answer;
    }
}

/// Serves one keep-alive connection until the client closes it.
fn serve(stream: TcpStream, answer: &Mutex<StubAnswer>) {
    let _ = stream.set_nodelay(true);
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.trim().eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let reply = if request_line.contains("/oauth2/v2.0/token") {
            let body = br#"{"token_type":"Bearer","expires_in":3599,"access_token":"fuzz-token"}"#;
            let mut out = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            out.extend_from_slice(body);
            out
        } else {
            let a = answer.lock().unwrap().clone();
            let mut out = format!("HTTP/1.1 {} Answer\r\n", a.status).into_bytes();
            for h in &a.headers {
                out.extend_from_slice(h.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", a.body.len()).as_bytes());
            out.extend_from_slice(&a.body);
            out
        };
        if writer.write_all(&reply).is_err() {
            return;
        }
    }
}

pub mod emulator;
