//! The SMTP transport over TLS, without the network: a loopback SMTP stand-in that speaks
//! `STARTTLS` (and implicit TLS) with a certificate made in the test by a CA made in the
//! test, and a transport that trusts that CA through
//! `SmtpConfig::extra_root_certificates_pem`. A transport that does not trust it sends
//! nothing, and `STARTTLS` is required: a server that does not offer it gets no mail.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use helix_auth::mail::{
    MailError, MailMessage, MailTransport, SmtpConfig, SmtpSecurity, SmtpTransport,
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use uuid::Uuid;

/// A CA and a server certificate for 127.0.0.1 signed by it: (CA PEM, acceptor).
fn pki() -> (String, TlsAcceptor) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.subject_alt_names = vec![SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))];
    let leaf = leaf.signed_by(&key, &ca, &ca_key).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    (ca.pem(), TlsAcceptor::from(Arc::new(config)))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Plain greeting, `STARTTLS` offered.
    Starttls,
    /// TLS from the first byte.
    Implicit,
    /// Plain, no `STARTTLS` offered.
    PlainOnly,
}

/// One accepted mail: the recipient and the data, and whether it came over TLS.
#[derive(Clone, Debug)]
struct Received {
    to: String,
    data: String,
    tls: bool,
}

#[derive(Clone)]
struct TlsStandIn {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl TlsStandIn {
    async fn start(mode: Mode, acceptor: TlsAcceptor) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stand_in = Self {
            port: listener.local_addr().unwrap().port(),
            received: Arc::default(),
        };
        let s = stand_in.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (s, acceptor) = (s.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let _ = s.session(sock, mode, acceptor).await;
                });
            }
        });
        stand_in
    }

    async fn session(
        &self,
        sock: TcpStream,
        mode: Mode,
        acceptor: TlsAcceptor,
    ) -> std::io::Result<()> {
        if mode == Mode::Implicit {
            let tls = acceptor.accept(sock).await?;
            return self.dialogue(tls, true, true).await;
        }
        let mut plain = BufReader::new(sock);
        plain.write_all(b"220 stand-in ESMTP\r\n").await?;
        let mut line = String::new();
        loop {
            line.clear();
            if plain.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let upper = line.trim_end().to_ascii_uppercase();
            if upper.starts_with("EHLO") {
                let offer: &[u8] = if mode == Mode::Starttls {
                    b"250-stand-in\r\n250 STARTTLS\r\n"
                } else {
                    b"250 stand-in\r\n"
                };
                plain.write_all(offer).await?;
            } else if upper == "STARTTLS" && mode == Mode::Starttls {
                plain.write_all(b"220 go ahead\r\n").await?;
                // The client sends nothing more until the handshake: nothing is buffered.
                let tls = acceptor.accept(plain.into_inner()).await?;
                return self.dialogue(tls, false, true).await;
            } else if upper == "QUIT" {
                plain.write_all(b"221 bye\r\n").await?;
                return Ok(());
            } else {
                // Plain-only: nothing is accepted in clear text.
                plain
                    .write_all(b"530 5.7.0 must issue STARTTLS first\r\n")
                    .await?;
            }
        }
    }

    /// The SMTP dialogue after TLS is up (`greet`: send the banner first, for implicit TLS).
    async fn dialogue<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        greet: bool,
        tls: bool,
    ) -> std::io::Result<()> {
        let mut stream = BufReader::new(stream);
        if greet {
            stream.write_all(b"220 stand-in ESMTP\r\n").await?;
        }
        let mut to = String::new();
        let mut line = String::new();
        loop {
            line.clear();
            if stream.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let cmd = line.trim_end().to_owned();
            let upper = cmd.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") {
                b"250-stand-in\r\n250 8BITMIME\r\n"
            } else if upper.starts_with("MAIL FROM:") || upper == "RSET" || upper == "NOOP" {
                b"250 ok\r\n"
            } else if upper.starts_with("RCPT TO:") {
                to = cmd[8..].trim().to_owned();
                b"250 ok\r\n"
            } else if upper == "DATA" {
                stream.write_all(b"354 go ahead\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if stream.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line.trim_end() == "." {
                        break;
                    }
                    data.push_str(&line);
                }
                self.received.lock().unwrap().push(Received {
                    to: std::mem::take(&mut to),
                    data,
                    tls,
                });
                b"250 queued\r\n"
            } else if upper == "QUIT" {
                stream.write_all(b"221 bye\r\n").await?;
                return Ok(());
            } else {
                b"502 not implemented\r\n"
            };
            stream.write_all(reply).await?;
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn config(&self, security: SmtpSecurity, ca_pem: Option<String>) -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port: self.port,
            security,
            hello_name: "helix.test".into(),
            timeout_ms: 5_000,
            extra_root_certificates_pem: ca_pem,
            ..SmtpConfig::default()
        }
    }
}

fn message(to: &str) -> MailMessage {
    MailMessage {
        id: Uuid::now_v7(),
        template: "verification".into(),
        from: "Helix <no-reply@helix.test>".into(),
        to: to.into(),
        subject: "Over TLS".into(),
        text: "sealed in transit".into(),
        html: "<p>sealed in transit</p>".into(),
    }
}

#[tokio::test]
async fn starttls_with_a_trusted_test_ca() {
    let (ca_pem, acceptor) = pki();
    let smtp = TlsStandIn::start(Mode::Starttls, acceptor).await;
    let transport = SmtpTransport::new(&smtp.config(SmtpSecurity::Starttls, Some(ca_pem))).unwrap();
    transport.send(&message("tls@example.com")).await.unwrap();
    let received = smtp.received();
    assert_eq!(received.len(), 1);
    assert!(
        received[0].tls,
        "the mail went over the upgraded connection"
    );
    assert_eq!(received[0].to, "<tls@example.com>");
    assert!(received[0].data.contains("sealed in transit"));
    assert!(received[0].data.contains("Subject: Over TLS"));
}

#[tokio::test]
async fn implicit_tls_with_a_trusted_test_ca() {
    let (ca_pem, acceptor) = pki();
    let smtp = TlsStandIn::start(Mode::Implicit, acceptor).await;
    let transport = SmtpTransport::new(&smtp.config(SmtpSecurity::Tls, Some(ca_pem))).unwrap();
    transport.send(&message("smtps@example.com")).await.unwrap();
    let received = smtp.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].tls);
}

#[tokio::test]
async fn an_untrusted_certificate_gets_nothing() {
    let (_, acceptor) = pki();
    let smtp = TlsStandIn::start(Mode::Starttls, acceptor).await;
    // The webpki roots only: the test CA is unknown, so the handshake fails.
    let transport = SmtpTransport::new(&smtp.config(SmtpSecurity::Starttls, None)).unwrap();
    let err = transport
        .send(&message("nope@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Transient(_)), "{err:?}");
    // Another CA's certificate does not help either.
    let (other_ca, _) = pki();
    let transport =
        SmtpTransport::new(&smtp.config(SmtpSecurity::Starttls, Some(other_ca))).unwrap();
    assert!(transport.send(&message("nope@example.com")).await.is_err());
    assert!(smtp.received().is_empty());
}

#[tokio::test]
async fn starttls_is_required() {
    let (ca_pem, acceptor) = pki();
    let smtp = TlsStandIn::start(Mode::PlainOnly, acceptor).await;
    let transport = SmtpTransport::new(&smtp.config(SmtpSecurity::Starttls, Some(ca_pem))).unwrap();
    assert!(transport.send(&message("plain@example.com")).await.is_err());
    assert!(smtp.received().is_empty());
}

#[test]
fn bad_root_certificates_are_a_configuration_error() {
    let config = SmtpConfig {
        extra_root_certificates_pem: Some(
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n".into(),
        ),
        ..SmtpConfig::default()
    };
    let err = SmtpTransport::new(&config).unwrap_err();
    assert!(
        err.to_string().contains("extra_root_certificates_pem"),
        "{err}"
    );
}
