//! `nightshift pause` / `resume`: the persisted kill switch. A runner stops claiming at its
//! next claim (within its poll interval); jobs in flight finish.

use crate::Failure;
use crate::config::Settings;
use crate::output::outln;

pub fn run(settings: &Settings, paused: bool, reason: Option<&str>) -> Result<(), Failure> {
    let mut admin = super::admin(settings)?;
    let changed = admin.set_paused(paused, reason)?;
    match (paused, changed) {
        (true, true) => outln!("paused: runners claim nothing until `nightshift resume`")?,
        (true, false) => outln!("already paused")?,
        (false, true) => outln!("resumed")?,
        (false, false) => outln!("not paused")?,
    }
    Ok(())
}
