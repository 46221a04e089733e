//! The desktop's settings, read the same layered way as ILS Central's: defaults, then a TOML
//! file, then `ILS_NODE_*` environment variables (`ILS_NODE_DB`, `ILS_NODE_USER`,
//! `ILS_NODE_MODEL_DIR`; `ILS_MODEL_DIR` is honoured too). Nothing depends on where the program
//! was built: the model is looked for beside the installed program and in the user's data
//! folder.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The model's folder name, wherever it is installed.
pub const MODEL_FOLDER: &str = "all-MiniLM-L6-v2";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSettings {
    /// The installation's database file (default: `$XDG_DATA_HOME/ils/ils-node.db`, else
    /// `~/.local/share/ils/ils-node.db`).
    pub db: Option<PathBuf>,
    /// The e-mail address of the practice's user who acts (the CLI's `--user`).
    pub user: Option<String>,
    /// The embedding model's folder (default: found beside the program or in the data folder).
    pub model_dir: Option<PathBuf>,
    /// The assistant's model providers (none: offline).
    pub assistant: crate::assistant::AssistantSettings,
    /// Keep the session with ILS Central only in the sealed file beside the database, never in
    /// the operating system's keychain (`ILS_NODE_NO_KEYCHAIN=true`).
    pub no_keychain: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("the settings cannot be read: {0}")]
pub struct SettingsError(#[from] Box<figment::Error>);

fn data_home() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
}

fn config_home() -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."))
}

impl NodeSettings {
    /// Defaults, then `file` (or `ILS_NODE_CONFIG`, or `~/.config/ils/node.toml` when it
    /// exists), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        let mut figment = Figment::from(Serialized::defaults(NodeSettings::default()));
        let file = file
            .map(Path::to_owned)
            .or_else(|| std::env::var_os("ILS_NODE_CONFIG").map(PathBuf::from))
            .or_else(|| Some(config_home().join("ils/node.toml")).filter(|p| p.exists()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        if let Some(dir) = std::env::var_os("ILS_MODEL_DIR") {
            figment = figment.merge(Serialized::default("model_dir", PathBuf::from(dir)));
        }
        figment = figment.merge(
            Env::prefixed("ILS_NODE_")
                .ignore(&["CONFIG"])
                .map(|key| key.as_str().to_ascii_lowercase().into()),
        );
        figment.extract().map_err(|e| SettingsError(Box::new(e)))
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.db
            .clone()
            .unwrap_or_else(|| data_home().join("ils").join("ils-node.db"))
    }

    /// Where the model is looked for, in order: the setting, beside the program
    /// (`models/…`, then `../share/ils/models/…` for an installed package), the user's data
    /// folder, and `models/…` under the working folder (a checkout).
    pub fn model_candidates(&self) -> Vec<PathBuf> {
        if let Some(dir) = &self.model_dir {
            return vec![dir.clone()];
        }
        let mut out = Vec::new();
        if let Some(exe_dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_owned))
        {
            out.push(exe_dir.join("models").join(MODEL_FOLDER));
            out.push(exe_dir.join("../share/ils/models").join(MODEL_FOLDER));
        }
        out.push(data_home().join("ils/models").join(MODEL_FOLDER));
        out.push(PathBuf::from("models").join(MODEL_FOLDER));
        out
    }

    /// The first candidate that holds the model's weights, else the first candidate (whose
    /// absence the model loader then reports).
    pub fn model_path(&self) -> PathBuf {
        let candidates = self.model_candidates();
        candidates
            .iter()
            .find(|dir| dir.join("model.safetensors").is_file())
            .or(candidates.first())
            .cloned()
            .unwrap_or_else(|| PathBuf::from("models").join(MODEL_FOLDER))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type.
    fn layers_defaults_then_file_then_environment() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "node.toml",
                r#"db = "/srv/ils/practice.db"
user = "file@demo.ils.local""#,
            )?;
            let from_file =
                NodeSettings::load(Some(Path::new("node.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(from_file.db_path(), PathBuf::from("/srv/ils/practice.db"));
            assert_eq!(from_file.user.as_deref(), Some("file@demo.ils.local"));
            jail.set_env("ILS_NODE_USER", "env@demo.ils.local");
            jail.set_env("ILS_MODEL_DIR", "/opt/model");
            let layered =
                NodeSettings::load(Some(Path::new("node.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(layered.user.as_deref(), Some("env@demo.ils.local"));
            assert_eq!(layered.model_path(), PathBuf::from("/opt/model"));
            jail.set_env("ILS_NODE_BOGUS", "1");
            assert!(
                NodeSettings::load(None).is_err(),
                "an unknown setting is refused, not ignored"
            );
            Ok(())
        });
    }
}
