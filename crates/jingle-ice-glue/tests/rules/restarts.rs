//! XEP-0371 §5.10: restarts during an unacknowledged restart and without a live session.

use super::*;

#[test]
fn xep0371_5_10_transport_info_during_unacknowledged_restart_is_acked_and_dropped() {
    let mut n = Net::new(
        [
            Config::allowing(Allowance::AllowList),
            Config::allowing(Allowance::AllowList),
        ],
        [21, 22],
    );
    n.connect();
    let before = n.s[0].agent().remote_candidates().len();
    n.hold = [true, false];
    n.s[0].restart(n.now).unwrap();
    n.drain();
    // Juliet's candidate of the old generation arrives before Romeo's restart reached her.
    let (u, p) = n.s[1].agent().local_credentials();
    let x = format!(
        "<iq from='{JULIET}' to='{ROMEO}' id='late1' type='set'><jingle xmlns='urn:xmpp:jingle:1' action='transport-info' sid='{SID}'><content creator='initiator' name='0'><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='{u}' pwd='{p}'><candidate component='1' foundation='9' generation='0' id='x9' ip='192.0.2.99' network='0' port='9999' priority='2130706431' protocol='udp' type='host'/></transport></content></jingle></iq>"
    );
    let now = n.now;
    assert_eq!(
        n.s[0].handle_xml(now, &x),
        Ok(Handled::Acknowledged(Action::TransportInfo))
    );
    assert!(n.s[0].poll_iq().is_some_and(|r| is_result(&r, "late1")));
    assert_eq!(n.s[0].stats().dropped_during_restart, 1);
    assert!(n.s[0].agent().remote_candidates().len() <= before);
    assert!(
        n.s[0]
            .agent()
            .remote_candidates()
            .iter()
            .all(|c| c.addr.port() != 9999)
    );
    // And after the restart, a stale generation's stanza is dropped too.
    n.release(0);
    let _ = n.run_until(Duration::from_secs(2), |n| !n.s[0].restart_pending());
    assert_eq!(
        n.s[0].handle_xml(n.now, &x.replace("late1", "late2")),
        Ok(Handled::Acknowledged(Action::TransportInfo))
    );
    assert_eq!(n.s[0].stats().dropped_during_restart, 2);
}

#[test]
fn xep0371_5_10_restart_needs_a_live_session() {
    let now = t0();
    let mut s = romeo(Config::default(), 8);
    assert!(s.restart(now).is_err());
    s.initiate(now, None).unwrap();
    s.restart(now).unwrap();
    assert!(matches!(
        s.restart(now),
        Err(jingle_ice_glue::Error::RestartPending)
    ));
}
