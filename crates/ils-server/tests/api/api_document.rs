//! The OpenAPI document describes every body with its real schema, its examples are accepted
//! as they stand, and its response links lead from a created record to the operations on it,
//! so that a client generator or a fuzzer can build valid requests from it alone.

use std::collections::BTreeSet;

use ils_core::{Role, SubscriptionTier};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Reply, TestApp};

/// Object schemas that are free-form on purpose, and why.
const FREE_FORM: [(&str, &str); 5] = [
    // A prescription read from a photo: the ILS form's fields as read, only those read (a
    // person completes it; the complete form is RxData).
    ("Captured", "prescription"),
    // A GDPR export holds each row as its table holds it.
    ("ExportDocument", "tables"),
    // An audit row's details differ by action (ids, counts, kinds of change).
    ("AuditDto", "details"),
    // The same, as a device's log holds them.
    ("DeviceAuditEntry", "details"),
    // This document itself.
    ("system.openapi", ""),
];

async fn document(app: &TestApp) -> Value {
    let reply = app.send(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.body
}

/// Follows `$ref`s to the schema they name.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            ops.push((method.to_uppercase(), path.clone(), op));
        }
    }
    ops
}

fn operation<'a>(doc: &'a Value, id: &str) -> (String, String, &'a Value) {
    operations(doc)
        .into_iter()
        .find(|(_, _, op)| op["operationId"] == id)
        .unwrap_or_else(|| panic!("no operation {id}"))
}

/// The example the document gives for an operation's request body.
fn body_example(doc: &Value, id: &str) -> Value {
    let (_, _, op) = operation(doc, id);
    let content = &op["requestBody"]["content"]["application/json"];
    let example = if content["example"].is_null() {
        resolve(doc, &content["schema"])["example"].clone()
    } else {
        content["example"].clone()
    };
    assert!(example.is_object(), "{id} has no request example");
    example
}

/// Fills a link's runtime expressions (`$response.body#/pointer`) from a response body.
fn fill(value: &Value, response: &Value) -> Value {
    match value {
        Value::String(s) if s.starts_with("$response.body#") => response[s
            .trim_start_matches("$response.body#")
            .trim_start_matches('/')]
        .clone(),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill(v, response)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// An object schema says what it holds: its properties, or what its values are.
fn described(doc: &Value, schema: &Value) -> bool {
    let s = resolve(doc, schema);
    if let Some(all) = s["oneOf"].as_array().or(s["allOf"].as_array()) {
        return all.iter().all(|s| described(doc, s));
    }
    match s["type"].as_str() {
        Some("object") => {
            s["properties"].is_object()
                || (s["additionalProperties"].is_object()
                    && described(doc, &s["additionalProperties"]))
        }
        Some("array") => described(doc, &s["items"]),
        _ => !s.is_null(),
    }
}

#[tokio::test]
async fn every_body_has_its_real_schema() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    // Operation ids are unique, and every link names one that exists, spelled as OpenAPI does.
    let ids: Vec<&str> = operations(&doc)
        .iter()
        .map(|(_, _, op)| op["operationId"].as_str().expect("operationId"))
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "duplicate operation ids: {ids:?}");
    let mut links = 0;
    for (method, path, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().expect("responses") {
            for (name, link) in response["links"].as_object().into_iter().flatten() {
                links += 1;
                let target = link["operationId"].as_str().unwrap_or_else(|| {
                    panic!("{method} {path} {status} link {name} has no operationId: {link}")
                });
                assert!(unique.contains(target), "link {name} names {target}");
            }
        }
    }
    assert!(links >= 15, "the create operations link to their records");

    // Every JSON request and response body has a schema that says what it holds.
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap_or_default();
        if FREE_FORM.iter().any(|(o, _)| *o == id) {
            continue;
        }
        let request = &op["requestBody"]["content"]["application/json"];
        if !request.is_null() {
            let documented = described(&doc, &request["schema"]) || request["example"].is_object();
            assert!(documented, "{method} {path}: request body is a bare object");
        }
        for (status, response) in op["responses"].as_object().expect("responses") {
            for (kind, content) in response["content"].as_object().into_iter().flatten() {
                if kind.contains("json") && !id.ends_with("export_fhir") {
                    assert!(
                        described(&doc, &content["schema"]),
                        "{method} {path} {status}: response body is a bare object"
                    );
                }
            }
        }
    }
    for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            if FREE_FORM.contains(&(name.as_str(), field.as_str())) {
                assert_eq!(property["type"], "object", "{name}.{field}");
                continue;
            }
            assert!(described(&doc, property), "{name}.{field} is a bare object");
        }
    }

    // The clinical records are described down to their units and value sets.
    let schemas = &doc["components"]["schemas"];
    let patient = &schemas["PatientData"];
    assert_eq!(patient["additionalProperties"], false);
    assert_eq!(
        patient["required"],
        json!([
            "customer_number",
            "first_name",
            "last_name",
            "date_of_birth"
        ])
    );
    assert_eq!(patient["properties"]["date_of_birth"]["format"], "date");
    let eye = &schemas["EyeRx"]["properties"];
    assert_eq!(eye["sphere"]["multipleOf"], 0.25);
    assert_eq!(eye["sphere"]["maximum"], 30);
    assert_eq!(eye["cylinder"]["minimum"], -10);
    assert_eq!(eye["axis"]["maximum"], 180);
    assert_eq!(schemas["Millimetres"]["multipleOf"], 0.1);
    assert_eq!(
        resolve(&doc, &schemas["RxData"]["properties"]["right"])["required"],
        json!(["sphere"])
    );
    assert_eq!(
        schemas["OrderStatus"]["enum"],
        json!([
            "draft",
            "submitted",
            "in_production",
            "quality_check",
            "shipped",
            "delivered",
            "cancelled",
            "remade"
        ])
    );
    assert_eq!(
        resolve(&doc, &schemas["OrderDto"]["properties"]["status"])["enum"],
        schemas["OrderStatus"]["enum"]
    );
    assert_eq!(
        schemas["Role"]["enum"].as_array().map(Vec::len),
        Some(Role::ALL.len())
    );
    let (_, _, search) = operation(&doc, "orders.list");
    let status = search["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "status")
        .expect("status parameter");
    assert!(
        described(&doc, &status["schema"]) && !status["schema"]["oneOf"].is_null()
            || !status["schema"]["$ref"].is_null(),
        "the order list's status filter names its values: {status}"
    );
}

fn location(reply: &Reply) -> String {
    reply.headers[reqwest::header::LOCATION]
        .to_str()
        .expect("location")
        .to_owned()
}

#[tokio::test]
async fn documented_examples_and_links_make_valid_requests() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let tenant = app.create_tenant("openapi", SubscriptionTier::Pro).await;
    let (_, ecp) = app.add_user(&tenant, Role::Ecp).await;

    // A patient from the example, then the links of its 201 answer.
    let patient = app
        .post("/api/patients", &ecp, body_example(&doc, "patients.create"))
        .await;
    assert_eq!(patient.status, StatusCode::CREATED, "{:?}", patient.body);
    let id = patient.body["id"].as_str().expect("id").to_owned();
    assert_eq!(location(&patient), format!("/api/patients/{id}"));
    let (_, _, create) = operation(&doc, "patients.create");
    let links = &create["responses"]["201"]["links"];
    for name in [
        "get",
        "update",
        "prescriptions",
        "prescribe",
        "export",
        "delete",
    ] {
        assert_eq!(
            fill(&links[name]["parameters"]["id"], &patient.body),
            json!(id),
            "link {name}"
        );
    }
    let changed = app
        .patch(
            &format!("/api/patients/{id}"),
            &ecp,
            body_example(&doc, "patients.update"),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);

    // A prescription from the example; a draft from the same example can be replaced (PUT).
    let rx = app
        .post(
            &format!("/api/patients/{id}/prescriptions"),
            &ecp,
            body_example(&doc, "prescriptions.create_prescription"),
        )
        .await;
    assert_eq!(rx.status, StatusCode::CREATED, "{:?}", rx.body);
    let rx_id = rx.body["id"].as_str().expect("id").to_owned();
    assert_eq!(location(&rx), format!("/api/prescriptions/{rx_id}"));
    let mut draft_body = body_example(&doc, "prescriptions.create_prescription");
    draft_body["status"] = json!("draft");
    let draft = app
        .post(
            &format!("/api/patients/{id}/prescriptions"),
            &ecp,
            draft_body.clone(),
        )
        .await;
    assert_eq!(draft.status, StatusCode::CREATED, "{:?}", draft.body);
    let replaced = app
        .send(
            Method::PUT,
            &format!(
                "/api/prescriptions/{}",
                draft.body["id"].as_str().expect("id")
            ),
            Some(&ecp),
            Some(draft_body),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{:?}", replaced.body);

    // The FHIR import's example.
    let fhir = app
        .post(
            &format!("/api/patients/{id}/prescriptions/fhir"),
            &ecp,
            body_example(&doc, "prescriptions.import_fhir"),
        )
        .await;
    assert_eq!(fhir.status, StatusCode::CREATED, "{:?}", fhir.body);

    // An order from the prescription's link, and one from the order example with real ids.
    let (_, _, prescribe) = operation(&doc, "prescriptions.create_prescription");
    let order_link = &prescribe["responses"]["201"]["links"]["order"];
    assert_eq!(order_link["operationId"], "orders.create");
    let linked = app
        .post(
            "/api/orders",
            &ecp,
            fill(&order_link["requestBody"], &rx.body),
        )
        .await;
    assert_eq!(linked.status, StatusCode::CREATED, "{:?}", linked.body);
    let mut order_body = body_example(&doc, "orders.create");
    order_body["patient_id"] = json!(id);
    order_body["prescription_id"] = json!(rx_id);
    let order = app.post("/api/orders", &ecp, order_body).await;
    assert_eq!(order.status, StatusCode::CREATED, "{:?}", order.body);
    let order_id = order.body["id"].as_str().expect("id");
    assert_eq!(location(&order), format!("/api/orders/{order_id}"));
    let submitted = app
        .post(
            &format!("/api/orders/{order_id}/transitions"),
            &ecp,
            body_example(&doc, "orders.transition"),
        )
        .await;
    assert_eq!(submitted.status, StatusCode::OK, "{:?}", submitted.body);

    // The export matches its schema's required fields.
    let export = app
        .get(&format!("/api/patients/{id}/export"), &tenant.admin_token)
        .await;
    assert_eq!(export.status, StatusCode::OK, "{:?}", export.body);
    for field in doc["components"]["schemas"]["ExportDocument"]["required"]
        .as_array()
        .expect("required")
    {
        let field = field.as_str().expect("name");
        assert!(!export.body[field].is_null(), "export lacks {field}");
    }
}
