//! The plugin's parameters as a program that starts nbdkit builds them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The `key=value` arguments that follow the plugin on nbdkit's command line (see [`Config`]
/// for their meaning). Built by programs that start nbdkit, such as `qsmm serve`.
///
/// [`Config`]: crate::Config
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let mut params = qsmm_nbd::PluginParams::new("dark.img");
/// params.passphrase_fd = Some(5);
/// params.commit_interval = Some(Duration::from_secs(2));
/// assert_eq!(
///     params.to_args(),
///     ["medium=dark.img", "passphrase-fd=5", "commit-interval=2"]
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginParams {
    /// The medium.
    pub medium: PathBuf,
    /// Files holding the passphrases of exported volumes, in export order.
    pub passphrase_files: Vec<PathBuf>,
    /// An inherited descriptor with a passphrase stream of further exported volumes.
    pub passphrase_fd: Option<u32>,
    /// Files holding the passphrases of volumes to protect but not export.
    pub protect_files: Vec<PathBuf>,
    /// The commit interval (`None`: the plugin's default; zero: only on a client's flush).
    pub commit_interval: Option<Duration>,
    /// Slots per second on a multi-snapshot medium (`None`: the plugin's default; zero: no
    /// timer).
    pub tick_rate: Option<u32>,
}

impl PluginParams {
    /// Parameters for `medium` with no volume yet.
    #[must_use]
    pub fn new(medium: impl AsRef<Path>) -> Self {
        Self {
            medium: medium.as_ref().to_owned(),
            passphrase_files: Vec::new(),
            passphrase_fd: None,
            protect_files: Vec::new(),
            commit_interval: None,
            tick_rate: None,
        }
    }

    /// The arguments, in the order the plugin reads them: the medium, the exported volumes'
    /// files, the descriptor, the protected volumes, the interval (whole seconds, rounded up),
    /// the tick rate.
    #[must_use]
    pub fn to_args(&self) -> Vec<OsString> {
        let mut out = vec![key_value("medium", &self.medium)];
        out.extend(
            self.passphrase_files
                .iter()
                .map(|f| key_value("passphrase-file", f)),
        );
        if let Some(fd) = self.passphrase_fd {
            out.push(format!("passphrase-fd={fd}").into());
        }
        out.extend(self.protect_files.iter().map(|f| key_value("protect", f)));
        if let Some(interval) = self.commit_interval {
            let secs = interval
                .as_secs()
                .saturating_add(u64::from(interval.subsec_nanos() > 0));
            out.push(format!("commit-interval={secs}").into());
        }
        if let Some(rate) = self.tick_rate {
            out.push(format!("tick-rate={rate}").into());
        }
        out
    }
}

fn key_value(key: &str, path: &Path) -> OsString {
    let mut out = OsString::from(format!("{key}="));
    out.push(path);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn every_parameter_is_understood_by_the_plugin() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "words\n").unwrap();
        let mut params = PluginParams::new("m.img");
        params.passphrase_files = vec![pw.clone(), pw.clone()];
        params.protect_files = vec![pw];
        params.commit_interval = Some(Duration::from_millis(1500));
        params.tick_rate = Some(1000);
        let args = params.to_args();
        assert_eq!(args[args.len() - 2], "commit-interval=2");
        assert_eq!(args.last().unwrap(), "tick-rate=1000");
        let mut config = Config::default();
        for arg in &args {
            let (key, value) = arg.to_str().unwrap().split_once('=').unwrap();
            config.set(key, value).unwrap();
        }
        config.check().unwrap();
        assert_eq!(config.exports().len(), 2);
        assert_eq!(config.protected().len(), 1);
        assert_eq!(config.commit_interval(), Some(Duration::from_secs(2)));
        assert_eq!(config.tick_rate(), Some(1000));
    }
}
