//! Just enough MCP: JSON-RPC 2.0 messages over Streamable HTTP, answered
//! with one JSON body each (no SSE stream, no session). Methods:
//! `initialize`, `ping`, `tools/list`, `tools/call` with one tool,
//! `whoami`, which answers the token's `sub`. Notifications (such as
//! `notifications/initialized`) are accepted and ignored.

use serde_json::{json, Value};

use crate::auth::Claims;

/// Protocol revisions this server speaks, newest first.
const PROTOCOL_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

// JSON-RPC 2.0 §5.1 error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

/// The answer to one POSTed message: `None` when it needs none (a
/// notification or a response), which the transport answers with 202.
pub fn handle(body: &[u8], who: &Claims) -> Option<Value> {
    let Ok(msg) = serde_json::from_slice::<Value>(body) else {
        return Some(error(Value::Null, PARSE_ERROR, "not JSON"));
    };
    if msg["jsonrpc"] != "2.0" {
        return Some(error(
            Value::Null,
            INVALID_REQUEST,
            "not a JSON-RPC 2.0 message",
        ));
    }
    let (Some(method), Some(id)) = (msg["method"].as_str(), msg.get("id")) else {
        return None;
    };
    let id = id.clone();
    let params = &msg["params"];
    let result = match method {
        "initialize" => initialize(params),
        "ping" => json!({}),
        "tools/list" => json!({ "tools": [whoami_tool()] }),
        "tools/call" => match params["name"].as_str() {
            Some("whoami") => json!({
                "content": [{ "type": "text", "text": who.sub }],
                "isError": false,
            }),
            _ => return Some(error(id, INVALID_PARAMS, "unknown tool")),
        },
        _ => return Some(error(id, METHOD_NOT_FOUND, "method not found")),
    };
    Some(json!({ "jsonrpc": "2.0", "id": id, "result": result }))
}

/// MCP lifecycle: agree on a protocol revision (the client's when we speak
/// it, else our newest) and say what this server offers.
fn initialize(params: &Value) -> Value {
    let asked = params["protocolVersion"].as_str().unwrap_or("");
    let version = PROTOCOL_VERSIONS
        .iter()
        .find(|v| **v == asked)
        .unwrap_or(&PROTOCOL_VERSIONS[0]);
    json!({
        "protocolVersion": version,
        "capabilities": { "tools": {} },
        "serverInfo": { "name": "portcullis-example", "version": env!("CARGO_PKG_VERSION") },
    })
}

fn whoami_tool() -> Value {
    json!({
        "name": "whoami",
        "description": "Who the access token speaks for: its subject (`sub`).",
        "inputSchema": { "type": "object", "properties": {} },
    })
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}
