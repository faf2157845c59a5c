//! Redis implementation, for several nodes. Every key carries the configured prefix.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::{Ephemeral, EphemeralError, EphemeralResult};

/// A multiplexed, self-reconnecting connection to Redis.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
}

fn unavailable(e: redis::RedisError) -> EphemeralError {
    EphemeralError::Unavailable(e.to_string())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisStore {
    pub async fn connect(url: &str, prefix: &str) -> EphemeralResult<Self> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[async_trait]
impl Ephemeral for RedisStore {
    async fn put(&self, key: &str, value: &str, ttl: Duration) -> EphemeralResult<()> {
        let mut c = self.connection.clone();
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(millis(ttl))
            .query_async::<()>(&mut c)
            .await
            .map_err(unavailable)
    }

    async fn put_new(&self, key: &str, value: &str, ttl: Duration) -> EphemeralResult<bool> {
        let mut c = self.connection.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(set.is_some())
    }

    async fn replace(&self, key: &str, value: &str, ttl: Duration) -> EphemeralResult<bool> {
        let mut c = self.connection.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("XX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(set.is_some())
    }

    async fn get(&self, key: &str) -> EphemeralResult<Option<String>> {
        let mut c = self.connection.clone();
        c.get(self.key(key)).await.map_err(unavailable)
    }

    async fn take(&self, key: &str) -> EphemeralResult<Option<String>> {
        let mut c = self.connection.clone();
        redis::cmd("GETDEL")
            .arg(self.key(key))
            .query_async(&mut c)
            .await
            .map_err(unavailable)
    }

    async fn delete(&self, key: &str) -> EphemeralResult<()> {
        let mut c = self.connection.clone();
        c.del::<_, ()>(self.key(key)).await.map_err(unavailable)
    }

    async fn incr(&self, key: &str, window: Duration) -> EphemeralResult<u64> {
        let mut c = self.connection.clone();
        let key = self.key(key);
        let (count,): (u64,) = redis::pipe()
            .atomic()
            .incr(&key, 1u64)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(millis(window))
            .arg("NX")
            .ignore()
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(count)
    }

    async fn decr(&self, key: &str) -> EphemeralResult<()> {
        let mut c = self.connection.clone();
        // never below zero, and never creating a counter that has expired
        redis::cmd("EVAL")
            .arg("if (tonumber(redis.call('GET', KEYS[1]) or '0') > 0) then redis.call('DECR', KEYS[1]) end return 0")
            .arg(1)
            .arg(self.key(key))
            .query_async::<()>(&mut c)
            .await
            .map_err(unavailable)
    }

    async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> EphemeralResult<()> {
        let mut c = self.connection.clone();
        let key = self.key(key);
        redis::pipe()
            .atomic()
            .sadd(&key, member)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(millis(ttl))
            .arg("GT")
            .ignore()
            // GT never sets an expiry on a key that has none: give a new set its first one
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(millis(ttl))
            .arg("NX")
            .ignore()
            .query_async::<()>(&mut c)
            .await
            .map_err(unavailable)
    }

    async fn set_remove(&self, key: &str, member: &str) -> EphemeralResult<()> {
        let mut c = self.connection.clone();
        c.srem::<_, _, ()>(self.key(key), member)
            .await
            .map_err(unavailable)
    }

    async fn set_members(&self, key: &str) -> EphemeralResult<Vec<String>> {
        let mut c = self.connection.clone();
        c.smembers(self.key(key)).await.map_err(unavailable)
    }

    async fn set_contains(&self, key: &str, member: &str) -> EphemeralResult<bool> {
        let mut c = self.connection.clone();
        c.sismember(self.key(key), member)
            .await
            .map_err(unavailable)
    }

    async fn ping(&self) -> EphemeralResult<()> {
        let mut c = self.connection.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}
