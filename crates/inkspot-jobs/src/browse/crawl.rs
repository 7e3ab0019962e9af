//! A crawl: the start page is depth 0, the pages its links reach depth 1,
//! and so on up to `depth` hops, breadth first, each page once, within
//! `max_pages`, on the start page's host unless `same_site` is off.
//! Politeness: `browser.per_host` pages of a host at once over every job,
//! `browser.crawl_delay` (or the host's longer `Crawl-delay`) between two,
//! and `robots.txt` honoured unless the operator named the host in
//! `browser.ignore_robots`. Every page is recorded in the database and its
//! picture stored in the storage backend as it is taken.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::shots::entry;
use super::{Browsing, Budget, IndexRow, PageRow, Pages, Taken, describe, status_problem};
use crate::engine::Engine;
use crate::produce::{Out, blocking};
use crate::run::{Failure, Tracker, storage_failure};
use crate::spec::CrawlPlan;

/// The most of a `robots.txt` read.
const MAX_ROBOTS: usize = 512 * 1024;
/// The longest `Crawl-delay` honoured.
const MAX_DELAY: Duration = Duration::from_secs(30);

/// Pages of each host open now, over every crawl.
#[derive(Default)]
pub struct Hosts(std::sync::Mutex<HashMap<String, Arc<Semaphore>>>);

impl Hosts {
    fn gate(&self, host: &str, per_host: usize) -> Arc<Semaphore> {
        let mut gates = self.0.lock().unwrap_or_else(|e| e.into_inner());
        gates.retain(|_, g| Arc::strong_count(g) > 1);
        gates
            .entry(host.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(per_host.max(1))))
            .clone()
    }
}

/// What a crawl needs besides its plan.
pub(crate) struct Crawler<'a> {
    pub browsing: &'a Browsing,
    pub budget: Budget<'a>,
    pub engine: &'a Engine,
    pub pages: &'a Pages,
    pub hosts: &'a Hosts,
}

/// A page found and not yet visited.
struct Found {
    url: url::Url,
    parent: Option<String>,
}

/// Crawls `plan` and writes the zip (pages in folders by depth, the tree
/// as `tree.json`, every page in `index.json`); returns its type and name.
pub(crate) async fn crawl(
    c: &Crawler<'_>,
    id: &str,
    plan: CrawlPlan,
    tracker: &mut Tracker<'_>,
    out: Out,
    token: &CancellationToken,
) -> Result<(String, String), Failure> {
    let mut robots = Robots::new(c.engine.config().browser.ignore_robots.clone());
    let mut seen: HashSet<String> = HashSet::from([plan.start.to_string()]);
    let mut level = vec![Found {
        url: plan.start.clone(),
        parent: None,
    }];
    let mut zip = zip::ZipWriter::new(out);
    let mut rows: Vec<PageRow> = Vec::new();
    tracker.items.clear();
    for depth in 0..=plan.depth {
        let mut next = Vec::new();
        for found in std::mem::take(&mut level) {
            if token.is_cancelled() {
                return Err("cancelled".into());
            }
            if rows.len() >= plan.max_pages {
                break;
            }
            let Some(taken) = visit(c, &mut robots, &plan, &found.url).await else {
                continue;
            };
            let mut row = row_of(rows.len(), depth, &found);
            match taken {
                Ok(shot) => {
                    zip = keep(c, id, zip, (&mut row, &found.url), &shot).await?;
                    if depth < plan.depth {
                        let room = plan.max_pages.saturating_sub(rows.len() + 1);
                        next.extend(links(
                            &shot,
                            &plan,
                            &found.url,
                            &mut seen,
                            room - next.len().min(room),
                        ));
                    }
                }
                Err(e) => row.error = Some(e),
            }
            record(c, id, tracker, &row).await?;
            rows.push(row);
        }
        level = next;
    }
    c.engine.metrics().crawl_pages.observe(rows.len() as f64);
    finish(id, zip, &rows, c.engine.clock().now()).await
}

/// One page: `robots.txt` asked, the host's place taken (and held for the
/// crawl delay after the page), the picture taken or shared. `None` when
/// `robots.txt` disallows the page.
async fn visit(
    c: &Crawler<'_>,
    robots: &mut Robots,
    plan: &CrawlPlan,
    url: &url::Url,
) -> Option<Result<Arc<Taken>, String>> {
    let config = &c.engine.config().browser;
    let Some(pause) = robots.allows(c.browsing, url, config.crawl_delay).await else {
        tracing::debug!(%url, "robots.txt disallows it; not visited");
        return None;
    };
    let host = url.host_str().unwrap_or_default().to_string();
    let permit = c.hosts.gate(&host, config.per_host).acquire_owned().await;
    let taken = match c.budget.spent() {
        Some(spent) => Err(spent),
        None => {
            let now = c.engine.clock().now();
            let (taken, took) = c.browsing.take(url, &plan.options, true, now).await;
            c.budget.pay(took);
            taken.map_err(|e| describe(&e))
        }
    };
    // The pause is held with the host's place, after the page.
    tokio::spawn(async move {
        tokio::time::sleep(pause).await;
        drop(permit);
    });
    Some(taken)
}

/// The row of the `n`th page, found at `depth`, before it is filled.
fn row_of(n: usize, depth: u32, found: &Found) -> PageRow {
    PageRow {
        n: n as i64,
        url: found.url.to_string(),
        depth: i64::from(depth),
        parent: found.parent.clone(),
        final_url: None,
        status: None,
        title: None,
        file: None,
        blob: None,
        error: None,
        taken_at: None,
    }
}

/// A page taken: its picture stored (the backend) and zipped (in its
/// depth's folder), its row filled.
async fn keep(
    c: &Crawler<'_>,
    id: &str,
    zip: zip::ZipWriter<Out>,
    (row, url): (&mut PageRow, &url::Url),
    shot: &Arc<Taken>,
) -> Result<zip::ZipWriter<Out>, Failure> {
    let n = usize::try_from(row.n).unwrap_or_default();
    let file = format!(
        "depth-{}/{}",
        row.depth,
        crate::spec::page_file(n, url, shot.encoding.extension())
    );
    let blob = format!("job-{id}-page-{n:03}");
    store_page(c.engine, id, &blob, &shot.image).await?;
    let (png, name) = (shot.clone(), file.clone());
    let zip = blocking(id, move || entry(zip, &name, &png.image, png.at)).await?;
    row.final_url = Some(shot.final_url.clone());
    row.status = Some(i64::from(shot.status));
    row.title = Some(shot.title.clone());
    row.file = Some(file);
    row.blob = Some(blob);
    row.taken_at = Some(shot.at);
    row.error = status_problem(shot.status);
    Ok(zip)
}

/// The links of `shot` to visit next: followed (see [`follow`]), each page
/// once, at most `room` of them.
fn links(
    shot: &Taken,
    plan: &CrawlPlan,
    from: &url::Url,
    seen: &mut HashSet<String>,
    room: usize,
) -> Vec<Found> {
    let mut found = Vec::new();
    for link in &shot.links {
        if found.len() >= room {
            break;
        }
        let Some(url) = follow(link, &plan.start, plan.same_site) else {
            continue;
        };
        if seen.insert(url.to_string()) {
            found.push(Found {
                url,
                parent: Some(from.to_string()),
            });
        }
    }
    found
}

/// Writes a page's row and its item's state.
async fn record(
    c: &Crawler<'_>,
    id: &str,
    tracker: &mut Tracker<'_>,
    row: &PageRow,
) -> Result<(), Failure> {
    c.pages
        .put(id, row)
        .await
        .map_err(|e| storage_failure(id, &e))?;
    let state = if row.error.is_some() {
        "failed"
    } else {
        "done"
    };
    tracker.items.push(crate::records::Item {
        name: row.url.clone(),
        state: state.into(),
        error: row.error.clone(),
    });
    if !tracker.flush().await {
        return Err("cancelled".into());
    }
    Ok(())
}

/// Writes the index and the tree and closes the zip.
async fn finish(
    id: &str,
    zip: zip::ZipWriter<Out>,
    rows: &[PageRow],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(String, String), Failure> {
    if rows.iter().all(|r| r.file.is_none()) {
        return Err("the start page could not be taken; its item says why".into());
    }
    let index: Vec<IndexRow> = rows.iter().map(index_row).collect();
    let index = serde_json::to_vec_pretty(&index).unwrap_or_default();
    let tree = serde_json::to_vec_pretty(&tree(rows, None)).unwrap_or_default();
    blocking(id, move || {
        let zip = entry(zip, "index.json", &index, now)?;
        let zip = entry(zip, "tree.json", &tree, now)?;
        std::io::Write::flush(&mut zip.finish().map_err(std::io::Error::other)?)
    })
    .await?;
    Ok((
        "application/zip".into(),
        format!("inkspot-{}.zip", &id[..8]),
    ))
}

fn index_row(r: &PageRow) -> IndexRow {
    IndexRow {
        url: r.url.clone(),
        final_url: r.final_url.clone(),
        status: r.status.and_then(|s| u16::try_from(s).ok()),
        title: r.title.clone(),
        file: r.file.clone(),
        time: r.taken_at,
        error: r.error.clone(),
        depth: u32::try_from(r.depth).ok(),
        parent: r.parent.clone(),
    }
}

/// The pages found from `parent`, each with its own, as nested JSON.
fn tree(rows: &[PageRow], parent: Option<&str>) -> Vec<serde_json::Value> {
    rows.iter()
        .filter(|r| r.parent.as_deref() == parent)
        .map(|r| {
            let mut node = serde_json::to_value(index_row(r)).unwrap_or_default();
            node["children"] = serde_json::Value::Array(tree(rows, Some(&r.url)));
            node
        })
        .collect()
}

/// A link to follow: `http` or `https`, without its fragment, on the start
/// page's host when `same_site` (a leading `www.` aside).
pub(crate) fn follow(link: &str, start: &url::Url, same_site: bool) -> Option<url::Url> {
    let mut url = url::Url::parse(link).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.set_fragment(None);
    let bare = |u: &url::Url| {
        u.host_str()
            .map(|h| h.trim_start_matches("www.").to_string())
    };
    if same_site && bare(&url) != bare(start) {
        return None;
    }
    Some(url)
}

/// Stores a page's picture as blob `name`.
async fn store_page(engine: &Engine, id: &str, name: &str, png: &[u8]) -> Result<(), Failure> {
    let store = engine.store();
    let bytes = png.to_vec();
    let dir = store.scratch_dir().to_path_buf();
    let path = blocking(id, move || {
        let mut file = tempfile::Builder::new()
            .prefix(".tmp-page-")
            .tempfile_in(dir)?;
        std::io::Write::write_all(&mut file, &bytes)?;
        Ok(file.into_temp_path())
    })
    .await?;
    store
        .put_blob(name, &path)
        .await
        .map_err(|e| storage_failure(id, &e))?;
    let _ = path.keep();
    Ok(())
}

/// Each origin's `robots.txt`, read once a crawl.
struct Robots {
    ignored: Vec<String>,
    read: HashMap<String, Option<texting_robots::Robot>>,
}

impl Robots {
    fn new(ignored: Vec<String>) -> Self {
        Self {
            ignored,
            read: HashMap::new(),
        }
    }

    /// The pause after `url` when its robots.txt lets inkspot in, else `None`.
    async fn allows(
        &mut self,
        browsing: &Browsing,
        url: &url::Url,
        pause: Duration,
    ) -> Option<Duration> {
        let host = url.host_str().unwrap_or_default();
        if self.ignored.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return Some(pause);
        }
        let origin = url.origin().ascii_serialization();
        if !self.read.contains_key(&origin) {
            let robots_url = url.join("/robots.txt").ok()?;
            let text = browsing.text(&robots_url, MAX_ROBOTS).await.ok().flatten();
            let robot = text.and_then(|t| texting_robots::Robot::new("inkspot", t.as_bytes()).ok());
            self.read.insert(origin.clone(), robot);
        }
        match self.read.get(&origin).and_then(Option::as_ref) {
            None => Some(pause),
            Some(robot) if robot.allowed(url.as_str()) => {
                // A robots.txt may say anything, `1e40` or `NaN` too.
                let asked = robot
                    .delay
                    .filter(|d| d.is_finite())
                    .map(|d| Duration::from_secs_f32(d.clamp(0.0, MAX_DELAY.as_secs_f32())));
                Some(asked.map_or(pause, |a| a.min(MAX_DELAY).max(pause)))
            }
            Some(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rstest::rstest]
    #[case("http://a.test/x#top", true, Some("http://a.test/x"))]
    #[case("http://www.a.test/y", true, Some("http://www.a.test/y"))]
    #[case("http://b.test/z", true, None)]
    #[case("http://b.test/z", false, Some("http://b.test/z"))]
    #[case("mailto:me@a.test", true, None)]
    #[case("javascript:void(0)", true, None)]
    #[case("file:///etc/passwd", false, None)]
    fn links_are_normalised_and_kept_on_the_site(
        #[case] link: &str,
        #[case] same_site: bool,
        #[case] want: Option<&str>,
    ) {
        let start = url::Url::parse("http://a.test/").unwrap();
        let got = follow(link, &start, same_site).map(|u| u.to_string());
        assert_eq!(got.as_deref(), want);
    }
}
