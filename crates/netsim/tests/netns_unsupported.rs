//! What the netns lab refuses to build as written (`Lab::unsupported`) and the link impairments
//! it leaves to a runner (`Lab::impairments`). Pure functions of the script: no root needed, so
//! these run in every `cargo test`.
#![cfg(all(feature = "netns", target_os = "linux"))]
#![allow(clippy::unwrap_used)]

use ice_netsim::Topology;
use ice_netsim::netns::Lab;

/// romeo behind `nat-a` (with `nat` as extra keys), behind `nat-top` (with `top`), juliet
/// public; `tcp` as romeo's `tcp` key line (or nothing).
fn script(nat: &str, top: &str, tcp: &str, link: &str) -> Topology {
    let text = format!(
        r#"
format = 1
name = "unsupported test"
[link]
{link}
[[network]]
name = "internet"
cidr = "198.51.100.0/24"
[[network]]
name = "isp"
cidr = "100.64.0.0/24"
[[network]]
name = "lan-a"
cidr = "10.0.1.0/24"
[[nat]]
name = "nat-top"
inside = "isp"
outside = "internet"
public_ip = "198.51.100.10"
mapping = "endpoint-independent"
{top}
[[nat]]
name = "nat-a"
inside = "lan-a"
outside = "isp"
public_ip = "100.64.0.10"
mapping = "endpoint-independent"
{nat}
[[host]]
name = "romeo"
network = "lan-a"
ip = "10.0.1.1"
[[host]]
name = "juliet"
network = "internet"
ip = "198.51.100.2"
[[agent]]
host = "romeo"
impl = "ice-sans-io"
role = "initiator"
{tcp}
[[agent]]
host = "juliet"
impl = "ice-sans-io"
role = "responder"
tcp = ["passive"]
[expect]
outcome = "connected"
"#
    );
    Topology::parse("unsupported-test.toml", &text).unwrap()
}

const APDF: &str = "filtering = \"address-and-port-dependent\"";
const EIF: &str = "filtering = \"endpoint-independent\"";
const ADF: &str = "filtering = \"address-dependent\"";
const ACTIVE: &str = "tcp = [\"active\"]";

/// RFC 5382 §5 filtering and §6 hairpinning of TCP: conntrack filters TCP
/// address-and-port-dependently and the rulesets hairpin UDP only, so an ICE-TCP agent behind
/// a NAT that says otherwise (directly or through a nested NAT) is refused, naming the NAT and
/// the key; behind address-and-port-dependent NATs without hairpinning it is built.
#[test]
fn ice_tcp_behind_a_nat_whose_tcp_filtering_the_kernel_does_not_follow_is_refused() {
    let ok = script(APDF, APDF, ACTIVE, "");
    assert_eq!(Lab::unsupported(&ok), Vec::<String>::new());

    for filtering in [EIF, ADF] {
        let t = script(filtering, APDF, ACTIVE, "");
        let why = Lab::unsupported(&t);
        assert_eq!(why.len(), 1, "{why:?}");
        assert!(
            why[0].starts_with("nat-a: filtering") && why[0].contains("ICE-TCP agent (romeo)"),
            "{why:?}"
        );
        assert!(why[0].contains("conntrack"), "{why:?}");
    }

    // The NAT above romeo's counts too.
    let t = script(APDF, EIF, ACTIVE, "");
    let why = Lab::unsupported(&t);
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(why[0].starts_with("nat-top: filtering"), "{why:?}");

    // Hairpinning, even with address-and-port-dependent filtering.
    let t = script(&format!("{APDF}\nhairpinning = true"), APDF, ACTIVE, "");
    let why = Lab::unsupported(&t);
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(why[0].starts_with("nat-a: hairpinning"), "{why:?}");
}

/// The rule is about ICE-TCP only: the same NATs with UDP agents are built as before (the
/// rulesets follow `filtering` and `hairpinning` for UDP), and a public ICE-TCP agent does not
/// care what the NATs of the other side do.
#[test]
fn udp_agents_and_public_ice_tcp_agents_are_not_refused() {
    let t = script(&format!("{EIF}\nhairpinning = true"), ADF, "", "");
    // juliet has `tcp` but is public: no NAT above her.
    assert_eq!(Lab::unsupported(&t), Vec::<String>::new());
}

/// Jitter and loss are impairments a runner applies (or skips for), not something the lab
/// refuses.
#[test]
fn link_impairments_are_listed_apart() {
    let t = script(
        APDF,
        APDF,
        ACTIVE,
        "latency_ms = 20\njitter_ms = 5\nloss = 0.1",
    );
    assert_eq!(Lab::unsupported(&t), Vec::<String>::new());
    let imp = Lab::impairments(&t);
    assert!(imp.contains(&"lan-a: jitter_ms".to_owned()), "{imp:?}");
    assert!(imp.contains(&"internet: loss".to_owned()), "{imp:?}");
    let calm = script(APDF, APDF, ACTIVE, "latency_ms = 20");
    assert_eq!(Lab::impairments(&calm), Vec::<String>::new());
}
