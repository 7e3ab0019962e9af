//! When a device is offered an update, and what its next call says of the
//! last offer: pure decisions, from what the device sent, what its row
//! keeps and what the operator set.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use inkspot_core::config::ActiveHours;
use semver::Version;

use super::catalog::{Catalog, Image, parse_version};
use super::state::UpdateState;

/// How long a device whose update failed is left before the next offer:
/// the firmware itself tries no OTA for a day after a failed one, so an
/// offer sooner would be ignored and counted as a failure it never had.
pub const RETRY_AFTER: Duration = Duration::hours(24);

/// What the operator set for one device.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Updates are on for it.
    pub enabled: bool,
    /// The battery it needs off USB, percent.
    pub min_battery: u8,
    /// When updates are offered, in its local time.
    pub hours: Option<ActiveHours>,
    /// Failed offers of a version before it is held.
    pub attempts: u32,
}

/// What a display call says of the device.
#[derive(Debug, Clone, Default)]
pub struct Sent<'a> {
    /// `Model`, this call's or else the last one.
    pub model: Option<&'a str>,
    /// `FW-Version`.
    pub version: Option<&'a str>,
    /// Its battery, percent.
    pub battery: Option<i64>,
    /// On USB power or charging.
    pub powered: bool,
}

/// What a call says of the last offer.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// It runs the version offered, or a newer one.
    Updated {
        /// That version.
        version: String,
    },
    /// It came back on an older version.
    Failed {
        /// The version offered.
        version: String,
        /// Its failures of that version, this one counted.
        failures: i64,
        /// Whether it downloaded the image (else its firmware ignored the
        /// offer).
        downloaded: bool,
    },
}

/// Why a device is not offered an update on this call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Updates are off for it.
    Disabled,
    /// It sent no `Model`.
    UnknownModel,
    /// It sent no `FW-Version` that reads as a version.
    UnknownVersion,
    /// No image is declared for its model.
    NoImage,
    /// It runs the newest image's version or a newer one.
    UpToDate,
    /// It failed `update_attempts` offers of that version.
    Held,
    /// An offer is pending, or this call judged one.
    Pending,
    /// Its last offer failed less than [`RETRY_AFTER`] ago.
    Resting,
    /// Off USB and under `update_min_battery`, or its battery unknown.
    Battery,
    /// Outside `update_hours`.
    Hours,
}

/// What this call says of the pending offer in `state`, if there is one
/// and the device sent its version.
pub fn judge(state: &UpdateState, sent: &Sent) -> Option<Verdict> {
    let offered = state.offered.as_deref()?;
    let now = parse_version(sent.version?)?;
    let wanted = parse_version(offered)?;
    if now.cmp_precedence(&wanted).is_ge() {
        return Some(Verdict::Updated {
            version: now.to_string(),
        });
    }
    let before = if state.failed_version.as_deref() == Some(offered) {
        state.failures
    } else {
        0
    };
    Some(Verdict::Failed {
        version: offered.to_string(),
        failures: before + 1,
        downloaded: state.downloaded_at.is_some(),
    })
}

/// The image to offer, or why none is offered. `judged`: this call judged
/// an offer (never two offers in one wake cycle).
pub fn offer<'a>(
    catalog: &'a Catalog,
    policy: &Policy,
    state: &UpdateState,
    sent: &Sent,
    judged: bool,
    (now, local): (DateTime<Utc>, NaiveTime),
) -> Result<&'a Image, Refusal> {
    if !policy.enabled {
        return Err(Refusal::Disabled);
    }
    let model = sent
        .model
        .filter(|m| !m.trim().is_empty())
        .ok_or(Refusal::UnknownModel)?;
    let running: Version = sent
        .version
        .and_then(parse_version)
        .ok_or(Refusal::UnknownVersion)?;
    let image = catalog.newest_for(model).ok_or(Refusal::NoImage)?;
    // Build metadata (`1.8.16+b1`) does not make a version newer.
    if image.version.cmp_precedence(&running).is_le() {
        return Err(Refusal::UpToDate);
    }
    let version = image.version.to_string();
    if state.holds(&version, policy.attempts) {
        return Err(Refusal::Held);
    }
    let recent = state.offered_at.is_some_and(|at| now - at < RETRY_AFTER);
    // An offer never judged (the device came back without a version it
    // could be judged by) lapses after a day.
    if judged || state.offered.is_some() && recent {
        return Err(Refusal::Pending);
    }
    // After any failed update the firmware tries none for a day, whatever
    // the version: an offer sooner would be ignored and counted.
    if state.failures > 0 && recent {
        return Err(Refusal::Resting);
    }
    let charged = sent
        .battery
        .is_some_and(|b| b >= i64::from(policy.min_battery));
    if !sent.powered && !charged {
        return Err(Refusal::Battery);
    }
    if policy.hours.is_some_and(|h| !h.contains(local)) {
        return Err(Refusal::Hours);
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use sha2::Digest;

    fn catalog() -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().unwrap();
        let sha = hex::encode(sha2::Sha256::digest(b"image"));
        let manifest = format!(
            "[[firmware]]\nfile = \"og.bin\"\nversion = \"1.8.16\"\nmodels = [\"og\"]\nsha256 = \"{sha}\"\n"
        );
        std::fs::write(dir.path().join("firmware.toml"), manifest).unwrap();
        std::fs::write(dir.path().join("og.bin"), b"image").unwrap();
        let catalog = Catalog::load(dir.path()).unwrap();
        (dir, catalog)
    }

    fn now() -> DateTime<Utc> {
        "2026-12-07T03:00:00Z".parse().unwrap()
    }

    const POLICY: Policy = Policy {
        enabled: true,
        min_battery: 50,
        hours: None,
        attempts: 2,
    };

    fn sent() -> Sent<'static> {
        Sent {
            model: Some("og"),
            version: Some("1.8.15"),
            battery: Some(80),
            powered: false,
        }
    }

    fn failed(failures: i64, hours_ago: i64) -> UpdateState {
        UpdateState {
            failed_version: Some("1.8.16".into()),
            failures,
            offered_at: Some(now() - Duration::hours(hours_ago)),
            ..UpdateState::default()
        }
    }

    /// Each condition's absence on its own refuses the offer.
    #[rstest]
    #[case::offered(POLICY, sent(), UpdateState::default(), false, None)]
    #[case::disabled(Policy { enabled: false, ..POLICY }, sent(), UpdateState::default(), false, Some(Refusal::Disabled))]
    #[case::no_model(POLICY, Sent { model: None, ..sent() }, UpdateState::default(), false, Some(Refusal::UnknownModel))]
    #[case::no_version(POLICY, Sent { version: Some("dev"), ..sent() }, UpdateState::default(), false, Some(Refusal::UnknownVersion))]
    #[case::other_model(POLICY, Sent { model: Some("x"), ..sent() }, UpdateState::default(), false, Some(Refusal::NoImage))]
    #[case::up_to_date(POLICY, Sent { version: Some("1.8.16"), ..sent() }, UpdateState::default(), false, Some(Refusal::UpToDate))]
    #[case::newer(POLICY, Sent { version: Some("1.9.0"), ..sent() }, UpdateState::default(), false, Some(Refusal::UpToDate))]
    #[case::low_battery(POLICY, Sent { battery: Some(49), ..sent() }, UpdateState::default(), false, Some(Refusal::Battery))]
    #[case::unknown_battery(POLICY, Sent { battery: None, ..sent() }, UpdateState::default(), false, Some(Refusal::Battery))]
    #[case::low_on_usb(POLICY, Sent { battery: Some(5), powered: true, ..sent() }, UpdateState::default(), false, None)]
    #[case::outside_hours(Policy { hours: Some("04:00-05:00".parse().unwrap()), ..POLICY }, sent(), UpdateState::default(), false, Some(Refusal::Hours))]
    #[case::inside_hours(Policy { hours: Some("02:00-05:00".parse().unwrap()), ..POLICY }, sent(), UpdateState::default(), false, None)]
    #[case::just_judged(POLICY, sent(), UpdateState::default(), true, Some(Refusal::Pending))]
    #[case::pending(POLICY, sent(), UpdateState { offered: Some("1.8.16".into()), offered_at: Some(now() - Duration::hours(1)), ..UpdateState::default() }, false, Some(Refusal::Pending))]
    #[case::lapsed(POLICY, sent(), UpdateState { offered: Some("1.8.16".into()), offered_at: Some(now() - Duration::hours(25)), ..UpdateState::default() }, false, None)]
    #[case::resting_after_another_version(POLICY, sent(), UpdateState { failed_version: Some("1.8.14".into()), failures: 1, offered_at: Some(now() - Duration::hours(2)), ..UpdateState::default() }, false, Some(Refusal::Resting))]
    #[case::build_metadata_is_not_newer(POLICY, Sent { version: Some("1.8.16+abc"), ..sent() }, UpdateState::default(), false, Some(Refusal::UpToDate))]
    #[case::resting(POLICY, sent(), failed(1, 23), false, Some(Refusal::Resting))]
    #[case::rested(POLICY, sent(), failed(1, 25), false, None)]
    #[case::held(POLICY, sent(), failed(2, 100), false, Some(Refusal::Held))]
    #[case::held_other_version(POLICY, sent(), UpdateState { failed_version: Some("1.8.14".into()), failures: 2, offered_at: Some(now() - Duration::hours(30)), ..UpdateState::default() }, false, None)]
    fn an_update_is_offered_only_when_everything_holds(
        #[case] policy: Policy,
        #[case] sent: Sent<'static>,
        #[case] state: UpdateState,
        #[case] judged: bool,
        #[case] refused: Option<Refusal>,
    ) {
        let (_dir, catalog) = catalog();
        let local = now().time();
        let got = offer(&catalog, &policy, &state, &sent, judged, (now(), local));
        assert_eq!(got.map(|i| i.file.as_str()).err(), refused);
        if refused.is_none() {
            assert_eq!(got.unwrap().version.to_string(), "1.8.16");
        }
    }

    #[rstest]
    #[case::none(UpdateState::default(), "1.8.15", None)]
    #[case::updated(UpdateState { offered: Some("1.8.16".into()), ..UpdateState::default() }, "1.8.16", Some(Verdict::Updated { version: "1.8.16".into() }))]
    #[case::first_failure(UpdateState { offered: Some("1.8.16".into()), ..UpdateState::default() }, "1.8.15", Some(Verdict::Failed { version: "1.8.16".into(), failures: 1, downloaded: false }))]
    #[case::second_failure(UpdateState { offered: Some("1.8.16".into()), failed_version: Some("1.8.16".into()), failures: 1, downloaded_at: Some(now()), ..UpdateState::default() }, "1.8.15", Some(Verdict::Failed { version: "1.8.16".into(), failures: 2, downloaded: true }))]
    #[case::failures_of_another_version_restart(UpdateState { offered: Some("1.8.17".into()), failed_version: Some("1.8.16".into()), failures: 2, ..UpdateState::default() }, "1.8.15", Some(Verdict::Failed { version: "1.8.17".into(), failures: 1, downloaded: false }))]
    fn the_call_after_an_offer_judges_it(
        #[case] state: UpdateState,
        #[case] version: &str,
        #[case] expect: Option<Verdict>,
    ) {
        let sent = Sent {
            version: Some(version),
            ..sent()
        };
        assert_eq!(judge(&state, &sent), expect);
    }
}
