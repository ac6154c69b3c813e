//! The server's address and the links of end-to-end notes:
//! `<server>/s/<id>#e2e.<compact keys>`.
//!
//! The fragment (after `#`) never reaches a server: browsers and this client keep it. Its
//! `e2e.` prefix says the note is end to end, so the reader never sends the keys anywhere; a
//! fragment without it is a link of the published API, which the server opens itself and this
//! client refuses.

use std::fmt;

use qsmm_shield::note::RecipientKeys;
use url::{Host, Url};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::{CliError, Result};

/// What starts the fragment of an end-to-end link (as `E2E_LINK_PREFIX` in the page's
/// `note.js`).
pub const E2E_LINK_PREFIX: &str = "e2e.";

/// The base address of a paravoid server (`https://host[:port][/prefix]`), without a trailing
/// slash, query or fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    base: String,
}

impl ServerUrl {
    /// Reads `--server`: an `http` or `https` URL without credentials, query or fragment.
    ///
    /// # Errors
    ///
    /// [`CliError::InvalidArgument`] otherwise.
    ///
    /// ```
    /// use paravoid_cli::ServerUrl;
    ///
    /// let server = ServerUrl::parse("https://notes.example/")?;
    /// assert_eq!(server.endpoint("/api/e2e/notes"), "https://notes.example/api/e2e/notes");
    /// # Ok::<(), paravoid_cli::CliError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| CliError::InvalidArgument(format!("--server {why}"));
        let url = Url::parse(text).map_err(|_| bad("must be a URL such as https://host"))?;
        Self::from_url(&url).map_err(bad)
    }

    fn from_url(url: &Url) -> std::result::Result<Self, &'static str> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must start with https:// or http://");
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("must name a host");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not hold a user name or password");
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not hold a query or fragment");
        }
        let mut base = url.as_str().to_owned();
        while base.ends_with('/') {
            base.pop();
        }
        Ok(Self { base })
    }

    /// The URL of an API path (starting with `/`) on this server.
    #[must_use]
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Whether requests travel in the clear to a host other than the loopback interface.
    #[must_use]
    pub fn is_plaintext_remote(&self) -> bool {
        let Ok(url) = Url::parse(&self.base) else {
            return true;
        };
        let loopback = match url.host() {
            Some(Host::Domain(name)) => name == "localhost",
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        url.scheme() == "http" && !loopback
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

/// An end-to-end link: the server, the note's id and the link keys (secret).
pub struct Link {
    /// The server that holds the note.
    pub server: ServerUrl,
    /// The note's id.
    pub id: Uuid,
    compact: Zeroizing<String>,
}

impl Link {
    /// A link from its parts.
    #[must_use]
    pub fn new(server: ServerUrl, id: Uuid, keys: &RecipientKeys) -> Self {
        Self {
            server,
            id,
            compact: keys.to_compact(),
        }
    }

    /// Reads a link `<server>/s/<id>#e2e.<compact keys>`. Only the shape is checked here, and
    /// that the keys decode ([`Link::keys`]).
    ///
    /// # Errors
    ///
    /// [`CliError::InvalidLink`] for a malformed link, [`CliError::NotEndToEnd`] for a link of
    /// the published API.
    pub fn parse(text: &str) -> Result<Self> {
        let url = Url::parse(text.trim()).map_err(|_| CliError::InvalidLink("not a URL"))?;
        let fragment = url
            .fragment()
            .filter(|fragment| !fragment.is_empty())
            .ok_or(CliError::InvalidLink(
                "the part after `#` (the keys) is missing",
            ))?;
        let compact = fragment
            .strip_prefix(E2E_LINK_PREFIX)
            .ok_or(CliError::NotEndToEnd)?;
        let compact = Zeroizing::new(compact.to_owned());
        let (prefix, id) = url
            .path()
            .rsplit_once("/s/")
            .ok_or(CliError::InvalidLink("its path does not end in /s/<id>"))?;
        let id =
            Uuid::try_parse(id).map_err(|_| CliError::InvalidLink("the note id is not valid"))?;
        let mut base = url.clone();
        base.set_fragment(None);
        base.set_query(None);
        base.set_path(prefix);
        let server = ServerUrl::from_url(&base).map_err(CliError::InvalidLink)?;
        let link = Self {
            server,
            id,
            compact,
        };
        link.keys()?;
        Ok(link)
    }

    /// The link keys.
    ///
    /// # Errors
    ///
    /// [`CliError::InvalidLink`] if the fragment does not hold valid keys.
    pub fn keys(&self) -> Result<RecipientKeys> {
        RecipientKeys::from_compact(&self.compact)
            .map_err(|_| CliError::InvalidLink("the keys after `#e2e.` are damaged or incomplete"))
    }

    /// The whole link, keys included.
    ///
    /// <div class="warning">This returns secret key material.</div>
    #[must_use]
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{}/s/{}#{E2E_LINK_PREFIX}{}",
            self.server,
            self.id.hyphenated(),
            self.compact.as_str()
        ))
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("server", &self.server)
            .field("id", &self.id)
            .field("keys", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys() -> RecipientKeys {
        RecipientKeys::from_seed([7; 64], [9; 32])
    }

    #[test]
    fn server_urls() {
        for (text, base) in [
            ("https://notes.example", "https://notes.example"),
            ("https://notes.example/", "https://notes.example"),
            (
                "http://127.0.0.1:8080/paravoid/",
                "http://127.0.0.1:8080/paravoid",
            ),
        ] {
            assert_eq!(ServerUrl::parse(text).unwrap().to_string(), base);
        }
        for bad in [
            "notes.example",
            "ftp://notes.example",
            "https://user:pw@notes.example",
            "https://notes.example/?q=1",
            "https://notes.example/#x",
            "file:///etc/passwd",
        ] {
            let err = ServerUrl::parse(bad).unwrap_err();
            assert!(matches!(err, CliError::InvalidArgument(_)), "{bad}: {err}");
        }
        assert!(
            ServerUrl::parse("http://notes.example")
                .unwrap()
                .is_plaintext_remote()
        );
        assert!(
            !ServerUrl::parse("http://localhost:1")
                .unwrap()
                .is_plaintext_remote()
        );
        assert!(
            !ServerUrl::parse("http://[::1]:1")
                .unwrap()
                .is_plaintext_remote()
        );
        assert!(
            !ServerUrl::parse("https://notes.example")
                .unwrap()
                .is_plaintext_remote()
        );
    }

    #[test]
    fn links_round_trip_and_keep_their_keys() {
        let server = ServerUrl::parse("https://notes.example/prefix").unwrap();
        let id = Uuid::from_u128(0x1234);
        let link = Link::new(server.clone(), id, &keys());
        let text = link.to_text();
        assert!(text.starts_with(
            "https://notes.example/prefix/s/00000000-0000-0000-0000-000000001234#e2e."
        ));
        let parsed = Link::parse(&text).unwrap();
        assert_eq!(parsed.server, server);
        assert_eq!(parsed.id, id);
        assert_eq!(*parsed.keys().unwrap().to_compact(), *keys().to_compact());
        assert!(!format!("{parsed:?}").contains(keys().to_compact().as_str()));
    }

    #[test]
    fn bad_links_are_refused_with_their_reason() {
        let good = Link::new(
            ServerUrl::parse("https://n.example").unwrap(),
            Uuid::from_u128(1),
            &keys(),
        )
        .to_text();
        let compact = keys().to_compact();
        let cases = [
            ("not a link".to_owned(), "not a URL"),
            (good.replace("#e2e.", "#"), "not end to end"),
            (good.split('#').next().unwrap().to_owned(), "missing"),
            (good.replace("/s/", "/x/"), "/s/<id>"),
            (good.replace("00000000-0000", "zz"), "id"),
            (good[..good.len() - 1].to_owned(), "damaged"),
            (good.replace(&compact[..4], "AAAA"), ""),
        ];
        for (text, why) in &cases[..6] {
            let err = Link::parse(text).unwrap_err();
            assert!(err.to_string().contains(why), "{text}: {err}");
            assert_eq!(err.exit_code(), 5);
        }
        // Other keys of the right shape parse: only the server can tell they are wrong.
        assert!(Link::parse(&cases[6].0).is_ok());
    }

    proptest! {
        #[test]
        fn any_text_parses_or_fails_cleanly(text in ".{0,300}") {
            let _result = Link::parse(&text);
        }

        #[test]
        fn links_round_trip(seed in any::<[u8; 32]>(), id in any::<u128>()) {
            let keys = RecipientKeys::from_seed([seed, seed].concat().try_into().unwrap(), seed);
            let server = ServerUrl::parse("http://127.0.0.1:8080").unwrap();
            let link = Link::new(server, Uuid::from_u128(id), &keys);
            let parsed = Link::parse(&link.to_text()).unwrap();
            prop_assert_eq!(parsed.id, Uuid::from_u128(id));
            prop_assert_eq!(parsed.to_text(), link.to_text());
        }
    }
}
