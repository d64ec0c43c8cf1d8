//! Mails a tenant operation owes (an invitation), on both backends: queued with
//! `MailOutbox::queue_tenant` in a tenant transaction, as an event of the organization with
//! the token sealed; the subscriber sends the templates allowed for tenants (invitation, by
//! default) and dead-letters any other; a rolled-back transaction queues nothing.

use helix_auth::mail::{INVITATION, OutgoingMail, VERIFICATION, invitation_mail};
use helix_core::testing::TestDb;
use helix_core::{Actor, TenantContext, backend_test};
use uuid::Uuid;

use crate::mail::Mailbox;

const TOKEN: &str = "invitation-token-0123456789_abcdef";

async fn tenant_mail(t: TestDb) {
    let (kernel, _clock) = crate::support::kernel(&t).await;
    let mailbox = Mailbox::new(kernel.clone());
    let ctx = TenantContext::new(Uuid::now_v7(), Actor::User(Uuid::now_v7()));
    let now = kernel.now();

    // Rolled back: nothing is queued.
    let tx = kernel.db().tenant(&ctx).await.unwrap();
    let mail = invitation_mail("ivy@example.com", "Acme", "member", now, TOKEN);
    mailbox.outbox().queue_tenant(&tx, now, mail).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(mailbox.sent().await.is_empty());

    let tx = kernel.db().tenant(&ctx).await.unwrap();
    let expires = now + chrono::Duration::days(7);
    let mail = invitation_mail("ivy@example.com", "Acme <Labs>", "member", expires, TOKEN);
    mailbox.outbox().queue_tenant(&tx, now, mail).await.unwrap();
    // Not a template tenants may send: dead-lettered unsent.
    let other = OutgoingMail::new(VERIFICATION, "ivy@example.com").secret("token", TOKEN);
    mailbox
        .outbox()
        .queue_tenant(&tx, now, other)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let sent = mailbox.sent().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let m = &sent[0];
    assert_eq!(m.template, INVITATION);
    assert_eq!(m.to, "ivy@example.com");
    let link = format!("https://app.helix.test/invitations/accept?token={TOKEN}");
    assert!(m.text.contains(&link), "{}", m.text);
    assert!(m.text.contains("Acme <Labs>"));
    assert!(m.html.contains("Acme &lt;Labs&gt;"));
    assert_eq!(
        helix_core::outbox::dead_letters(kernel.db()).await.unwrap(),
        1
    );
}
backend_test!(mail_queued_by_a_tenant, tenant_mail);
