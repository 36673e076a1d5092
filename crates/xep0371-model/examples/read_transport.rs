//! Reads a Jingle IQ, a `<jingle/>` or a bare ICE `<transport/>` from a file (or standard input)
//! and prints what the strict and lenient readings say, and the candidates as SDP lines.
//!
//! ```text
//! cargo run -p xep0371-model --example read_transport -- stanza.xml
//! cargo run -p xep0371-model --example read_transport < stanza.xml
//! ```
//!
//! Without input (no argument, and a terminal or nothing on standard input) it reads a built-in
//! Gajim-shaped transport.

use std::io::Read as _;
use std::process::ExitCode;

use xep0371_model::minidom::Element;
use xep0371_model::{
    Diagnostic, Error, FromXml, IceTransport, Iq, Jingle, Reader, Reading, parse_element,
};

/// A reconstruction of what Gajim (Farstream) sends: no rel-addr on srflx, UUIDs as ids.
const BUILT_IN: &str = "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='GvZk' pwd='DuX0NR5aWHF9eyv7UA2mLs'>\
<candidate component='1' foundation='1' generation='0' id='c4a1e6f2-5b7d-4e3a-9f81-2d6b0c7e9a14' ip='192.168.0.12' network='0' port='40022' priority='2013266431' protocol='udp' type='host'/>\
<candidate component='1' foundation='1' generation='0' id='7e2b9d40-1c3f-4a58-b6e7-9d0a2c4e6f81' ip='203.0.113.9' network='0' port='40022' priority='1677721855' protocol='udp' type='srflx'/>\
</transport>";

/// Largest input read.
const MAX_INPUT: usize = 1 << 20;

/// The ICE transports in `el` (an IQ, a Jingle or a transport), read with `reader`.
fn transports(el: &Element, reader: &mut Reader) -> Result<Vec<IceTransport>, Error> {
    match el.name() {
        "iq" => {
            let iq = Iq::read_with(el, reader)?;
            match iq.payload.element() {
                Some(payload) => transports(payload, reader),
                None => Ok(Vec::new()),
            }
        }
        "jingle" => {
            let jingle = Jingle::read_with(el, reader)?;
            Ok(jingle.ice_transports().map(|(_, t)| t.clone()).collect())
        }
        _ => Ok(vec![IceTransport::read_with(el, reader)?]),
    }
}

fn read(el: &Element, reading: Reading) -> Result<(Vec<IceTransport>, Vec<Diagnostic>), Error> {
    let mut reader = Reader::new(reading);
    let t = transports(el, &mut reader)?;
    Ok((t, reader.take_diagnostics()))
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut xml = match std::env::args().nth(1) {
        Some(path) => std::fs::read_to_string(path)?,
        None if std::io::IsTerminal::is_terminal(&std::io::stdin()) => String::new(),
        None => {
            let mut s = String::new();
            std::io::stdin()
                .take(MAX_INPUT as u64 + 1)
                .read_to_string(&mut s)?;
            s
        }
    };
    if xml.trim().is_empty() {
        println!("(no input: reading a built-in Gajim-shaped transport)");
        xml = BUILT_IN.to_owned();
    }
    let el = parse_element(&xml, MAX_INPUT)?;

    match read(&el, Reading::Strict) {
        Ok(_) => println!("strict: accepted"),
        Err(e) => println!("strict: refused: {e}"),
    }
    let (transports, diagnostics) = read(&el, Reading::Lenient)?;
    println!("lenient: accepted with {} diagnostic(s)", diagnostics.len());
    for d in &diagnostics {
        println!("  {d}");
    }
    for t in &transports {
        println!(
            "transport {} ufrag={} pwd={}",
            t.namespace,
            t.ufrag.as_deref().unwrap_or("-"),
            t.pwd.as_deref().unwrap_or("-")
        );
        for c in &t.candidates {
            println!("  {}", c.to_sdp_line());
        }
        for r in &t.remote_candidates {
            println!("  remote-candidate {} {}", r.component, r.addr());
        }
        if t.gathering_complete {
            println!("  a=end-of-candidates");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
