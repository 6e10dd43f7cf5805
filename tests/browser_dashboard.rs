//! The dashboard in a real browser (headless Chromium through chromedriver), against a
//! continuous runner serving it (`run --http`): log in with the keyboard, see a dead-lettered
//! job and every attempt's error, replay it once the fix is in and see it done, pause with a
//! reason and resume, log out. Screenshots of the overview (desktop) and the job page (a
//! phone's width) are saved in the test's directory, and also in `NIGHTSHIFT_SCREENSHOT_DIR`
//! when it is set (where README's `docs/dashboard.png` comes from).
//!
//! Without Chromium the test says in one line that it was not run (see `util::browser`); CI
//! installs it and requires it.

use std::path::Path;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};

use crate::util::browser::Browser;
use crate::util::http::{Server, TOKEN, cli_json};

/// The dead letter's key (a `/` in it: its page's address is percent-encoded).
const KEY: &str = "report/2026-07-01";

/// The longest any page may take to show what it should.
const LIMIT: Duration = Duration::from_secs(30);

const DESKTOP: (u32, u32) = (1024, 900);
const PHONE: (u32, u32) = (390, 844);

/// The text of the first element matching `css`, once `want` holds for it; the page is
/// reloaded between looks when `reload` (a page that does not change by itself).
async fn until(c: &Client, css: &str, reload: bool, what: &str, want: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let last = match c.find(Locator::Css(css)).await {
            Ok(e) => match e.text().await {
                Ok(text) if want(&text) => return,
                Ok(text) => format!("{css} shows {text:?}"),
                Err(e) => e.to_string(),
            },
            Err(e) => format!("{css}: {e}"),
        };
        if Instant::now() > deadline {
            let url = c.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            panic!("timed out after {LIMIT:?} waiting for {what} on {url}: {last}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if reload {
            c.refresh().await.expect("reload the page");
        }
    }
}

/// Clicks the first element matching `css`.
async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
}

/// Saves a screenshot of the whole page as `name` in the test's directory (and in
/// `NIGHTSHIFT_SCREENSHOT_DIR` when set), after checking it is a PNG `width` pixels wide with
/// something drawn in it. The window is made as tall as the page for it, then put back.
async fn screenshot(c: &Client, dir: &Path, name: &str, (width, height): (u32, u32)) {
    let script = "return [document.documentElement.scrollHeight, window.innerHeight, \
                  window.outerHeight]";
    let sizes = c.execute(script, vec![]).await.expect("measure the page");
    let [page, inner, outer] = [0, 1, 2].map(|i| sizes[i].as_u64().expect("a height") as u32);
    c.set_window_size(width, page + outer.saturating_sub(inner)).await.unwrap();
    let png = c.screenshot().await.expect("a screenshot");
    c.set_window_size(width, height).await.unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is not a PNG");
    let wide = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let high = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!(wide, width, "{name}'s width");
    // A blank page of this size compresses to a few hundred bytes; text and tables do not.
    assert!(png.len() > 10_000 && high > 300, "{name}: {} bytes, {wide}x{high}", png.len());
    std::fs::write(dir.join(name), &png).unwrap();
    if let Some(out) = std::env::var_os("NIGHTSHIFT_SCREENSHOT_DIR").filter(|d| !d.is_empty()) {
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(Path::new(&out).join(name), &png).unwrap();
    }
}

/// Whether the page fits the window's width (tables scroll inside their own box), and with
/// `tables`, whether the tables fit too (nothing hidden to the right).
async fn fits_the_width(c: &Client, tables: bool) -> bool {
    let script = "return document.documentElement.scrollWidth <= window.innerWidth && \
                  (!arguments[0] || [...document.querySelectorAll('.scroll')]\
                  .every(e => e.scrollWidth <= e.clientWidth))";
    let fits = c.execute(script, vec![tables.into()]).await.expect("measure the page");
    fits == serde_json::Value::Bool(true)
}

crate::both_stores! {
    #[tokio::test]
    async fn a_dead_letter_is_replayed_and_claims_paused_in_headless_chromium(w: Workdir) {
    let store = if w.is_postgres() { "postgres" } else { "sqlite" };
    let test = format!("{}::{store}", module_path!());
    let Some(browser) = Browser::start(&test, DESKTOP.0, DESKTOP.1).await else { return };
    let c = &browser.client;

    // Three jobs done and one dead-lettered after two attempts, until the fix is in.
    w.run(&["init"]).expect(0);
    let fixed = w.path().join("fixed");
    let agent = w.script(
        "agent.sh",
        &format!(
            "cat > /dev/null\nif [ \"$NIGHTSHIFT_KEY\" = {KEY} ] && [ ! -e {} ]; then\n  \
             echo \"attempt $NIGHTSHIFT_ATTEMPT: upstream answered 503\" >&2\n  exit 1\nfi",
            fixed.display()
        ),
    );
    let agent = agent.to_str().unwrap();
    let day = r#"{"day":"2026-07-01"}"#;
    w.run(&["enqueue", "--queue", "reports", "--max-attempts", "2", KEY, day]).expect(0);
    for (queue, key) in [("mail", "mail/alice"), ("mail", "mail/bob"), ("default", "digest")] {
        w.run(&["enqueue", "--queue", queue, key, "{}"]).expect(0);
    }
    w.run(&["run", "--once", "--workers", "1", "--", agent]).expect(0);
    assert_eq!(cli_json(&w, &["dlq", "show", KEY, "--json"])["attempts"], 2);

    let args = ["run", "--http", "127.0.0.1:0", "--log-format", "json", "--", agent];
    let server = Server::spawn(&w, &args, &[("NIGHTSHIFT_TOKEN", TOKEN)]);
    let base = format!("http://{}", server.addr);

    // Log in with the keyboard: the field has focus, Enter submits.
    c.goto(&format!("{base}/")).await.unwrap();
    until(c, "h1", false, "the login form", |t| t == "Log in").await;
    let field = c.active_element().await.unwrap();
    assert_eq!(field.attr("id").await.unwrap().as_deref(), Some("token"), "the focused field");
    field.send_keys(&format!("{TOKEN}\u{e007}")).await.unwrap();
    until(c, "h1", false, "the overview", |t| t == "Overview").await;
    let nav = "nightshift Overview Jobs Dead letters Schedules Alerts";
    until(c, "header nav", false, "the page's links", |t| t == nav).await;
    until(c, "[data-count=dead]", false, "one dead letter", |t| t == "1").await;
    until(c, "[data-count=done]", false, "three done", |t| t == "3").await;
    until(c, "[data-count=runner]", false, "the runner", |t| t.starts_with("alive: ")).await;
    screenshot(c, w.path(), "overview.png", DESKTOP).await;

    // The dead letters (their whole table on a desktop) link to the job page: every attempt's
    // error, on a phone.
    click(c, "nav a[href='/dlq']").await;
    until(c, "[data-count=dead]", false, "the dead letters", |t| t.starts_with("Showing 1 of 1")).await;
    assert!(fits_the_width(c, true).await, "/dlq's table is wider than a desktop's window");
    c.set_window_size(PHONE.0, PHONE.1).await.unwrap();
    assert!(fits_the_width(c, false).await, "/dlq is wider than a phone");
    click(c, "a[href='/jobs/report%2F2026-07-01']").await;
    until(c, "[data-status]", false, "the dead letter", |t| t == "dead letter (exhausted)").await;
    let attempts = c.find_all(Locator::Css("tbody tr")).await.unwrap();
    assert_eq!(attempts.len(), 2, "one row per attempt");
    for (n, row) in attempts.iter().enumerate() {
        let text = row.text().await.unwrap();
        assert!(text.contains(&format!("attempt {}: upstream answered 503", n + 1)), "{text}");
    }
    assert!(fits_the_width(c, false).await, "the job page is wider than a phone");
    screenshot(c, w.path(), "job.png", PHONE).await;

    // The fix is in: Replay, and the job page shows it done.
    std::fs::write(&fixed, "").unwrap();
    click(c, &format!("button[aria-label='Replay {KEY}']")).await;
    until(c, "[data-status]", true, "the replayed job done", |t| t == "done").await;
    assert_eq!(cli_json(&w, &["status", "--json"])["dead"], 0);

    // Pause with a reason: the overview says so; a job enqueued meanwhile waits.
    c.set_window_size(DESKTOP.0, DESKTOP.1).await.unwrap();
    click(c, "nav a[href='/']").await;
    until(c, "[data-count=dead]", false, "no dead letter", |t| t == "0").await;
    let reason = c.find(Locator::Css("input#reason")).await.unwrap();
    reason.send_keys("deploying v2").await.unwrap();
    click(c, "form[action='/pause'] button").await;
    until(c, "q[data-reason]", false, "the pause's reason", |t| t == "deploying v2").await;
    let status = cli_json(&w, &["status", "--json"]);
    assert_eq!((&status["paused"], &status["pause_reason"]), (&true.into(), &"deploying v2".into()));
    w.run(&["enqueue", "after-resume", "{}"]).expect(0);
    until(c, "[data-count=pending]", true, "the new job pending", |t| t == "1").await;

    // Resume: claims go on, and the new job is done.
    click(c, "form[action='/resume'] button").await;
    until(c, "main p strong", false, "not paused", |t| t == "Not paused").await;
    until(c, "[data-count=done]", true, "the new job done", |t| t == "5").await;
    assert_eq!(cli_json(&w, &["jobs", "show", "after-resume", "--json"])["status"], "done");

    // Log out: the pages send the browser back to the login form.
    click(c, "form[action='/logout'] button").await;
    until(c, "h1", false, "the login form", |t| t == "Log in").await;
    c.goto(&format!("{base}/dlq")).await.unwrap();
    until(c, "h1", false, "the login form again", |t| t == "Log in").await;

    browser.close().await;
    let stopped = server.stop();
    assert_eq!(stopped.code, Some(0), "{}", stopped.stderr);
    }
}
