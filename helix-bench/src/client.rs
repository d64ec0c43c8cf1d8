//! A minimal HTTP/1.1 keep-alive client: one TCP connection per task, optionally bound to
//! a chosen loopback source address (the server's per-IP login limit counts by address).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;

static NEXT_ADDRESS: AtomicU32 = AtomicU32::new(0);

/// The next unused loopback address of this process: 127.1.0.1, 127.1.0.2, ... (the whole
/// 127.0.0.0/8 is local on Linux, so each one is a distinct client to the server).
pub fn next_source_address() -> Ipv4Addr {
    address_for(NEXT_ADDRESS.fetch_add(1, Ordering::Relaxed))
}

/// The `n`-th source address: never 127.0.0.x (the server's own), never .0 or .255.
pub fn address_for(n: u32) -> Ipv4Addr {
    let c = 1 + n % 254;
    let b = (n / 254) % 256;
    let a = 1 + (n / (254 * 256)) % 254;
    Ipv4Addr::new(127, a as u8, b as u8, c as u8)
}

/// `http://127.0.0.1:8003` (or `localhost`) to a socket address.
pub async fn resolve_base(base: &str) -> anyhow::Result<SocketAddr> {
    let host = base
        .strip_prefix("http://")
        .with_context(|| format!("`{base}`: only http:// base URLs are supported"))?
        .trim_end_matches('/');
    tokio::net::lookup_host(host)
        .await
        .with_context(|| format!("cannot resolve `{host}`"))?
        .find(SocketAddr::is_ipv4)
        .with_context(|| format!("`{host}` has no IPv4 address"))
}

/// One request, ready to be sent any number of times.
#[derive(Debug, Clone)]
pub struct Call {
    /// The method.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// `Authorization` value (`Bearer ...`).
    pub authorization: Option<HeaderValue>,
    /// JSON body.
    pub body: Option<Bytes>,
}

impl Call {
    /// An anonymous GET.
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            authorization: None,
            body: None,
        }
    }

    /// A POST of a JSON body.
    pub fn post_json(path: impl Into<String>, body: &serde_json::Value) -> Self {
        Self {
            method: Method::POST,
            path: path.into(),
            authorization: None,
            body: Some(Bytes::from(body.to_string())),
        }
    }

    /// A call of any method with a JSON body (`PATCH`, `PUT`, ...).
    pub fn json(method: Method, path: impl Into<String>, body: &serde_json::Value) -> Self {
        Self {
            method,
            path: path.into(),
            authorization: None,
            body: Some(Bytes::from(body.to_string())),
        }
    }

    /// The same call with a bearer token.
    pub fn bearer(mut self, token: &str) -> anyhow::Result<Self> {
        self.authorization = Some(
            HeaderValue::from_str(&format!("Bearer {token}"))
                .context("the access token is not a valid header value")?,
        );
        Ok(self)
    }
}

/// An open keep-alive connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

impl Conn {
    /// Connects to `server`, from `source` when given.
    pub async fn open(server: SocketAddr, source: Option<Ipv4Addr>) -> anyhow::Result<Self> {
        let socket = TcpSocket::new_v4()?;
        if let Some(ip) = source {
            socket
                .bind(SocketAddr::new(ip.into(), 0))
                .with_context(|| format!("cannot bind the client socket to {ip}"))?;
        }
        let stream = socket
            .connect(server)
            .await
            .with_context(|| format!("cannot connect to {server}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake")?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self {
            sender,
            host: HeaderValue::from_str(&server.to_string())?,
        })
    }

    /// Sends `call`; answers the status and the whole body.
    pub async fn send(&mut self, call: &Call) -> anyhow::Result<(StatusCode, Bytes)> {
        let mut req = Request::builder()
            .method(call.method.clone())
            .uri(&call.path)
            .header(HOST, self.host.clone());
        if let Some(auth) = &call.authorization {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        if call.body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        let req = req.body(Full::new(call.body.clone().unwrap_or_default()))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_are_distinct_loopback_clients() {
        assert_eq!(address_for(0), Ipv4Addr::new(127, 1, 0, 1));
        assert_eq!(address_for(253), Ipv4Addr::new(127, 1, 0, 254));
        assert_eq!(address_for(254), Ipv4Addr::new(127, 1, 1, 1));
        let mut seen = std::collections::HashSet::new();
        for n in 0..100_000 {
            let a = address_for(n);
            assert!(a.is_loopback());
            assert!(a.octets()[1] != 0 && a.octets()[3] != 0 && a.octets()[3] != 255);
            assert!(seen.insert(a), "{a} repeated");
        }
    }
}
