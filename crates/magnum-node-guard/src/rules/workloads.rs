//! What a workload (a container, an exec, a swarm service's task) may ask of the engine: only
//! what Docker grants a container by default. Each check returns why it refused.

use crate::json::Json;

/// Docker's default capability set: adding one of these changes nothing.
const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Log drivers that keep logs on the node; the others send them to an address of the user's
/// choosing from the node itself.
const LOG_DRIVERS: [&str; 4] = ["json-file", "local", "none", "journald"];

pub type Check = Result<(), String>;

pub fn refuse(what: &str) -> Check {
    Err(format!(
        "{what} is refused: workloads on a bay run under the engine's default confinement, so that no tenant reaches the \
         node, the host or another bay (docs/SECURITY.md)"
    ))
}

fn set(j: &Json, field: &str) -> Result<bool, String> {
    Ok(j.field(field)?.is_some_and(|v| !v.is_unset()))
}

/// Fields of `j` that must be absent, null, false or empty.
fn none_of(j: &Json, fields: &[(&str, &str)]) -> Check {
    for (field, what) in fields {
        if set(j, field)? {
            return refuse(what);
        }
    }
    Ok(())
}

/// A list field: absent or null is empty; anything else but a list is refused (the engine
/// could not read it either), so no value slips past a check that reads lists.
fn list<'a>(j: &'a Json, field: &str) -> Result<&'a [Json], String> {
    match j.field(field)? {
        None => Ok(&[]),
        Some(Json::Array(items)) => Ok(items),
        Some(_) => Err(format!("field '{field}' is not a list")),
    }
}

fn capabilities(j: &Json, field: &str) -> Check {
    for cap in list(j, field)? {
        let name = cap.as_str().unwrap_or_default().to_ascii_uppercase();
        let name = name.strip_prefix("CAP_").unwrap_or(&name);
        if !DEFAULT_CAPABILITIES.contains(&name) {
            return refuse(&format!("adding capability '{name}'"));
        }
    }
    Ok(())
}

/// Tells whether a network reference (a name, an ID or an ID's prefix, as the engine resolves
/// them) is the node's own "host" network.
pub type HostNetwork<'a> = &'a dyn Fn(&str) -> bool;

/// A namespace mode naming the node's own namespace (for the network, by any reference the
/// engine resolves to its host network).
fn namespace(j: &Json, field: &str, what: &str, host_network: HostNetwork) -> Check {
    let Some(mode) = j.field(field)? else { return Ok(()) };
    let Some(mode) = mode.as_str().map(str::trim) else { return refuse(&format!("a {what} namespace mode that is not text")) };
    let node_own = if field == "NetworkMode" { host_network(mode) } else { mode.eq_ignore_ascii_case("host") };
    if node_own {
        return refuse(&format!("the node's {what} namespace"));
    }
    Ok(())
}

fn log_driver(driver: Option<&Json>) -> Check {
    match driver.map(|d| d.as_str().unwrap_or("?")) {
        None | Some("") => Ok(()),
        Some(d) if LOG_DRIVERS.contains(&d) => Ok(()),
        Some(d) => refuse(&format!("log driver '{d}'")),
    }
}

/// A mount (Mounts of a container or of a service's ContainerSpec): volumes and tmpfs only,
/// and volumes without driver options (the local driver's options can bind any node path).
fn mount(m: &Json) -> Check {
    let kind = m.field("Type")?.and_then(Json::as_str).unwrap_or("volume").to_ascii_lowercase();
    match kind.as_str() {
        "volume" => {
            if let Some(options) = m.field("VolumeOptions")? {
                if let Some(driver) = options.field("DriverConfig")? {
                    let named = driver.field("Name")?.and_then(Json::as_str).unwrap_or("");
                    if !(named.is_empty() || named == "local") || set(driver, "Options")? {
                        return refuse("a volume mount with driver options");
                    }
                }
                if set(options, "Subpath")? {
                    return refuse("a volume mount of a subpath");
                }
            }
            Ok(())
        }
        "tmpfs" => Ok(()),
        other => refuse(&format!("a '{other}' mount (only volumes and tmpfs are mounted into workloads)")),
    }
}

fn mounts(j: &Json) -> Check {
    list(j, "Mounts")?.iter().try_for_each(mount)
}

/// `Binds`: "volume:/path[:opts]" is a named volume; a source starting with '/' is a node path.
fn binds(j: &Json) -> Check {
    for b in list(j, "Binds")? {
        let source = b.as_str().unwrap_or("/").split(':').next().unwrap_or("/");
        if source.starts_with('/') || source.starts_with('.') || source.contains('\\') {
            return refuse(&format!("binding the node path '{source}'"));
        }
    }
    Ok(())
}

fn security_options(j: &Json) -> Check {
    for opt in list(j, "SecurityOpt")? {
        let o = opt.as_str().unwrap_or("?").trim().to_ascii_lowercase();
        if !matches!(o.as_str(), "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true") {
            return refuse(&format!("security option '{o}'"));
        }
    }
    Ok(())
}

/// The resource fields shared by a container's HostConfig and `containers/{id}/update`.
pub fn resources(j: &Json) -> Check {
    none_of(
        j,
        &[
            ("Devices", "a device"),
            ("DeviceCgroupRules", "a device cgroup rule"),
            ("DeviceRequests", "a device request"),
            ("CgroupParent", "choosing the cgroup parent"),
        ],
    )
}

/// `POST /containers/create`.
pub fn container_create(body: &Json, host_network: HostNetwork) -> Check {
    if let Some(networking) = body.field("NetworkingConfig")? {
        if let Some(endpoints) = networking.field("EndpointsConfig")? {
            if endpoints.entries().iter().any(|(name, _)| host_network(name)) {
                return refuse("the node's network namespace");
            }
        }
    }
    let Some(host) = body.field("HostConfig")? else { return Ok(()) };
    none_of(host, &[("Privileged", "privileged mode"), ("Capabilities", "a capability set"), ("Annotations", "runtime annotations")])?;
    // An empty list here is not harmless: it unmasks /proc and /sys paths.
    for (field, what) in [("MaskedPaths", "changing the masked paths"), ("ReadonlyPaths", "changing the read-only paths")] {
        if host.field(field)?.is_some() {
            return refuse(what);
        }
    }
    capabilities(host, "CapAdd")?;
    resources(host)?;
    security_options(host)?;
    for (field, what) in [
        ("NetworkMode", "network"),
        ("PidMode", "process"),
        ("IpcMode", "IPC"),
        ("UTSMode", "UTS"),
        ("UsernsMode", "user"),
        ("CgroupnsMode", "cgroup"),
    ] {
        namespace(host, field, what, host_network)?;
    }
    binds(host)?;
    mounts(host)?;
    match host.field("VolumeDriver")?.and_then(Json::as_str) {
        None | Some("") | Some("local") => {}
        Some(d) => return refuse(&format!("volume driver '{d}'")),
    }
    match host.field("Runtime")?.and_then(Json::as_str) {
        None | Some("") | Some("runc") => {}
        Some(r) => return refuse(&format!("runtime '{r}'")),
    }
    if let Some(log) = host.field("LogConfig")? {
        log_driver(log.field("Type")?)?;
    }
    Ok(())
}

/// `POST /containers/{id}/exec`.
pub fn exec_create(body: &Json) -> Check {
    none_of(body, &[("Privileged", "a privileged exec")])
}

/// A swarm service's spec (`services/create`, `services/{id}/update`): its tasks get the
/// same confinement as containers.
pub fn service_spec(spec: &Json, host_network: HostNetwork) -> Check {
    let networks = |j: &Json| -> Check {
        for n in list(j, "Networks")? {
            if n.field("Target")?.and_then(Json::as_str).is_some_and(host_network) {
                return refuse("the node's network namespace");
            }
        }
        Ok(())
    };
    networks(spec)?;
    let Some(task) = spec.field("TaskTemplate")? else { return Ok(()) };
    networks(task)?;
    none_of(task, &[("PluginSpec", "an engine plugin as a service"), ("NetworkAttachmentSpec", "a network attachment task")])?;
    match task.field("Runtime")?.and_then(Json::as_str) {
        None | Some("") | Some("container") => {}
        Some(r) => return refuse(&format!("task runtime '{r}'")),
    }
    if let Some(log) = task.field("LogDriver")? {
        log_driver(log.field("Name")?)?;
    }
    if let Some(resources) = task.field("Resources")? {
        for side in ["Limits", "Reservations"] {
            if let Some(r) = resources.field(side)? {
                none_of(r, &[("Devices", "a device")])?;
            }
        }
    }
    let Some(container) = task.field("ContainerSpec")? else { return Ok(()) };
    capabilities(container, "CapabilityAdd")?;
    mounts(container)?;
    if let Some(privileges) = container.field("Privileges")? {
        none_of(
            privileges,
            &[("CredentialSpec", "a credential spec"), ("SELinuxContext", "an SELinux context"), ("AppArmor", "an AppArmor setting")],
        )?;
        if let Some(seccomp) = privileges.field("Seccomp")? {
            match seccomp.field("Mode")?.and_then(Json::as_str) {
                None | Some("") | Some("default") => {}
                Some(m) => return refuse(&format!("seccomp mode '{m}'")),
            }
            none_of(seccomp, &[("Profile", "a seccomp profile")])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The node's host network, as the guard learns it from the engine.
    pub fn host(name: &str) -> bool {
        name.eq_ignore_ascii_case("host") || (!name.is_empty() && "4f2a9c0d77e1".starts_with(&name.to_ascii_lowercase()))
    }

    fn create(body: &str) -> Check {
        container_create(&Json::parse(body.as_bytes()).expect("test input"), &host)
    }

    #[test]
    fn ordinary_containers_pass() {
        assert!(create(r#"{"Image":"busybox","Cmd":["sh"]}"#).is_ok());
        let ok = r#"{"Image":"b","HostConfig":{"Binds":["data:/data:ro"],"CapAdd":["cap_net_bind_service"],"NetworkMode":"bridge",
            "PortBindings":{"80/tcp":[{"HostPort":"8080"}]},"Mounts":[{"Type":"tmpfs","Target":"/t"},{"Type":"volume","Source":"v","Target":"/v"}],
            "SecurityOpt":["no-new-privileges"],"LogConfig":{"Type":"json-file"},"Privileged":false,"Devices":[],"PidMode":"container:x"}}"#;
        assert_eq!(create(ok), Ok(()));
    }

    #[test]
    fn every_way_out_is_refused() {
        for bad in [
            r#"{"HostConfig":{"Privileged":true}}"#,
            r#"{"hostconfig":{"privileged":true}}"#,
            r#"{"HostConfig":{"CapAdd":["SYS_ADMIN"]}}"#,
            r#"{"HostConfig":{"CapAdd":["ALL"]}}"#,
            r#"{"HostConfig":{"CapAdd":"SYS_ADMIN"}}"#,
            r#"{"HostConfig":{"Binds":"/:/node"}}"#,
            r#"{"HostConfig":{"Capabilities":["CAP_SYS_ADMIN"]}}"#,
            r#"{"HostConfig":{"Binds":["/:/host"]}}"#,
            r#"{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/","Target":"/h"}]}}"#,
            r#"{"HostConfig":{"Mounts":[{"Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"device":"/","o":"bind"}}}}]}}"#,
            r#"{"HostConfig":{"Devices":[{"PathOnHost":"/dev/sda"}]}}"#,
            r#"{"HostConfig":{"NetworkMode":"host"}}"#,
            r#"{"HostConfig":{"PidMode":"HOST"}}"#,
            r#"{"HostConfig":{"IpcMode":"host"}}"#,
            r#"{"HostConfig":{"UTSMode":"host"}}"#,
            r#"{"HostConfig":{"UsernsMode":"host"}}"#,
            r#"{"HostConfig":{"CgroupnsMode":"host"}}"#,
            r#"{"HostConfig":{"SecurityOpt":["seccomp=unconfined"]}}"#,
            r#"{"HostConfig":{"SecurityOpt":["apparmor=unconfined"]}}"#,
            r#"{"HostConfig":{"SecurityOpt":["systempaths=unconfined"]}}"#,
            r#"{"HostConfig":{"MaskedPaths":[]}}"#,
            r#"{"HostConfig":{"ReadonlyPaths":[]}}"#,
            r#"{"HostConfig":{"Runtime":"io.containerd.runsc.v1"}}"#,
            r#"{"HostConfig":{"VolumeDriver":"evil"}}"#,
            r#"{"HostConfig":{"LogConfig":{"Type":"syslog"}}}"#,
            r#"{"HostConfig":{"CgroupParent":"/"}}"#,
            r#"{"NetworkingConfig":{"EndpointsConfig":{"host":{}}}}"#,
            r#"{"NetworkingConfig":{"EndpointsConfig":{"4f2a9c":{}}}}"#,
            r#"{"HostConfig":{"NetworkMode":"4f2a9c0d77e1"}}"#,
            r#"{"HostConfig":{"Privileged":false,"privileged":true}}"#,
        ] {
            assert!(create(bad).is_err(), "{bad} passed");
        }
    }

    #[test]
    fn services_are_held_to_the_same_rules() {
        let spec = |s: &str| service_spec(&Json::parse(s.as_bytes()).expect("test input"), &host);
        assert!(spec(r#"{"Name":"w","TaskTemplate":{"ContainerSpec":{"Image":"b","Mounts":[{"Type":"volume","Target":"/d"}]}}}"#).is_ok());
        for bad in [
            r#"{"TaskTemplate":{"ContainerSpec":{"Mounts":[{"Type":"bind","Source":"/","Target":"/h"}]}}}"#,
            r#"{"TaskTemplate":{"ContainerSpec":{"CapabilityAdd":["CAP_SYS_ADMIN"]}}}"#,
            r#"{"TaskTemplate":{"ContainerSpec":{"Privileges":{"Seccomp":{"Mode":"unconfined"}}}}}"#,
            r#"{"TaskTemplate":{"ContainerSpec":{"Privileges":{"AppArmor":{"Mode":"disabled"}}}}}"#,
            r#"{"TaskTemplate":{"Networks":[{"Target":"host"}]}}"#,
            r#"{"Networks":[{"Target":"host"}]}"#,
            r#"{"TaskTemplate":{"Networks":[{"Target":"4f2a9c0d77e1"}]}}"#,
            r#"{"TaskTemplate":{"Runtime":"plugin","PluginSpec":{"Name":"x"}}}"#,
            r#"{"TaskTemplate":{"LogDriver":{"Name":"gelf"}}}"#,
        ] {
            assert!(spec(bad).is_err(), "{bad} passed");
        }
    }
}
