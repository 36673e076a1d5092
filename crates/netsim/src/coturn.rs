//! The netns lab's STUN and TURN servers: the configuration coturn 4.6.1 (Debian's `coturn`,
//! `turnserver -c FILE`) is given for a host with a stun or turn service. Pure text; the lab
//! ([`crate::netns`]) writes it, starts coturn in the host's namespace and waits for it.
//!
//! Every instance listens on the host's addresses and relays from them (ports 49152 to 49999),
//! without DTLS or its CLI, with FINGERPRINT, pid file and user database in the lab's scratch
//! directory, and logs to stdout. A stun service is `stun-only`; a turn service takes the
//! script's keys ([`turn_options`]). TLS (a turn service whose `transports` name `tls`, with the
//! feature `tls`) listens on `tls_port` with a certificate for the host's name from the run's
//! simulated certificate authority ([`tls_files`]), the one the runner's agents trust; without
//! it, `no-tls`.

use std::fmt::Write as _;
use std::path::Path;

use crate::topology::{Host, Service, TurnTransport};
use crate::turn_server::TurnAuth;

/// The certificate and key file names in the service's directory, for `cert` and `pkey`.
pub(crate) const CERT_FILE: &str = "turn-cert.pem";
/// See [`CERT_FILE`].
pub(crate) const KEY_FILE: &str = "turn-key.pem";

/// Whether coturn serves TLS for `service`: a turn service whose `transports` name tls, on its
/// `tls_port`, in a lab built with the feature `tls` (which makes the certificate).
fn serves_tls(service: &Service) -> Option<u16> {
    match service {
        Service::Turn {
            transports,
            tls_port,
            ..
        } if cfg!(feature = "tls") && transports.contains(&TurnTransport::Tls) => *tls_port,
        _ => None,
    }
}

/// The PEM files coturn reads for TLS (`CERT_FILE`, `KEY_FILE`): a certificate for `host`'s
/// name issued by the simulated authority of `ca_seed` (what the agents of the run trust), and
/// its key. Empty when the service serves no TLS.
#[cfg(feature = "tls")]
pub(crate) fn tls_files(
    host: &Host,
    service: &Service,
    ca_seed: [u8; 32],
) -> Result<Vec<(&'static str, String)>, crate::tls::TlsError> {
    use crate::tls::{PEM_CERTIFICATE, PEM_PRIVATE_KEY, SimCa, pem};
    if serves_tls(service).is_none() {
        return Ok(Vec::new());
    }
    let ca = SimCa::new(ca_seed)?;
    let mut key_seed = ca_seed;
    key_seed[0] ^= 0xC0;
    let (cert, key) = ca.issue(&host.name, key_seed)?;
    Ok(vec![
        (CERT_FILE, pem(PEM_CERTIFICATE, &cert)),
        (KEY_FILE, pem(PEM_PRIVATE_KEY, key.secret_der())),
    ])
}

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
        "listening-port={}\nno-dtls\nno-cli\nfingerprint\nmin-port=49152\nmax-port=49999\npidfile={}\nuserdb={}\nlog-file=stdout\nsimple-log\nno-software-attribute\n",
        service.port(),
        dir.join("turnserver.pid").display(),
        dir.join("turndb").display(),
    );
    match serves_tls(service) {
        // RFC 8656 §3.1: TLS over TCP on its own port (coturn's default is 5349).
        Some(port) => {
            let _ = write!(
                conf,
                "tls-listening-port={port}\ncert={}\npkey={}\n",
                dir.join(CERT_FILE).display(),
                dir.join(KEY_FILE).display()
            );
        }
        None => conf.push_str("no-tls\n"),
    }
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
