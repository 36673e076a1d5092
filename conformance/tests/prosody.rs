//! XEP-0279 Server IP Check against a real Prosody: Debian's `prosody`, with `mod_ipcheck` from
//! Debian's `prosody-modules`.
//!
//! Each test starts a Prosody of its own from `conformance/prosody/prosody.cfg.lua.in` (the
//! code that starts it is `prosody_support/`, shared with `prosody_extdisco.rs`): plaintext
//! c2s on 127.0.0.1 on a free port, data and log in a scratch directory under `target/tmp`,
//! users registered with `prosodyctl --config FILE register`. A guard kills the server when the
//! test ends, also when it fails (then the scratch directory and the log are kept, and the log's
//! tail is printed).
//!
//! The tests are `#[ignore]`d because they need the Debian packages; `cargo xtask ci` installs
//! them (through `.ci/run`) and runs these with `--ignored`. Without Prosody they fail with a
//! message naming the packages: they never skip.
//!
//! Prosody's answers are compared with what our `xmpp_sic::answer` gives for the same request,
//! the same session and the same address; where they differ, the test pins both answers and
//! `docs/INTEROP.md` explains why.

mod prosody_support;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

use jingle_ice_conformance::sic_client::iq_error;
use prosody_support::{HOST, Prosody, Setup, TIMEOUT};
use tokio_xmpp::jid::FullJid;
use tokio_xmpp::minidom::Element;
use xmpp_sic::{Address, Answer, Outcome, Reading, Version};

const ALICE: (&str, &str) = ("alice", "alice-secret");
const BOB: (&str, &str) = ("bob", "bob-secret");
const PACKAGES: &str = "these tests need Debian's prosody and prosody-modules (mod_ipcheck): \
     `apt-get install prosody prosody-modules`; `bash .ci/run` installs them before `cargo xtask ci`";

/// A Prosody with mod_ipcheck.
fn start(test: &str, users: &[(&str, &str)]) -> Prosody {
    let setup = Setup {
        template: prosody_support::config(&["ipcheck"], ""),
        required: &["ipcheck"],
        packages: PACKAGES,
    };
    Prosody::start(test, users, &setup)
}

/// The same without mod_ipcheck: a server that knows neither version.
fn start_without_ipcheck(test: &str, users: &[(&str, &str)]) -> Prosody {
    let setup = Setup {
        template: prosody_support::config(&[], ""),
        required: &[],
        packages: PACKAGES,
    };
    Prosody::start(test, users, &setup)
}

fn iq(id: &str, type_: &str, to: Option<&str>, version: Version) -> Element {
    let to = to.map(|t| format!(" to='{t}'")).unwrap_or_default();
    let payload = match version {
        Version::Sic0 => "<ip xmlns='urn:xmpp:sic:0'/>",
        Version::Sic1 => "<address xmlns='urn:xmpp:sic:1'/>",
    };
    format!("<iq xmlns='jabber:client' id='{id}' type='{type_}'{to}>{payload}</iq>")
        .parse()
        .expect("a well-formed IQ")
}

/// `result`, `TYPE/CONDITION` for an error, or the IQ type (`get` when the request itself was
/// routed back).
fn kind(reply: &Element) -> String {
    match iq_error(reply) {
        Some((type_, condition)) => {
            format!("{}/{}", type_.unwrap_or("?"), condition.unwrap_or("none"))
        }
        None if reply.attr("type") == Some("error") => panic!("no <error/> in an error IQ"),
        None => reply.attr("type").unwrap_or("?").to_owned(),
    }
}

/// What our `answer` replies to `request` from `session`, seen from `from`.
fn ours(request: &Element, session: &FullJid, from: SocketAddr) -> Element {
    match xmpp_sic::answer(request, session, Some(from)) {
        Answer::Reply(r) => r,
        Answer::NotSic => panic!("answer() did not take a Server IP Check request"),
    }
}

/// The address in a result, read strictly.
fn address(reply: &Element) -> Address {
    let payload = reply.children().next().expect("a payload in the result");
    let (a, diagnostics) = Address::read(payload, Reading::Strict)
        .unwrap_or_else(|e| panic!("Prosody's answer {reply:?} is not XEP-0279: {e}"));
    assert!(diagnostics.is_empty());
    a
}

#[tokio::test]
#[ignore = "needs Debian's prosody + prosody-modules; runs in every cargo xtask ci (step interop: Prosody, after .ci/run installs them), locally with -- --ignored"]
async fn both_versions_answer_the_clients_own_address() {
    let prosody = start("own-address", &[ALICE]);
    let mut alice = prosody.login(ALICE).await;
    let local = alice.local_addr().expect("the connection's local address");
    assert_eq!(local.ip(), Ipv4Addr::LOCALHOST);

    for version in [Version::Sic1, Version::Sic0] {
        let mut client = xmpp_sic::Client::new(&[version], Reading::Strict);
        let asked = alice.ask(&mut client, TIMEOUT).await.expect("an answer");
        let Outcome::Address(seen, diagnostics) = &asked.outcome else {
            panic!("{version}: {:?}\n{}", asked.outcome, prosody.log_tail());
        };
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let want_port = match version {
            // Prosody reports the connection's source port.
            Version::Sic1 => Some(local.port()),
            Version::Sic0 => None,
        };
        assert_eq!(
            *seen,
            Address {
                version,
                ip: local.ip(),
                port: want_port
            }
        );
        // Our server side gives the same payload for the same request.
        let id = alice.new_id();
        let request = iq(&id, "get", None, version);
        let prosodys = alice
            .exchange(request.clone(), TIMEOUT)
            .await
            .expect("an answer");
        let our = ours(&request, alice.bound_jid(), local);
        assert_eq!(
            (kind(&prosodys), kind(&our)),
            ("result".into(), "result".into())
        );
        assert_eq!(address(&prosodys), address(&our));
        // Both address the reply to the session. Prosody leaves `from` out; ours names the
        // account, on whose behalf the server answers (RFC 6120 §10.3.3).
        let bound = alice.bound_jid().to_string();
        assert_eq!(prosodys.attr("to"), Some(bound.as_str()));
        assert_eq!(our.attr("to"), Some(bound.as_str()));
        assert_eq!(
            our.attr("from"),
            Some(format!("{}@{HOST}", ALICE.0).as_str())
        );

        let hint = xmpp_sic::NatHint::new(*seen, &[], Some(local));
        assert!(!hint.behind_nat);
        assert_eq!(hint.port_changed, want_port.map(|_| false));
    }

    // The default client asks sic:1 first, and Prosody knows it: one exchange.
    let asked = alice
        .ask(&mut xmpp_sic::Client::default(), TIMEOUT)
        .await
        .expect("an answer");
    assert_eq!(asked.exchanges.len(), 1);
    assert_eq!(asked.version, Version::Sic1);
    assert!(matches!(asked.outcome, Outcome::Address(a, _) if a.port == Some(local.port())));
    alice.close().await;
}

#[tokio::test]
#[ignore = "needs Debian's prosody + prosody-modules; runs in every cargo xtask ci (step interop: Prosody, after .ci/run installs them), locally with -- --ignored"]
async fn another_users_bare_jid_is_forbidden() {
    let prosody = start("forbidden", &[ALICE, BOB]);
    let mut alice = prosody.login(ALICE).await;
    let local = alice.local_addr().expect("the connection's local address");
    let bob = format!("{}@{HOST}", BOB.0);
    for version in [Version::Sic1, Version::Sic0] {
        let id = alice.new_id();
        let request = iq(&id, "get", Some(&bob), version);
        let reply = alice
            .exchange(request.clone(), TIMEOUT)
            .await
            .expect("an answer");
        // XEP-0279 §5: "a server MUST NOT return the IP address of another client ... it MUST
        // return a <forbidden/> error." Prosody and our answer agree.
        assert_eq!(kind(&reply), "auth/forbidden", "{version}: {reply:?}");
        assert_eq!(
            kind(&ours(&request, alice.bound_jid(), local)),
            "auth/forbidden"
        );
        // The client reads it as a final failure, not as "try the other version".
        let mut client = xmpp_sic::Client::default();
        assert!(matches!(
            client.handle_reply(&reply),
            Outcome::Failed(xmpp_sic::Error::Server { ref condition, ref type_ })
                if condition == "forbidden" && type_ == "auth"
        ));
    }
    alice.close().await;
}

#[tokio::test]
#[ignore = "needs Debian's prosody + prosody-modules; runs in every cargo xtask ci (step interop: Prosody, after .ci/run installs them), locally with -- --ignored"]
async fn the_servers_domain_is_service_unavailable() {
    let prosody = start("domain", &[ALICE]);
    let mut alice = prosody.login(ALICE).await;
    let local = alice.local_addr().expect("the connection's local address");
    for version in [Version::Sic1, Version::Sic0] {
        let id = alice.new_id();
        let request = iq(&id, "get", Some(HOST), version);
        let reply = alice
            .exchange(request.clone(), TIMEOUT)
            .await
            .expect("an answer");
        // mod_ipcheck hooks requests to bare JIDs only; the domain falls through to Prosody's
        // "no handler" answer, although the domain advertises the features (see below).
        assert_eq!(
            kind(&reply),
            "cancel/service-unavailable",
            "{version}: {reply:?}"
        );
        assert_eq!(
            kind(&ours(&request, alice.bound_jid(), local)),
            "cancel/service-unavailable"
        );
    }

    // The domain advertises both versions in disco#info (XEP-0279 §3).
    let id = alice.new_id();
    let disco: Element = format!(
        "<iq xmlns='jabber:client' id='{id}' type='get' to='{HOST}'>\
         <query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    )
    .parse()
    .expect("a disco#info request");
    let reply = alice.exchange(disco, TIMEOUT).await.expect("an answer");
    assert_eq!(kind(&reply), "result");
    let features: Vec<String> = reply
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .expect("a disco#info query")
        .children()
        .filter(|c| c.name() == "feature")
        .filter_map(|c| c.attr("var").map(str::to_owned))
        .collect();
    assert_eq!(
        xmpp_sic::supported_versions(&features),
        [Version::Sic1, Version::Sic0],
        "{features:?}"
    );
    alice.close().await;
}

/// Every request shape we know, sent to Prosody and given to our `answer`. Rows where the two
/// differ are the ones `docs/INTEROP.md` explains.
#[tokio::test]
#[ignore = "needs Debian's prosody + prosody-modules; runs in every cargo xtask ci (step interop: Prosody, after .ci/run installs them), locally with -- --ignored"]
async fn request_shapes_compared_with_our_answer() {
    let prosody = start("shapes", &[ALICE, BOB]);
    let mut alice = prosody.login(ALICE).await;
    let mut bob = prosody.login(BOB).await;
    let local = alice.local_addr().expect("the connection's local address");
    let own_bare = format!("{}@{HOST}", ALICE.0);
    let own_full = alice.bound_jid().to_string();
    let bob_bare = format!("{}@{HOST}", BOB.0);
    let bob_full = bob.bound_jid().to_string();
    let bob_offline = format!("{}@{HOST}/offline", BOB.0);

    // (shape, type, to, Prosody's answer, ours)
    let rows: [(&str, &str, Option<&str>, &str, &str); 8] = [
        ("no to", "get", None, "result", "result"),
        (
            "to: own bare JID",
            "get",
            Some(&own_bare),
            "result",
            "result",
        ),
        ("to: own full JID", "get", Some(&own_full), "get", "result"),
        (
            "to: another user",
            "get",
            Some(&bob_bare),
            "auth/forbidden",
            "auth/forbidden",
        ),
        (
            "to: another user's online full JID",
            "get",
            Some(&bob_full),
            "routed",
            "auth/forbidden",
        ),
        (
            "to: another user's offline full JID",
            "get",
            Some(&bob_offline),
            "cancel/service-unavailable",
            "auth/forbidden",
        ),
        (
            "to: the server",
            "get",
            Some(HOST),
            "cancel/service-unavailable",
            "cancel/service-unavailable",
        ),
        (
            "type set",
            "set",
            None,
            "cancel/service-unavailable",
            "modify/bad-request",
        ),
    ];
    let mut table = String::new();
    let mut all_expected = true;
    for (shape, type_, to, want_prosody, want_ours) in rows {
        for version in [Version::Sic1, Version::Sic0] {
            let id = alice.new_id();
            let request = iq(&id, type_, to, version);
            let prosodys = if to == Some(bob_full.as_str()) {
                // Prosody routes an IQ to a full JID to that session (RFC 6120 §10.5.3.1):
                // Bob's client receives Alice's request and Alice gets no answer from the
                // server.
                alice.send(request.clone()).await.expect("sent");
                let at_bob = bob.wait_iq(&id, TIMEOUT).await.expect("delivered to Bob");
                assert_eq!(at_bob.attr("type"), Some(type_));
                assert_eq!(at_bob.attr("from"), Some(own_full.as_str()));
                "routed".to_owned()
            } else {
                // Addressed to its own full JID, the request comes back to Alice herself.
                kind(
                    &alice
                        .exchange(request.clone(), TIMEOUT)
                        .await
                        .expect("an answer"),
                )
            };
            let our = kind(&ours(&request, alice.bound_jid(), local));
            let expected = (prosodys.as_str(), our.as_str()) == (want_prosody, want_ours);
            table += &format!(
                "{}{shape} ({version}): Prosody {prosodys}, ours {our}{}\n",
                if expected { "" } else { "UNEXPECTED " },
                if prosodys == our {
                    ""
                } else {
                    " (they differ)"
                }
            );
            all_expected &= expected;
        }
    }
    println!("{table}");
    assert!(all_expected, "answers changed (UNEXPECTED rows):\n{table}");
    alice.close().await;
    bob.close().await;
}

#[test]
#[ignore = "needs Debian's prosody + prosody-modules; runs in every cargo xtask ci (step interop: Prosody, after .ci/run installs them), locally with -- --ignored"]
fn cli_end_to_end() {
    let prosody = start("cli", &[ALICE]);
    let server = prosody.addr().to_string();
    let jid = format!("{}@{HOST}", ALICE.0);
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_jingle-ice-conformance"))
            .args(["sic", "--server", &server, "--jid", &jid, "--password"])
            .args(extra)
            .env_remove("RUST_BACKTRACE")
            .output()
            .expect("running jingle-ice-conformance");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stdout, stderr)
    };

    for (namespace, extra, port) in [
        ("urn:xmpp:sic:1", &["--json"][..], true),
        (
            "urn:xmpp:sic:1",
            &["--json", "--namespace", "sic:1"][..],
            true,
        ),
        (
            "urn:xmpp:sic:0",
            &["--json", "--namespace", "sic:0"][..],
            false,
        ),
    ] {
        let mut args = vec![ALICE.1];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = run(&args);
        assert_eq!(
            code,
            Some(0),
            "{args:?}\n{stdout}{stderr}\n{}",
            prosody.log_tail()
        );
        let j: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
        assert_eq!(j["ip"], "127.0.0.1", "{j}");
        assert_eq!(j["namespace"], namespace, "{j}");
        assert_eq!(j["behind_nat"], false, "{j}");
        let local: SocketAddr = j["local"]
            .as_str()
            .expect("local")
            .parse()
            .expect("an address");
        if port {
            // The port Prosody saw is the CLI's own source port.
            assert_eq!(j["port"], local.port(), "{j}");
            assert_eq!(j["port_changed"], false, "{j}");
        } else {
            assert!(j["port"].is_null(), "{j}");
        }
    }

    // The text output names the address, the port and the hint.
    let (code, stdout, stderr) = run(&[ALICE.1]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("asked sic:1 (urn:xmpp:sic:1): result"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the server sees 127.0.0.1 port "),
        "{stdout}"
    );
    assert!(stdout.contains("NAT hint: not behind a NAT"), "{stdout}");

    // A refused login ends within the CLI's timeout, with exit 1 and the reason.
    let (code, stdout, stderr) = run(&["wrong", "--timeout", "1"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("could not log in"), "{stderr}");
    assert!(stderr.contains("no session"), "{stderr}");
}

#[test]
#[ignore = "needs Debian's prosody + prosody-modules; runs in every cargo xtask ci (step interop: Prosody, after .ci/run installs them), locally with -- --ignored"]
fn cli_reports_a_server_error_with_its_condition() {
    // Without mod_ipcheck Prosody knows neither version: the client asks sic:1, falls back to
    // sic:0 on service-unavailable, and gives up on the second.
    let prosody = start_without_ipcheck("no-ipcheck", &[ALICE]);
    let server = prosody.addr().to_string();
    let jid = format!("{}@{HOST}", ALICE.0);
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_jingle-ice-conformance"))
            .args([
                "sic",
                "--server",
                &server,
                "--jid",
                &jid,
                "--password",
                ALICE.1,
            ])
            .args(extra)
            .output()
            .expect("running jingle-ice-conformance");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stdout, stderr)
    };

    let (code, stdout, stderr) = run(&["--json"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}\n{}", prosody.log_tail());
    let j: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(j["error"]["condition"], "service-unavailable", "{j}");
    assert_eq!(j["error"]["type"], "cancel", "{j}");
    assert_eq!(j["namespace"], "urn:xmpp:sic:0", "{j}");
    assert!(
        j["ip"].is_null() && j["port"].is_null() && j["behind_nat"].is_null(),
        "{j}"
    );
    let tried: Vec<&str> = j["tried"]
        .as_array()
        .expect("tried")
        .iter()
        .map(|t| t["namespace"].as_str().expect("a namespace"))
        .collect();
    assert_eq!(tried, ["urn:xmpp:sic:1", "urn:xmpp:sic:0"], "{j}");

    let (code, stdout, stderr) = run(&["--namespace", "sic:1"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("asked sic:1 (urn:xmpp:sic:1): service-unavailable"),
        "{stdout}"
    );
    assert!(
        stdout.contains("error: the server answered service-unavailable (type cancel)"),
        "{stdout}"
    );
}
