//! `deploy/`, the configuration users deploy beside the orders service: every file passes
//! the real tool of its format, the generated files are what the code generates now, and
//! the names that tie the files together agree (what no single tool can check).

use std::collections::BTreeSet;

use obs_examples::orders::{JOB, PROMETHEUS_DATASOURCE_UID, TRACES_DATASOURCE_UID};
use obs_tests::load::{Build, Service, orders_binary};
use obs_tests::otlp::Receiver;
use obs_tests::tools::{self, deploy, run, yaml};
use serde_json::Value;

/// The `host:port` of a URL or endpoint (`http://tempo:3200/x` → `tempo:3200`).
fn host_port(endpoint: &str) -> &str {
    let rest = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest);
    rest.split('/').next().unwrap()
}

/// The port of a `host:port`.
fn port(host_port: &str) -> u16 {
    host_port.rsplit_once(':').unwrap().1.parse().unwrap()
}

/// The container ports a compose service publishes (`"8000:8000"` → 8000).
fn published(compose: &Value, service: &str) -> BTreeSet<u16> {
    compose["services"][service]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            p.as_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

/// The container paths a compose service mounts, with their sources.
fn mounts(compose: &Value, service: &str) -> Vec<(String, String)> {
    compose["services"][service]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            let mut parts = v.as_str().unwrap().split(':');
            (
                parts.next().unwrap().to_owned(),
                parts.next().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The container path where compose mounts `source` for `service`.
fn mounted_at(compose: &Value, service: &str, source: &str) -> String {
    mounts(compose, service)
        .into_iter()
        .find(|(s, _)| s == source)
        .unwrap_or_else(|| panic!("{service} does not mount {source}"))
        .1
}

#[test]
fn generated_files_are_what_the_code_generates() {
    let dir = std::env::temp_dir().join(format!("obs-deploy-{}", std::process::id()));
    let output = std::process::Command::new(orders_binary(Build::Observed))
        .arg("--emit-dashboards")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for file in ["prometheus/rules.yml", "grafana/dashboards/orders.json"] {
        let generated = std::fs::read_to_string(dir.join(file)).unwrap();
        let shipped = std::fs::read_to_string(deploy(file)).unwrap();
        assert!(
            generated == shipped,
            "deploy/{file} differs from what the code generates; regenerate it with \
             `cargo run -p obs-examples --example orders -- --emit-dashboards deploy`"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn promtool_accepts_the_prometheus_configuration_and_its_rules() {
    let output = run(
        "promtool",
        &["check", "config", "deploy/prometheus/prometheus.yml"],
    );
    assert!(output.success, "{}", output.text());
    let text = output.text();
    assert!(
        text.contains("SUCCESS: 1 rule files found"),
        "the rule file is not checked: {text}"
    );
    let rules = std::fs::read_to_string(deploy("prometheus/rules.yml")).unwrap();
    let count = rules
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("- record:") || l.trim_start().starts_with("- alert:")
        })
        .count();
    assert!(
        text.contains(&format!("SUCCESS: {count} rules found")),
        "{count} rules expected: {text}"
    );
}

#[test]
fn amtool_accepts_the_alertmanager_configuration_and_routes_by_severity() {
    let config = "--config.file=deploy/alertmanager/alertmanager.yml";
    let output = run(
        "amtool",
        &["check-config", "deploy/alertmanager/alertmanager.yml"],
    );
    assert!(output.success, "{}", output.text());
    assert!(
        output.stdout.contains(" - 1 inhibit rules"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains(" - 2 receivers"),
        "{}",
        output.stdout
    );

    // Every severity the generated rules emit reaches its own receiver.
    let rules = std::fs::read_to_string(deploy("prometheus/rules.yml")).unwrap();
    let severities: BTreeSet<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("severity: "))
        .map(|s| s.trim_matches('"'))
        .collect();
    assert_eq!(severities, BTreeSet::from(["page", "ticket"]));
    for severity in severities {
        let routed = run(
            "amtool",
            &[
                "config",
                "routes",
                "test",
                config,
                "alertname=ObsSloErrorBudgetBurn",
                &format!("job={JOB}"),
                &format!("severity={severity}"),
            ],
        );
        assert!(routed.success, "{}", routed.text());
        assert_eq!(routed.stdout.trim(), severity, "{}", routed.text());
    }
}

#[test]
fn the_compose_file_passes_compose_and_the_compose_specification() {
    let output = run(
        "docker-compose",
        &["-f", "deploy/compose.yaml", "config", "-q"],
    );
    assert!(output.success, "docker-compose config: {}", output.text());
    let output = run(
        "check-jsonschema",
        &[
            "--builtin-schema",
            "vendor.compose-spec",
            "deploy/compose.yaml",
        ],
    );
    assert!(output.success, "compose-spec schema: {}", output.text());

    // Every image is pinned to a version.
    let compose = yaml(&deploy("compose.yaml"));
    for (name, service) in compose["services"].as_object().unwrap() {
        if service.get("build").is_some() {
            // Built here from deploy/Dockerfile, whose base images are pinned.
            continue;
        }
        if let Some(image) = service["image"].as_str() {
            let tag = image.rsplit_once(':').map(|(_, tag)| tag);
            assert!(
                tag.is_some_and(|t| t != "latest" && t.chars().any(|c| c.is_ascii_digit())),
                "{name}: image {image} is not pinned to a version"
            );
        }
    }
}

#[test]
fn the_dockerfile_passes_hadolint_and_buildkits_parser() {
    let output = run("hadolint", &["deploy/Dockerfile"]);
    assert!(output.success, "hadolint: {}", output.text());
    let instructions = tools::dockerfile(&deploy("Dockerfile"));
    let of =
        |cmd: &str| -> Vec<&Value> { instructions.iter().filter(|i| i["cmd"] == cmd).collect() };
    // Multi-stage: the toolchain stays in the build stage.
    assert_eq!(of("FROM").len(), 2, "{instructions:?}");
    // The service runs as a user that is not root, from the last stage.
    let last_from = instructions
        .iter()
        .rposition(|i| i["cmd"] == "FROM")
        .unwrap();
    let user = instructions[last_from..]
        .iter()
        .find(|i| i["cmd"] == "USER")
        .expect("USER in the runtime stage");
    let user = user["value"][0].as_str().unwrap();
    assert!(user != "root" && user != "0", "runs as {user}");
    let healthcheck = of("HEALTHCHECK");
    assert_eq!(
        healthcheck[0]["value"],
        serde_json::json!(["CMD", "orders", "--check-health"])
    );
    assert_eq!(of("EXPOSE")[0]["value"], serde_json::json!(["8000"]));
    assert_eq!(
        of("ENV")[0]["value"],
        serde_json::json!(["ORDERS_ADDR", "0.0.0.0:8000"])
    );
    // The build context is the workspace (`COPY . .`): the build output and the history
    // stay out of it.
    let ignored = std::fs::read_to_string(tools::workspace_root().join(".dockerignore")).unwrap();
    let ignored: Vec<&str> = ignored.lines().map(str::trim).collect();
    assert!(
        ignored.contains(&"target") && ignored.contains(&".git"),
        "{ignored:?}"
    );
}

/// The names that tie the files together, which no single tool checks.
#[test]
fn the_files_agree_on_jobs_ports_labels_and_datasources() {
    let prometheus = yaml(&deploy("prometheus/prometheus.yml"));
    let alertmanager = yaml(&deploy("alertmanager/alertmanager.yml"));
    let compose = yaml(&deploy("compose.yaml"));
    let datasources = yaml(&deploy("grafana/provisioning/datasources/datasources.yaml"));
    let providers = yaml(&deploy("grafana/provisioning/dashboards/obs.yaml"));
    let collector = yaml(&deploy("otel-collector/config.yaml"));
    let tempo = yaml(&deploy("tempo/tempo.yaml"));
    let loki = yaml(&deploy("loki/loki.yaml"));
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(deploy("grafana/dashboards/orders.json")).unwrap(),
    )
    .unwrap();
    let services = compose["services"].as_object().unwrap();

    // The scrape job is the job every rule selects and the dashboard opens on.
    let scrape = &prometheus["scrape_configs"][0];
    assert_eq!(scrape["job_name"], JOB);
    // Every selector of a scraped metric in the rules selects that job (a rule without
    // it would mix in every other service's series), and every recorded SLI is labelled
    // with it (the burn-rate alerts keep it; Alertmanager groups and inhibits by it).
    let rule_file = yaml(&deploy("prometheus/rules.yml"));
    let mut selectors = 0;
    for group in rule_file["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let expr = rule["expr"].as_str().unwrap();
            for (metric, matchers) in selectors_of(expr) {
                selectors += 1;
                if !metric.contains(':') {
                    assert!(
                        matchers.contains(&format!("job=\"{JOB}\"")),
                        "{metric}{{{matchers}}} in {} does not select job {JOB}",
                        rule["record"].as_str().or(rule["alert"].as_str()).unwrap()
                    );
                }
            }
            if rule["record"]
                .as_str()
                .is_some_and(|r| r.starts_with("slo:"))
            {
                assert_eq!(rule["labels"]["job"], JOB, "{rule}");
            }
        }
    }
    assert!(selectors > 50, "{selectors}");
    let templating = dashboard["templating"]["list"].as_array().unwrap();
    let job_variable = templating.iter().find(|v| v["name"] == "job").unwrap();
    assert_eq!(job_variable["current"]["value"], serde_json::json!([JOB]));

    // The scrape target is the orders service of the compose file, on the port it listens on.
    let target = scrape["static_configs"][0]["targets"][0].as_str().unwrap();
    let (host, orders_port) = target.split_once(':').unwrap();
    assert_eq!(host, "orders");
    let orders_port: u16 = orders_port.parse().unwrap();
    let orders_env = &compose["services"]["orders"]["environment"];
    assert_eq!(
        port(orders_env["ORDERS_ADDR"].as_str().unwrap()),
        orders_port
    );
    assert!(
        orders_env["ORDERS_ADDR"]
            .as_str()
            .unwrap()
            .starts_with("0.0.0.0:")
    );
    assert!(published(&compose, "orders").contains(&orders_port));
    let dockerfile = tools::dockerfile(&deploy("Dockerfile"));
    let exposed = dockerfile.iter().find(|i| i["cmd"] == "EXPOSE").unwrap();
    assert_eq!(exposed["value"][0], orders_port.to_string());

    // Alerts go to the Alertmanager of the compose file, which posts to the receiver on
    // the port the receiver listens on, with a token file mounted into both.
    let am_target = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0]
        .as_str()
        .unwrap();
    assert_eq!(am_target, "alertmanager:9093");
    assert!(services.contains_key("alertmanager"));
    assert!(published(&compose, "alertmanager").contains(&9093));
    let receiver_env = &compose["services"]["alert-receiver"]["environment"];
    let receiver_port = port(receiver_env["ALERT_RECEIVER_ADDR"].as_str().unwrap());
    let secrets_in_am = mounted_at(&compose, "alertmanager", "secrets");
    let secrets_in_receiver = mounted_at(&compose, "alert-receiver", "secrets");
    let receivers = alertmanager["receivers"].as_array().unwrap();
    for receiver in receivers {
        let hook = &receiver["webhook_configs"][0];
        let url = hook["url"].as_str().unwrap();
        assert_eq!(host_port(url), format!("alert-receiver:{receiver_port}"));
        // The path names the receiver, which the alert receiver prints.
        assert!(url.ends_with(&format!("/{}", receiver["name"].as_str().unwrap())));
        let token = hook["http_config"]["authorization"]["credentials_file"]
            .as_str()
            .unwrap();
        let name = token.strip_prefix(&format!("{secrets_in_am}/")).unwrap();
        assert_eq!(
            receiver_env["ALERT_RECEIVER_TOKEN_FILE"],
            format!("{secrets_in_receiver}/{name}")
        );
    }
    // The orders service's database is the compose file's PostgreSQL, as its user and
    // database, with the password both read from one secret file (none in the URL), and
    // the service starts once the database is healthy.
    let database_url = orders_env["DATABASE_URL"].as_str().unwrap();
    let postgres_env = &compose["services"]["postgres"]["environment"];
    assert_eq!(
        database_url,
        format!(
            "postgres://{}@postgres:5432/{}",
            postgres_env["POSTGRES_USER"].as_str().unwrap(),
            postgres_env["POSTGRES_DB"].as_str().unwrap()
        )
    );
    let secrets_in_orders = mounted_at(&compose, "orders", "db-secrets");
    let secrets_in_postgres = mounted_at(&compose, "postgres", "db-secrets");
    // Only they mount the database's secret.
    let with_db_secret: Vec<&String> = services
        .keys()
        .filter(|name| {
            mounts(&compose, name)
                .iter()
                .any(|(s, _)| s == "db-secrets")
        })
        .collect();
    assert_eq!(with_db_secret, ["orders", "postgres", "secrets-init"]);
    let password = postgres_env["POSTGRES_PASSWORD_FILE"].as_str().unwrap();
    let name = password
        .strip_prefix(&format!("{secrets_in_postgres}/"))
        .unwrap();
    assert_eq!(
        orders_env["DATABASE_PASSWORD_FILE"],
        format!("{secrets_in_orders}/{name}")
    );
    let made = compose["services"]["secrets-init"]["command"][2]
        .as_str()
        .unwrap();
    assert!(made.contains(name), "secrets-init does not make {name}");
    assert_eq!(
        compose["services"]["orders"]["depends_on"]["postgres"]["condition"],
        "service_healthy"
    );
    assert!(published(&compose, "postgres").is_empty());
    // No secret is written inline: the only credentials are file references.
    let am_text = std::fs::read_to_string(deploy("alertmanager/alertmanager.yml")).unwrap();
    for key in [
        "credentials:",
        "routing_key:",
        "api_url:",
        "password:",
        "service_key:",
    ] {
        assert!(
            am_text
                .lines()
                .all(|l| !l.trim_start().trim_start_matches("# ").starts_with(key)),
            "alertmanager.yml writes a secret inline ({key})"
        );
    }

    // Every datasource the dashboard names, and every one a datasource links to, is
    // provisioned.
    let provisioned: BTreeSet<&str> = datasources["datasources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["uid"].as_str().unwrap())
        .collect();
    let source = |uid: &str| {
        datasources["datasources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["uid"] == uid)
            .unwrap_or_else(|| panic!("no datasource {uid}"))
    };
    let datasource_variable = templating
        .iter()
        .find(|v| v["type"] == "datasource")
        .unwrap();
    assert_eq!(
        datasource_variable["current"]["value"],
        PROMETHEUS_DATASOURCE_UID
    );
    assert_eq!(source(PROMETHEUS_DATASOURCE_UID)["type"], "prometheus");
    assert_eq!(source(TRACES_DATASOURCE_UID)["type"], "tempo");
    let mut named = Vec::new();
    collect_uids(&dashboard, &mut named);
    assert!(!named.is_empty());
    for uid in &named {
        assert!(
            uid == "${datasource}" || provisioned.contains(uid.as_str()),
            "the dashboard names datasource {uid}, which is not provisioned"
        );
    }
    let links = dashboard["links"].as_array().unwrap();
    assert!(
        links.iter().any(|l| l["url"]
            .as_str()
            .unwrap()
            .contains(&format!("\"datasource\":\"{TRACES_DATASOURCE_UID}\""))),
        "{links:?}"
    );
    let mut referenced = Vec::new();
    collect_datasource_uids(&datasources, &mut referenced);
    for uid in &referenced {
        assert!(
            provisioned.contains(uid.as_str()),
            "a datasource links to {uid}, which is not provisioned"
        );
    }
    let exemplar_links =
        source(PROMETHEUS_DATASOURCE_UID)["jsonData"]["exemplarTraceIdDestinations"]
            .as_array()
            .unwrap();
    assert_eq!(exemplar_links[0]["datasourceUid"], TRACES_DATASOURCE_UID);

    // The exemplar link's label is the label obs writes on exemplars (read off a live
    // scrape of the orders service).
    let label = exemplar_label();
    assert_eq!(exemplar_links[0]["name"], label.as_str());

    // Each datasource's URL is a compose service, on the port that backend listens on.
    for (uid, service, listens) in [
        ("prometheus", "prometheus", 9090),
        (
            "tempo",
            "tempo",
            tempo["server"]["http_listen_port"].as_u64().unwrap(),
        ),
        (
            "loki",
            "loki",
            loki["server"]["http_listen_port"].as_u64().unwrap(),
        ),
    ] {
        let url = source(uid)["url"].as_str().unwrap();
        assert_eq!(host_port(url), format!("{service}:{listens}"), "{uid}");
        assert!(services.contains_key(service), "{service}");
    }
    assert!(published(&compose, "prometheus").contains(&9090));

    // The dashboards the provider loads are the generated ones, mounted where it looks.
    let provider_path = providers["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    assert_eq!(
        mounted_at(&compose, "grafana", "./grafana/dashboards"),
        provider_path
    );
    assert_eq!(
        mounted_at(&compose, "grafana", "./grafana/provisioning"),
        "/etc/grafana/provisioning"
    );

    // The collector receives OTLP on the ports the compose file publishes, the service
    // sends http/protobuf (obs's default) to the HTTP one, and the collector forwards to
    // the ports Tempo and Loki listen on.
    let protocols = &collector["receivers"]["otlp"]["protocols"];
    let grpc = port(protocols["grpc"]["endpoint"].as_str().unwrap());
    let http = port(protocols["http"]["endpoint"].as_str().unwrap());
    assert_eq!((grpc, http), (4317, 4318));
    assert_eq!(
        published(&compose, "otel-collector"),
        BTreeSet::from([grpc, http])
    );
    let endpoint = orders_env["OTEL_EXPORTER_OTLP_ENDPOINT"].as_str().unwrap();
    assert_eq!(host_port(endpoint), format!("otel-collector:{http}"));
    assert!(
        orders_env.get("OTEL_EXPORTER_OTLP_PROTOCOL").is_none(),
        "obs's default protocol, http/protobuf, is the one 4318 serves"
    );
    let tempo_grpc = port(
        tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
            .as_str()
            .unwrap(),
    );
    let exporters = &collector["exporters"];
    assert_eq!(
        host_port(exporters["otlp/tempo"]["endpoint"].as_str().unwrap()),
        format!("tempo:{tempo_grpc}")
    );
    let loki_otlp = exporters["otlphttp/loki"]["endpoint"].as_str().unwrap();
    assert_eq!(
        loki_otlp,
        format!(
            "http://loki:{}/otlp",
            loki["server"]["http_listen_port"].as_u64().unwrap()
        )
    );
    assert_eq!(loki["limits_config"]["allow_structured_metadata"], true);
    // Every component a pipeline names is configured, and every pipeline starts with the
    // memory limiter.
    let service = &collector["service"];
    for (kind, pipeline) in service["pipelines"].as_object().unwrap() {
        for (section, names) in pipeline.as_object().unwrap() {
            for name in names.as_array().unwrap() {
                let name = name.as_str().unwrap();
                assert!(
                    collector[section.as_str()].get(name).is_some(),
                    "pipeline {kind} names {section}.{name}, which is not configured"
                );
            }
        }
        assert_eq!(pipeline["processors"][0], "memory_limiter", "{kind}");
    }
    let pipelines: BTreeSet<&str> = service["pipelines"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(pipelines, BTreeSet::from(["logs", "traces"]));
    assert_eq!(service["extensions"], serde_json::json!(["health_check"]));

    // Every service but the one-shot secrets job restarts, and every compose path exists.
    for (name, service) in services {
        if name != "secrets-init" {
            assert_eq!(service["restart"], "unless-stopped", "{name}");
        }
        for (source, _) in mounts(&compose, name) {
            if source.starts_with('.') {
                assert!(
                    deploy(&source).exists(),
                    "{name} mounts {source}, which is missing"
                );
            }
        }
    }
}

/// The selectors `metric{matchers}` of a PromQL expression.
fn selectors_of(expr: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    for (at, _) in expr.match_indices('{') {
        let before = &expr[..at];
        let name_start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .map_or(0, |i| i + 1);
        let metric = &before[name_start..];
        let end = at + expr[at..].find('}').unwrap();
        if !metric.is_empty() {
            out.push((metric, &expr[at + 1..end]));
        }
    }
    out
}

/// Every `"uid"` inside a `"datasource"` object of the dashboard.
fn collect_uids(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "datasource"
                    && let Some(uid) = value.get("uid").and_then(Value::as_str)
                {
                    out.push(uid.to_owned());
                }
                collect_uids(value, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_uids(v, out)),
        _ => {}
    }
}

/// Every `datasourceUid` a provisioned datasource links to.
fn collect_datasource_uids(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "datasourceUid" {
                    out.push(value.as_str().unwrap().to_owned());
                }
                collect_datasource_uids(value, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_datasource_uids(v, out)),
        _ => {}
    }
}

/// The label name of the exemplars on the orders service's OpenMetrics exposition, after
/// one order (its calls and request land in buckets inside a sampled span, exported to a
/// receiver: exemplars only point at traces that are exported).
fn exemplar_label() -> String {
    let receiver = Receiver::http();
    let endpoint = receiver.endpoint();
    let service = Service::start(
        Build::Observed,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())],
    );
    let order =
        r#"{"user_id":3,"items":[{"sku":"B2","quantity":1,"price":42.5}],"payment_method":"card"}"#;
    let placed = obs_tests::http_call(service.addr, "POST", "/api/orders", &[], Some(order));
    assert_eq!(placed.status, 201, "{}", placed.body);
    let accept: &[u8] = b"application/openmetrics-text; version=1.0.0";
    let scrape = obs_tests::http_call(service.addr, "GET", "/metrics", &[("accept", accept)], None);
    // The label whose value is a trace id: 32 lowercase hex digits.
    let labels: BTreeSet<&str> = scrape
        .body
        .lines()
        .filter_map(|line| line.split_once(" # {"))
        .filter(|(sample, _)| sample.starts_with("http_request_duration_seconds_bucket"))
        .flat_map(|(_, exemplar)| exemplar.split('}').next().unwrap().split(','))
        .filter_map(|pair| pair.split_once('='))
        .filter(|(_, value)| {
            let hex = value.trim_matches('"');
            hex.len() == 32
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        labels.len(),
        1,
        "one trace id label expected: {}",
        scrape.body
    );
    labels.into_iter().next().unwrap().to_owned()
}
