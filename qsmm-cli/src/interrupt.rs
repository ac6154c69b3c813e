//! Ctrl-C and SIGTERM: installed before the first prompt. While passphrases are asked, an
//! interrupt restores the terminal (echo on) and exits at once, with nothing written anywhere;
//! afterwards it only asks the running command to stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::termios::{SetArg, Termios, tcgetattr, tcsetattr};

/// The interrupt state shared with the signal handler.
#[derive(Debug, Clone)]
pub(crate) struct Interrupt {
    prompting: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Interrupt {
    /// Hardens the process (no core dumps, not dumpable) and installs the handler, in the
    /// prompting state.
    pub(crate) fn install() -> Result<Self, String> {
        qsmm_nbd::harden_process().map_err(|e| format!("cannot disable core dumps: {e}"))?;
        let this = Self {
            prompting: Arc::new(AtomicBool::new(true)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let terminal = std::fs::File::open("/dev/tty")
            .ok()
            .and_then(|tty| tcgetattr(&tty).ok().map(|saved| (tty, saved)));
        let handler = this.clone();
        ctrlc::set_handler(move || handler.on_signal(terminal.as_ref()))
            .map_err(|e| format!("cannot handle signals: {e}"))?;
        Ok(this)
    }

    /// The prompts are over: from now on an interrupt asks the command to stop.
    pub(crate) fn prompts_done(&self) {
        self.prompting.store(false, Ordering::SeqCst);
    }

    /// Whether an interrupt asked the command to stop.
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn on_signal(&self, terminal: Option<&(std::fs::File, Termios)>) {
        if self.prompting.load(Ordering::SeqCst) {
            if let Some((tty, saved)) = terminal {
                // Best effort: the terminal may be gone.
                tcsetattr(tty, SetArg::TCSANOW, saved).ok();
            }
            eprintln!("\nqsmm: interrupted");
            std::process::exit(130);
        }
        self.stop.store(true, Ordering::SeqCst);
    }
}
