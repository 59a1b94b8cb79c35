//! The pod's volumes and each container's volume mounts, as the API server
//! validates them (`ValidateVolumes`, `ValidateVolumeMounts`).

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::core::v1::{Container, Volume};

use super::Checker;
use crate::spec::error::formats::dns1123_label;
use crate::spec::error::msg;
use crate::spec::sources;

const HOST_PATH_TYPES: &[&str] = &[
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
];
const EMPTY_DIR_MEDIA: &[&str] = &["", "Memory"];

impl Checker<'_> {
    /// Checks the volumes; returns them by name (first of each name).
    pub(super) fn volumes<'v>(
        &mut self,
        volumes: &'v [Volume],
        containers: &HashSet<&str>,
    ) -> HashMap<&'v str, &'v Volume> {
        let mut by_name = HashMap::new();
        for (i, vol) in volumes.iter().enumerate() {
            let base = format!("spec.volumes[{i}]");
            if vol.name.is_empty() {
                self.add(format!("{base}.name"), msg::required(""));
            } else {
                self.name_rule(&format!("{base}.name"), &vol.name, dns1123_label(&vol.name));
                if by_name.contains_key(vol.name.as_str()) {
                    self.add(format!("{base}.name"), msg::duplicate(&vol.name));
                } else {
                    by_name.insert(vol.name.as_str(), vol);
                }
            }
            // Sources are every field but `name`; count them generically so new types count too.
            let sources: Vec<String> = match serde_json::to_value(vol) {
                Ok(serde_json::Value::Object(map)) => map
                    .into_iter()
                    .map(|(k, _)| k)
                    .filter(|k| k != "name")
                    .collect(),
                _ => Vec::new(),
            };
            match sources.len() {
                0 => self.add(base.clone(), msg::required("must specify a volume type")),
                1 => {}
                _ => self.add(
                    format!("{base}.{}", sources[1]),
                    msg::forbidden("may not specify more than 1 volume type"),
                ),
            }
            if let Some(host) = &vol.host_path {
                let path = format!("{base}.hostPath.path");
                if host.path.is_empty() {
                    self.add(path, msg::required(""));
                } else {
                    self.absolute(path.clone(), &host.path);
                    self.no_backsteps(path, &host.path);
                }
                self.one_of(
                    format!("{base}.hostPath.type"),
                    host.type_.as_deref(),
                    HOST_PATH_TYPES,
                );
            }
            if let Some(empty) = &vol.empty_dir {
                self.one_of(
                    format!("{base}.emptyDir.medium"),
                    empty.medium.as_deref(),
                    EMPTY_DIR_MEDIA,
                );
            }
            for (path, message) in sources::volume(&base, vol, containers) {
                self.add(path, message);
            }
        }
        by_name
    }

    pub(super) fn mounts(&mut self, base: &str, c: &Container, volumes: &HashMap<&str, &Volume>) {
        let mut mount_paths = HashSet::new();
        for (i, m) in c
            .volume_mounts
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let path = format!("{base}.volumeMounts[{i}]");
            if m.name.is_empty() {
                self.add(format!("{path}.name"), msg::required(""));
            } else if !volumes.contains_key(m.name.as_str()) {
                self.add(format!("{path}.name"), msg::not_found(&m.name));
            }
            if m.mount_path.is_empty() {
                self.add(format!("{path}.mountPath"), msg::required(""));
            } else {
                self.absolute_descending(format!("{path}.mountPath"), &m.mount_path);
                if !mount_paths.insert(m.mount_path.as_str()) {
                    self.add(
                        format!("{path}.mountPath"),
                        msg::invalid(&msg::quote(&m.mount_path), "must be unique"),
                    );
                }
            }
            let sub_path = m.sub_path.as_deref().filter(|s| !s.is_empty());
            let expr = m.sub_path_expr.as_deref().filter(|s| !s.is_empty());
            if let (Some(_), Some(expr)) = (sub_path, expr) {
                self.add(
                    format!("{path}.subPathExpr"),
                    msg::invalid(
                        &msg::quote(expr),
                        "subPathExpr and subPath are mutually exclusive",
                    ),
                );
            }
            // `validateLocalDescendingPath` of each (an expression's expansion is
            // checked again when its container starts).
            for (field, sub) in [("subPath", sub_path), ("subPathExpr", expr)] {
                let Some(sub) = sub else { continue };
                let field = format!("{path}.{field}");
                if sub.starts_with('/') {
                    self.add(
                        field.clone(),
                        msg::invalid(&msg::quote(sub), "must be a relative path"),
                    );
                }
                self.no_backsteps(field, sub);
            }
        }
    }
}
