//! Platform-plane roles: granted and revoked on the platform path, readable by tenants.

use helix_core::backend_test;
use helix_core::sea_orm::{ConnectionTrait, DbBackend, Statement};
use helix_core::testing::TestDb;
use helix_core::{Backend, PlatformContext};
use helix_iam::store::{PlatformRole, platform_roles_of};
use uuid::Uuid;

use crate::common::*;

async fn platform_roles_are_granted_and_revoked(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.tenancy).await;
    let ctx = PlatformContext::system("test");
    let user = Uuid::now_v7();

    let tx = fx.db.platform(&ctx).await.unwrap();
    assert!(
        fx.store
            .grant_platform_role(&tx, ctx.meta(), user, PlatformRole::Support)
            .await
            .unwrap()
    );
    assert!(
        !fx.store
            .grant_platform_role(&tx, ctx.meta(), user, PlatformRole::Support)
            .await
            .unwrap(),
        "granting twice is a no-op"
    );
    fx.store
        .grant_platform_role(&tx, ctx.meta(), user, PlatformRole::PlatformAdmin)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let tx = fx.db.platform_read(&ctx).await.unwrap();
    let all = fx.store.list_platform_roles(&tx, None).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(
        all.iter()
            .all(|g| g.user_id == user && g.granted_by == "system:test")
    );
    let support = fx
        .store
        .list_platform_roles(&tx, Some(PlatformRole::Support))
        .await
        .unwrap();
    assert_eq!(support.len(), 1);
    tx.commit().await.unwrap();

    // A tenant transaction can read them (support's impersonation right is checked there).
    let tx = fx.db.tenant_read(&org.ctx).await.unwrap();
    assert_eq!(
        platform_roles_of(tx.raw(), user).await.unwrap(),
        [PlatformRole::PlatformAdmin, PlatformRole::Support]
    );
    if t.db.backend() == Backend::Postgres {
        let res = tx
            .raw()
            .execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("DELETE FROM iam_platform_roles WHERE user_id = '{user}'"),
            ))
            .await;
        assert!(
            res.is_err(),
            "a tenant transaction cannot write platform roles"
        );
    }
    drop(tx);

    let tx = fx.db.platform(&ctx).await.unwrap();
    assert!(
        fx.store
            .revoke_platform_role(&tx, ctx.meta(), user, PlatformRole::Support)
            .await
            .unwrap()
    );
    assert!(
        !fx.store
            .revoke_platform_role(&tx, ctx.meta(), user, PlatformRole::Support)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert_eq!(
        platform_roles_of(fx.db.connection(), user).await.unwrap(),
        [PlatformRole::PlatformAdmin]
    );
    assert!("root".parse::<PlatformRole>().is_err());
}
backend_test!(
    platform_roles_are_granted_and_revoked,
    platform_roles_are_granted_and_revoked
);
