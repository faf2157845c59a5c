//! One suite for the short-lived state, run in process (always) and against Redis
//! (`--ignored`, with `TEST_REDIS_URL`; `.ci/run` does it).

mod support;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use idp::config::ThrottleConfig;
use idp::domain::account::AccountKind;
use idp::domain::session::{AuthOrigin, Participant, SessionLimits, SsoSession};
use idp::ephemeral::Ephemeral;
use idp::ephemeral::csrf::CsrfTokens;
use idp::ephemeral::sessions::SessionStore;
use idp::ephemeral::throttle::{SignInThrottle, ThrottleVerdict};

const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(60);

async fn wait_past(d: Duration) {
    tokio::time::sleep(d + Duration::from_millis(200)).await;
}

async fn values_expire(kv: Arc<dyn Ephemeral>) {
    kv.put("a", "1", SHORT).await.unwrap();
    kv.put("b", "2", LONG).await.unwrap();
    assert_eq!(kv.get("a").await.unwrap().as_deref(), Some("1"));
    wait_past(SHORT).await;
    assert_eq!(kv.get("a").await.unwrap(), None);
    assert_eq!(kv.get("b").await.unwrap().as_deref(), Some("2"));
    kv.put("b", "3", LONG).await.unwrap();
    assert_eq!(kv.get("b").await.unwrap().as_deref(), Some("3"));
    kv.delete("b").await.unwrap();
    assert_eq!(kv.get("b").await.unwrap(), None);
    kv.ping().await.unwrap();
}

async fn replace_writes_only_what_exists(kv: Arc<dyn Ephemeral>) {
    assert!(!kv.replace("gone", "x", LONG).await.unwrap());
    assert_eq!(kv.get("gone").await.unwrap(), None, "not created");
    kv.put("here", "1", LONG).await.unwrap();
    assert!(kv.replace("here", "2", LONG).await.unwrap());
    assert_eq!(kv.get("here").await.unwrap().as_deref(), Some("2"));
    kv.put("brief", "1", SHORT).await.unwrap();
    wait_past(SHORT).await;
    assert!(
        !kv.replace("brief", "2", LONG).await.unwrap(),
        "an expired key is not revived"
    );
}

async fn put_new_sets_only_once(kv: Arc<dyn Ephemeral>) {
    assert!(kv.put_new("k", "first", LONG).await.unwrap());
    assert!(!kv.put_new("k", "second", LONG).await.unwrap());
    assert_eq!(kv.get("k").await.unwrap().as_deref(), Some("first"));
    assert!(kv.put_new("short", "x", SHORT).await.unwrap());
    wait_past(SHORT).await;
    assert!(kv.put_new("short", "y", LONG).await.unwrap());
}

async fn take_is_single_use_even_when_raced(kv: Arc<dyn Ephemeral>) {
    kv.put("code", "123456", LONG).await.unwrap();
    let mut racers = Vec::new();
    for _ in 0..16 {
        let kv = kv.clone();
        racers.push(tokio::spawn(async move { kv.take("code").await.unwrap() }));
    }
    let mut winners = 0;
    for r in racers {
        if let Some(v) = r.await.unwrap() {
            assert_eq!(v, "123456");
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(kv.take("code").await.unwrap(), None);
}

async fn counters_count_within_their_window(kv: Arc<dyn Ephemeral>) {
    assert_eq!(kv.incr("c", SHORT).await.unwrap(), 1);
    assert_eq!(kv.incr("c", SHORT).await.unwrap(), 2);
    // a later increment does not extend the window
    assert_eq!(kv.incr("c", LONG).await.unwrap(), 3);
    wait_past(SHORT).await;
    assert_eq!(kv.incr("c", SHORT).await.unwrap(), 1);
}

async fn sets_add_remove_and_expire(kv: Arc<dyn Ephemeral>) {
    kv.set_add("s", "a", LONG).await.unwrap();
    kv.set_add("s", "b", LONG).await.unwrap();
    kv.set_add("s", "a", LONG).await.unwrap();
    let mut m = kv.set_members("s").await.unwrap();
    m.sort();
    assert_eq!(m, vec!["a", "b"]);
    assert!(kv.set_contains("s", "a").await.unwrap());
    kv.set_remove("s", "a").await.unwrap();
    assert_eq!(kv.set_members("s").await.unwrap(), vec!["b"]);
    assert!(!kv.set_contains("s", "a").await.unwrap());
    assert!(!kv.set_contains("nothing", "a").await.unwrap());
    kv.set_add("t", "x", SHORT).await.unwrap();
    wait_past(SHORT).await;
    assert!(kv.set_members("t").await.unwrap().is_empty());
    assert!(!kv.set_contains("t", "x").await.unwrap());
    assert!(kv.set_members("none").await.unwrap().is_empty());
}

const LIMITS: SessionLimits = SessionLimits {
    idle: 600,
    absolute: 3600,
};

async fn sessions_live_and_end(kv: Arc<dyn Ephemeral>) {
    let store = SessionStore::new(kv.clone(), LIMITS);
    let now = 1_790_000_000;
    let session = SsoSession::new(
        "s1".into(),
        42,
        AccountKind::Responsable,
        AuthOrigin::Local,
        now,
    );
    let id = store.create(&session).await.unwrap();
    let other = store.create(&session).await.unwrap();
    assert_ne!(id, other, "every session gets a fresh id");
    assert_eq!(
        store.load(&id, now + 1).await.unwrap(),
        Some(session.clone())
    );
    // the store keeps a hash of the id, never the id itself
    assert_eq!(kv.get(&format!("sso:{id}")).await.unwrap(), None);
    // idle timeout: used at +500 (touched), still live at +1000, gone 600 s after last use
    assert!(store.load(&id, now + 500).await.unwrap().is_some());
    assert!(store.load(&id, now + 1000).await.unwrap().is_some());
    assert!(store.load(&id, now + 1601).await.unwrap().is_none());
    // ending one session leaves the other
    assert!(store.end(&other).await.unwrap().is_some());
    assert!(store.end(&other).await.unwrap().is_none());
    assert!(store.load(&other, now + 2).await.unwrap().is_none());
    assert!(store.load("forged", now).await.unwrap().is_none());
}

async fn all_sessions_of_an_account_end_together(kv: Arc<dyn Ephemeral>) {
    let store = SessionStore::new(kv, LIMITS);
    let now = 1_790_000_000;
    let mine = SsoSession::new("s7".into(), 7, AccountKind::Eleve, AuthOrigin::Local, now);
    let theirs = SsoSession::new("s8".into(), 8, AccountKind::Eleve, AuthOrigin::Local, now);
    let a = store.create(&mine).await.unwrap();
    let b = store.create(&mine).await.unwrap();
    let c = store.create(&theirs).await.unwrap();
    assert_eq!(store.end_all_for(7).await.unwrap(), 2);
    assert!(store.load(&a, now).await.unwrap().is_none());
    assert!(store.load(&b, now).await.unwrap().is_none());
    assert!(store.load(&c, now).await.unwrap().is_some());
    assert_eq!(store.end_all_for(7).await.unwrap(), 0);
}

async fn sessions_remember_every_relying_party(kv: Arc<dyn Ephemeral>) {
    let store = SessionStore::new(kv, LIMITS);
    let now = 1_790_000_000;
    let session = SsoSession::new("s9".into(), 9, AccountKind::Eleve, AuthOrigin::Local, now);
    let id = store.create(&session).await.unwrap();
    let ent = Participant::Oidc {
        client_id: "ent".into(),
    };
    let sp = Participant::Saml {
        entity_id: "https://sp.example/".into(),
        name_id: "_n1".into(),
        name_id_format: "transient".into(),
    };
    // two sign-ins at the same moment: neither is lost; the same one twice is kept once
    let (a, b) = tokio::join!(
        store.add_participant(&session, &ent, now),
        store.add_participant(&session, &sp, now)
    );
    a.unwrap();
    b.unwrap();
    store.add_participant(&session, &ent, now).await.unwrap();
    let mut seen = store.participants("s9").await.unwrap();
    seen.sort_by_key(|p| format!("{p:?}"));
    assert_eq!(seen, vec![ent.clone(), sp.clone()]);
    let (ended, mut participants) = store.end(&id).await.unwrap().unwrap();
    assert_eq!(ended.sid, "s9");
    participants.sort_by_key(|p| format!("{p:?}"));
    assert_eq!(participants, vec![ent, sp]);
    assert!(store.participants("s9").await.unwrap().is_empty());
}

async fn csrf_tokens_belong_to_one_browser(kv: Arc<dyn Ephemeral>) {
    let csrf = CsrfTokens::new(kv);
    let token = csrf.token_for("browser-a").await.unwrap();
    assert_eq!(
        csrf.token_for("browser-a").await.unwrap(),
        token,
        "stable per browser"
    );
    let other = csrf.token_for("browser-b").await.unwrap();
    assert_ne!(token, other);
    assert!(csrf.verify("browser-a", &token).await.unwrap());
    assert!(!csrf.verify("browser-b", &token).await.unwrap());
    assert!(!csrf.verify("browser-a", "").await.unwrap());
    assert!(!csrf.verify("browser-c", &token).await.unwrap());
}

fn small_throttle(kv: Arc<dyn Ephemeral>, per_address: u64) -> SignInThrottle {
    SignInThrottle::new(
        kv,
        ThrottleConfig {
            failures_per_identifier: 3,
            failures_per_address: per_address,
            window_minutes: 1,
            delay_after_failures: 3,
            first_delay_ms: 0,
            max_delay_ms: 0,
        },
    )
}

/// Whether an attempt was let through.
async fn allowed(throttle: &SignInThrottle, identifier: &str, ip: IpAddr) -> bool {
    throttle
        .check(identifier, ip)
        .await
        .unwrap()
        .attempt()
        .is_some()
}

async fn throttle_limits_identifiers_and_addresses(kv: Arc<dyn Ephemeral>) {
    let throttle = small_throttle(kv, 5);
    let ip: IpAddr = "192.0.2.7".parse().unwrap();
    let other_ip: IpAddr = "192.0.2.8".parse().unwrap();
    for _ in 0..3 {
        assert!(allowed(&throttle, "lea.martin", ip).await);
        throttle.record_failure(ip).await.unwrap();
    }
    assert_eq!(
        throttle.check("lea.martin", other_ip).await.unwrap(),
        ThrottleVerdict::IdentifierLimited
    );
    assert!(allowed(&throttle, "hugo.martin", ip).await);
    throttle.record_failure(ip).await.unwrap();
    throttle.record_failure(ip).await.unwrap();
    assert_eq!(
        throttle.check("c", ip).await.unwrap(),
        ThrottleVerdict::AddressLimited
    );
    assert!(allowed(&throttle, "c", other_ip).await);
    throttle.record_success("lea.martin").await.unwrap();
    assert!(allowed(&throttle, "lea.martin", other_ip).await);
}

async fn guesses_sent_together_cannot_all_slip_under_the_limit(kv: Arc<dyn Ephemeral>) {
    let throttle = small_throttle(kv, 1000);
    let ip: IpAddr = "192.0.2.9".parse().unwrap();
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let throttle = throttle.clone();
        attempts.spawn(async move { throttle.check("lea.martin", ip).await.unwrap() });
    }
    let verdicts = attempts.join_all().await;
    let through: Vec<_> = verdicts
        .iter()
        .filter_map(|v| v.clone().attempt())
        .collect();
    assert_eq!(through.len(), 3, "{verdicts:?}");
    // the seventeen refused were not counted: once the three are taken back, it is open
    for attempt in &through {
        throttle.release(attempt).await.unwrap();
    }
    assert!(allowed(&throttle, "lea.martin", ip).await);

    // an attempt that was not a guess (a full hashing queue) is released: it does not count
    let other = "hugo.martin";
    let mut last = None;
    for _ in 0..3 {
        last = throttle.check(other, ip).await.unwrap().attempt();
        assert!(last.is_some());
    }
    throttle.release(&last.unwrap()).await.unwrap();
    assert!(allowed(&throttle, other, ip).await);
    assert!(!allowed(&throttle, other, ip).await);
}

async fn staff_unlocking_reaches_the_trusted_devices(kv: Arc<dyn Ephemeral>) {
    let throttle = small_throttle(kv, 1000);
    let ip: IpAddr = "192.0.2.10".parse().unwrap();
    // three failures on her own tablet: locked there, and "Bloqué"
    for _ in 0..3 {
        let verdict = throttle
            .check_on_device("lea.martin", ip, Some("tablet"))
            .await
            .unwrap();
        assert!(verdict.attempt().is_some());
    }
    let on_tablet = throttle
        .check_on_device("lea.martin", ip, Some("tablet"))
        .await
        .unwrap();
    assert_eq!(on_tablet, ThrottleVerdict::IdentifierLimited);
    assert!(throttle.identifier_limited("lea.martin").await.unwrap());
    // elsewhere she is not locked by her tablet's failures
    assert!(allowed(&throttle, "lea.martin", ip).await);
    // staff unlock (as a success on an untrusted browser does): the tablet is open again
    throttle.record_success("lea.martin").await.unwrap();
    assert!(!throttle.identifier_limited("lea.martin").await.unwrap());
    let on_tablet = throttle
        .check_on_device("lea.martin", ip, Some("tablet"))
        .await
        .unwrap();
    assert!(on_tablet.attempt().is_some());
}

macro_rules! ephemeral_suite {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::support::memory_ephemeral().await).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                #[ignore = "needs Redis: set TEST_REDIS_URL and pass --ignored"]
                async fn $case() {
                    super::$case(super::support::redis_ephemeral().await).await;
                }
            )*
        }
    };
}

ephemeral_suite!(
    values_expire,
    replace_writes_only_what_exists,
    put_new_sets_only_once,
    take_is_single_use_even_when_raced,
    counters_count_within_their_window,
    sets_add_remove_and_expire,
    sessions_live_and_end,
    all_sessions_of_an_account_end_together,
    sessions_remember_every_relying_party,
    csrf_tokens_belong_to_one_browser,
    throttle_limits_identifiers_and_addresses,
    guesses_sent_together_cannot_all_slip_under_the_limit,
    staff_unlocking_reaches_the_trusted_devices,
);
