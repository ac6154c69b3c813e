//! Keeping secrets out of core dumps and away from other processes of the same user.

/// Makes this process non-dumpable (`PR_SET_DUMPABLE 0`: no core dump, and other processes of
/// the same user can no longer `ptrace` it or read its memory through `/proc`) and sets its
/// core-file size limit to zero (which its children inherit).
///
/// Called by the plugin when nbdkit loads it, and by `qsmm` before it asks for a passphrase.
///
/// # Errors
///
/// The errno of `prctl` or `setrlimit`.
pub fn harden_process() -> Result<(), std::io::Error> {
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0)?;
    nix::sys::prctl::set_dumpable(false)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_is_not_dumpable_afterwards() {
        super::harden_process().unwrap();
        assert!(!nix::sys::prctl::get_dumpable().unwrap());
        let (soft, hard) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_CORE).unwrap();
        assert_eq!((soft, hard), (0, 0));
    }
}
