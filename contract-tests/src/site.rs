//! Serves `site/` on 127.0.0.1 as S3 would serve it, with the script tag's
//! `data-api` (and `data-timeout-ms`) set to the API under test: the same
//! substitution a deployment makes.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;

pub fn site_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../site")
}

/// Sets an attribute's value on the `visitor-counter.js` script tag.
pub fn configure(index_html: &str, attribute: &str, value: &str) -> String {
    let marker = format!("{attribute}=\"");
    let Some(start) = index_html.find(&marker).map(|i| i + marker.len()) else {
        return index_html.to_owned();
    };
    let Some(len) = index_html[start..].find('"') else {
        return index_html.to_owned();
    };
    format!(
        "{}{}{}",
        &index_html[..start],
        value,
        &index_html[start + len..]
    )
}

pub struct SiteServer {
    origin: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SiteServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A bound but not yet serving site: its origin is known first, so an API
/// can be configured to allow it.
pub struct SiteListener {
    listener: tokio::net::TcpListener,
    pub origin: String,
}

impl SiteListener {
    pub async fn bind() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let origin = format!("http://{}", listener.local_addr()?);
        Ok(Self { listener, origin })
    }

    /// Serves the site with the given API base URL and timeout.
    pub fn serve(self, api: &str, timeout_ms: u64) -> SiteServer {
        let dir = site_dir();
        let index = std::fs::read_to_string(dir.join("index.html")).unwrap_or_default();
        let index = configure(&index, "data-api", api);
        let index = Arc::new(configure(
            &index,
            "data-timeout-ms",
            &timeout_ms.to_string(),
        ));
        let listener = self.listener;
        let task = tokio::spawn(local_stage::serve(
            listener,
            move |req: hyper::Request<local_stage::RequestBody>| {
                let answer = file(&dir, &index, req.uri().path());
                async move { answer }
            },
            local_stage::ServeOptions::default(),
        ));
        SiteServer {
            origin: self.origin,
            task,
        }
    }
}

impl SiteServer {
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

fn file(dir: &std::path::Path, index: &str, path: &str) -> hyper::Response<Full<Bytes>> {
    let (body, kind) = match path {
        p if p.ends_with(".js") => (
            std::fs::read(dir.join(p.trim_start_matches('/').rsplit('/').next().unwrap_or("")))
                .ok(),
            "text/javascript",
        ),
        "/favicon.ico" => (None, ""),
        // Every page is the same page here (S3 would serve each page's own
        // copy): the script counts whatever path it is loaded at.
        _ => (Some(index.as_bytes().to_vec()), "text/html; charset=utf-8"),
    };
    match body {
        Some(b) => hyper::Response::builder()
            .header("content-type", kind)
            .body(Full::new(Bytes::from(b)))
            .unwrap_or_default(),
        None => hyper::Response::builder()
            .status(404)
            .body(Full::new(Bytes::new()))
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configure_replaces_only_the_attribute_value() {
        let html = r#"<script src="x.js" data-api="http://old" data-timeout-ms="3000"></script>"#;
        let out = configure(html, "data-api", "http://new:1");
        assert_eq!(
            out,
            r#"<script src="x.js" data-api="http://new:1" data-timeout-ms="3000"></script>"#
        );
        assert_eq!(configure(html, "data-nothing", "x"), html);
    }

    #[test]
    fn the_real_index_has_the_attributes_the_tests_configure() {
        let html = std::fs::read_to_string(site_dir().join("index.html")).expect("index.html");
        assert!(html.contains("data-api=\""));
        assert!(html.contains("data-timeout-ms=\""));
        assert!(html.contains("id=\"visitor-count\""));
    }
}
