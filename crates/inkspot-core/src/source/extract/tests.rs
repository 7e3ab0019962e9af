use rstest::rstest;
use serde_json::{Value, json};

use super::*;
use crate::config::Field;

/// Parses the inside of an inline table, as a field is written in config.
fn field(spec: &str) -> Field {
    #[derive(serde::Deserialize)]
    struct Wrap {
        f: Field,
    }
    toml::from_str::<Wrap>(&format!("f = {{ {spec} }}"))
        .unwrap()
        .f
}

fn html(body: &str, spec: &str) -> Result<Value, String> {
    extract_field(&parse_document(Format::Html, body).unwrap(), &field(spec))
}

fn json_field(body: &str, spec: &str) -> Result<Value, String> {
    extract_field(&parse_document(Format::Json, body).unwrap(), &field(spec))
}

fn text(body: &str, spec: &str) -> Result<Value, String> {
    extract_field(&parse_document(Format::Text, body).unwrap(), &field(spec))
}

const PAGE: &str = r#"<html><body>
<h1>  Linda   Mar
  surf report </h1>
<div id="waves"><span class="value"> 3.6 ft</span></div>
<ul><li>N <b>5</b> kt</li><li>NW 12 kt</li><li>calm</li></ul>
<img class="hero" src="/img/beach.jpg">
<table><tr><td>Wave Height (WVHT):</td><td>  4.9 ft</td></tr></table>
</body></html>"#;

#[rstest]
#[case("css = 'h1'", json!("Linda Mar surf report"))]
#[case("css = '#waves .value', type = 'number'", json!(3.6))]
#[case("css = '#waves .value'", json!("3.6 ft"))]
#[case("css = 'img.hero', attr = 'src'", json!("/img/beach.jpg"))]
#[case("css = 'li'", json!("N 5 kt"))]
#[case("css = 'li', all = true", json!(["N 5 kt", "NW 12 kt", "calm"]))]
#[case("css = 'li', all = true, type = 'number'", json!([5.0, 12.0]))]
#[case("css = 'li', regex = '([A-Z]+) \\d+'", json!("N"))]
#[case("css = 'td:nth-child(2)', type = 'number'", json!(4.9))]
fn html_fields(#[case] spec: &str, #[case] expected: Value) {
    assert_eq!(html(PAGE, spec).unwrap(), expected);
}

#[rstest]
#[case("css = '.nothing'", "no element matches `.nothing`")]
#[case("css = 'h1', attr = 'href'", "has attribute `href`")]
#[case(
    "css = 'h1', type = 'number'",
    "no number in \"Linda Mar surf report\""
)]
#[case("css = 'h1', regex = '\\d{3}'", "does not match")]
fn html_misses_say_why(#[case] spec: &str, #[case] reason: &str) {
    let err = html(PAGE, spec).unwrap_err();
    assert!(err.contains(reason), "{err}");
}

#[test]
fn malformed_html_still_extracts() {
    let body = "<div id=waves><span class=value>2.1<p>unclosed <b>tags";
    assert_eq!(
        html(body, "css = '.value', type = 'number'").unwrap(),
        json!(2.1)
    );
}

const JSON: &str = r#"{"hourly":{"time":["2026-04-01T00:00","2026-04-01T01:00"],"wave_height":[null,3.1]},
"predictions":[{"t":"2023-01-04 03:35","v":"0.049","type":"L"},{"t":"2023-01-04 09:50","v":"5.3","type":"H"}],
"a/b":{"~x":7}}"#;

#[rstest]
#[case("pointer = '/predictions/1/v', type = 'number'", json!(5.3))]
#[case("pointer = '/predictions/0/t'", json!("2023-01-04 03:35"))]
#[case("pointer = '/hourly/wave_height/1'", json!(3.1))]
#[case("pointer = '/hourly/wave_height', all = true", json!([3.1]))]
#[case("pointer = '/a~1b/~0x'", json!(7))]
#[case("pointer = '/predictions/0/t', regex = '(\\d\\d:\\d\\d)'", json!("03:35"))]
fn json_fields(#[case] spec: &str, #[case] expected: Value) {
    assert_eq!(json_field(JSON, spec).unwrap(), expected);
}

#[rstest]
#[case("pointer = '/hourly/wave_height/0'", "is null")]
#[case("pointer = '/nope'", "nothing at JSON pointer `/nope`")]
fn json_misses_say_why(#[case] spec: &str, #[case] reason: &str) {
    let err = json_field(JSON, spec).unwrap_err();
    assert!(err.contains(reason), "{err}");
}

#[test]
fn invalid_json_fails_the_source() {
    let err = parse_document(Format::Json, "{\"a\": [1, 2").err().unwrap();
    assert!(err.contains("not valid JSON"), "{err}");
}

const TEXT: &str =
    "#YY  MM DD hh mm WVHT\n#yr  mo dy hr mn    m\n2026 04 01 12 00   MM\n2026 04 01 11 30  1.4\n";

#[rstest]
#[case("regex = '(\\d+\\.\\d+)'", json!("1.4"))]
#[case("regex = '(\\d+\\.\\d+)', type = 'number'", json!(1.4))]
#[case("regex = '(?m)^(\\d{4}) ', all = true", json!(["2026", "2026"]))]
fn text_fields(#[case] spec: &str, #[case] expected: Value) {
    assert_eq!(text(TEXT, spec).unwrap(), expected);
}

#[test]
fn text_miss_says_why() {
    let err = text(TEXT, "regex = 'knots'").unwrap_err();
    assert!(err.contains("regex `knots` does not match"), "{err}");
}

#[rstest]
#[case(json!(" 3.6 ft"), 3.6)]
#[case(json!("-1.5m"), -1.5)]
#[case(json!("about .5"), 0.5)]
#[case(json!(12), 12.0)]
fn numbers(#[case] value: Value, #[case] expected: f64) {
    assert_eq!(to_number(&value).unwrap().as_f64(), Some(expected));
}

#[test]
fn long_values_are_shortened_in_reasons() {
    let err = to_number(&json!("x".repeat(500))).unwrap_err();
    assert!(err.len() < 100, "{err}");
}

/// An NDBC realtime2 standard meteorological file as the service writes it:
/// two header lines, newest row first, `MM` for missing.
const NDBC_TXT: &str = "\
#YY  MM DD hh mm WDIR WSPD GST  WVHT   DPD   APD MWD   PRES  ATMP  WTMP  DEWP  VIS PTDY  TIDE
#yr  mo dy hr mn degT m/s  m/s     m   sec   sec degT   hPa  degC  degC  degC  nmi  hPa    ft
2026 11 22 17 50 290  6.0  8.0    MM    MM    MM  MM 1016.2  13.1  13.4   9.8   MM   MM    MM
2026 11 22 17 40 290  6.0  7.0   1.6    14   9.1 285 1016.2  13.1  13.4   9.8   MM   MM    MM
2026 11 22 17 10 280  5.0  7.0   1.5    13   8.8 280 1016.3  13.0  13.4   9.7   MM   MM    MM
";

/// An NDBC `.spec` file: compass text and `N/A` among the columns.
const NDBC_SPEC: &str = "\
#YY  MM DD hh mm WVHT  SwH  SwP  WWH  WWP SwD WWD  STEEPNESS  APD MWD
#yr  mo dy hr mn    m    m  sec    m  sec  -  degT     -      sec degT
2026 11 22 17 40  1.6  1.5 14.3  0.4  4.2 WNW  W        N/A  9.1 285
2026 11 22 16 40  1.5  1.4 13.8  0.4  4.0 WNW WNW    AVERAGE  8.8 280
";

#[rstest]
#[case(NDBC_TXT, "column = 'WVHT', type = 'number'", json!(1.6))]
#[case(NDBC_TXT, "column = 'WVHT', row_time = true", json!("2026-11-22T17:40:00Z"))]
#[case(NDBC_TXT, "column = 'WSPD', row_time = true", json!("2026-11-22T17:50:00Z"))]
#[case(NDBC_TXT, "column = 'WVHT', all = true, type = 'number'", json!([null, 1.6, 1.5]))]
#[case(NDBC_TXT, "column = 'WTMP'", json!("13.4"))]
#[case(NDBC_SPEC, "column = 'SwD'", json!("WNW"))]
#[case(NDBC_SPEC, "column = 'STEEPNESS'", json!("AVERAGE"))]
#[case(NDBC_SPEC, "column = 'SwP', type = 'number'", json!(14.3))]
fn ndbc_columns(#[case] body: &str, #[case] spec: &str, #[case] expected: Value) {
    assert_eq!(text(body, spec).unwrap(), expected);
}

#[rstest]
#[case(NDBC_TXT, "column = 'VIS'", "has no value that is not missing")]
#[case(NDBC_TXT, "column = 'SWH'", "no column `SWH`; columns: YY MM DD")]
#[case("no header\n1 2 3\n", "column = 'A'", "no `#` header line")]
fn ndbc_column_misses_say_why(#[case] body: &str, #[case] spec: &str, #[case] reason: &str) {
    let err = text(body, spec).unwrap_err();
    assert!(err.contains(reason), "{err}");
}

/// The NDBC station page in its two layouts: label cell then value cell
/// (current), and icon, label, value with a "Detailed Wave Summary" (older).
const STATION_NEW: &str = r#"<section id="wxdata" class="data"><table class="currentobs"><caption class="titleDataHeader">Conditions at 46237 as of<br>(9:26 am PST)<br>1726 GMT on 11/22/2026:</caption>
<tr><td><a href="/show_plot.php?station=46237&amp;meas=wdir"><img alt="plot" src="/images/graph04.gif"></a> Wind Direction (WDIR):</td><td>  MM</td></tr>
<tr><td><a href="/show_plot.php?station=46237&amp;meas=wvht"><img alt="plot" src="/images/graph04.gif"></a> Wave Height (WVHT):</td><td>  5.2 ft</td></tr>
<tr><td>Water Temperature (WTMP):</td><td>  56.1 &#176;F</td></tr></table></section>"#;
const STATION_OLD: &str = "<table bgcolor=\"#f0f8fe\"><caption class=\"titleDataHeader\">Conditions at 46237 as of<br />(9:26 am PST)<br />1726 GMT on 11/22/2026:</caption>\r\n<tr><td><img src=\"/images/graph04.gif\" /></td><td>Air Temperature (ATMP):</td><td>  55.4 &#176;F</td></tr>\n<tr><td><img src=\"/images/graph04.gif\" /></td><td>Water Temperature (WTMP):</td><td>  56.1 &#176;F</td></tr>\r\n</table>\n<table><caption class=\"titleDataHeader\"><a href=\"/waveobs.shtml\">Detailed Wave Summary</a></caption>\r\n<tr><td><img src=\"/images/graph04.gif\" /></td><td>Significant Wave Height (WVHT):</td><td>  5.2 ft</td></tr></table>";

#[rstest]
#[case(STATION_NEW)]
#[case(STATION_OLD)]
fn ndbc_station_page_both_layouts(#[case] page: &str) {
    let wvht = html(
        page,
        r"css = 'tr', regex = 'Wave Height \(WVHT\):\s*([\d.]+) ft', type = 'number'",
    );
    assert_eq!(wvht.unwrap(), json!(5.2));
    let wtmp = html(
        page,
        r"css = 'tr', regex = '\(WTMP\):\s*([\d.]+)', type = 'number'",
    );
    assert_eq!(wtmp.unwrap(), json!(56.1));
    let when = html(
        page,
        r"css = 'caption.titleDataHeader', regex = '(\d{4} GMT on [\d/]+)'",
    );
    assert_eq!(when.unwrap(), json!("1726 GMT on 11/22/2026"));
}

#[test]
fn coops_error_in_a_200_fails_the_source() {
    let source: crate::config::Source = toml::from_str(
        "id = 'tides'\nurl = 'file://x'\nformat = 'json'\nerror_pointer = '/error/message'\n[fields]\nt = { pointer = '/predictions/0/t' }",
    )
    .unwrap();
    let err = crate::source::extract_all(
        &source,
        r#"{"error": {"message": "No Predictions data was found. Please make sure the Datum input is valid."}}"#,
    )
    .unwrap_err();
    assert!(matches!(err, crate::source::SourceError::Upstream(_)));
    assert!(
        err.to_string()
            .contains("upstream reported an error: No Predictions data was found"),
        "{err}"
    );
    let ok = crate::source::extract_all(
        &source,
        r#"{"predictions":[{"t":"2026-11-22 04:12","v":"1.874","type":"L"}]}"#,
    )
    .unwrap();
    assert_eq!(ok.0["t"], json!("2026-11-22 04:12"));
}

#[test]
fn scraped_values_are_length_limited() {
    let page = format!(
        "<h1>{}</h1><ul>{}</ul>",
        "é".repeat(5000),
        "<li>x</li>".repeat(3000)
    );
    let title = html(&page, "css = 'h1'").unwrap();
    let title = title.as_str().unwrap();
    assert_eq!(title.chars().count(), MAX_TEXT + 1, "cut, with an ellipsis");
    assert!(title.ends_with('…'));
    let items = html(&page, "css = 'li', all = true").unwrap();
    assert_eq!(items.as_array().unwrap().len(), MAX_ITEMS);
}

#[test]
fn multibyte_text_under_the_limit_is_left_whole() {
    // 600 characters but 1200 bytes: under the limit, so no ellipsis.
    let page = format!("<h1>{}</h1>", "é".repeat(600));
    assert_eq!(html(&page, "css = 'h1'").unwrap(), json!("é".repeat(600)));
}
