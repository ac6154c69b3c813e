//! The browser interface: the create page (`GET /`), the reveal page (`GET /s/{id}`), the
//! request-a-secret page (`GET /r` to make a request, `GET /r/{id}` to answer one or open the
//! answer), the read-receipt page (`GET /receipt`) and their assets (`GET /assets/{name}`), all embedded in the binary.
//!
//! The pages are static files that talk to the JSON API of [`secrets`](super::secrets) with
//! `fetch`. Every answer of this router carries a strict Content-Security-Policy (no inline script
//! or style, nothing from another origin), `Referrer-Policy: no-referrer`,
//! `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` and
//! `Cross-Origin-Opener-Policy: same-origin` (no other window keeps a handle on a page that
//! holds link keys); pages are `Cache-Control: no-store`, and every script they load (the page's
//! own and the modules it imports, preloaded) carries a Subresource Integrity attribute. The link keys travel in the URL fragment, which browsers never send
//! to the server; serving the reveal page never touches the note, so link-preview bots that fetch
//! a link cannot burn it: only the reveal button's `POST` reads (and deletes) the note.

use axum::Router;
use axum::http::header::{self, HeaderName};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::AppState;

/// The routes of the browser pages, merged into [`crate::app`].
pub(crate) fn router() -> Router<AppState> {
    routes()
}

/// The same routes for any state: the pages need none.
fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(create_page))
        .route("/s/{id}", get(reveal_page))
        .route("/r", get(request_page))
        .route("/r/{id}", get(request_page))
        .route("/receipt", get(receipt_page))
        .route("/assets/{name}", get(asset))
}

/// `GET /`: the page that creates a note.
async fn create_page() -> Response {
    respond(StatusCode::OK, HTML, PAGE_CACHE, INDEX_HTML.as_bytes())
}

/// `GET /s/{id}`: the page that reveals a note. The same static page for every id; it reads the
/// id from its path and the keys from its fragment, and never reads the note by itself.
async fn reveal_page() -> Response {
    respond(StatusCode::OK, HTML, PAGE_CACHE, REVEAL_HTML.as_bytes())
}

/// `GET /r` and `GET /r/{id}`: the request-a-secret page. The same static page for every id; its
/// link's fragment says whether it makes a request, answers one (`#req.`) or opens the answer
/// (`#own.`), and it reads nothing by itself but the request's status.
async fn request_page() -> Response {
    respond(StatusCode::OK, HTML, PAGE_CACHE, ASK_HTML.as_bytes())
}

/// `GET /receipt`: the page that shows a read receipt. Its link's fragment holds the status
/// token, which the page sends in the body of `POST /api/e2e/receipts/status`.
async fn receipt_page() -> Response {
    respond(StatusCode::OK, HTML, PAGE_CACHE, RECEIPT_HTML.as_bytes())
}

/// `GET /assets/{name}`: one embedded file, or 404.
async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|asset| asset.name == name) {
        Some(asset) => respond(StatusCode::OK, asset.content_type, ASSET_CACHE, asset.body),
        None => respond(StatusCode::NOT_FOUND, TEXT, PAGE_CACHE, b"not found\n"),
    }
}

/// Builds an answer with the content type, the cache policy and every security header.
fn respond(
    status: StatusCode,
    content_type: &'static str,
    cache_control: &'static str,
    body: &'static [u8],
) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// One file served under `/assets/`.
struct Asset {
    /// The file name after `/assets/`.
    name: &'static str,
    /// The `Content-Type` it is served with.
    content_type: &'static str,
    /// The file, embedded at build time.
    body: &'static [u8],
}

/// The create page.
const INDEX_HTML: &str = include_str!("../../assets/index.html");
/// The reveal page.
const REVEAL_HTML: &str = include_str!("../../assets/reveal.html");

/// The request-a-secret page.
const ASK_HTML: &str = include_str!("../../assets/ask.html");

/// The read-receipt page.
const RECEIPT_HTML: &str = include_str!("../../assets/receipt.html");

/// The files under `/assets/`.
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/app.css"),
    },
    Asset {
        name: "create.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/create.js"),
    },
    Asset {
        name: "reveal.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/reveal.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../assets/favicon.svg"),
    },
    Asset {
        name: "note.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/note.js"),
    },
    Asset {
        name: "noble.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/noble.js"),
    },
    Asset {
        name: "noble-licenses.txt",
        content_type: "text/plain; charset=utf-8",
        body: include_bytes!("../../assets/noble-licenses.txt"),
    },
    Asset {
        name: "files.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/files.js"),
    },
    Asset {
        name: "request.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/request.js"),
    },
    Asset {
        name: "attach.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/attach.js"),
    },
    Asset {
        name: "ask.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/ask.js"),
    },
    Asset {
        name: "receipt.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/receipt.js"),
    },
];

/// The SHA-256 (lowercase hex) of every file the pages serve, as `(path, hash)`: the create
/// page (`/`), the reveal page (`/s/{id}`, the same file for every id), the request page (`/r`
/// and `/r/{id}`, one file), the read-receipt page (`/receipt`) and each `/assets/` file.
///
/// The browser code that seals and opens notes is among them, so an operator (or a reader with
/// a browser extension or a saved copy) can pin the exact page: the server prints these at
/// start-up and the README lists those of each release. A server that serves other files than
/// these can read the notes typed into them; see SECURITY.md.
///
/// ```
/// let hashes = paravoid::served_file_hashes();
/// assert!(hashes.iter().any(|(path, _)| path == "/assets/note.js"));
/// assert!(hashes.iter().all(|(_, hash)| hash.len() == 64));
/// ```
#[must_use]
pub fn served_file_hashes() -> Vec<(String, String)> {
    let hash = |body: &[u8]| hex::encode(Sha256::digest(body));
    let mut out = vec![
        ("/".to_owned(), hash(INDEX_HTML.as_bytes())),
        ("/s/{id}".to_owned(), hash(REVEAL_HTML.as_bytes())),
        ("/r".to_owned(), hash(ASK_HTML.as_bytes())),
        ("/r/{id}".to_owned(), hash(ASK_HTML.as_bytes())),
        ("/receipt".to_owned(), hash(RECEIPT_HTML.as_bytes())),
    ];
    out.extend(
        ASSETS
            .iter()
            .map(|asset| (format!("/assets/{}", asset.name), hash(asset.body))),
    );
    out
}

/// The policy of every answer: our own scripts, styles, images and API only; no inline code, no
/// framing, no `<base>`, forms post only to us.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// The headers every answer of this router carries.
const SECURITY_HEADERS: [(HeaderName, &str); 5] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
];

const HTML: &str = "text/html; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
/// Pages may hold a note's link state: never store them.
const PAGE_CACHE: &str = "no-store";
/// Assets are public, but revalidate so an upgrade takes effect at once.
const ASSET_CACHE: &str = "no-cache";

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn get(path: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = routes::<()>().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, headers, body)
    }

    fn header<'a>(headers: &'a axum::http::HeaderMap, name: &HeaderName) -> &'a str {
        headers
            .get(name)
            .unwrap_or_else(|| panic!("missing header {name}"))
            .to_str()
            .unwrap()
    }

    fn assert_security_headers(path: &str, headers: &axum::http::HeaderMap) {
        assert_eq!(
            header(headers, &header::CONTENT_SECURITY_POLICY),
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            "{path}"
        );
        assert_eq!(
            header(headers, &header::REFERRER_POLICY),
            "no-referrer",
            "{path}"
        );
        assert_eq!(
            header(headers, &header::X_CONTENT_TYPE_OPTIONS),
            "nosniff",
            "{path}"
        );
        assert_eq!(header(headers, &header::X_FRAME_OPTIONS), "DENY", "{path}");
        assert_eq!(
            header(
                headers,
                &HeaderName::from_static("cross-origin-opener-policy")
            ),
            "same-origin",
            "{path}"
        );
    }

    /// Every `<script>` and module preload of both pages names an asset and carries that
    /// asset's SHA-384 as its `integrity`, recomputed here; each page preloads every module its
    /// script imports, and the README lists the same values.
    /// The modules the create and reveal pages import.
    const FILE_MODULES: &[&str] = &["noble.js", "note.js", "files.js", "attach.js"];

    #[test]
    fn every_script_carries_its_subresource_integrity() {
        use base64::Engine as _;
        let sri = |body: &[u8]| {
            format!(
                "sha384-{}",
                base64::engine::general_purpose::STANDARD.encode(sha2::Sha384::digest(body))
            )
        };
        let readme = include_str!("../../README.md");
        for (page, main, wanted) in [
            (INDEX_HTML, "create.js", FILE_MODULES),
            (REVEAL_HTML, "reveal.js", FILE_MODULES),
            (
                ASK_HTML,
                "ask.js",
                &["noble.js", "note.js", "request.js", "files.js", "attach.js"][..],
            ),
            (RECEIPT_HTML, "receipt.js", &[][..]),
        ] {
            let tags: Vec<&str> = page
                .split('<')
                .filter(|tag| tag.starts_with("script") || tag.contains("modulepreload"))
                .collect();
            let mut named = Vec::new();
            for tag in &tags {
                let target = tag
                    .split(['"', '='])
                    .find_map(|part| part.strip_prefix("/assets/"))
                    .unwrap_or_else(|| panic!("a script tag without an asset: <{tag}"));
                let asset = ASSETS
                    .iter()
                    .find(|asset| asset.name == target)
                    .unwrap_or_else(|| panic!("no asset {target}"));
                let expected = sri(asset.body);
                assert!(
                    tag.contains(&format!("integrity=\"{expected}\"")),
                    "<{tag} lacks integrity {expected}"
                );
                assert!(
                    readme.contains(&format!("{expected}  /assets/{target}")),
                    "README lacks {expected} for {target}"
                );
                named.push(target);
            }
            named.sort_unstable();
            let mut wanted = [&[main][..], wanted].concat();
            wanted.sort_unstable();
            assert_eq!(named, wanted);
        }
    }

    #[tokio::test]
    async fn pages_are_html_with_every_security_header_and_no_store() {
        for (path, expected) in [
            ("/", INDEX_HTML),
            ("/s/some-id", REVEAL_HTML),
            ("/s/0123456789abcdef", REVEAL_HTML),
            ("/r", ASK_HTML),
            ("/r/00000000-0000-4000-8000-000000000000", ASK_HTML),
            ("/receipt", RECEIPT_HTML),
        ] {
            let (status, headers, body) = get(path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(
                header(&headers, &header::CONTENT_TYPE),
                "text/html; charset=utf-8"
            );
            assert_eq!(
                header(&headers, &header::CACHE_CONTROL),
                "no-store",
                "{path}"
            );
            assert_security_headers(path, &headers);
            assert_eq!(body, expected.as_bytes(), "{path}");
        }
    }

    #[tokio::test]
    async fn assets_have_their_content_type_and_the_security_headers() {
        for (name, content_type, needle) in [
            ("app.css", "text/css; charset=utf-8", ":focus-visible"),
            (
                "create.js",
                "text/javascript; charset=utf-8",
                "/api/e2e/notes",
            ),
            ("reveal.js", "text/javascript; charset=utf-8", "/claim"),
            ("favicon.svg", "image/svg+xml", "<svg"),
            (
                "note.js",
                "text/javascript; charset=utf-8",
                "qsmm/v1/shield/note",
            ),
            ("noble.js", "text/javascript; charset=utf-8", "ml_kem768"),
            (
                "noble-licenses.txt",
                "text/plain; charset=utf-8",
                "@noble/post-quantum@",
            ),
            (
                "files.js",
                "text/javascript; charset=utf-8",
                "sealFileStream",
            ),
            ("request.js", "text/javascript; charset=utf-8", "sealAnswer"),
            (
                "attach.js",
                "text/javascript; charset=utf-8",
                "/api/e2e/files",
            ),
            (
                "ask.js",
                "text/javascript; charset=utf-8",
                "/api/e2e/requests",
            ),
            (
                "receipt.js",
                "text/javascript; charset=utf-8",
                "/api/e2e/receipts/status",
            ),
        ] {
            let path = format!("/assets/{name}");
            let (status, headers, body) = get(&path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(
                header(&headers, &header::CONTENT_TYPE),
                content_type,
                "{path}"
            );
            assert_eq!(
                header(&headers, &header::CACHE_CONTROL),
                "no-cache",
                "{path}"
            );
            assert_security_headers(&path, &headers);
            let text = String::from_utf8(body).unwrap();
            assert!(text.contains(needle), "{path} lacks {needle:?}");
        }
        assert_eq!(ASSETS.len(), 12, "a new asset needs a line in this test");
    }

    #[tokio::test]
    async fn unknown_paths_are_404() {
        for path in [
            "/assets/nope.js",
            "/assets/",
            "/assets/../Cargo.toml",
            "/s/",
            "/s/a/b",
            "/r/",
            "/r/a/b",
        ] {
            let (status, headers, _) = get(path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            if path.starts_with("/assets/nope") {
                assert_security_headers(path, &headers);
            }
        }
    }

    #[tokio::test]
    async fn the_whole_app_keeps_the_page_headers() {
        let dir = tempfile::tempdir().unwrap();
        let state = AppState::open(crate::Config::with_db(dir.path().join("notes.redb"))).unwrap();
        for (path, status, cache) in [
            ("/", StatusCode::OK, "no-store"),
            (
                "/s/00000000-0000-4000-8000-000000000000",
                StatusCode::OK,
                "no-store",
            ),
            ("/assets/reveal.js", StatusCode::OK, "no-cache"),
            ("/r", StatusCode::OK, "no-store"),
            ("/assets/ask.js", StatusCode::OK, "no-cache"),
            ("/assets/missing.css", StatusCode::NOT_FOUND, "no-store"),
        ] {
            let request = Request::get(path).body(Body::empty()).unwrap();
            let response = crate::app(state.clone()).oneshot(request).await.unwrap();
            assert_eq!(response.status(), status, "{path}");
            assert_eq!(
                header(response.headers(), &header::CACHE_CONTROL),
                cache,
                "{path}"
            );
            assert_security_headers(path, response.headers());
        }
    }

    #[test]
    fn html_has_no_inline_script_style_or_handlers() {
        for (name, html) in [
            ("index.html", INDEX_HTML),
            ("reveal.html", REVEAL_HTML),
            ("ask.html", ASK_HTML),
        ] {
            let lower = html.to_ascii_lowercase();
            let scripts = tags(&lower, "<script");
            assert!(!scripts.is_empty(), "{name}: no script tag");
            for tag in scripts {
                assert!(
                    tag.contains(" src=\"/assets/"),
                    "{name}: inline script {tag}"
                );
            }
            assert!(!lower.contains("<style"), "{name}: <style> element");
            assert!(!lower.contains("javascript:"), "{name}: javascript: URL");
            for tag in tags(&lower, "<") {
                assert!(!tag.contains(" style="), "{name}: style attribute in {tag}");
                assert!(!has_event_handler(tag), "{name}: event handler in {tag}");
            }
        }
    }

    #[test]
    fn html_references_only_embedded_assets() {
        for (name, html, assets) in [
            ("index.html", INDEX_HTML, 7),
            ("reveal.html", REVEAL_HTML, 7),
            ("ask.html", ASK_HTML, 8),
        ] {
            let mut found = 0;
            for attribute in ["src=\"", "href=\""] {
                for (start, _) in html.match_indices(attribute) {
                    let rest = &html[start + attribute.len()..];
                    let url = &rest[..rest.find('"').unwrap()];
                    if let Some(asset) = url.strip_prefix("/assets/") {
                        assert!(ASSETS.iter().any(|a| a.name == asset), "{name}: {url}");
                        found += 1;
                    } else {
                        assert!(url == "/" || url == "/r", "{name}: link to {url}");
                    }
                }
            }
            assert_eq!(
                found, assets,
                "{name}: the icon, the stylesheet, the script and its preloaded modules"
            );
            assert!(html.contains("name=\"viewport\""), "{name}: viewport meta");
        }
    }

    #[test]
    fn every_field_has_a_label_and_every_control_is_a_button() {
        for (name, html) in [
            ("index.html", INDEX_HTML),
            ("reveal.html", REVEAL_HTML),
            ("ask.html", ASK_HTML),
        ] {
            let mut fields = 0;
            for open in ["<textarea", "<input", "<select"] {
                for tag in tags(html, open) {
                    let (_, rest) = tag.split_once(" id=\"").unwrap();
                    let id = &rest[..rest.find('"').unwrap()];
                    let label = format!("<label for=\"{id}\">");
                    assert!(html.contains(&label), "{name}: no label for #{id}");
                    fields += 1;
                }
            }
            assert!(fields >= 2, "{name}: {fields} fields");
            for tag in tags(html, "<button") {
                assert!(
                    tag.contains(" type=\""),
                    "{name}: button without a type: {tag}"
                );
            }
            assert!(!html.contains("tabindex=\"1") && !html.contains("<div role=\"button"));
        }
    }

    #[test]
    fn scripts_never_parse_html() {
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(asset.body).unwrap();
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!text.contains(sink), "{}: uses {sink}", asset.name);
            }
        }
    }

    #[test]
    fn the_readme_lists_the_served_hashes() {
        let readme = include_str!("../../README.md");
        let start = readme.find("<!-- served-hashes:start -->").unwrap();
        let end = readme.find("<!-- served-hashes:end -->").unwrap();
        let listed: Vec<(String, String)> = readme[start..end]
            .lines()
            .filter_map(|line| {
                let (hash, path) = line.split_once("  ")?;
                (hash.len() == 64).then(|| (path.to_owned(), hash.to_owned()))
            })
            .collect();
        assert_eq!(
            listed,
            served_file_hashes(),
            "run `npm run build` in paravoid/web to refresh the README's list"
        );
    }

    #[test]
    fn the_event_handler_check_finds_handlers() {
        assert!(has_event_handler("<button onclick=\"x()\">"));
        assert!(has_event_handler("<body\nonload=x>"));
        assert!(!has_event_handler("<input name=\"one\" id=\"ontop\">"));
        assert_eq!(tags("<p><script>x</script>", "<script"), vec!["<script>"]);
    }

    /// Every tag (up to its `>`) that starts with `open`.
    fn tags<'a>(html: &'a str, open: &str) -> Vec<&'a str> {
        html.match_indices(open)
            .map(|(start, _)| {
                let rest = &html[start..];
                &rest[..=rest.find('>').unwrap()]
            })
            .collect()
    }

    /// Whether a tag has an attribute `on…=`, such as `onclick=`.
    fn has_event_handler(tag: &str) -> bool {
        tag.split(|c: char| c.is_ascii_whitespace()).any(|word| {
            word.strip_prefix("on").is_some_and(|rest| {
                let letters = rest.trim_start_matches(|c: char| c.is_ascii_alphabetic());
                letters.len() < rest.len() && letters.starts_with('=')
            })
        })
    }
}
