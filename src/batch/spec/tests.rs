//! Bodies that do not parse name the field at fault.
use super::*;
use rstest::rstest;

#[rstest]
#[case(
    r#"{"renders": [{"spto": "x"}]}"#,
    "renders[0].spto",
    "unknown field `spto`"
)]
#[case(r#"{"renders": [{"spot": 3}]}"#, "renders[0].spot", "invalid type")]
#[case(
    r#"{"animation": {"spot": "x", "hours": {"to": 3}, "format": "webp"}}"#,
    "animation.format",
    "unknown variant `webp`"
)]
#[case(r#"{"renders": []} x"#, "body", "trailing")]
#[case(r#"[1]"#, "body", "must be a JSON object")]
fn parse_errors_name_the_field(#[case] body: &str, #[case] field: &str, #[case] message: &str) {
    let p = parse(body.as_bytes()).unwrap_err();
    assert_eq!(p.field, field, "{p}");
    assert!(p.message.contains(message), "{p}");
}
