//! A small W3C WebDriver client for the browser tests: starts `chromedriver` on a free loopback
//! port and drives headless Chromium sessions over plain HTTP with `reqwest`.
//!
//! Every process and session is closed by a `Drop` guard, also when a test fails half-way.
//!
//! # Errors
//!
//! Every fallible call returns a sentence saying which step or WebDriver command failed and
//! why, for the test to fail with.
#![allow(
    clippy::missing_errors_doc,
    reason = "one rule for the whole module, in its documentation"
)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// How long to wait for an element, a condition or chromedriver itself.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How often to poll while waiting.
const POLL: Duration = Duration::from_millis(50);
/// The W3C key under which an element reference comes back.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The browser binaries, found on this machine.
#[derive(Debug, Clone)]
pub struct Browser {
    /// The Chromium binary.
    pub chromium: PathBuf,
    /// The matching chromedriver.
    pub chromedriver: PathBuf,
}

impl Browser {
    /// Finds Chromium and chromedriver (`PARAVOID_CHROMIUM` / `PARAVOID_CHROMEDRIVER`, or the
    /// Debian paths), or says what is missing.
    pub fn find() -> Result<Self, String> {
        let chromium = locate(
            "PARAVOID_CHROMIUM",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        );
        let chromedriver = locate("PARAVOID_CHROMEDRIVER", &["/usr/bin/chromedriver"]);
        match (chromium, chromedriver) {
            (Some(chromium), Some(chromedriver)) => Ok(Self {
                chromium,
                chromedriver,
            }),
            _ => Err(
                "Chromium and chromedriver are not installed (`apt-get install chromium \
                      chromium-driver`), or set PARAVOID_CHROMIUM and PARAVOID_CHROMEDRIVER"
                    .to_owned(),
            ),
        }
    }
}

fn locate(variable: &str, defaults: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(variable) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    defaults.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// A running chromedriver; killed on drop.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    base: String,
    chromium: PathBuf,
    http: reqwest::Client,
}

impl Driver {
    /// Starts chromedriver on a free loopback port and waits until it is ready.
    pub async fn start(browser: &Browser) -> Result<Self, String> {
        let port = free_port()?;
        let child = Command::new(&browser.chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", browser.chromedriver.display()))?;
        let driver = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            chromium: browser.chromium.clone(),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(60))
                .build()
                .map_err(|e| e.to_string())?,
        };
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Ok(response) = driver
                .http
                .get(format!("{}/status", driver.base))
                .send()
                .await
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == true
            {
                return Ok(driver);
            }
            if Instant::now() > deadline {
                return Err("chromedriver did not become ready".to_owned());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Opens a new browser session with a `width` x `height` viewport (CSS pixels): its own
    /// Chromium process and a fresh profile directory, so sessions share no cookies, storage or
    /// cache.
    pub async fn session(&self, width: u32, height: u32) -> Result<Session, String> {
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-extensions".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--force-device-scale-factor=1".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "goog:chromeOptions": {
                        "binary": self.chromium.display().to_string(),
                        "args": args,
                        // Emulate the viewport exactly: a headless window has a minimum width.
                        "mobileEmulation": {
                            "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0 },
                        },
                    },
                },
            },
        });
        let value = call(
            &self.http,
            reqwest::Method::POST,
            format!("{}/session", self.base),
            Some(capabilities),
        )
        .await?;
        let id = value["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session id in {value}"))?
            .to_owned();
        Ok(Session {
            http: self.http.clone(),
            base: format!("{}/session/{id}", self.base),
            driver_addr: self.base.trim_start_matches("http://").to_owned(),
            id,
            _profile: profile,
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Sessions are dropped (and their browsers quit) before the driver; then the driver goes.
        // Killing fails only if it has exited already; either way reap it.
        let _killed = self.child.kill();
        let _status = self.child.wait();
    }
}

/// One browser session; quits its browser on drop.
#[derive(Debug)]
pub struct Session {
    http: reqwest::Client,
    base: String,
    driver_addr: String,
    id: String,
    _profile: tempfile::TempDir,
}

/// A reference to an element in a session's current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Session {
    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) -> Result<(), String> {
        self.post("/url", json!({ "url": url })).await.map(drop)
    }

    /// The address bar's URL.
    pub async fn current_url(&self) -> Result<String, String> {
        let value = self.get("/url").await?;
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no url in {value}"))
    }

    /// Waits until an element matching the CSS selector is displayed, then returns it.
    pub async fn wait_visible(&self, selector: &str) -> Result<Element, String> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Ok(element) = self.find(selector).await
                && self.is_displayed(&element).await.unwrap_or(false)
            {
                return Ok(element);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{selector} did not become visible within {TIMEOUT:?}"
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until a JavaScript expression (the body of a function) returns `true`.
    pub async fn wait_until(&self, what: &str, script: &str) -> Result<(), String> {
        self.wait_until_within(what, script, TIMEOUT).await
    }

    /// [`Session::wait_until`] with a longer or shorter limit (large files on a busy machine).
    pub async fn wait_until_within(
        &self,
        what: &str,
        script: &str,
        limit: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if self.execute(script).await? == Value::Bool(true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("timed out waiting for {what}"));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Finds the first element matching the CSS selector.
    pub async fn find(&self, selector: &str) -> Result<Element, String> {
        let value = self
            .post(
                "/element",
                json!({ "using": "css selector", "value": selector }),
            )
            .await?;
        value[ELEMENT_KEY]
            .as_str()
            .map(|id| Element(id.to_owned()))
            .ok_or_else(|| format!("no element in {value}"))
    }

    /// Whether the element is displayed.
    pub async fn is_displayed(&self, element: &Element) -> Result<bool, String> {
        let value = self
            .get(&format!("/element/{}/displayed", element.0))
            .await?;
        value
            .as_bool()
            .ok_or_else(|| format!("not a bool: {value}"))
    }

    /// Types text into the element.
    pub async fn type_text(&self, element: &Element, text: &str) -> Result<(), String> {
        self.post(
            &format!("/element/{}/value", element.0),
            json!({ "text": text }),
        )
        .await
        .map(drop)
    }

    /// Clears an input or text area.
    pub async fn clear(&self, element: &Element) -> Result<(), String> {
        self.post(&format!("/element/{}/clear", element.0), json!({}))
            .await
            .map(drop)
    }

    /// Clicks the element.
    pub async fn click(&self, element: &Element) -> Result<(), String> {
        self.post(&format!("/element/{}/click", element.0), json!({}))
            .await
            .map(drop)
    }

    /// The element's rendered text.
    pub async fn text(&self, element: &Element) -> Result<String, String> {
        let value = self.get(&format!("/element/{}/text", element.0)).await?;
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("not text: {value}"))
    }

    /// The element's `value` property (inputs and text areas).
    pub async fn value(&self, element: &Element) -> Result<String, String> {
        let value = self
            .get(&format!("/element/{}/property/value", element.0))
            .await?;
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no value: {value}"))
    }

    /// Runs the body of a JavaScript function and returns its result.
    pub async fn execute(&self, script: &str) -> Result<Value, String> {
        self.execute_with(script, &[]).await
    }

    /// Runs `script` (a function body) with `arguments` and returns its value; a returned
    /// promise is awaited (W3C WebDriver), up to the session's script timeout.
    pub async fn execute_with(&self, script: &str, args: &[Value]) -> Result<Value, String> {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// Lets the page save downloads, without asking, into `dir` (the Chrome `DevTools` Protocol
    /// `Browser.setDownloadBehavior` through chromedriver).
    pub async fn allow_downloads(&self, dir: &Path) -> Result<(), String> {
        self.post(
            "/goog/cdp/execute",
            json!({
                "cmd": "Browser.setDownloadBehavior",
                "params": { "behavior": "allow", "downloadPath": dir.display().to_string() },
            }),
        )
        .await
        .map(drop)
    }

    /// Saves a PNG screenshot of the viewport.
    pub async fn screenshot(&self, path: &Path) -> Result<(), String> {
        let value = self.get("/screenshot").await?;
        let encoded = value.as_str().ok_or("no screenshot data")?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| e.to_string())?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        call(
            &self.http,
            reqwest::Method::GET,
            format!("{}{path}", self.base),
            None,
        )
        .await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        call(
            &self.http,
            reqwest::Method::POST,
            format!("{}{path}", self.base),
            Some(body),
        )
        .await
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Drop cannot await: end the session (which quits its browser) with one blocking request.
        let request = format!(
            "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.id, self.driver_addr
        );
        if let Ok(addr) = self.driver_addr.parse::<SocketAddr>()
            && let Ok(mut stream) = TcpStream::connect_timeout(&addr, TIMEOUT)
        {
            let _timeout_set = stream.set_read_timeout(Some(TIMEOUT));
            if stream.write_all(request.as_bytes()).is_ok() {
                read_http_response(&mut stream);
            }
        }
    }
}

/// Reads one HTTP response (headers and a `Content-Length` body), so the caller knows the command
/// finished; chromedriver may keep the connection open after it.
fn read_http_response(stream: &mut TcpStream) {
    let mut answer = Vec::new();
    let mut chunk = [0_u8; 4096];
    while let Ok(read) = stream.read(&mut chunk) {
        if read == 0 {
            return;
        }
        answer.extend_from_slice(chunk.get(..read).unwrap_or_default());
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return;
            }
        }
    }
}

/// Sends one WebDriver command and returns its `value`, or the driver's error.
async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> Result<Value, String> {
    let mut request = http.request(method.clone(), &url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let status = response.status();
    let mut answer: Value = response
        .json()
        .await
        .map_err(|e| format!("{method} {url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{method} {url}: {status} {}", answer["value"]));
    }
    Ok(answer["value"].take())
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}
