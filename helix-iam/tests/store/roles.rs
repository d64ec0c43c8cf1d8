//! Roles: built-in defaults, custom CRUD, and what cannot be done to built-in roles.

use helix_core::backend_test;
use helix_core::list::ListQuery;
use helix_core::testing::TestDb;
use helix_iam::model::BUILTIN_ROLES;
use helix_iam::model::{Scope, Subject};
use helix_iam::store::{NewAssignment, NewRole, RoleTemplate};
use uuid::Uuid;

use crate::common::*;
use crate::in_tx;

fn new_role(key: &str, perms: &[&str]) -> NewRole {
    NewRole {
        key: key.into(),
        name: format!("Role {key}"),
        permissions: perms.iter().map(|p| (*p).to_owned()).collect(),
    }
}

async fn builtin_roles_are_created_once(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.tenancy).await;
    let before = revision(&fx.db, &org.ctx).await;
    let r1 = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .ensure_builtin_roles(&tx, &templates())
        .await
        .unwrap());
    // 4 roles + 4 + 3 + 2 + 1 permissions.
    assert_eq!(r1.0, before.0 + 14);
    let r2 = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .ensure_builtin_roles(&tx, &templates())
        .await
        .unwrap());
    assert_eq!(r2, r1, "idempotent: nothing written the second time");

    let page = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .list_roles(&tx, &ListQuery::default())
        .await
        .unwrap());
    assert_eq!(page.meta.total, 4);
    let keys: Vec<&str> = page.data.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["admin", "member", "owner", "read_only"]);
    assert!(page.data.iter().all(|r| r.builtin));
    for k in BUILTIN_ROLES {
        assert!(keys.contains(&k));
    }
    let owner = page.data.iter().find(|r| r.key == "owner").unwrap();
    assert_eq!(owner.permissions.len(), PERMS.len());

    // The catalog grew: the owner gets the new permission, other roles keep their set.
    let mut grown = templates();
    for t in &mut grown {
        t.permissions.push("crm.contacts.read".into());
    }
    let r3 = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .ensure_builtin_roles(&tx, &grown)
        .await
        .unwrap());
    assert_eq!(r3.0, r2.0 + 1);
    let page = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .list_roles(&tx, &ListQuery::default())
        .await
        .unwrap());
    for r in &page.data {
        let has = r.permissions.iter().any(|p| p == "crm.contacts.read");
        assert_eq!(has, r.key == "owner", "{}", r.key);
    }

    let bad = vec![RoleTemplate::new("custom", "Custom", ["a.b"])];
    let tx = fx.db.tenant(&org.ctx).await.unwrap();
    assert_eq!(
        code(fx.store.ensure_builtin_roles(&tx, &bad).await),
        "VALIDATION_ERROR"
    );
}
backend_test!(
    builtin_roles_are_created_once,
    builtin_roles_are_created_once
);

async fn custom_roles_crud(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.tenancy).await;
    let start = revision(&fx.db, &org.ctx).await;

    let (role, r1) = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .create_role(&tx, new_role("billing", &[PERMS[3], PERMS[1], PERMS[3]]))
        .await
        .unwrap());
    assert_eq!(r1.0, start.0 + 3, "one role row and two permission rows");
    assert!(!role.builtin);
    assert_eq!(
        role.permissions,
        [PERMS[3], PERMS[1]],
        "sorted, de-duplicated"
    );
    assert_eq!(
        revision(&fx.db, &org.ctx).await,
        r1,
        "the returned revision is committed"
    );

    let got = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .get_role(&tx, role.id)
        .await
        .unwrap());
    assert_eq!(got, role);

    let (renamed, r2) = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .rename_role(&tx, role.id, "  Billing admins ")
        .await
        .unwrap());
    assert_eq!(renamed.name, "Billing admins");
    assert_eq!(r2.0, r1.0 + 1);

    let (updated, r3) = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .set_role_permissions(&tx, role.id, &[PERMS[3].into(), PERMS[2].into()])
        .await
        .unwrap());
    assert_eq!(updated.permissions, [PERMS[3], PERMS[2]]);
    assert_eq!(
        r3.0,
        r2.0 + 3,
        "one removed, one added, the role's updated_at"
    );
    let (_, r4) = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .set_role_permissions(&tx, role.id, &[PERMS[2].into(), PERMS[3].into()])
        .await
        .unwrap());
    assert_eq!(r4, r3, "an unchanged set writes nothing");

    let tx = fx.db.tenant(&org.ctx).await.unwrap();
    assert_eq!(
        code(fx.store.create_role(&tx, new_role("billing", &[])).await),
        "CONFLICT"
    );
    drop(tx);
    for (key, perms) in [
        ("Billing", &[][..]),
        ("owner", &[][..]),
        ("", &[][..]),
        ("ok_key", &["not-a-permission"][..]),
    ] {
        let tx = fx.db.tenant(&org.ctx).await.unwrap();
        assert_eq!(
            code(fx.store.create_role(&tx, new_role(key, perms)).await),
            "VALIDATION_ERROR",
            "{key}"
        );
    }

    let r5 = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .delete_role(&tx, role.id)
        .await
        .unwrap());
    assert_eq!(r5.0, r4.0 + 3, "the role and its two permissions (cascade)");
    let tx = fx.db.tenant(&org.ctx).await.unwrap();
    assert_eq!(code(fx.store.get_role(&tx, role.id).await), "NOT_FOUND");
    assert_eq!(code(fx.store.delete_role(&tx, role.id).await), "NOT_FOUND");
    assert_eq!(
        code(fx.store.get_role(&tx, Uuid::now_v7()).await),
        "NOT_FOUND"
    );
}
backend_test!(custom_roles_crud, custom_roles_crud);

async fn roles_list_is_paginated(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.tenancy).await;
    for i in 0..7 {
        in_tx!(fx.db, &org.ctx, |tx| fx
            .store
            .create_role(&tx, new_role(&format!("role_{i}"), &[PERMS[1]]))
            .await
            .unwrap());
    }
    let q = ListQuery::parse("limit=3&page=3&sort=key:desc").unwrap();
    let page = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .list_roles(&tx, &q)
        .await
        .unwrap());
    assert_eq!(page.meta.total, 7);
    assert_eq!(page.meta.total_pages, 3);
    assert!(!page.meta.has_next);
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.data[0].key, "role_0");
    assert_eq!(page.data[0].permissions, [PERMS[1]]);
    let tx = fx.db.tenant(&org.ctx).await.unwrap();
    let bad = ListQuery::parse("sort=permissions:asc").unwrap();
    assert_eq!(
        code(fx.store.list_roles(&tx, &bad).await),
        "VALIDATION_ERROR"
    );
}
backend_test!(roles_list_is_paginated, roles_list_is_paginated);

async fn builtin_roles_cannot_be_deleted_or_renamed(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.tenancy).await;
    in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .ensure_builtin_roles(&tx, &templates())
        .await
        .unwrap());
    let roles = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .list_roles(&tx, &ListQuery::default())
        .await
        .unwrap())
    .data;
    let before = revision(&fx.db, &org.ctx).await;
    for r in &roles {
        let tx = fx.db.tenant(&org.ctx).await.unwrap();
        assert_eq!(
            code(fx.store.delete_role(&tx, r.id).await),
            "BUILTIN_ROLE",
            "{}",
            r.key
        );
        assert_eq!(
            code(fx.store.rename_role(&tx, r.id, "Boss").await),
            "BUILTIN_ROLE",
            "{}",
            r.key
        );
    }
    let owner = roles.iter().find(|r| r.key == "owner").unwrap();
    let tx = fx.db.tenant(&org.ctx).await.unwrap();
    assert_eq!(
        code(fx.store.set_role_permissions(&tx, owner.id, &[]).await),
        "BUILTIN_ROLE"
    );
    drop(tx);
    assert_eq!(revision(&fx.db, &org.ctx).await, before);
    // The other built-in roles' permissions are the organization's to edit.
    let admin = roles.iter().find(|r| r.key == "admin").unwrap();
    let (admin, _) = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .set_role_permissions(&tx, admin.id, &[PERMS[1].into()])
        .await
        .unwrap());
    assert_eq!(admin.permissions, [PERMS[1]]);
}
backend_test!(
    builtin_roles_cannot_be_deleted_or_renamed,
    builtin_roles_cannot_be_deleted_or_renamed
);

async fn a_role_in_use_cannot_be_deleted(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.tenancy).await;
    let (role, _) = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .create_role(&tx, new_role("auditor", &[PERMS[1]]))
        .await
        .unwrap());
    let (a, _) = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .create_assignment(
            &tx,
            NewAssignment {
                subject: Subject::user(Uuid::now_v7()),
                role_id: role.id,
                scope: Scope::Tenant,
            },
        )
        .await
        .unwrap());
    let before = revision(&fx.db, &org.ctx).await;
    let tx = fx.db.tenant(&org.ctx).await.unwrap();
    assert_eq!(
        code(fx.store.delete_role(&tx, role.id).await),
        "ROLE_IN_USE"
    );
    tx.rollback().await.unwrap();
    assert_eq!(revision(&fx.db, &org.ctx).await, before);
    let err: helix_core::Error = {
        let tx = fx.db.tenant(&org.ctx).await.unwrap();
        fx.store.delete_role(&tx, role.id).await.unwrap_err().into()
    };
    assert_eq!((err.status(), err.code()), (409, "ROLE_IN_USE"));

    in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .delete_assignment(&tx, a.id)
        .await
        .unwrap());
    let r = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .delete_role(&tx, role.id)
        .await
        .unwrap());
    assert!(r > before);
}
backend_test!(
    a_role_in_use_cannot_be_deleted,
    a_role_in_use_cannot_be_deleted
);
