//! Where a device is in its playlist, and where a wake takes it: an item
//! stays on the panel for its `duration` (one wake without one), and items
//! outside their `hours` are skipped.

use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};

use inkspot_core::config::PlaylistItem;

/// A device's place in its playlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// The item it shows (taken modulo the playlist's length).
    pub position: i64,
    /// Since when; `None` before its first wake on this item.
    pub since: Option<DateTime<Utc>>,
}

impl Place {
    /// The index of the item shown, in a playlist of `len` items.
    pub fn index(&self, len: usize) -> usize {
        self.position.rem_euclid(len.max(1) as i64) as usize
    }
}

/// What a wake does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Keep showing the current item.
    Stay,
    /// Show this item from now, once its image is ready.
    Next(usize),
}

fn shown_at(item: &PlaylistItem, local: NaiveTime) -> bool {
    item.hours.is_none_or(|h| h.contains(local))
}

/// Where a wake at `now` (`local` in the device's zone) takes a device at
/// `place`: on to the next item shown at this hour once the current one
/// has had its time (or has left its hours), else nowhere.
pub fn on_wake(items: &[PlaylistItem], place: Place, now: DateTime<Utc>, local: NaiveTime) -> Turn {
    let len = items.len();
    let Some(since) = place.since else {
        return Turn::Stay;
    };
    if len < 2 {
        return Turn::Stay;
    }
    let current = place.index(len);
    let item = &items[current];
    let in_time = item
        .duration
        .is_some_and(|d| now < since + chrono::Duration::from_std(d).unwrap_or_default());
    if in_time && shown_at(item, local) {
        return Turn::Stay;
    }
    after(items, place, local)
        .next()
        .map_or(Turn::Stay, Turn::Next)
}

/// The items after the one at `place` that are shown at `local`, in
/// playlist order, round to the one before it.
pub fn after(
    items: &[PlaylistItem],
    place: Place,
    local: NaiveTime,
) -> impl Iterator<Item = usize> {
    let len = items.len();
    let current = place.index(len);
    (1..len)
        .map(move |k| (current + k) % len)
        .filter(move |&j| shown_at(&items[j], local))
}

/// The first item shown at `local`, where `restart_playlist` goes.
pub fn first(items: &[PlaylistItem], local: NaiveTime) -> usize {
    items
        .iter()
        .position(|item| shown_at(item, local))
        .unwrap_or(0)
}

/// How long until the item at `place` is due to change: the rest of its
/// `duration`, or until its `hours` end, whichever is sooner.
pub fn until_change(
    items: &[PlaylistItem],
    place: Place,
    now: DateTime<Utc>,
    local: NaiveTime,
) -> Option<Duration> {
    if items.len() < 2 {
        return None;
    }
    let item = &items[place.index(items.len())];
    let left = item.duration.map(|d| {
        let since = place.since.unwrap_or(now);
        let end = since + chrono::Duration::from_std(d).unwrap_or_default();
        (end - now).to_std().unwrap_or_default()
    });
    let window = item.hours.filter(|h| h.contains(local)).map(|h| {
        let secs = (h.end - local).num_seconds().rem_euclid(86_400);
        Duration::from_secs(secs as u64)
    });
    match (left, window) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn items() -> Vec<PlaylistItem> {
        let mut long = PlaylistItem::spot("a");
        long.duration = Some(Duration::from_secs(1800));
        let mut morning = PlaylistItem::spot("b");
        morning.hours = Some("06:00-10:00".parse().unwrap());
        vec![long, morning, PlaylistItem::spot("c")]
    }

    fn at(minutes: i64) -> DateTime<Utc> {
        "2026-11-23T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
            + chrono::Duration::minutes(minutes)
    }

    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    #[rstest]
    // The first wake on an item stays on it.
    #[case(0, None, 10, "08:00", Turn::Stay)]
    // `a` holds for its 30 minutes, then gives way.
    #[case(0, Some(0), 29, "08:00", Turn::Stay)]
    #[case(0, Some(0), 30, "08:00", Turn::Next(1))]
    // `b` is skipped outside its hours.
    #[case(0, Some(0), 30, "12:00", Turn::Next(2))]
    // An item without a duration lasts one wake.
    #[case(2, Some(0), 1, "12:00", Turn::Next(0))]
    // An item whose hours ended gives way even within its duration.
    #[case(1, Some(0), 1, "10:30", Turn::Next(2))]
    fn wakes_turn_the_playlist(
        #[case] position: i64,
        #[case] since: Option<i64>,
        #[case] now: i64,
        #[case] local: &str,
        #[case] expect: Turn,
    ) {
        let place = Place {
            position,
            since: since.map(at),
        };
        assert_eq!(on_wake(&items(), place, at(now), t(local)), expect);
    }

    #[test]
    fn a_single_item_never_turns() {
        let place = Place {
            position: 0,
            since: Some(at(0)),
        };
        let one = &items()[..1];
        assert_eq!(on_wake(one, place, at(90), t("08:00")), Turn::Stay);
        assert_eq!(until_change(one, place, at(90), t("08:00")), None);
    }

    #[rstest]
    #[case(0, 10, "08:00", Some(1200))]
    #[case(1, 10, "09:45", Some(900))]
    #[case(2, 10, "09:45", None)]
    fn the_next_change_is_known(
        #[case] position: i64,
        #[case] now: i64,
        #[case] local: &str,
        #[case] secs: Option<u64>,
    ) {
        let place = Place {
            position,
            since: Some(at(0)),
        };
        let left = until_change(&items(), place, at(now), t(local));
        assert_eq!(left, secs.map(Duration::from_secs));
    }

    #[test]
    fn restart_goes_to_the_first_item_shown_now() {
        let mut list = items();
        list[0].hours = Some("20:00-22:00".parse().unwrap());
        assert_eq!(first(&list, t("08:00")), 1);
        assert_eq!(first(&list, t("21:00")), 0);
        assert_eq!(first(&list, t("23:00")), 2);
    }
}
