//! Which URLs a webhook may name: [`admit`] checks a URL against the operator's allow list
//! (`--webhook-allow`) at creation, and again at each delivery (the list may have changed).
//!
//! An entry is a host name or IP literal (`hooks.example.com`, `203.0.113.7`, `[2001:db8::1]`),
//! compared case-insensitively with the URL's whole host; an entry that starts with a dot
//! (`.example.com`) also admits that domain and every name below it. A host listed exactly is
//! the operator's deliberate choice and is delivered to whatever it resolves to (an internal
//! receiver is allowed that way); a host admitted only by a dotted entry must resolve to public
//! addresses (`webhooks::address`), so that a name below an allowed domain cannot be pointed
//! at the server's own network.

use std::net::IpAddr;

use url::{Host, Url};

use crate::Config;

/// Longest webhook URL accepted, in bytes.
pub const MAX_WEBHOOK_URL_LEN: usize = 2048;

/// How a URL's host was admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Listed exactly: any address it resolves to is delivered to.
    Listed,
    /// Below a dotted entry: only public addresses are delivered to.
    PublicOnly,
}

/// A webhook URL that passed [`admit`].
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// The parsed URL.
    pub(crate) url: Url,
    /// How its host was admitted.
    pub(crate) admission: Admission,
}

/// Whether the server accepts webhooks at all: some `--webhook-allow` entry is set.
pub(crate) fn enabled(config: &Config) -> bool {
    config
        .webhook_allow
        .iter()
        .any(|entry| !entry.trim().is_empty())
}

/// Checks `text` as a webhook URL under `config`: absolute, `https` (`http` only to a loopback
/// host with `--webhook-allow-http-loopback`), no user name or password, at most
/// [`MAX_WEBHOOK_URL_LEN`] bytes, and a host the allow list admits.
///
/// # Errors
///
/// A sentence saying what is wrong, for a 422 answer.
pub(crate) fn admit(text: &str, config: &Config) -> Result<Target, &'static str> {
    if !enabled(config) {
        return Err("webhooks are not enabled on this server");
    }
    if text.len() > MAX_WEBHOOK_URL_LEN {
        return Err("webhook must be a URL of at most 2048 bytes");
    }
    let url = Url::parse(text).map_err(|_| "webhook must be an absolute https URL")?;
    let host = url.host().ok_or("webhook must be an absolute https URL")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("webhook must not carry a user name or password");
    }
    match url.scheme() {
        "https" => {}
        "http" if config.webhook_allow_http_loopback && is_loopback_host(&host) => {}
        _ => return Err("webhook must be an https URL"),
    }
    let host = url
        .host_str()
        .ok_or("webhook must be an absolute https URL")?
        .to_ascii_lowercase();
    let admission = admission(&host, &config.webhook_allow)
        .ok_or("webhook host is not allowed on this server")?;
    Ok(Target { url, admission })
}

/// How the allow list `entries` admits `host` (lower case), if it does.
fn admission(host: &str, entries: &[String]) -> Option<Admission> {
    let mut found = None;
    for entry in entries {
        let entry = entry.trim().to_ascii_lowercase();
        if entry.is_empty() {
            continue;
        }
        if entry == host {
            return Some(Admission::Listed);
        }
        if let Some(domain) = entry.strip_prefix('.')
            && !domain.is_empty()
            && (host == domain || host.ends_with(&entry))
        {
            found = Some(Admission::PublicOnly);
        }
    }
    found
}

/// Whether `host` is `localhost` or a loopback IP literal.
fn is_loopback_host(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(allow: &[&str], http_loopback: bool) -> Config {
        let mut config = Config::with_db("unused.redb");
        config.webhook_allow = allow.iter().map(|entry| (*entry).to_owned()).collect();
        config.webhook_allow_http_loopback = http_loopback;
        config
    }

    #[test]
    fn urls_are_admitted_only_as_the_allow_list_says() {
        let config = config(&["Hooks.Example.com", ".corp.example", "[::1]"], false);
        let admitted = |text: &str| admit(text, &config).map(|target| target.admission);
        assert_eq!(
            admitted("https://hooks.example.com/x?y=1"),
            Ok(Admission::Listed)
        );
        assert_eq!(
            admitted("https://HOOKS.example.COM/"),
            Ok(Admission::Listed)
        );
        assert_eq!(admitted("https://corp.example/"), Ok(Admission::PublicOnly));
        assert_eq!(
            admitted("https://a.b.corp.example/"),
            Ok(Admission::PublicOnly)
        );
        assert_eq!(admitted("https://[::1]:8443/"), Ok(Admission::Listed));
        for (text, message) in [
            (
                "https://evil.example.com/",
                "webhook host is not allowed on this server",
            ),
            (
                "https://xcorp.example/",
                "webhook host is not allowed on this server",
            ),
            (
                "https://hooks.example.com.evil/",
                "webhook host is not allowed on this server",
            ),
            (
                "https://127.0.0.1/",
                "webhook host is not allowed on this server",
            ),
            ("http://hooks.example.com/", "webhook must be an https URL"),
            ("ftp://hooks.example.com/", "webhook must be an https URL"),
            ("/relative", "webhook must be an absolute https URL"),
            (
                "https://user@hooks.example.com/",
                "webhook must not carry a user name or password",
            ),
            (
                "https://:pw@hooks.example.com/",
                "webhook must not carry a user name or password",
            ),
            (
                "mailto:a@hooks.example.com",
                "webhook must be an absolute https URL",
            ),
        ] {
            assert_eq!(admitted(text), Err(message), "{text}");
        }
        let long = format!(
            "https://hooks.example.com/{}",
            "a".repeat(MAX_WEBHOOK_URL_LEN)
        );
        assert_eq!(
            admitted(&long),
            Err("webhook must be a URL of at most 2048 bytes")
        );
    }

    #[test]
    fn plain_http_only_to_loopback_with_the_test_flag() {
        let without = config(&["localhost", "127.0.0.1", "hooks.example.com"], false);
        assert!(admit("http://127.0.0.1:9/", &without).is_err());
        let with = config(&["localhost", "127.0.0.1", "hooks.example.com"], true);
        assert!(admit("http://127.0.0.1:9/", &with).is_ok());
        assert!(admit("http://localhost:9/", &with).is_ok());
        assert_eq!(
            admit("http://hooks.example.com/", &with).map(|_| ()),
            Err("webhook must be an https URL")
        );
    }

    #[test]
    fn no_allow_list_means_no_webhooks() {
        for allow in [&[][..], &[" "][..]] {
            let config = config(allow, true);
            assert!(!enabled(&config));
            assert_eq!(
                admit("https://hooks.example.com/", &config).map(|_| ()),
                Err("webhooks are not enabled on this server")
            );
        }
    }
}
