//! The pages' language (SPEC §5): French by default, English when the browser asks for it or
//! the person picks it in the footer, remembered by a cookie; the switch only ever leads back
//! to a page of this site.

mod support;

use reqwest::StatusCode;
use support::{TestServer, browser};

async fn page(b: &reqwest::Client, url: String, accept: Option<&str>) -> (String, String) {
    let mut request = b.get(url);
    if let Some(accept) = accept {
        request = request.header("accept-language", accept);
    }
    let text = request.send().await.unwrap().text().await.unwrap();
    let language = text
        .split("<html lang=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    (language, text)
}

#[tokio::test]
async fn french_by_default_english_when_asked_and_the_switch_is_remembered() {
    let server = TestServer::start().await;
    let (language, text) = page(&browser(), server.url("/login?profil=eleve"), None).await;
    assert_eq!(language, "fr");
    assert!(text.contains("<html lang=\"fr\">"), "{text}");
    assert!(text.contains(">Se connecter</button>") && text.contains("Mot de passe oublié ?"));
    assert!(
        text.contains("hreflang=\"en\">English</a>"),
        "the switch offers English"
    );

    let (language, text) = page(
        &browser(),
        server.url("/login?profil=eleve"),
        Some("en-GB,en;q=0.9,fr;q=0.5"),
    )
    .await;
    assert_eq!(language, "en");
    assert!(text.contains("<html lang=\"en\">"));
    assert!(text.contains(">Sign in</button>") && text.contains("Forgotten your password?"));
    assert!(text.contains("hreflang=\"fr\">Français</a>"));

    // a wrong password, in English: the same single answer for both fields
    let b = browser();
    let (_, form) = page(&b, server.url("/login?profil=eleve"), Some("en")).await;
    let r = b
        .post(server.url("/login"))
        .header("accept-language", "en")
        .form(&support::sign_in_form(&form, "lea.martin", "not-hers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Wrong identifier or password.")
    );

    // the footer's switch: a cookie, then back to the same page, which is now in English
    let b = browser();
    let r = b
        .get(server.url("/langue/en?next=%2Flogin%3Fprofil%3Deleve"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login?profil=eleve");
    let cookie = support::set_cookie_header(&r, "idp_langue").unwrap();
    assert!(cookie.starts_with("idp_langue=en;") && cookie.contains("SameSite=Lax"));
    let (language, text) = page(&b, server.url("/login?profil=eleve"), Some("fr")).await;
    assert_eq!(language, "en", "the choice wins over Accept-Language");
    assert!(text.contains("I have no account") || text.contains(">Sign in</button>"));

    // errors follow the language too
    let (language, text) = page(&b, server.url("/nulle-part"), None).await;
    assert_eq!(language, "en");
    assert!(text.contains("Page not found"), "{text}");

    // a page whose texts are not in idp/locales yet says it is French, and the layout's
    // English parts say they are English
    let (language, text) = page(&b, server.url("/inscription"), None).await;
    assert_eq!(language, "fr");
    assert!(text.contains("<footer lang=\"en\">"), "{text}");

    // recovery in English, its refusals too
    let (language, text) = page(&b, server.url("/mot-de-passe-oublie"), None).await;
    assert_eq!(language, "en");
    assert!(
        text.contains("a code by SMS (mobile known to the school)"),
        "{text}"
    );

    // signed in, the home page in English, a value in it escaped
    let r = support::post_sign_in(&server, &b, "eleve", "lea.martin", "Cartable-2026").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (language, text) = page(&b, server.url("/"), None).await;
    assert_eq!(language, "en");
    assert!(text.contains("<h1>Hello Léa MARTIN</h1>"), "{text}");
    assert!(text.contains("You are signed in with the profile <strong>Pupil</strong>"));
}

#[tokio::test]
async fn the_switch_never_leads_to_another_site() {
    let server = TestServer::start().await;
    for next in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "%2F%2Fevil.example",
        "",
    ] {
        let r = browser()
            .get(server.url(&format!("/langue/en?next={next}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next}");
        assert_eq!(r.headers()["location"], "/", "{next}");
    }
    let r = browser()
        .get(server.url("/langue/de?next=/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["location"],
        "/",
        "an unknown language changes nothing"
    );
    assert!(support::set_cookie_header(&r, "idp_langue").is_none());
}
