//! Publishing a `.wasm` file as a CNCF TAG-Runtime Wasm artifact: config
//! `application/vnd.wasm.config.v0+json` (`architecture: wasm`, `os: wasip1|wasip2`,
//! `layerDigests`, and for a component its imports and exports), one `application/wasm`
//! layer — what `wkg oci pull` and runwasi read.

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use serde_json::json;
use sha2::Digest as _;

use super::auth::Credential;
use super::pull::{WASM_CONFIG, WASM_LAYER};
use super::store::hex;
use crate::plan::ImageRef;

/// Pushes `wasm` to `reference`; the manifest digest.
///
/// # Errors
/// Not Wasm, or the registry's reason (without any credential).
pub(crate) async fn push(
    wasm: Vec<u8>,
    reference: &ImageRef,
    credential: Option<Credential>,
    insecure: bool,
) -> Result<String, String> {
    let (os, component) = describe(&wasm)?;
    let layer_digest = format!("sha256:{}", hex(&sha2::Sha256::digest(&wasm)));
    let mut config = json!({
        "created": jiff::Timestamp::now().to_string(),
        "architecture": "wasm",
        "os": os,
        "layerDigests": [layer_digest],
    });
    if let Some(component) = component {
        config["component"] = component;
    }
    let config = Config::new(
        serde_json::to_vec(&config).map_err(|e| e.to_string())?,
        WASM_CONFIG.to_string(),
        None,
    );
    let layers = [ImageLayer::new(wasm, WASM_LAYER.to_string(), None)];
    let manifest = OciImageManifest::build(&layers, &config, None);
    let client = Client::new(ClientConfig {
        protocol: if insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        user_agent: concat!("wasmpod/", env!("CARGO_PKG_VERSION")),
        ..ClientConfig::default()
    });
    let auth = match &credential {
        Some(c) => RegistryAuth::Basic(c.username.clone(), c.password().to_string()),
        None => RegistryAuth::Anonymous,
    };
    let oref = Reference::with_tag(
        reference.registry.clone(),
        reference.repository.clone(),
        reference.tag_or_latest().to_string(),
    );
    let redact = |message: String| match &credential {
        Some(c) if !c.password().is_empty() => message.replace(c.password(), "<redacted>"),
        _ => message,
    };
    if credential.is_some() {
        super::auth::sign_in(&client, &oref, &auth, RegistryOperation::Push)
            .await
            .map_err(redact)?;
    }
    client
        .push(&oref, &layers, config, &auth, Some(manifest))
        .await
        .map_err(|e| redact(crate::report::chain(&e)))?;
    client
        .fetch_manifest_digest(&oref, &auth)
        .await
        .map_err(|e| redact(crate::report::chain(&e)))
}

/// `wasip2` with the component's top-level imports and exports, or `wasip1` for a module.
fn describe(wasm: &[u8]) -> Result<(&'static str, Option<serde_json::Value>), String> {
    use wasmparser::{Parser, Payload};
    if Parser::is_core_wasm(wasm) {
        return Ok(("wasip1", None));
    }
    if !Parser::is_component(wasm) {
        return Err("the file is not a WebAssembly component or module".into());
    }
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| format!("the component does not parse: {e}"))? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(s) if depth == 0 => {
                for import in s {
                    let import = import.map_err(|e| e.to_string())?;
                    imports.push(import.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(s) if depth == 0 => {
                for export in s {
                    let export = export.map_err(|e| e.to_string())?;
                    exports.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok((
        "wasip2",
        Some(json!({"imports": imports, "exports": exports, "target": null})),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_and_components_are_described() {
        let module = wat::parse_str(r#"(module (func (export "_start")))"#).unwrap();
        assert_eq!(describe(&module).unwrap(), ("wasip1", None));
        let component = wat::parse_str(
            r#"(component
                 (import "wasi:cli/stdout@0.2.0" (instance))
                 (instance $r)
                 (export "wasi:cli/run@0.2.0" (instance $r)))"#,
        )
        .unwrap();
        let (os, c) = describe(&component).unwrap();
        assert_eq!(os, "wasip2");
        let c = c.unwrap();
        assert_eq!(c["imports"], json!(["wasi:cli/stdout@0.2.0"]));
        assert_eq!(c["exports"], json!(["wasi:cli/run@0.2.0"]));
        assert!(describe(b"not wasm").is_err());
    }
}
