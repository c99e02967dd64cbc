//! Small text helpers the table, the status page and the Event notes share.

use std::borrow::Cow;

use jiff::SignedDuration;

/// `1h 5m`, `2m 5s`, `5s`: the two largest units, a zero second one left out, so a
/// whole number of minutes reads `5m`. A negative span (clock skew) reads as `0s`.
pub fn age(span: SignedDuration) -> String {
    let seconds = span.as_secs().max(0);
    let (hours, minutes, seconds) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    match (hours, minutes, seconds) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

/// `text` in at most `max_bytes`, cut on a character boundary and ended by `marker`
/// when it is longer.
pub fn cut<'a>(text: &'a str, max_bytes: usize, marker: &str) -> Cow<'a, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    let end = text.floor_char_boundary(max_bytes.saturating_sub(marker.len()));
    Cow::Owned(format!("{}{marker}", &text[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_durations() {
        let age = |seconds| age(SignedDuration::from_secs(seconds));
        assert_eq!(age(3_900), "1h 5m");
        assert_eq!(age(7_200), "2h");
        assert_eq!(age(125), "2m 5s");
        assert_eq!(age(300), "5m");
        assert_eq!(age(59), "59s");
        assert_eq!(age(-5), "0s", "a clock skew reads as now");
    }

    #[test]
    fn cuts_land_on_a_character_boundary_within_the_limit() {
        let long = "é".repeat(100);
        let cut = cut(&long, 51, "…");
        assert!(cut.len() <= 51, "{} bytes", cut.len());
        assert_eq!(cut, format!("{}…", "é".repeat(24)));
        assert_eq!(super::cut("short", 5, "…"), "short");
    }
}
