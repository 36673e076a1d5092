//! The payloads of XEP-0279 Server IP Check, read as far as the listings need until the
//! `xmpp-sic` crate exists: `<ip/>` in `urn:xmpp:sic:0` (version 0.1) and
//! `<address><ip/><port/></address>` in `urn:xmpp:sic:1` (version 0.2).

use std::net::IpAddr;

use xep0371_model::minidom::Element;

/// `urn:xmpp:sic:0`.
pub const SIC0: &str = "urn:xmpp:sic:0";
/// `urn:xmpp:sic:1`.
pub const SIC1: &str = "urn:xmpp:sic:1";

/// A Server IP Check payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sic {
    /// An empty request element (`<ip/>` or `<address/>`).
    Request {
        /// The namespace.
        ns: &'static str,
    },
    /// A response.
    Response {
        /// The namespace.
        ns: &'static str,
        /// The address the server sees.
        ip: IpAddr,
        /// The port the server sees (sic:1 only).
        port: Option<u16>,
    },
}

/// Why a payload is not a valid Server IP Check element: (rule id, section, message).
pub type SicError = (&'static str, &'static str, String);

/// Reads a payload; `Ok(None)` when it is not a Server IP Check element.
pub fn read(el: &Element) -> Result<Option<Sic>, SicError> {
    let ns = match el.ns().as_str() {
        SIC0 => SIC0,
        SIC1 => SIC1,
        _ => return Ok(None),
    };
    let ip_text = match (ns, el.name()) {
        (SIC0, "ip") => {
            let t = el.text();
            if t.trim().is_empty() {
                return Ok(Some(Sic::Request { ns }));
            }
            t
        }
        (SIC1, "address") => {
            let ips: Vec<_> = el.children().filter(|c| c.is("ip", SIC1)).collect();
            let ports: Vec<_> = el.children().filter(|c| c.is("port", SIC1)).collect();
            if ips.is_empty() && ports.is_empty() {
                return Ok(Some(Sic::Request { ns }));
            }
            if ips.len() != 1 || ports.len() > 1 {
                return Err((
                    "sic.address-shape",
                    "XEP-0279 §2",
                    format!(
                        "<address/> holds {} <ip/> and {} <port/>; one and at most one expected",
                        ips.len(),
                        ports.len()
                    ),
                ));
            }
            let port = match ports.first() {
                None => None,
                Some(p) => Some(p.text().trim().parse::<u16>().map_err(|_| {
                    (
                        "sic.port",
                        "XEP-0279 §2",
                        format!("<port>{}</port> is not a port number", p.text().trim()),
                    )
                })?),
            };
            let ip = ips[0].text();
            let ip = ip.trim().parse::<IpAddr>().map_err(|_| {
                (
                    "sic.ip",
                    "XEP-0279 §2",
                    format!("<ip>{}</ip> is not an IP address", ip.trim()),
                )
            })?;
            return Ok(Some(Sic::Response { ns, ip, port }));
        }
        _ => return Ok(None),
    };
    let ip = ip_text.trim().parse::<IpAddr>().map_err(|_| {
        (
            "sic.ip",
            "XEP-0279 §2",
            format!("<ip>{}</ip> is not an IP address", ip_text.trim()),
        )
    })?;
    Ok(Some(Sic::Response { ns, ip, port: None }))
}
