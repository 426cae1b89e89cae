//! What the emulated stage's tests share: one DynamoDB Local, the real
//! `bootstrap`, a Python venv with Lambda's runtime interface client, and
//! small templates.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use local_stage::DynamoDbLocal;

/// The workspace's root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One DynamoDB Local for the test binary (its watchdog stops java when
/// the binary exits); each test has tables of its own.
pub fn shared_dynamodb() -> &'static DynamoDbLocal {
    static DB: OnceLock<DynamoDbLocal> = OnceLock::new();
    DB.get_or_init(|| DynamoDbLocal::start().expect("DynamoDB Local starts"))
}

/// A table name no other test uses.
pub fn fresh_table() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "emulated_t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The real `bootstrap`: `BOOTSTRAP_BIN` (relative to the workspace root,
/// as .ci/run exports the packaged one), else this workspace's build of
/// it (`cargo build -p counter-lambda --bin bootstrap`, once per test
/// binary; cargo's own lock orders it with other builds).
pub fn bootstrap() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("BOOTSTRAP_BIN").filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            return if p.is_relative() {
                workspace().join(p)
            } else {
                p
            };
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "counter-lambda", "--bin", "bootstrap"])
            .current_dir(workspace())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building bootstrap failed");
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("..");
        let bin = target.join("debug/bootstrap");
        assert!(bin.is_file(), "no {}", bin.display());
        bin
    })
    .clone()
}

/// Python's Lambda runtime interface client and boto3, every package
/// pinned (tests/functions/venv.sh), in a venv under target/ made once,
/// under a lock: several test binaries may ask at once. Returns its python.
pub fn python() -> PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("..");
        let venv = target.join("emulated-stage-venv");
        let status = Command::new("flock")
            .arg(target.join("emulated-stage-venv.lock"))
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/functions/venv.sh"))
            .arg(&venv)
            .status()
            .expect("flock and python3 run");
        assert!(status.success(), "making the Python venv failed");
        venv.join("bin/python")
    })
    .clone()
}

/// The Python handlers the tests run (atomic.py, get_then_put.py).
pub fn functions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/functions")
}

/// A port that accepts connections (the kernel does, into its backlog)
/// and never answers: a DynamoDB that hangs.
pub fn blackhole() -> (std::net::TcpListener, String) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    (l, url)
}

/// A template with one function behind `POST` and `GET /visits`.
pub struct TemplateSpec<'a> {
    pub rate: f64,
    pub burst: f64,
    pub timeout_s: u32,
    pub reserved: Option<u32>,
    pub runtime: &'a str,
    pub handler: &'a str,
    pub table: &'a str,
}

impl Default for TemplateSpec<'_> {
    fn default() -> Self {
        Self {
            rate: 1000.0,
            burst: 1000.0,
            timeout_s: 6,
            reserved: None,
            runtime: "provided.al2023",
            handler: "bootstrap",
            table: "visitor_count",
        }
    }
}

impl TemplateSpec<'_> {
    /// Writes it into `dir`; returns its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let reserved = self.reserved.map_or(String::new(), |r| {
            format!("      ReservedConcurrentExecutions: {r}\n")
        });
        let text = format!(
            r#"Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      DefaultRouteSettings:
        ThrottlingRateLimit: {rate}
        ThrottlingBurstLimit: {burst}
  CounterFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: {handler}
      Runtime: {runtime}
      MemorySize: 128
      Timeout: {timeout}
{reserved}      Environment:
        Variables:
          TABLE_NAME: {table}
          ALLOWED_ORIGINS: "*"
      Events:
        Post: {{Type: HttpApi, Properties: {{ApiId: !Ref Api, Method: POST, Path: /visits}}}}
        Get: {{Type: HttpApi, Properties: {{ApiId: !Ref Api, Method: GET, Path: /visits}}}}
"#,
            rate = self.rate,
            burst = self.burst,
            handler = self.handler,
            runtime = self.runtime,
            timeout = self.timeout_s,
            table = self.table,
        );
        let path = dir.join("template.yaml");
        std::fs::write(&path, text).expect("template written");
        path
    }
}
