//! Bodies that do not parse name the field at fault, every one of them.
use super::*;
use rstest::rstest;

#[rstest]
#[case(
    r#"{"renders": [{"spto": "x"}]}"#,
    "renders[0].spto",
    "unknown field `spto`; did you mean `spot`?"
)]
#[case(r#"{"renders": [{"spot": 3}]}"#, "renders[0].spot", "invalid type")]
#[case(
    r#"{"animation": {"spot": "x", "hours": {"to": 3}, "format": "webp"}}"#,
    "animation.format",
    "unknown variant `webp`"
)]
#[case(
    r#"{"animation": {"spot": "x", "hours": {"to": 3, "stp": 2}}}"#,
    "animation.hours.stp",
    "known here: from, to, step"
)]
#[case(r#"{"renders": []} x"#, "body", "trailing")]
#[case(r#"[1]"#, "body", "must be a JSON object")]
fn parse_errors_name_the_field(#[case] body: &str, #[case] field: &str, #[case] message: &str) {
    let problems = match parse(body.as_bytes()) {
        Ok((_, unknown)) => unknown,
        Err(problems) => problems,
    };
    assert!(
        problems
            .iter()
            .any(|p| p.field == field && p.message.contains(message)),
        "{problems:?}"
    );
}

/// An unknown field does not hide the others, nor a value of a wrong type.
#[test]
fn every_problem_of_a_body_is_named() {
    let body =
        r#"{"renders": [{"spot": "a", "colour": 1}, {"spot": "b", "size": 2}], "extra": true}"#;
    let (_, unknown) = parse(body.as_bytes()).expect("it parses, unknowns aside");
    let fields: Vec<&str> = unknown.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["renders[0].colour", "renders[1].size", "extra"]);
    let broken = r#"{"renders": [{"spot": "a", "colour": 1}, {"spot": 7}]}"#;
    let problems = parse(broken.as_bytes()).unwrap_err();
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["renders[0].colour", "renders[1].spot"]);
}
