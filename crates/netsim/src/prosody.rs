//! The netns lab's XMPP server: what Prosody 0.12 (Debian's `prosody`) is given for a host with
//! an xmpp service: its configuration, its accounts and the files it keeps. Pure text and
//! values; the lab ([`crate::netns`]) writes them, registers the accounts, starts Prosody in the
//! host's namespace and waits for it.
//!
//! The configuration is a throwaway server's: run as root in the foreground, pid file, data and
//! log (debug level) in the lab's scratch directory, plaintext client connections (RFC 6120)
//! on the host's addresses and the service's port only, no TLS, no server-to-server, no HTTP;
//! SASL PLAIN over the plaintext stream (RFC 4616) against passwords stored in the clear
//! (`internal_plain`). Modules: roster, saslauth, disco, ping, external_services (XEP-0215,
//! shipped with Prosody 0.12) and, with `ipcheck = true`, ipcheck (XEP-0279, Debian's
//! `prosody-modules`).
//!
//! `external_services`: each entry of the script becomes one XEP-0215 service per transport the
//! named service serves, its `host` the service host's first address (the one agents' `stun`
//! and `turn` lists resolve to): a stun service gives `stun`/`udp`; a turn service gives
//! `turn`/`udp`, `turn`/`tcp` when its `transports` name tcp, and `turns`/`tcp` on its
//! `tls_port` when they name tls. A turn service's long-term `username` and `password` are
//! given as they are; a TURN REST `secret` is given to mod_external_services, which makes
//! ephemeral credentials for each request (username: the expiry, Unix time now + `ttl` 86400 s;
//! password: base64(HMAC-SHA1(secret, username)), as coturn's `use-auth-secret` checks them;
//! `restricted = "1"`), as mod_turn_external does.
//!
//! Accounts: every host of the script that runs no service gets `HOSTNAME@DOMAIN` with the
//! password [`password`] makes from its name: the lab is a throwaway network in namespaces of
//! its own, and a runner needs no secret to log in.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

use crate::topology::{Host, Service, Topology};
use crate::turn_server::TurnAuth;

/// Where Debian's prosody-modules put mod_ipcheck (and Prosody finds its own modules).
pub(crate) const MODULES: &str = "/usr/lib/prosody/modules";

/// Whether Prosody's module `name` is installed in [`MODULES`] (a file, or a directory of its
/// own as prosody-modules has them).
pub(crate) fn module_installed(name: &str) -> bool {
    let dir = Path::new(MODULES);
    dir.join(format!("mod_{name}.lua")).is_file()
        || dir.join(format!("mod_{name}/mod_{name}.lua")).is_file()
}

/// The modules of `setup` that must be installed, with the package to name when one is not:
/// mod_external_services (Prosody 0.12 itself) and, with `ipcheck`, mod_ipcheck.
pub(crate) fn required_modules(ipcheck: bool) -> Vec<(&'static str, &'static str)> {
    let mut v = vec![("external_services", "prosody")];
    if ipcheck {
        v.push(("ipcheck", "prosody-modules"));
    }
    v
}

/// The lifetime of the TURN REST credentials handed out (mod_external_services' default and
/// mod_turn_external's `turn_external_ttl`).
const REST_TTL_S: u32 = 86_400;

/// An account of a lab's Prosody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    /// The host's name: the JID's localpart.
    pub(crate) host: String,
    /// `HOST@DOMAIN`.
    pub(crate) jid: String,
    /// Its password ([`password`]).
    pub(crate) password: String,
}

/// What the lab needs to run Prosody for one xmpp service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Setup {
    /// The configuration file's text.
    pub(crate) config: String,
    /// The server's domain.
    pub(crate) domain: String,
    /// The TCP port of client connections.
    pub(crate) port: u16,
    /// The accounts to register before starting.
    pub(crate) accounts: Vec<Account>,
    /// Whether mod_ipcheck is enabled.
    pub(crate) ipcheck: bool,
}

/// The password of the account of the host named `host`: derived from the name (a throwaway
/// lab's account, see the module docs).
pub(crate) fn password(host: &str) -> String {
    format!("lab-{host}")
}

/// `s` as a Lua string literal: backslash, quote and control characters escaped (Lua 5.4
/// manual §3.1: `\ddd` decimal escapes); other bytes stand as they are.
pub(crate) fn lua_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_control() && c.is_ascii() => {
                let _ = write!(out, "\\{:03}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Lua list of strings.
fn lua_list<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items
        .into_iter()
        .map(|i| lua_string(&i.to_string()))
        .collect();
    format!("{{ {} }}", items.join(", "))
}

/// The XEP-0215 entries of the xmpp service on host `xmpp_host`
/// ([`Topology::offered_services`]), as Lua tables for mod_external_services.
fn external_services(topology: &Topology, xmpp_host: usize) -> Vec<String> {
    topology
        .offered_services(xmpp_host)
        .into_iter()
        .map(|o| {
            let credentials = match o.auth {
                None => String::new(),
                Some(TurnAuth::LongTerm { username, password }) => format!(
                    ", username = {}, password = {}",
                    lua_string(username),
                    lua_string(password)
                ),
                Some(TurnAuth::Secret(secret)) => format!(
                    ", secret = {}, ttl = {REST_TTL_S}, restricted = true",
                    lua_string(secret)
                ),
            };
            format!(
                "{{ type = {}, transport = {}, host = {}, port = {}{credentials} }}",
                lua_string(o.type_),
                lua_string(o.transport),
                lua_string(&o.ip.to_string()),
                o.port,
            )
        })
        .collect()
}

/// Prosody for `host`'s xmpp service in a lab whose files for it go to `dir`; `None` when the
/// host runs no xmpp service.
pub(crate) fn setup(topology: &Topology, host: &Host, dir: &Path) -> Option<Setup> {
    let Some(Service::Xmpp {
        domain,
        port,
        ipcheck,
        ..
    }) = &host.service
    else {
        return None;
    };
    let path = |name: &str| lua_string(&dir.join(name).to_string_lossy());
    let ips: Vec<IpAddr> = host.ips.iter().map(|(ip, _)| *ip).collect();
    let mut modules = vec!["roster", "saslauth", "disco", "ping"];
    modules.extend(required_modules(*ipcheck).iter().map(|(m, _)| *m));
    let mut c = format!(
        "-- Written by ice-netsim's netns lab for host {name}: a throwaway Prosody.\n\
         run_as_root = true\n\
         daemonize = false\n\
         pidfile = {pid}\n\
         data_path = {data}\n\
         certificates = {certs}\n\
         plugin_paths = {{ {plugins} }}\n\
         log = {{ {{ levels = {{ min = \"debug\" }}, to = \"file\", filename = {log} }} }}\n\
         interfaces = {ips}\n\
         c2s_interfaces = {ips}\n\
         local_interfaces = {ips}\n\
         c2s_ports = {{ {port} }}\n\
         c2s_direct_tls_ports = {{ }}\n\
         s2s_ports = {{ }}\n\
         s2s_direct_tls_ports = {{ }}\n\
         component_ports = {{ }}\n\
         http_ports = {{ }}\n\
         https_ports = {{ }}\n\
         c2s_require_encryption = false\n\
         s2s_require_encryption = false\n\
         allow_unencrypted_plain_auth = true\n\
         authentication = \"internal_plain\"\n\
         storage = \"internal\"\n\
         modules_enabled = {modules}\n\
         modules_disabled = {{ \"s2s\", \"offline\", \"tls\" }}\n",
        name = host.name.replace(['\n', '\r'], " "),
        pid = path("prosody.pid"),
        data = path("data"),
        certs = path("certs"),
        plugins = lua_string(MODULES),
        log = path("prosody.log"),
        ips = lua_list(&ips),
        modules = lua_list(&modules),
    );
    c.push_str("external_services = {\n");
    let index = topology.host_index(&host.name)?;
    for e in external_services(topology, index) {
        let _ = writeln!(c, "\t{e};");
    }
    c.push_str("}\n");
    let _ = writeln!(c, "VirtualHost {}", lua_string(domain));
    let accounts = topology
        .hosts
        .iter()
        .filter(|h| h.service.is_none())
        .map(|h| Account {
            host: h.name.clone(),
            jid: format!("{}@{domain}", h.name),
            password: password(&h.name),
        })
        .collect();
    Some(Setup {
        config: c,
        domain: domain.clone(),
        port: *port,
        accounts,
        ipcheck: *ipcheck,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = r#"
format = 1
name = "prosody config"
[[network]]
name = "internet"
cidr = "198.51.100.0/24"
[[host]]
name = "romeo"
network = "internet"
ip = "198.51.100.1"
[[host]]
name = "juliet"
network = "internet"
ip = "198.51.100.2"
[[host]]
name = "stun1"
network = "internet"
ip = "198.51.100.100"
service = { kind = "stun", port = 3478 }
[[host]]
name = "turn1"
network = "internet"
ip = "198.51.100.200"
service = { kind = "turn", port = 3479, secret = "s\"3", transports = ["udp", "tcp"] }
[[host]]
name = "turn2"
network = "internet"
ip = "198.51.100.201"
service = { kind = "turn", username = "u", password = "p" }
[[host]]
name = "xmpp1"
network = "internet"
ip = "198.51.100.5"
service = { kind = "xmpp", domain = "example.org", external_services = ["stun1:3478", "turn1:3479", "turn2:3478"], ipcheck = true }
[[agent]]
host = "romeo"
impl = "ice-sans-io"
role = "initiator"
[[agent]]
host = "juliet"
impl = "ice-sans-io"
role = "responder"
[signalling]
via = "xmpp1"
[expect]
outcome = "connected"
"#;

    #[test]
    fn the_configuration_says_what_the_module_docs_say() {
        let t = Topology::parse("t.toml", SCRIPT).unwrap_or_else(|e| panic!("{e}"));
        let host = &t.hosts[5];
        let s = setup(&t, host, Path::new("/tmp/lab/xmpp1"))
            .unwrap_or_else(|| panic!("an xmpp service"));
        assert_eq!((s.domain.as_str(), s.port), ("example.org", 5222));
        let jids: Vec<(&str, &str)> = s
            .accounts
            .iter()
            .map(|a| (a.jid.as_str(), a.password.as_str()))
            .collect();
        assert_eq!(
            jids,
            [
                ("romeo@example.org", "lab-romeo"),
                ("juliet@example.org", "lab-juliet")
            ]
        );
        for line in [
            "c2s_interfaces = { \"198.51.100.5\" }",
            "c2s_ports = { 5222 }",
            "data_path = \"/tmp/lab/xmpp1/data\"",
            "modules_enabled = { \"roster\", \"saslauth\", \"disco\", \"ping\", \"external_services\", \"ipcheck\" }",
            "\t{ type = \"stun\", transport = \"udp\", host = \"198.51.100.100\", port = 3478 };",
            "\t{ type = \"turn\", transport = \"udp\", host = \"198.51.100.200\", port = 3479, secret = \"s\\\"3\", ttl = 86400, restricted = true };",
            "\t{ type = \"turn\", transport = \"tcp\", host = \"198.51.100.200\", port = 3479, secret = \"s\\\"3\", ttl = 86400, restricted = true };",
            "\t{ type = \"turn\", transport = \"udp\", host = \"198.51.100.201\", port = 3478, username = \"u\", password = \"p\" };",
            "VirtualHost \"example.org\"",
        ] {
            assert!(
                s.config.lines().any(|l| l == line),
                "{line}\nnot in\n{}",
                s.config
            );
        }
        assert!(setup(&t, &t.hosts[0], Path::new("/x")).is_none());
    }

    #[test]
    fn lua_strings_are_escaped() {
        assert_eq!(
            lua_string("a\"b\\c\nd\u{1}é"),
            "\"a\\\"b\\\\c\\010d\\001é\""
        );
    }
}
