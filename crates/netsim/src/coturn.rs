//! The netns lab's STUN and TURN servers: the configuration coturn 4.6.1 (Debian's `coturn`,
//! `turnserver -c FILE`) is given for a host with a stun or turn service. Pure text; the lab
//! ([`crate::netns`]) writes it, starts coturn in the host's namespace and waits for it.
//!
//! Every instance listens on the host's addresses and relays from them (ports 49152 to 49999),
//! without TLS, DTLS or its CLI, with FINGERPRINT, pid file and user database in the lab's
//! scratch directory, and logs to stdout. A stun service is `stun-only`; a turn service takes
//! the script's keys ([`turn_options`]).

use std::fmt::Write as _;
use std::path::Path;

use crate::topology::{Host, Service, TurnTransport};
use crate::turn_server::TurnAuth;

/// The turnserver.conf of `host`'s `service`, its files in `dir`; `None` for a service coturn
/// does not run (xmpp).
pub(crate) fn config(host: &Host, service: &Service, dir: &Path) -> Option<String> {
    let kind = match service {
        Service::Stun { .. } => "stun-only\n".to_owned(),
        Service::Turn { .. } => turn_options(service),
        Service::Xmpp { .. } => return None,
    };
    let mut conf = String::new();
    for (ip, _) in &host.ips {
        let _ = write!(conf, "listening-ip={ip}\nrelay-ip={ip}\n");
    }
    let _ = write!(
        conf,
        "listening-port={}\nno-tls\nno-dtls\nno-cli\nfingerprint\nmin-port=49152\nmax-port=49999\npidfile={}\nuserdb={}\nlog-file=stdout\nsimple-log\nno-software-attribute\n",
        service.port(),
        dir.join("turnserver.pid").display(),
        dir.join("turndb").display(),
    );
    conf.push_str(&kind);
    Some(conf)
}

/// The coturn settings of a turn service (coturn 4.6.1's turnserver.conf): credentials
/// (`lt-cred-mech` with `user`, or `use-auth-secret` with `static-auth-secret`, which checks
/// REST expiries against the machine's clock), `realm`, `max-allocate-lifetime`,
/// `alternate-server` (an `IP:PORT`), and `no-tcp` when `transports` does not name tcp.
fn turn_options(service: &Service) -> String {
    let Service::Turn {
        realm,
        auth,
        transports,
        lifetime,
        alternate,
        ..
    } = service
    else {
        return String::new();
    };
    let mut conf = match auth {
        TurnAuth::LongTerm { username, password } => {
            format!("lt-cred-mech\nuser={username}:{password}\n")
        }
        TurnAuth::Secret(secret) => format!("use-auth-secret\nstatic-auth-secret={secret}\n"),
    };
    conf.push_str(&format!(
        "realm={realm}\nallow-loopback-peers\nmax-allocate-lifetime={}\n",
        lifetime.as_secs()
    ));
    if let Some(a) = alternate {
        conf.push_str(&format!("alternate-server={a}\n"));
    }
    if !transports.contains(&TurnTransport::Tcp) {
        conf.push_str("no-tcp\n");
    }
    conf
}
