//! Shell variables: lookup, assignment, export, and the environment
//! handed to applets.

use super::exec::{Shell, Status, Var};

impl Shell {
    pub fn get_var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.value.as_str())
    }

    pub fn set_var(&mut self, name: &str, value: String) {
        match self.vars.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => v.value = value,
            None => self.vars.push((
                name.to_string(),
                Var {
                    value,
                    exported: false,
                },
            )),
        }
    }

    pub fn export(&mut self, name: &str, value: Option<String>) {
        if let Some(v) = value {
            self.set_var(name, v);
        }
        match self.vars.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => v.exported = true,
            None => self.vars.push((
                name.to_string(),
                Var {
                    value: String::new(),
                    exported: true,
                },
            )),
        }
    }

    pub fn unset(&mut self, name: &str) {
        self.vars.retain(|(k, _)| k != name);
    }

    /// The environment for a command: exported variables, overridden by the
    /// command's own `NAME=value` prefixes.
    pub fn env_pairs(&self, extra: &[(String, String)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .vars
            .iter()
            .filter(|(_, v)| v.exported)
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect();
        for (k, v) in extra {
            match env.iter_mut().find(|(ek, _)| ek == k) {
                Some((_, ev)) => ev.clone_from(v),
                None => env.push((k.clone(), v.clone())),
            }
        }
        env
    }

    /// Runs `f` with `assigns` set, restoring the previous values after
    /// (`NAME=value` prefixes of builtins and functions).
    pub(super) fn with_temp_vars(
        &mut self,
        assigns: &[(String, String)],
        f: impl FnOnce(&mut Shell) -> Status,
    ) -> Status {
        let saved: Vec<_> = assigns
            .iter()
            .map(|(k, _)| (k.clone(), self.get_var(k).map(str::to_string)))
            .collect();
        for (k, v) in assigns {
            self.set_var(k, v.clone());
        }
        let r = f(self);
        for (k, old) in saved {
            match old {
                Some(v) => self.set_var(&k, v),
                None => self.unset(&k),
            }
        }
        r
    }
}
