//! The pages' language: French by default, English on request. Texts live in Fluent files
//! (`idp/locales/<lang>/pages.ftl`, compiled in); a request's language comes from the
//! `idp_langue` cookie (set by the switch in every page's footer), else from Accept-Language,
//! else French. Handlers and templates ask for a text by its id with [`t`] (or [`t_args`]): the
//! language is the current request's (a task-local set by [`choose_language`]).

use std::sync::OnceLock;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use serde::Deserialize;

/// A language the pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Fr, Lang::En];

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        match code.trim().to_ascii_lowercase().as_str() {
            "fr" => Some(Lang::Fr),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language's own name, for the switch.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Fr => "Français",
            Lang::En => "English",
        }
    }
}

const COOKIE: &str = "idp_langue";

tokio::task_local! {
    static CURRENT: Current;
}

/// What a request's pages need to know: its language and its address (for the switch).
#[derive(Clone)]
struct Current {
    lang: Lang,
    uri: axum::http::Uri,
}

struct Catalog {
    fr: FluentBundle<FluentResource>,
    en: FluentBundle<FluentResource>,
}

fn bundle(lang: Lang, source: &'static str) -> FluentBundle<FluentResource> {
    let id = lang.as_str().parse().expect("a language tag");
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // no Unicode isolation marks around arguments: they would show in plain-text contexts
    bundle.set_use_isolating(false);
    let resource = FluentResource::try_new(source.to_owned())
        .unwrap_or_else(|(_, errors)| panic!("idp/locales/{}: {errors:?}", lang.as_str()));
    bundle
        .add_resource(resource)
        .unwrap_or_else(|errors| panic!("idp/locales/{}: {errors:?}", lang.as_str()));
    bundle
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog {
        fr: bundle(Lang::Fr, include_str!("../../locales/fr/pages.ftl")),
        en: bundle(Lang::En, include_str!("../../locales/en/pages.ftl")),
    })
}

/// The current request's language (French outside a request).
pub fn lang() -> Lang {
    CURRENT.try_with(|c| c.lang).unwrap_or(Lang::Fr)
}

fn format(lang: Lang, id: &str, args: Option<&FluentArgs>) -> Option<String> {
    let catalog = catalog();
    let bundle = match lang {
        Lang::Fr => &catalog.fr,
        Lang::En => &catalog.en,
    };
    let pattern = bundle.get_message(id)?.value()?;
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, args, &mut errors);
    errors.is_empty().then(|| text.into_owned())
}

/// The text `id` in the current language; French when English lacks it, the id itself when
/// both do (tests check that both files hold the same ids, and the ids used exist).
pub fn t(id: &str) -> String {
    t_in(lang(), id, None)
}

/// The text `id` for a template: written as it is, since the Fluent files are ours and a test
/// keeps markup out of them but `<strong>` and `<code>`; an apostrophe stays an apostrophe.
pub fn tr(id: &str) -> askama::filters::Safe<String> {
    askama::filters::Safe(t(id))
}

/// A value put into a template's text: escaped, since it may come from a person or a record.
fn escaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The text `id` for a template, with one argument (escaped).
pub fn tr1(id: &str, name: &str, value: &dyn std::fmt::Display) -> askama::filters::Safe<String> {
    askama::filters::Safe(t_args(id, &[(name, &escaped(&value.to_string()))]))
}

/// The text `id` for a template, with two arguments (escaped).
pub fn tr2(
    id: &str,
    n1: &str,
    v1: &dyn std::fmt::Display,
    n2: &str,
    v2: &dyn std::fmt::Display,
) -> askama::filters::Safe<String> {
    let (v1, v2) = (escaped(&v1.to_string()), escaped(&v2.to_string()));
    askama::filters::Safe(t_args(id, &[(n1, &v1), (n2, &v2)]))
}

/// Why a new password was refused, in the request's language.
pub fn password_problem(problem: &crate::domain::password_policy::PasswordProblem) -> String {
    use crate::domain::password_policy::PasswordProblem as P;
    match problem {
        P::TooShort(n) => t_args("password-too-short", &[("count", &n.to_string())]),
        P::TooLong(n) => t_args("password-too-long", &[("count", &n.to_string())]),
        P::NoDigit => t("password-no-digit"),
        P::NoLetter => t("password-no-letter"),
        P::ContainsName => t("password-contains-name"),
        P::ContainsIdentifier => t("password-contains-identifier"),
        P::TooCommon => t("password-too-common"),
        P::Mismatch => t("password-mismatch"),
    }
}

/// The text `id` with its arguments (`{ $name }` in the Fluent files).
pub fn t_args(id: &str, args: &[(&str, &str)]) -> String {
    let mut fluent = FluentArgs::new();
    for (name, value) in args {
        fluent.set(*name, *value);
    }
    t_in(lang(), id, Some(&fluent))
}

fn t_in(lang: Lang, id: &str, args: Option<&FluentArgs>) -> String {
    format(lang, id, args)
        .or_else(|| format(Lang::Fr, id, args))
        .unwrap_or_else(|| id.to_owned())
}

/// The language a browser asks for, by the order and weights of Accept-Language.
fn from_accept_language(headers: &HeaderMap) -> Option<Lang> {
    let value = headers.get(header::ACCEPT_LANGUAGE)?.to_str().ok()?;
    let mut offered: Vec<(f32, usize, Lang)> = value
        .split(',')
        .enumerate()
        .filter_map(|(order, item)| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let primary = tag.split('-').next()?;
            let lang = Lang::parse(primary)?;
            let weight = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (weight > 0.0).then_some((weight, order, lang))
        })
        .collect();
    offered.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    offered.first().map(|(_, _, lang)| *lang)
}

/// The language of a request: the switch's cookie, then Accept-Language, then French.
pub fn negotiate(headers: &HeaderMap) -> Lang {
    super::http::cookie(headers, COOKIE)
        .and_then(Lang::parse)
        .or_else(|| from_accept_language(headers))
        .unwrap_or(Lang::Fr)
}

/// The address the switch leads back to: this page's path, with only the parameters that
/// name a step in progress (`id`), the chosen profile and a local return path. Whatever else
/// a request carried (an unregistered redirect URI, a refused service) is not written back
/// into the page.
fn page_address(uri: &axum::http::Uri) -> String {
    let kept: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .filter(|(k, v)| match k.as_ref() {
                "id" | "flow" | "profil" | "changer" => v.len() <= 128,
                "next" => super::http::local_return_path(Some(v)) == **v,
                _ => false,
            })
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    if kept.is_empty() {
        return uri.path().to_owned();
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(kept)
        .finish();
    format!("{}?{query}", uri.path())
}

/// Runs the request with its language known to [`t`], and says which language the answer is
/// in.
pub async fn choose_language(request: Request, next: Next) -> Response {
    let lang = negotiate(request.headers());
    let uri = request.uri().clone();
    let mut response = CURRENT
        .scope(Current { lang, uri }, next.run(request))
        .await;
    // a page says its language in <html lang> (pages not yet in idp/locales stay French)
    let page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if page {
        response.headers_mut().append(
            header::VARY,
            HeaderValue::from_static("Accept-Language, Cookie"),
        );
    }
    response
}

/// How an account's kind is named on the pages (`eleve`, `responsable`).
pub fn account_kind(kind: &str) -> String {
    t(&format!("account-kind-{kind}"))
}

/// The footer's switch: the other languages, each a link back to this page.
pub fn switch() -> Vec<(String, &'static str, &'static str)> {
    let (lang, path) = CURRENT
        .try_with(|c| (c.lang, page_address(&c.uri)))
        .unwrap_or((Lang::Fr, "/".to_owned()));
    let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
    Lang::ALL
        .into_iter()
        .filter(|other| *other != lang)
        .map(|other| {
            (
                format!("/langue/{}?next={next}", other.as_str()),
                other.as_str(),
                other.name(),
            )
        })
        .collect()
}

#[derive(Deserialize)]
pub struct SwitchQuery {
    #[serde(default)]
    next: String,
}

/// GET /langue/{code}: remembers the language for a year and goes back to the page.
pub async fn switch_language(
    State(state): State<crate::app::SharedState>,
    Path(code): Path<String>,
    Query(query): Query<SwitchQuery>,
) -> Response {
    let Some(lang) = Lang::parse(&code) else {
        return Redirect::to("/").into_response();
    };
    // percent-encoded where it must be: no raw non-ASCII byte goes into Location
    let back: String = super::http::local_return_path(Some(&query.next))
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                url::form_urlencoded::byte_serialize(c.to_string().as_bytes()).collect()
            }
        })
        .collect();
    let mut response = Redirect::to(&back).into_response();
    let cookie = super::http::set_cookie(&state, COOKIE, lang.as_str(), Some(31_536_000));
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn accept_language_is_read_by_weight_then_order() {
        let pick = |v: &str| negotiate(&headers(&[("accept-language", v)]));
        assert_eq!(pick("en-GB,en;q=0.9,fr;q=0.8"), Lang::En);
        assert_eq!(pick("de-DE,fr;q=0.5,en;q=0.7"), Lang::En);
        assert_eq!(pick("fr-FR,fr;q=0.9,en;q=0.8"), Lang::Fr);
        assert_eq!(pick("de, es"), Lang::Fr, "neither: French");
        assert_eq!(pick("en;q=0"), Lang::Fr, "q=0 means not wanted");
        assert_eq!(negotiate(&HeaderMap::new()), Lang::Fr);
    }

    #[test]
    fn the_switch_leads_back_with_the_steps_parameters_only() {
        let back = |uri: &str| page_address(&uri.parse().unwrap());
        assert_eq!(back("/login"), "/login");
        assert_eq!(
            back("/login?profil=eleve&next=%2Foidc%2Fauthorize%2Fresume%3Fflow%3Dx"),
            "/login?profil=eleve&next=%2Foidc%2Fauthorize%2Fresume%3Fflow%3Dx"
        );
        assert_eq!(
            back("/premiere-connexion?id=abc"),
            "/premiere-connexion?id=abc"
        );
        assert_eq!(
            back("/oidc/logout?client_id=ent&post_logout_redirect_uri=https://evil.example/"),
            "/oidc/logout"
        );
        assert_eq!(back("/login?next=//evil.example/"), "/login");
    }

    #[test]
    fn the_switch_cookie_wins_over_accept_language() {
        let h = headers(&[
            ("accept-language", "en"),
            ("cookie", "idp_session=x; idp_langue=fr"),
        ]);
        assert_eq!(negotiate(&h), Lang::Fr);
    }

    #[test]
    fn every_text_is_in_both_languages_with_the_same_arguments() {
        // each message: its id, and the arguments its text uses
        let ids = |source: &str| -> Vec<(String, Vec<String>)> {
            let mut messages: Vec<(String, Vec<String>)> = Vec::new();
            for line in source.lines() {
                if line.starts_with('#') || line.trim().is_empty() {
                    continue;
                }
                if !line.starts_with(char::is_whitespace) {
                    let id = line.split('=').next().unwrap_or_default().trim();
                    messages.push((id.to_owned(), Vec::new()));
                }
                if let Some((_, args)) = messages.last_mut() {
                    for part in line.split('$').skip(1) {
                        let name: String = part
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                            .collect();
                        if !args.contains(&name) {
                            args.push(name);
                        }
                    }
                    args.sort();
                }
            }
            messages
        };
        let fr = ids(include_str!("../../locales/fr/pages.ftl"));
        let en = ids(include_str!("../../locales/en/pages.ftl"));
        assert_eq!(
            fr, en,
            "idp/locales/fr and en must hold the same ids, in the same order"
        );
        // both files parse and format
        let _ = catalog();
    }

    #[test]
    fn every_text_the_code_and_the_templates_ask_for_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let call = regex::Regex::new(r#"\b(?:t|tr|t_args|tr1|tr2)\(\s*"([a-z0-9-]+)""#).unwrap();
        let mut files = Vec::new();
        let mut dirs = vec![root.join("src"), root.join("templates")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs" || e == "html") {
                    files.push(path);
                }
            }
        }
        let mut asked = 0;
        let mut missing = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for id in call.captures_iter(&text).map(|c| c[1].to_owned()) {
                asked += 1;
                // this module's own tests ask for a text that must not exist
                let on_purpose = id == "no-such-text" && file.ends_with("i18n.rs");
                let exists = catalog().fr.get_message(&id).is_some()
                    && catalog().en.get_message(&id).is_some();
                if !on_purpose && !exists {
                    missing.push(format!("{}: {id}", file.display()));
                }
            }
        }
        assert!(
            asked > 50,
            "only {asked} texts found: is the pattern right?"
        );
        assert!(
            missing.is_empty(),
            "texts missing from idp/locales: {missing:?}"
        );
    }

    #[test]
    fn the_texts_hold_no_markup_but_emphasis_and_code() {
        for (lang, source) in [
            ("fr", include_str!("../../locales/fr/pages.ftl")),
            ("en", include_str!("../../locales/en/pages.ftl")),
        ] {
            for line in source.lines().filter(|l| !l.starts_with('#')) {
                // templates write texts as they are: only these tags, around an argument
                let mut rest = line.to_owned();
                for tag in [
                    "<strong id=identifiant>",
                    "<strong>",
                    "</strong>",
                    "<code>",
                    "</code>",
                ] {
                    rest = rest.replace(tag, "");
                }
                assert!(
                    !rest.contains(['<', '>', '"', '&']),
                    "idp/locales/{lang}: markup characters in `{line}`"
                );
            }
        }
    }

    #[test]
    fn values_put_into_a_templates_text_are_escaped() {
        let text = tr1("hello", "name", &"<script>Zoé's</script>").0;
        assert_eq!(text, "Bonjour &lt;script&gt;Zoé&#39;s&lt;/script&gt;");
    }

    #[test]
    fn password_problems_say_the_same_as_the_domain_in_french() {
        use crate::domain::password_policy::PasswordProblem as P;
        for p in [
            P::TooShort(8),
            P::TooLong(32),
            P::NoDigit,
            P::NoLetter,
            P::ContainsName,
            P::ContainsIdentifier,
            P::TooCommon,
            P::Mismatch,
        ] {
            assert_eq!(password_problem(&p), p.message_fr());
        }
    }

    #[test]
    fn a_text_takes_the_requests_language_and_falls_back_to_french() {
        assert_eq!(t_in(Lang::Fr, "sign-in", None), "Se connecter");
        assert_eq!(t_in(Lang::En, "sign-in", None), "Sign in");
        assert_eq!(t_in(Lang::En, "no-such-text", None), "no-such-text");
    }
}
