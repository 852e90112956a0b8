//! A small MCP server that accepts access tokens issued by Portcullis.
//!
//! It is documentation: read it top to bottom. `auth.rs` is what any
//! resource server needs (discovery, the JWKS, checking a bearer JWT, the
//! 401 and 403 answers); `mcp.rs` is just enough of MCP's Streamable HTTP
//! transport for an MCP client to connect, list the tools and call `whoami`.
//!
//! Routes, both derived from the resource URL (say `https://mcp.example.com/mcp`):
//! - `GET /.well-known/oauth-protected-resource/mcp`: the RFC 9728 document
//!   that tells MCP clients which authorization server to use;
//! - `POST /mcp`: MCP itself, behind a bearer token.

mod auth;
mod mcp;

use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use clap::Parser;
use serde_json::json;

use auth::{Resource, Verifier};

#[derive(Parser)]
#[command(about = "An MCP server whose tools need an access token from Portcullis")]
struct Args {
    /// Address to listen on (`127.0.0.1:0`: any free port).
    #[arg(long, env = "MCP_BIND", default_value = "127.0.0.1:8000")]
    bind: String,
    /// This server's resource URL, the URL MCP clients connect to (RFC 8707
    /// resource indicator). Tokens must name it in `aud`. MCP is served at its
    /// path. Default: `http://<bound address>/mcp`.
    #[arg(long, env = "MCP_RESOURCE_URL")]
    resource_url: Option<String>,
    /// The Portcullis issuer, exactly as its metadata names it.
    #[arg(long, env = "MCP_ISSUER")]
    issuer: String,
    /// The scope a token needs to use the tools.
    #[arg(long, env = "MCP_SCOPE", default_value = "mcp:tools")]
    scope: String,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let listener = TcpListener::bind(&args.bind).map_err(|e| format!("bind {}: {e}", args.bind))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let raw = args
        .resource_url
        .unwrap_or_else(|| format!("http://{local}/mcp"));
    let resource = Resource::new(&raw, &args.issuer, &args.scope)?;
    // Fetch Portcullis's metadata and keys before taking any request.
    let verifier = Verifier::discover(&resource)?;

    // One line for whoever started us (the end-to-end test reads it).
    let started = json!({"listening": local.to_string(), "resource": resource.url});
    println!("{started}");
    let _ = std::io::stdout().flush();

    let state = web::Data::new(State {
        resource: resource.clone(),
        verifier: Arc::new(verifier),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route(&resource.metadata_path(), web::get().to(metadata))
            // Other methods get 405: MCP's optional GET stream and DELETE of a
            // session are not offered (Streamable HTTP allows that).
            .service(web::resource(resource.mcp_path()).route(web::post().to(post_mcp)))
    })
    .listen(listener)
    .map_err(|e| e.to_string())?
    .run();
    actix_web::rt::System::new()
        .block_on(server)
        .map_err(|e| e.to_string())
}

struct State {
    resource: Resource,
    verifier: Arc<Verifier>,
}

/// RFC 9728 §3.2: the protected resource metadata document.
async fn metadata(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok().json(state.resource.metadata())
}

/// MCP over Streamable HTTP: one JSON-RPC message per POST.
async fn post_mcp(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    // MCP (Streamable HTTP, security warning): validate Origin against DNS
    // rebinding. This example serves only non-browser clients and pages of
    // its own origin.
    if let Some(origin) = req.headers().get("origin") {
        if origin.as_bytes() != state.resource.origin().as_bytes() {
            return HttpResponse::Forbidden().finish();
        }
    }
    let claims = match auth::authorize(&req, &state.resource, &state.verifier).await {
        Ok(claims) => claims,
        Err(refusal) => return refusal,
    };
    match mcp::handle(&body, &claims) {
        // A JSON-RPC response goes back as one JSON body.
        Some(response) => HttpResponse::Ok().json(response),
        // A notification or a response from the client: 202, no body.
        None => HttpResponse::Accepted().finish(),
    }
}
