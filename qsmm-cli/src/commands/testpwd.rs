use clap::Args;
use qsmm_volume::{Error, Volume};

use crate::commands::{MediumArgs, sentence};

#[derive(Debug, Args)]
pub(crate) struct TestpwdArgs {
    #[command(flatten)]
    medium: MediumArgs,
}

pub(crate) fn run(args: &TestpwdArgs) -> Result<(), String> {
    let medium = args.medium.open()?;
    let passphrase = args.medium.passphrase()?;
    match Volume::open(&medium, &passphrase) {
        Ok(volume) => {
            println!(
                "the passphrase opens a volume of {} bytes",
                volume.logical_size()
            );
            Ok(())
        }
        Err(Error::NoVolume) => Err("no volume opens with this passphrase".into()),
        Err(e) => Err(sentence(&e)),
    }
}
