//! The `tracing` integration: our `receivers` request, the OTLP HTTP endpoint as
//! `OTEL_*`, and the tracing hooks it adds to `gunicorn.conf.py`.

use django_charm::juju::tools::Databag;

use super::*;

pub(crate) const TRACING: &str = "tracing: {interface: tracing, optional: true, limit: 1}";
pub(super) const TRACING_VARS: [(&str, &str); 2] = [
    ("OTEL_SERVICE_NAME", "django-k8s"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://test-ip:4318/"),
];
const TRACING_GUNICORN: &str = "from opentelemetry import trace\nfrom opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter\nfrom opentelemetry.sdk.trace import TracerProvider\nfrom opentelemetry.sdk.trace.export import BatchSpanProcessor\n\nbind = ['0.0.0.0:8000']\nchdir = '/django/app'\naccesslog = '-'\nerrorlog = '-'\nstatsd_host = 'localhost:9125'\ncontrol_socket = '/tmp/gunicorn.ctl'\naccess_log_format = '%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\" %({x-request-id}o)s'\n\n\ndef post_fork(server, worker):\n    trace.set_tracer_provider(TracerProvider())\n    span_processor = BatchSpanProcessor(OTLPSpanExporter())\n    trace.get_tracer_provider().add_span_processor(span_processor)\n";
/// A changed `gunicorn.conf.py` and environment on a running app: new layer, the file
/// written, checked and `django` reloaded, then the replan.
/// The tracing variables change the layer and the file: the replan restarts django with
/// the new file, so no SIGHUP comes before it.
const NEW_LAYER_AND_GUNICORN: [&str; 4] = [
    "add-layer charm",
    "write /django/gunicorn.conf.py",
    CHECK_CONFIG,
    "replan ",
];

pub(crate) fn receivers(url: &str) -> Databag {
    bag(&[(
        "receivers",
        &format!(r#"[{{"protocol": {{"name": "otlp_http", "type": "http"}}, "url": "{url}"}}]"#),
    )])
}

fn tracing_worked_example(mode: Mode) {
    let mut w = running(mode, &[TRACING]);
    assert_eq!(
        w.pebble.file_text("/django/gunicorn.conf.py"),
        Some(PLAIN_GUNICORN)
    );
    relate(&mut w, 14, "tracing", "tempo", &["tempo/0"]);
    let (created, joined) = created_and_joined(&mut w, "tracing");
    let ours = bag(&[("receivers", r#"["otlp_http"]"#)]);
    assert_eq!(our_app_bag(&created, "tracing"), ours);
    assert_eq!(our_app_bag(&joined, "tracing"), ours);

    provider_app_data(&mut w, "tracing", receivers("http://test-ip:4318"));
    let before = current_env(&w);
    let out = run(&mut w, "tracing-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(op_names(out.ops()), NEW_LAYER_AND_GUNICORN, "R, not M");
    assert_eq!(changes(&before, &out.django_env()), set(&TRACING_VARS));
    assert_eq!(
        out.pebble.file_text("/django/gunicorn.conf.py"),
        Some(TRACING_GUNICORN)
    );

    // Whatever else lands in our bag, every hook leaves exactly `receivers`.
    w.juju
        .relation_mut("tracing")
        .unwrap()
        .local_app_data
        .insert("stale".into(), "x".into());
    let out = run(&mut w, "update-status");
    assert_eq!(our_app_bag(&out, "tracing"), ours);

    let out = break_relation(&mut w, "tracing", &TRACING_VARS);
    assert_eq!(op_names(out.ops()), NEW_LAYER_AND_GUNICORN);
    assert!(
        !out.calls()
            .iter()
            .any(|c| c.tool == "relation-set" && c.args.contains(&"tracing:14".to_string())),
        "nothing written to the relation being broken"
    );
    assert_eq!(
        out.pebble.file_text("/django/gunicorn.conf.py"),
        Some(PLAIN_GUNICORN)
    );
}

fn tracing_malformed_then_fixed(mode: Mode) {
    let mut w = running(mode, &[TRACING]);
    relate(&mut w, 14, "tracing", "tempo", &["tempo/0"]);
    provider_app_data(&mut w, "tracing", receivers("not_a_url"));
    let out = w.run("tracing-relation-changed");
    assert_blocked_untouched(&out, "Invalid tracing relation data.");
    assert_eq!(
        our_app_bag(&out, "tracing"),
        bag(&[("receivers", r#"["otlp_http"]"#)])
    );
    assert!(out.juju.opened_ports.contains(&"8000/tcp".to_string()));
    assert_eq!(
        out.pebble.file_text("/django/gunicorn.conf.py"),
        Some(PLAIN_GUNICORN)
    );

    provider_app_data(&mut w, "tracing", receivers("http://test-ip:4318"));
    let before = current_env(&w);
    let out = run(&mut w, "tracing-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(changes(&before, &out.django_env()), set(&TRACING_VARS));
    assert_eq!(
        out.pebble.file_text("/django/gunicorn.conf.py"),
        Some(TRACING_GUNICORN)
    );
}

in_both_modes!(tracing_worked_example, tracing_malformed_then_fixed,);
