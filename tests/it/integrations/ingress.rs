//! The `ingress` integration: what we publish once the relation has changed, and the
//! base URL and allowed hosts following the URL the provider gives, and its removal.

use super::*;

fn ingress_added_and_removed(mode: Mode) {
    let mut sim = world(mode);
    let ingress = sim.juju.relation("ingress").unwrap().clone();
    sim.juju.relations.retain(|r| r.endpoint != "ingress");
    let out = run(&mut sim, "config-changed");
    assert_eq!(
        out.django_env()["DJANGO_BASE_URL"],
        "http://django-k8s.test-model:8000"
    );

    let mut fresh = ingress.clone();
    fresh.remote_app_data.clear();
    sim.juju.relations.push(fresh);
    run(&mut sim, "ingress-relation-created");
    run(&mut sim, "ingress-relation-joined");
    assert!(
        sim.juju
            .relation("ingress")
            .unwrap()
            .local_app_data
            .is_empty(),
        "nothing published on created/joined"
    );
    let out = run(&mut sim, "ingress-relation-changed");
    let rel = out.juju.relation("ingress").unwrap();
    assert_eq!(
        rel.local_app_data,
        bag(&[
            ("model", "\"test-model\""),
            ("name", "\"django-k8s\""),
            ("port", "8000"),
            ("strip-prefix", "true"),
            ("is_port_open", "true")
        ])
    );
    assert_eq!(
        rel.local_unit_data,
        bag(&[
            (
                "host",
                "\"django-k8s-0.django-k8s-endpoints.test-model.svc.cluster.local\""
            ),
            ("ip", "\"10.1.0.17\"")
        ])
    );
    assert!(out.ops().is_empty(), "no URL yet: no reconcile");

    sim.juju.relation_mut("ingress").unwrap().remote_app_data = ingress.remote_app_data.clone();
    let out = run(&mut sim, "ingress-relation-changed");
    let env = out.django_env();
    assert_eq!(
        env["DJANGO_BASE_URL"],
        "http://example.com/test-model-django-k8s"
    );
    assert_eq!(env["DJANGO_ALLOWED_HOSTS"], r#"["example.com"]"#);

    let out = run(&mut sim, "ingress-relation-broken");
    let env = out.django_env();
    assert_eq!(env["DJANGO_BASE_URL"], "http://django-k8s.test-model:8000");
    assert_eq!(
        env["DJANGO_ALLOWED_HOSTS"],
        r#"["example.com", "django-k8s.test-model"]"#
    );
    assert_eq!(out.juju.unit_status, active());
}

in_both_modes!(ingress_added_and_removed,);
