//! The audit log's hash chain on SQLite (always) and PostgreSQL (`--ignored`, with
//! `TEST_POSTGRES_URL`): events written by any transaction are sealed in order, two sealers at
//! once seal each event once, and `verify_chain` finds the first link that no longer holds
//! after an event is changed or a link removed behind the triggers' back.

mod support;

use idp::audit::{Actor, AuditKind, NewAuditEvent};
use idp::store::sql::SqlStore;
use idp::store::{AuditChain, AuditLog};
use sqlx::{AnyConnection, Connection, Executor};

const NOW: i64 = 1_790_000_000;

fn event(n: i64) -> NewAuditEvent {
    NewAuditEvent {
        at: NOW + n,
        kind: AuditKind::SignIn,
        actor: Actor::Account(n),
        subject: Some(n),
        source_address: Some("192.0.2.1".into()),
        details: serde_json::json!({ "n": n }),
    }
}

async fn write(s: &SqlStore, range: std::ops::Range<i64>) {
    for n in range {
        s.append(&event(n)).await.unwrap();
    }
}

async fn events_are_sealed_in_order_and_verified(s: &SqlStore, _url: &str) {
    write(s, 0..25).await;
    let report = s.verify_chain().await.unwrap();
    assert_eq!((report.events, report.sealed, report.waiting), (25, 0, 25));
    assert!(report.holds());
    assert_eq!(s.seal(10, NOW).await.unwrap(), 10);
    assert_eq!(s.seal(100, NOW).await.unwrap(), 15);
    assert_eq!(s.seal(100, NOW).await.unwrap(), 0);
    write(s, 25..30).await;
    assert_eq!(s.seal(100, NOW).await.unwrap(), 5);
    let report = s.verify_chain().await.unwrap();
    assert_eq!(
        (report.events, report.sealed, report.waiting, report.outside),
        (30, 30, 0, 0)
    );
    assert!(report.holds(), "{report:?}");
}

async fn two_sealers_at_once_seal_each_event_once(s: &SqlStore, _url: &str) {
    write(s, 0..200).await;
    let (a, b) = tokio::join!(s.seal(150, NOW), s.seal(150, NOW));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a + b, 200, "{a} + {b}");
    let report = s.verify_chain().await.unwrap();
    assert_eq!(report.sealed, 200);
    assert!(report.holds(), "{report:?}");
}

async fn a_changed_event_breaks_the_chain_there(s: &SqlStore, url: &str) {
    write(s, 0..10).await;
    s.seal(100, NOW).await.unwrap();
    let mut c = AnyConnection::connect(url).await.unwrap();
    let fifth: i64 = sqlx::query_scalar("SELECT id FROM audit_events ORDER BY id LIMIT 1 OFFSET 4")
        .fetch_one(&mut c)
        .await
        .unwrap();
    // the triggers forbid it: an attacker with the database's owner rights drops them first
    let update = format!("UPDATE audit_events SET details = '{{\"n\":99}}' WHERE id = {fifth}");
    assert!(
        c.execute(sqlx::AssertSqlSafe(update.clone()))
            .await
            .is_err(),
        "append-only"
    );
    let drop = if url.starts_with("sqlite") {
        "DROP TRIGGER audit_events_no_update"
    } else {
        "DROP TRIGGER audit_events_no_change ON audit_events"
    };
    c.execute(drop).await.unwrap();
    c.execute(sqlx::AssertSqlSafe(update)).await.unwrap();
    let report = s.verify_chain().await.unwrap();
    let broken = report.broken.expect("broken");
    assert_eq!(broken.event_id, fifth);
    assert!(broken.reason.contains("changed"), "{}", broken.reason);
}

async fn a_removed_link_breaks_the_chain_after_it(s: &SqlStore, url: &str) {
    write(s, 0..10).await;
    s.seal(100, NOW).await.unwrap();
    let mut c = AnyConnection::connect(url).await.unwrap();
    let drop = if url.starts_with("sqlite") {
        "DROP TRIGGER audit_chain_no_delete"
    } else {
        "DROP TRIGGER audit_chain_no_change ON audit_chain"
    };
    c.execute(drop).await.unwrap();
    c.execute("DELETE FROM audit_chain WHERE seq = 3")
        .await
        .unwrap();
    let broken = s.verify_chain().await.unwrap().broken.expect("broken");
    assert_eq!(broken.seq, 4, "the link after the removed one");
    assert!(broken.reason.contains("removed"), "{}", broken.reason);
    // an event taken out of the sealer's list before it was sealed is found too
    write(s, 10..11).await;
    c.execute("DELETE FROM audit_unsealed").await.unwrap();
    assert_eq!(
        s.verify_chain().await.unwrap().outside,
        2,
        "the removed link's event and the new one"
    );
}

backend_suite!(
    events_are_sealed_in_order_and_verified,
    two_sealers_at_once_seal_each_event_once,
    a_changed_event_breaks_the_chain_there,
    a_removed_link_breaks_the_chain_after_it,
);
