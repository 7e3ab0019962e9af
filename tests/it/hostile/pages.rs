//! What a browser gets: sessions, sign-out, cross-site forms, and the
//! security headers on pages but not on images.

use super::*;
use crate::common::*;

/// Signs in with `token` (and `extra` headers); returns the answer.
async fn sign_in(app: &App, token: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut request = browser()
        .post(format!("{}/login", app.url))
        .form(&[("token", token)]);
    for (k, v) in extra {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap()
}

fn set_cookie(r: &reqwest::Response) -> String {
    r.headers()["set-cookie"].to_str().unwrap().to_string()
}

fn session_of(cookie: &str) -> String {
    cookie.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn gallery_sessions_are_random_expire_can_end_and_refuse_cross_site_forms() {
    let site = site(&format!(
        "[server]\nadmin_token = \"{ADMIN}\"\ntrusted_proxies = [\"127.0.0.1/32\"]\n"
    ));
    let app = App::start(&site).await;
    let first = sign_in(&app, ADMIN, &[]).await;
    assert_eq!(first.status(), 303, "to the gallery");
    let cookie = set_cookie(&first);
    for flag in ["HttpOnly", "SameSite=Strict", "Max-Age="] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let second = set_cookie(&sign_in(&app, ADMIN, &[]).await);
    assert_ne!(
        session_of(&cookie),
        session_of(&second),
        "each sign-in its own id"
    );
    // Behind a trusted proxy that says HTTPS, the cookie is Secure.
    let https = sign_in(&app, ADMIN, &[("x-forwarded-proto", "https")]).await;
    assert!(set_cookie(&https).contains("; Secure"));
    // Said by a peer that is no trusted proxy, the header changes nothing.
    let untrusted = super::site(&format!("[server]\nadmin_token = \"{ADMIN}\"\n"));
    let plain = App::start(&untrusted).await;
    let claimed = sign_in(&plain, ADMIN, &[("x-forwarded-proto", "https")]).await;
    assert!(
        !set_cookie(&claimed).contains("Secure"),
        "{}",
        set_cookie(&claimed)
    );
    assert_eq!(
        sign_in(&app, "wrong-token-wrong-token", &[]).await.status(),
        401
    );
    // A form from another site is refused, before the token is looked at.
    let cross = sign_in(&app, ADMIN, &[("origin", "https://evil.example")]).await;
    assert_eq!(cross.status(), 403);
    assert!(!cross.headers().contains_key("set-cookie"));

    let session = session_of(&cookie);
    let status = |cookie: String| {
        let url = format!("{}/status", app.url);
        async move {
            client()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(status(session.clone()).await, 200);
    // The value a session once had (derived from the token) opens nothing.
    let derived = {
        let key = blake3::hash(ADMIN.as_bytes());
        blake3::keyed_hash(key.as_bytes(), b"inkspot session")
            .to_hex()
            .to_string()
    };
    assert_eq!(status(format!("inkspot_session={derived}")).await, 401);
    // The gallery page carries the sign-out form with its token.
    let page = client()
        .get(format!("{}/", app.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'nonce-"), "{csp}");
    let html = page.text().await.unwrap();
    let token = html
        .split("name=\"form_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a sign-out form")
        .to_string();
    let sign_out = |token: String| {
        let url = format!("{}/logout", app.url);
        let session = session.clone();
        async move {
            browser()
                .post(url)
                .header("cookie", session)
                .form(&[("form_token", token)])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(sign_out("forged".into()).await.status(), 403);
    assert_eq!(status(session.clone()).await, 200, "still signed in");
    let out = sign_out(token).await;
    assert_eq!(out.status(), 303);
    assert!(set_cookie(&out).contains("Max-Age=0"));
    assert_eq!(status(session.clone()).await, 401, "signed out");
}

#[tokio::test]
async fn pages_and_data_carry_security_headers_and_images_do_not() {
    let site = site("");
    let app = App::start(&site).await;
    for path in ["/status", "/spots", "/nope", "/"] {
        let r = app.get(path, &[]).await;
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
    }
    let page = app.get("/", &[]).await;
    assert!(page.headers().contains_key("content-security-policy"));
    let image = app.get("/image?spot=linda-mar", &[]).await;
    let h = image.headers();
    assert!(
        h["content-type"].to_str().unwrap().starts_with("image/"),
        "{h:?}"
    );
    for name in [
        "x-content-type-options",
        "referrer-policy",
        "content-security-policy",
    ] {
        assert!(!h.contains_key(name), "{name} on an image");
    }
}
