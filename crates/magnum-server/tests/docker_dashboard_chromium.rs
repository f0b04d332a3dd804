//! The dashboard in a real browser: Debian's headless Chromium, driven through ChromeDriver's
//! WebDriver protocol (scripts/test.sh installs both and sets MAGNUM_TEST_CHROMEDRIVER), loads
//! /dashboard from a server with a real Docker engine, creates a bay from the page's form,
//! watches the page until the bay is complete with all its nodes ready, and deletes it from
//! the page.

mod common;
mod docker_env;
use docker_env::{engine, env_with_docker};
use magnum_drivers::docker::images;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The W3C WebDriver element key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    profile: std::path::PathBuf,
}

impl Browser {
    async fn start(chromedriver: &str) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
        let started = Instant::now();
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not answer on {base}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("magnum-chromium-{}", uuid::Uuid::new_v4().simple()));
        // Flags that keep Chromium off the network: it talks to the test server only.
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}});
        let r: Value = http.post(format!("{base}/session")).json(&caps).send().await.expect("session").json().await.expect("json");
        let session = r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {r}")).to_owned();
        Browser { driver, http, session: format!("{base}/session/{session}"), profile }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r: Value = req.send().await.expect("webdriver").json().await.expect("json");
        assert!(r["value"]["error"].is_null(), "webdriver {path}: {r}");
        r["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self.cmd(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        v[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {v}")).to_owned()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{e}/clear"), Some(json!({}))).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{e}/value"), Some(json!({"text": text}))).await;
    }

    async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{e}/click"), Some(json!({}))).await;
    }

    /// Runs a script in the page and returns what it returns.
    async fn eval(&self, script: &str) -> Value {
        self.cmd(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await
    }

    /// Re-runs `script` until it returns `want` (the page renders after its own fetches).
    async fn eval_until(&self, script: &str, want: Value, limit: Duration) {
        let started = Instant::now();
        loop {
            let got = self.eval(script).await;
            if got == want {
                return;
            }
            assert!(started.elapsed() < limit, "{script} gave {got}, not {want}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What the page's bay table shows, row by row.
    async fn bay_rows(&self) -> Value {
        self.eval(
            "return [...document.querySelectorAll('#bays tr.bay')].map(r => ({name: r.dataset.bay, \
             status: r.querySelector('.status').textContent, health: r.querySelector('.health').textContent, \
             nodes: r.querySelector('.nodes').textContent}));",
        )
        .await
    }

    /// Polls the page (never the API) until `done` holds for the bay table; returns the last one.
    async fn wait_for(&self, what: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let rows = self.bay_rows().await;
            if done(&rows) {
                return rows;
            }
            let error = self.eval("return document.getElementById('error').textContent;").await;
            assert!(started.elapsed() < limit, "the page never showed {what}: rows {rows}, error {error}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn close(mut self) {
        let _ = self.http.delete(&self.session).send().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_creates_watches_and_deletes_a_bay_in_chromium() {
    let test = "dashboard_creates_watches_and_deletes_a_bay_in_chromium";
    let Some(chromedriver) = common::service_url("MAGNUM_TEST_CHROMEDRIVER", test, "scripts/test.sh") else { return };
    let Some(_engine) = engine(test).await else { return };
    let env = env_with_docker().await;
    // The page sends no identity headers: noauth takes it as its default user, and so is this.
    let user = magnum_client::Client::new(&env.base);
    let r = user
        .post("/v1/clustertemplates", &json!({"name": "web-swarm", "coe": "swarm-mode", "image_id": images::NODE_IMAGE}))
        .await
        .expect("http");
    assert_eq!(r.status, 201, "{}", r.text);

    let browser = Browser::start(&chromedriver).await;
    // noauth: the page's calls carry no token; the server takes them as its default admin.
    browser.open(&format!("{}/dashboard", env.base)).await;
    let title = browser.eval("return document.title;").await;
    assert_eq!(title, "magnum-rs dashboard");
    browser.wait_for("the empty bay list", Duration::from_secs(10), |rows| rows.as_array().is_some_and(Vec::is_empty)).await;
    let script = "return [...document.querySelectorAll('#create-template option')].map(o => o.textContent);";
    browser.eval_until(script, json!(["web-swarm (swarm-mode)"]), Duration::from_secs(5)).await;

    browser.type_into("#create-name", "from-page").await;
    browser.type_into("#create-nodes", "1").await;
    browser.click("#create-submit").await;
    let rows = browser.wait_for("the new bay", Duration::from_secs(10), |rows| rows[0]["name"] == "from-page").await;
    assert!(rows[0]["status"].as_str().is_some_and(|s| s == "CREATE_IN_PROGRESS" || s == "CREATE_COMPLETE"), "{rows}");
    // The page refreshes by itself until the bay is complete and both nodes are ready.
    let rows = browser
        .wait_for("the bay complete with 2/2 nodes ready", Duration::from_secs(150), |rows| {
            rows[0]["status"] == "CREATE_COMPLETE" && rows[0]["nodes"] == "2/2" && rows[0]["health"] == "HEALTHY"
        })
        .await;
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    // The same bay through the API.
    let api = user.get("/v1/clusters/from-page").await.expect("http");
    assert_eq!(api.body["status"], "CREATE_COMPLETE", "{}", api.text);
    // Its detail: the nodes the page lists.
    browser.click("#bays tr.bay").await;
    let script =
        "return [...document.querySelectorAll('#nodes tr')].map(r => r.children[1].textContent + ' ' + r.children[3].textContent);";
    browser.eval_until(script, json!(["master Ready", "worker Ready"]), Duration::from_secs(5)).await;

    // Delete asks once more, then goes.
    browser.click("#bays tr.bay button.delete").await;
    let script = "return document.querySelector('#bays tr.bay button.delete').textContent;";
    browser.eval_until(script, json!("Confirm delete"), Duration::from_secs(5)).await;
    browser.click("#bays tr.bay button.delete").await;
    browser.wait_for("the bay gone", Duration::from_secs(90), |rows| rows.as_array().is_some_and(Vec::is_empty)).await;
    assert_eq!(user.get("/v1/clusters/from-page").await.expect("http").status, 404);
    browser.close().await;
    env.finish().await;
}
