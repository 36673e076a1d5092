//! The netns backend (feature `netns`, Linux, root): a topology script built from real network
//! namespaces, veth pairs, Linux bridges and nftables NAT routers.
//!
//! One namespace per network (holding a bridge `br0`), per NAT router (interfaces `lan` and
//! `wan`) and per host (`eth0`, `eth1`, ... one per address), joined by veth pairs created
//! directly inside their namespaces: nothing is attached to the caller's namespace. Routing is
//! as the networks say: a host's default route goes through the NAT router of its network, a
//! router's through the router of its outside network, and a network without a router is one
//! segment, whose hosts lose what they send elsewhere (an on-link default route: a server on
//! the internet sending to a private address loses the datagram, it gets no error). Routers
//! run the rulesets of [`crate::nft`]. Services run in their host's namespace: coturn for stun
//! and turn (its configuration: `coturn.rs`), Prosody for xmpp (its configuration and
//! accounts: `prosody.rs`;
//! [`Lab::xmpp_server`], [`Lab::xmpp_account`]).
//!
//! Every name carries a prefix unique to the run (`icens<pid>x<n>`); [`Lab::build`] first
//! removes what earlier runs whose process is gone left behind ([`sweep_stale`]), and
//! [`Drop`] removes everything the lab created (processes in its namespaces first: `ip netns
//! del` does not kill them), on success, failure and panic alike. [`leftovers`] lists what is
//! left, for the check at the end of CI.
//!
//! Code runs inside a namespace on a thread of its own ([`Lab::spawn_in`]): the thread enters
//! the namespace (netns-rs) and stays there; sockets it creates belong to the namespace.
//!
//! Links are the kernel's: the backend has no netem (this kernel has none), so `latency_ms`,
//! `jitter_ms` and `loss` are not applied ([`Lab::impairments`] lists them; a runner applies
//! them in user space or skips the script); [`Lab::unsupported`] says what of a script the lab
//! cannot build as written at all (TLS for TURN; ICE-TCP behind a NAT whose TCP filtering or
//! hairpinning the kernel's conntrack does not follow), and the runner reports such scripts as
//! not run on netns.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::nft;
use crate::topology::{Host, Service, Topology};
use crate::{coturn, prosody};

/// The prefix of every namespace this backend creates.
pub const PREFIX: &str = "icens";

/// What went wrong building or driving a lab.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// Not root: namespaces and nftables need CAP_SYS_ADMIN and CAP_NET_ADMIN.
    #[error("the netns backend needs root (namespaces, veth pairs and nftables)")]
    NotRoot,
    /// A program the backend runs is missing.
    #[error(
        "`{0}` is not installed (the netns backend needs iproute2, nftables, coturn, and prosody for xmpp services)"
    )]
    Missing(&'static str),
    /// A command failed.
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The script asks for something the backend cannot build.
    #[error("{0}")]
    Unsupported(String),
    /// An I/O error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// One host of the lab.
#[derive(Debug, Clone)]
pub struct LabHost {
    /// Its name in the script.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its addresses.
    pub ips: Vec<IpAddr>,
}

/// A lab's XMPP server (Prosody) and its accounts.
#[derive(Debug, Clone)]
struct XmppServer {
    /// The name of its host.
    host: String,
    /// Its host's first address and the service's port.
    addr: SocketAddr,
    domain: String,
    accounts: Vec<prosody::Account>,
}

/// A topology built in namespaces. Dropping it removes everything it created.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    hosts: Vec<LabHost>,
    children: Vec<Child>,
    scratch: PathBuf,
    xmpp: Vec<XmppServer>,
    /// The run's simulated certificate authority (TLS services' certificates).
    #[cfg(feature = "tls")]
    tls_ca_seed: [u8; 32],
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // The effective uid of the process, from /proc (no libc call).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn run(cmd: &mut Command) -> Result<String, NetnsError> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            NetnsError::Missing(program_name(cmd))
        } else {
            NetnsError::Io(e)
        }
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(NetnsError::Command {
            command: format!("{cmd:?}"),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

fn program_name(cmd: &Command) -> &'static str {
    match cmd.get_program().to_str() {
        Some("ip") => "ip",
        Some("nft") => "nft",
        Some("turnserver") => "turnserver",
        Some("prosodyctl") => "prosodyctl",
        Some("sysctl") => "sysctl",
        _ => "a program",
    }
}

/// Runs `program` with `input` on stdin.
fn run_with_input(cmd: &mut Command, input: &str) -> Result<(), NetnsError> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                NetnsError::Missing(program_name(cmd))
            } else {
                NetnsError::Io(e)
            }
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetnsError::Command {
            command: format!("{cmd:?} <<< {}", input.lines().next().unwrap_or_default()),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Whether `program` is a file in one of `$PATH`'s directories.
fn installed(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// `ip [-n ns] -batch -` with `lines`.
fn ip_batch(ns: Option<&str>, lines: &[String]) -> Result<(), NetnsError> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    cmd.args(["-batch", "-"]);
    run_with_input(&mut cmd, &(lines.join("\n") + "\n"))
}

fn sysctl(ns: &str, key: &str, value: &str) -> Result<(), NetnsError> {
    run(Command::new("ip").args([
        "netns",
        "exec",
        ns,
        "sysctl",
        "-q",
        "-w",
        &format!("{key}={value}"),
    ]))
    .map(|_| ())
}

/// The namespaces of this backend present on the machine.
pub fn leftovers() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(PREFIX))
                .collect()
        })
        .unwrap_or_default()
}

/// The pid a namespace name carries (`icens<pid>x<n>-...`).
fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('x').next()?.parse().ok()
}

fn kill_processes_in(ns: &str) {
    if let Ok(pids) = run(Command::new("ip").args(["netns", "pids", ns])) {
        for pid in pids.split_whitespace() {
            let _ = Command::new("kill")
                .args(["-9", pid])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn delete_namespace(ns: &str) {
    kill_processes_in(ns);
    let _ = Command::new("ip")
        .args(["netns", "del", ns])
        .stderr(Stdio::null())
        .status();
}

/// Removes the namespaces (and their processes) of earlier runs whose process is gone. Never
/// touches a namespace without this backend's prefix, nor one of a live run. Returns how many
/// were removed.
pub fn sweep_stale() -> usize {
    let mut n = 0;
    for name in leftovers() {
        let alive = owner_pid(&name)
            .is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            delete_namespace(&name);
            n += 1;
        }
    }
    n
}

/// The address a NAT router takes on its inside network: the highest address of the prefix
/// (below the IPv4 broadcast address) that no host uses.
fn router_inside_address(topology: &Topology, network: usize) -> Option<IpAddr> {
    let net = &topology.networks[network];
    let used: BTreeSet<IpAddr> = topology
        .hosts
        .iter()
        .flat_map(|h| h.ips.iter().map(|(ip, _)| *ip))
        .chain(topology.nats.iter().map(|n| n.config.public_ip))
        .collect();
    match net.cidr.addr {
        IpAddr::V4(a) => {
            let bits = 32 - u32::from(net.cidr.prefix);
            let base = u32::from(a) & (u32::MAX.checked_shl(bits).unwrap_or(0));
            let size = 1u64 << bits;
            (2..size.min(1 << 16))
                .map(|k| IpAddr::from(std::net::Ipv4Addr::from(base + (size - k) as u32)))
                .find(|ip| !used.contains(ip))
        }
        IpAddr::V6(a) => {
            let bits = 128 - u32::from(net.cidr.prefix);
            let base = u128::from(a) & (u128::MAX.checked_shl(bits).unwrap_or(0));
            let top = base | (u128::MAX.checked_shr(128 - bits).unwrap_or(0));
            (1..1000u128)
                .map(|k| IpAddr::from(std::net::Ipv6Addr::from(top - k)))
                .find(|ip| !used.contains(ip))
        }
    }
}

impl Lab {
    /// Builds `topology` in fresh namespaces (sweeping stale ones of dead runs first). With the
    /// feature `tls`, a turn service that serves TLS gets a certificate for its host's name from
    /// the simulated authority of [`crate::tls_ca_seed`]`(topology.seed)`.
    pub fn build(topology: &Topology) -> Result<Lab, NetnsError> {
        if !is_root() {
            return Err(NetnsError::NotRoot);
        }
        sweep_stale();
        let prefix = format!(
            "{PREFIX}{}x{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let scratch = std::env::temp_dir().join(&prefix);
        std::fs::create_dir_all(&scratch)?;
        let mut lab = Lab {
            prefix,
            namespaces: Vec::new(),
            hosts: Vec::new(),
            children: Vec::new(),
            scratch,
            xmpp: Vec::new(),
            #[cfg(feature = "tls")]
            tls_ca_seed: crate::tls_ca_seed(topology.seed),
        };
        // Drop removes whatever part was built when a step fails.
        lab.construct(topology)?;
        Ok(lab)
    }

    fn ns_name(&self, kind: &str, i: usize) -> String {
        format!("{}-{kind}{i}", self.prefix)
    }

    fn construct(&mut self, t: &Topology) -> Result<(), NetnsError> {
        let net_ns: Vec<String> = (0..t.networks.len())
            .map(|i| self.ns_name("net", i))
            .collect();
        let nat_ns: Vec<String> = (0..t.nats.len()).map(|i| self.ns_name("nat", i)).collect();
        let host_ns: Vec<String> = (0..t.hosts.len())
            .map(|i| self.ns_name("host", i))
            .collect();
        for ns in net_ns.iter().chain(&nat_ns).chain(&host_ns) {
            run(Command::new("ip").args(["netns", "add", ns]))?;
            self.namespaces.push(ns.clone());
        }
        // The router of each network (the NAT whose inside it is) and its inside address.
        let mut gateway: Vec<Option<(usize, IpAddr)>> = vec![None; t.networks.len()];
        for (i, nat) in t.nats.iter().enumerate() {
            let inside = router_inside_address(t, nat.inside).ok_or_else(|| {
                NetnsError::Unsupported(format!(
                    "nat {}: no free address on {} for the router",
                    nat.name, t.networks[nat.inside].name
                ))
            })?;
            gateway[nat.inside] = Some((i, inside));
        }
        // veth pairs, created inside their namespaces: `root` holds the creation commands.
        let mut root = Vec::new();
        let mut port_count = vec![0usize; t.networks.len()];
        let mut in_ns: Vec<Vec<String>> = vec![Vec::new(); t.networks.len()];
        let mut attach = |root: &mut Vec<String>,
                          in_ns: &mut Vec<Vec<String>>,
                          node_ns: &str,
                          ifname: &str,
                          network: usize| {
            let port = format!("p{}", port_count[network]);
            port_count[network] += 1;
            root.push(format!(
                "link add {ifname} netns {node_ns} type veth peer name {port} netns {}",
                net_ns[network]
            ));
            in_ns[network].push(format!("link set {port} master br0"));
            in_ns[network].push(format!("link set {port} up"));
        };
        let mut node_cmds: Vec<(String, Vec<String>)> = Vec::new();
        for (i, nat) in t.nats.iter().enumerate() {
            attach(&mut root, &mut in_ns, &nat_ns[i], "lan", nat.inside);
            attach(&mut root, &mut in_ns, &nat_ns[i], "wan", nat.outside);
            let (_, inside) = gateway[nat.inside].ok_or_else(|| {
                NetnsError::Unsupported(format!("nat {}: no inside address", nat.name))
            })?;
            let mut c = vec!["link set lo up".to_owned()];
            let plen = |n: usize| t.networks[n].cidr.prefix;
            c.push(format!(
                "addr add {inside}/{} dev lan{}",
                plen(nat.inside),
                nodad(inside)
            ));
            c.push(format!(
                "addr add {}/{} dev wan{}",
                nat.config.public_ip,
                plen(nat.outside),
                nodad(nat.config.public_ip)
            ));
            c.push("link set lan up".into());
            c.push("link set wan up".into());
            if let Some((_, gw)) = gateway[nat.outside] {
                c.push(format!("route add default via {gw} dev wan"));
            }
            node_cmds.push((nat_ns[i].clone(), c));
        }
        for (i, host) in t.hosts.iter().enumerate() {
            let mut c = vec!["link set lo up".to_owned()];
            let mut routed_v4 = false;
            let mut routed_v6 = false;
            for (k, (ip, network)) in host.ips.iter().enumerate() {
                let ifname = format!("eth{k}");
                attach(&mut root, &mut in_ns, &host_ns[i], &ifname, *network);
                c.push(format!(
                    "addr add {ip}/{} dev {ifname}{}",
                    t.networks[*network].cidr.prefix,
                    nodad(*ip)
                ));
                c.push(format!("link set {ifname} up"));
                if let Some((_, gw)) = gateway[*network] {
                    let routed = if ip.is_ipv6() {
                        &mut routed_v6
                    } else {
                        &mut routed_v4
                    };
                    if !*routed && gw.is_ipv6() == ip.is_ipv6() {
                        c.push(format!("route add default via {gw} dev {ifname}"));
                        *routed = true;
                    }
                }
            }
            // A host with no router (a server on the internet) loses what it sends to an
            // address no network of the lab holds, as in the simulator and as on the internet
            // with a private address: an on-link default route sends it to a neighbour that
            // never answers ARP (or neighbour discovery), and it is dropped. Without a route
            // the kernel would refuse the send (ENETUNREACH), and coturn 4.6.1 closes an
            // allocation whose relay socket gets that error: a Send indication to a peer's
            // private host candidate, which every ICE agent pairs with its relayed candidate,
            // would kill the allocation. (A blackhole route would not do: the sender gets
            // EINVAL; this kernel has no dummy interfaces.)
            for (v6, routed) in [(false, routed_v4), (true, routed_v6)] {
                let first = host.ips.iter().position(|(ip, _)| ip.is_ipv6() == v6);
                if let (false, Some(k)) = (routed, first) {
                    let all = if v6 { "::/0" } else { "0.0.0.0/0" };
                    c.push(format!("route add {all} dev eth{k}"));
                }
            }
            node_cmds.push((host_ns[i].clone(), c));
            self.hosts.push(LabHost {
                name: host.name.clone(),
                namespace: host_ns[i].clone(),
                ips: host.ips.iter().map(|(ip, _)| *ip).collect(),
            });
        }
        ip_batch(None, &root)?;
        for (n, ns) in net_ns.iter().enumerate() {
            let mut c = vec![
                "link set lo up".to_owned(),
                "link add br0 type bridge".to_owned(),
                "link set br0 up".to_owned(),
            ];
            c.extend(in_ns[n].iter().cloned());
            ip_batch(Some(ns), &c)?;
        }
        for (ns, c) in &node_cmds {
            ip_batch(Some(ns), c)?;
        }
        // Routers: sysctls, then the ruleset.
        for (i, nat) in t.nats.iter().enumerate() {
            for (k, v) in nft::router_sysctls(&nat.config) {
                sysctl(&nat_ns[i], &k, &v)?;
            }
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", &nat_ns[i], "nft", "-f", "-"]);
            run_with_input(&mut cmd, &nft::ruleset(&nat.config))?;
        }
        // Services.
        for (i, host) in t.hosts.iter().enumerate() {
            match &host.service {
                Some(Service::Xmpp { .. }) => self.start_prosody(&host_ns[i], t, host)?,
                Some(service) => self.start_service(&host_ns[i], host, service)?,
                None => {}
            }
        }
        Ok(())
    }

    /// coturn for a stun or turn service.
    fn start_service(
        &mut self,
        ns: &str,
        host: &Host,
        service: &Service,
    ) -> Result<(), NetnsError> {
        let dir = self.scratch.join(&host.name);
        std::fs::create_dir_all(&dir)?;
        let Some(conf) = coturn::config(host, service, &dir) else {
            return Ok(());
        };
        #[cfg(feature = "tls")]
        for (name, contents) in coturn::tls_files(host, service, self.tls_ca_seed)
            .map_err(|e| NetnsError::Io(std::io::Error::other(e.to_string())))?
        {
            std::fs::write(dir.join(name), contents)?;
        }
        let port = service.port();
        let file = dir.join("turnserver.conf");
        std::fs::write(&file, conf)?;
        let log = std::fs::File::create(dir.join("turnserver.log"))?;
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "turnserver", "-c"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    NetnsError::Missing("ip")
                } else {
                    NetnsError::Io(e)
                }
            })?;
        self.children.push(child);
        let command = format!("turnserver -c {}", file.display());
        self.wait_listening(ns, "-uln", port, &command, &dir.join("turnserver.log"), 100)
    }

    /// Prosody for `host`'s xmpp service (configuration and accounts: [`prosody::setup`]): its
    /// files in the scratch directory, the accounts registered with `prosodyctl`, then
    /// `prosody` in the host's namespace, ready when it listens on its TCP port.
    fn start_prosody(&mut self, ns: &str, t: &Topology, host: &Host) -> Result<(), NetnsError> {
        if !installed("prosody") || !installed("prosodyctl") {
            return Err(NetnsError::Missing("prosody"));
        }
        let dir = self.scratch.join(&host.name);
        let Some(setup) = prosody::setup(t, host, &dir) else {
            return Ok(());
        };
        // Prosody only logs a module it cannot load, after it listens: look first.
        if let Some((_, package)) = prosody::required_modules(setup.ipcheck)
            .into_iter()
            .find(|(m, _)| !prosody::module_installed(m))
        {
            return Err(NetnsError::Missing(package));
        }
        for sub in ["data", "certs"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let file = dir.join("prosody.cfg.lua");
        std::fs::write(&file, &setup.config)?;
        for a in &setup.accounts {
            run(Command::new("prosodyctl").arg("--config").arg(&file).args([
                "register",
                &a.host,
                &setup.domain,
                &a.password,
            ]))?;
        }
        let out = std::fs::File::create(dir.join("prosody.out"))?;
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "prosody", "--config"])
            .arg(&file)
            .arg("-F")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        self.children.push(child);
        let command = format!("prosody --config {} -F", file.display());
        let log = dir.join("prosody.log");
        // Prosody starts in about half a second (Lua); allow 10 s on a loaded machine.
        self.wait_listening(ns, "-tln", setup.port, &command, &log, 500)?;
        // A module that does not load is only logged (what it logged so far, at least).
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("Unable to load module")) {
            return Err(NetnsError::Command {
                command,
                stderr: format!("{line} (modules are looked for in {})", prosody::MODULES),
            });
        }
        let ip = host.ips.first().map(|(ip, _)| *ip).ok_or_else(|| {
            NetnsError::Unsupported(format!("{}: an xmpp host without an address", host.name))
        })?;
        self.xmpp.push(XmppServer {
            host: host.name.clone(),
            addr: SocketAddr::new(ip, setup.port),
            domain: setup.domain,
            accounts: setup.accounts,
        });
        Ok(())
    }

    /// Waits until the service just started (the last child) listens on `port` in `ns`
    /// (`ss` with `flags`: `-uln` for UDP, `-tln` for TCP), polling every 20 ms at most
    /// `attempts` times; fails with `log` when it exits first.
    fn wait_listening(
        &mut self,
        ns: &str,
        flags: &str,
        port: u16,
        command: &str,
        log: &std::path::Path,
        attempts: u32,
    ) -> Result<(), NetnsError> {
        for _ in 0..attempts {
            let out = run(Command::new("ip").args(["netns", "exec", ns, "ss", flags]))?;
            if out.contains(&format!(":{port} ")) {
                return Ok(());
            }
            if let Some(c) = self.children.last_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    return Err(NetnsError::Command {
                        command: command.to_owned(),
                        stderr: format!(
                            "exited with {status}: {}",
                            std::fs::read_to_string(log).unwrap_or_default()
                        ),
                    });
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(NetnsError::Command {
            command: command.to_owned(),
            stderr: format!("not listening on port {port} after {} ms", attempts * 20),
        })
    }

    /// The lab's hosts.
    pub fn hosts(&self) -> &[LabHost] {
        &self.hosts
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> Option<&LabHost> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The XMPP server (Prosody) of the host named `server`, when it runs an xmpp service: its
    /// address (the host's first address and the service's port) and its domain.
    pub fn xmpp_server(&self, server: &str) -> Option<(SocketAddr, String)> {
        self.xmpp
            .iter()
            .find(|x| x.host == server)
            .map(|x| (x.addr, x.domain.clone()))
    }

    /// The account of the host named `host` on the XMPP server of the host named `server`: its
    /// JID (`HOST@DOMAIN`) and password. Every host of the script that runs no service has one
    /// (registered before the server started); the password is made from the host's name (a
    /// throwaway lab's accounts: `lab-HOST`).
    pub fn xmpp_account(&self, server: &str, host: &str) -> Option<(String, String)> {
        self.xmpp
            .iter()
            .find(|x| x.host == server)?
            .accounts
            .iter()
            .find(|a| a.host == host)
            .map(|a| (a.jid.clone(), a.password.clone()))
    }

    /// The unique prefix of this lab's names.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A scratch directory of this lab (removed with it).
    pub fn scratch(&self) -> &std::path::Path {
        &self.scratch
    }

    /// Runs `f` on a new thread inside `namespace`. The thread enters the namespace for good;
    /// sockets it opens live there.
    pub fn spawn_in<F, T>(
        &self,
        namespace: &str,
        f: F,
    ) -> std::io::Result<std::thread::JoinHandle<Result<T, String>>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let ns = namespace.to_owned();
        std::thread::Builder::new()
            .name(format!("netns {ns}"))
            .spawn(move || {
                let netns = netns_rs::NetNs::get(&ns).map_err(|e| format!("netns {ns}: {e}"))?;
                netns.enter().map_err(|e| format!("entering {ns}: {e}"))?;
                Ok(f())
            })
    }

    /// A UDP socket bound to `addr` inside `namespace` (bound on a thread that entered it, so
    /// the socket lives there; the socket itself can be used from any thread).
    pub fn bind_udp(&self, namespace: &str, addr: SocketAddr) -> std::io::Result<UdpSocket> {
        self.spawn_in(namespace, move || UdpSocket::bind(addr))?
            .join()
            .map_err(|_| std::io::Error::other(format!("the thread binding {addr} panicked")))?
            .map_err(std::io::Error::other)?
    }

    /// Runs a program inside `namespace` (`ip netns exec`), its output going to
    /// `<scratch>/<name>.out`; the lab kills it on drop.
    pub fn spawn_process(
        &mut self,
        namespace: &str,
        program: &std::path::Path,
        args: &[&str],
    ) -> std::io::Result<()> {
        let name = program
            .file_name()
            .map_or_else(|| "process".into(), |n| n.to_string_lossy().into_owned());
        let out = std::fs::File::create(self.scratch.join(format!("{name}.out")))?;
        let child = Command::new("ip")
            .args(["netns", "exec", namespace])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        self.children.push(child);
        Ok(())
    }
}

fn nodad(ip: IpAddr) -> &'static str {
    // IPv6 addresses skip duplicate address detection, or they stay tentative for ~2 s.
    if ip.is_ipv6() { " nodad" } else { "" }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in self.namespaces.iter().rev() {
            delete_namespace(ns);
        }
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_parses_our_names_only() {
        assert_eq!(owner_pid("icens123x4-host0"), Some(123));
        assert_eq!(owner_pid("icensx-host0"), None);
        assert_eq!(owner_pid("other"), None);
    }
}
