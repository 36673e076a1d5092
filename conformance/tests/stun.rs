//! `jingle-ice-conformance stun decode`.

use std::process::Command;

use jingle_ice_conformance::stun::{KeyArg, decode, parse_hex};

/// RFC 5769 §2.1.
const REQUEST: &str = "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf";
const PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";

#[test]
fn decodes_and_verifies_the_rfc5769_request() {
    let r = decode(REQUEST, Some(&KeyArg::ShortTerm(PASSWORD.into())));
    assert_eq!(r.code, 0, "{}", r.text);
    let j = &r.json;
    assert_eq!(j["class"], "request");
    assert_eq!(j["method"], "Binding");
    assert_eq!(j["transaction_id"], "b7e7a701bc34d686fa87dfae");
    assert_eq!(j["integrity"], "ok");
    assert_eq!(j["fingerprint"], "ok");
    let names: Vec<&str> = j["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "SOFTWARE",
            "PRIORITY",
            "ICE-CONTROLLED",
            "USERNAME",
            "MESSAGE-INTEGRITY",
            "FINGERPRINT"
        ]
    );
    assert_eq!(j["attributes"][3]["value"], "\"evtj:h6vY\"");
    assert!(j["ignored"].as_array().unwrap().is_empty());
}

#[test]
fn a_wrong_password_or_a_damaged_fingerprint_fails() {
    let r = decode(REQUEST, Some(&KeyArg::ShortTerm("nope".into())));
    assert_eq!((r.code, r.json["integrity"].as_str()), (1, Some("bad")));
    let mut damaged = REQUEST.to_owned();
    damaged.replace_range(REQUEST.len() - 2.., "00");
    let r = decode(&damaged, Some(&KeyArg::ShortTerm(PASSWORD.into())));
    assert_eq!(
        (
            r.code,
            r.json["integrity"].as_str(),
            r.json["fingerprint"].as_str()
        ),
        (1, Some("ok"), Some("bad"))
    );
    assert!(r.text.contains("computed 0xe57a3bcf"));
    // Without a key, integrity is reported unverified and does not fail.
    let r = decode(REQUEST, None);
    assert_eq!(
        (r.code, r.json["integrity"].as_str()),
        (0, Some("unverified"))
    );
}

#[test]
fn long_term_key_from_the_command_line() {
    // RFC 5769 §2.4.
    let hex = "000100602112a44278ad3433c6ad72c029da412e00060012e3839ee38388e383aae38383e382afe382b900000015001c662f2f3439396b39353464364f4c33346f4c394653547679363473410014000b6578616d706c652e6f72670000080014f67024656dd64a3e02b8e0712e85c9a28ca89666";
    let key =
        KeyArg::long_term("\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}:example.org:TheMatrIX")
            .unwrap();
    let r = decode(hex, Some(&key));
    assert_eq!(
        (
            r.code,
            r.json["integrity"].as_str(),
            r.json["fingerprint"].as_str()
        ),
        (0, Some("ok"), Some("absent"))
    );
    assert!(KeyArg::long_term("only-one-part").is_err());
}

#[test]
fn garbage_is_one_clear_line() {
    for (input, says) in [
        ("zz", "not hex"),
        ("abc", "odd number"),
        ("0001", "shorter than the 20-byte STUN header"),
        ("c0010000", "shorter"),
        (
            "c00100002112a442000000000000000000000000",
            "not a STUN message",
        ),
        (
            "000100042112a442b7e7a701bc34d686fa87dfae00060010",
            "runs past the end",
        ),
    ] {
        let r = decode(input, None);
        assert_eq!(r.code, 1, "{input}");
        assert_eq!(r.text.lines().count(), 1, "{input}: {}", r.text);
        assert!(r.text.contains(says), "{input}: {}", r.text);
    }
    assert_eq!(parse_hex("0x00:01 0a").unwrap(), vec![0, 1, 10]);
}

#[test]
fn the_binary_decodes_with_json() {
    let out = Command::new(env!("CARGO_BIN_EXE_jingle-ice-conformance"))
        .args(["stun", "decode", REQUEST, "--password", PASSWORD, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["integrity"], "ok");
}

#[test]
fn decodes_messages_written_by_other_stacks() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut n = 0;
    for f in std::fs::read_dir(&dir).unwrap() {
        let path = f.unwrap().path();
        if path.extension().is_none_or(|e| e != "hex") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let password = text
            .lines()
            .find_map(|l| l.strip_prefix("# password: "))
            .unwrap();
        let hex: String = text.lines().filter(|l| !l.starts_with('#')).collect();
        let r = decode(&hex, Some(&KeyArg::ShortTerm(password.into())));
        assert_eq!(r.code, 0, "{}: {}", path.display(), r.text);
        assert_eq!(r.json["integrity"], "ok", "{}", path.display());
        assert_eq!(r.json["fingerprint"], "ok", "{}", path.display());
        n += 1;
    }
    assert!(n >= 1);
}
