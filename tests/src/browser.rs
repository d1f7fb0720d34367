//! A headless Chromium driven over WebDriver, for end-to-end tests of the operator
//! dashboard: Debian's `chromium` and `chromedriver` (packages `chromium` and
//! `chromium-driver`; `make test` installs them when missing), spoken to with
//! `fantoccini`.

use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// A chromedriver child process and one headless browser session on it.
#[derive(Debug)]
pub struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless session.
    ///
    /// # Panics
    /// When chromedriver or chromium is missing (with what to install), or does not start.
    pub async fn start() -> Browser {
        let driver_path = on_path("chromedriver").unwrap_or_else(|| {
            panic!("chromedriver is missing: run `make test` (it installs it) or apt-get install chromium chromium-driver")
        });
        let chromium = on_path("chromium").unwrap_or_else(|| {
            panic!("chromium is missing: run `make test` (it installs it) or apt-get install chromium chromium-driver")
        });
        let port = testkit::ports::free_port().expect("a free port");
        let driver = tokio::process::Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let status = format!("{url}/status");
        testkit::wait_until("chromedriver to answer", Duration::from_secs(20), || {
            let status = status.clone();
            async move {
                let answer = reqwest::get(&status).await.ok()?;
                let body: serde_json::Value = answer.json().await.ok()?;
                (body["value"]["ready"] == true).then_some(())
            }
        })
        .await
        .expect("chromedriver is ready");

        let profile = tempfile::tempdir().expect("a browser profile folder");
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }
        });
        let capabilities = match capabilities {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("a JSON object literal"),
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("a headless chromium session");
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// The text of the first element matching `css`, when there is one.
    pub async fn text(&self, css: &str) -> Option<String> {
        let element = self.client.find(Locator::Css(css)).await.ok()?;
        element.text().await.ok()
    }

    /// Waits until the text of `css` satisfies `wanted` (the page polls on its own timer,
    /// so the test waits for the page to show the change). The error names the last text
    /// seen.
    pub async fn wait_text(
        &self,
        css: &str,
        within: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let last = std::sync::Mutex::new(None::<String>);
        let found = testkit::wait_until(css, within, || async {
            let text = self.text(css).await?;
            let matched = wanted(&text).then(|| text.clone());
            *last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(text);
            matched
        })
        .await;
        found.map_err(|err| {
            let last = last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            format!("{err}; it last showed {last:?}")
        })
    }

    /// Replaces the value of the field with id `id` by `text`, as a user types it.
    pub async fn type_into(&self, id: &str, text: &str) {
        let field = self
            .client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no field #{id}: {e}"));
        field.clear().await.expect("clears the field");
        field.send_keys(text).await.expect("types");
    }

    /// Clicks the element with id `id`.
    pub async fn click(&self, id: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no #{id} to click: {e}"))
            .click()
            .await
            .expect("clicks");
    }

    /// Ends the session and stops chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}

fn on_path(command: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(command))
        .find(|path| path.is_file())
}
