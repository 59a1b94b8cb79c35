//! UDP scenarios (ports 7020–7029).
//!
//! * `udp-connect`: a socket bound to the unspecified address reports the
//!   loopback address once `stream` connects it, and datagrams carry it;
//! * `udp-errors`: the state and argument errors of `stream` and `send`.

use wasip2::sockets::network::IpAddressFamily::{self, Ipv4, Ipv6};
use wasip2::sockets::network::{ErrorCode, IpSocketAddress};
use wasip2::sockets::udp::{
    IncomingDatagramStream, OutgoingDatagram, OutgoingDatagramStream, UdpSocket,
};

use crate::util::*;

/// Runs `scenario` if it is one of this module's.
pub fn run(scenario: &str) -> bool {
    match scenario {
        "udp-connect" => connect(),
        "udp-errors" => errors(),
        _ => return false,
    }
    true
}

/// A UDP socket bound to `addr`.
fn bound(family: IpAddressFamily, addr: IpSocketAddress) -> UdpSocket {
    let s = udp(family);
    s.start_bind(&net(), addr).expect("bind");
    s.finish_bind().expect("finish-bind");
    s
}

/// Sends one datagram (to `to`, or the connected peer).
fn send(out: &OutgoingDatagramStream, data: &[u8], to: Option<IpSocketAddress>) -> String {
    if let Err(e) = out.check_send() {
        return e.name().into();
    }
    let datagram = OutgoingDatagram {
        data: data.to_vec(),
        remote_address: to,
    };
    match out.send(&[datagram]) {
        Ok(n) => format!("sent-{n}"),
        Err(e) => e.name().into(),
    }
}

/// Waits for one datagram: its text and sender.
fn receive(inc: &IncomingDatagramStream) -> (String, IpSocketAddress) {
    loop {
        let mut got = inc.receive(1).expect("receive");
        if let Some(d) = got.pop() {
            return (String::from_utf8_lossy(&d.data).into(), d.remote_address);
        }
        inc.subscribe().block();
    }
}

fn connect() {
    for (name, family, any, at) in [
        ("v4", Ipv4, v4(ANY4, 0), v4(LOOP4, 7020)),
        ("v6", Ipv6, v6(ANY6, 0), v6(LOOP6, 7020)),
    ] {
        let receiver = bound(family, at);
        let (r_in, _r_out) = receiver.stream(None).unwrap();
        let s = bound(family, any);
        let was = s.local_address().unwrap();
        say(&format!("{name}-bound-ip"), ip(&was));
        let (s_in, s_out) = s.stream(Some(at)).unwrap();
        let local = s.local_address().unwrap();
        say(&format!("{name}-connected-local-ip"), ip(&local));
        say(&format!("{name}-same-port"), port(&local) == port(&was));
        say(
            &format!("{name}-remote"),
            show(&s.remote_address().unwrap()),
        );
        say(&format!("{name}-send"), send(&s_out, b"hi", None));
        let (text, from) = receive(&r_in);
        say(&format!("{name}-received"), text);
        say(
            &format!("{name}-from-is-local"),
            show(&from) == show(&local),
        );
        // Disconnected: the address as bound, no remote address.
        drop((s_in, s_out));
        let _streams = s.stream(None).unwrap();
        say(
            &format!("{name}-disconnected-local-ip"),
            ip(&s.local_address().unwrap()),
        );
        say(
            &format!("{name}-disconnected-remote"),
            outcome(s.remote_address()),
        );
    }
}

fn errors() {
    let s = udp(Ipv4);
    say("unbound-stream", outcome(s.stream(None).map(drop)));
    say("unbound-local-address", outcome(s.local_address()));
    say("unbound-remote-address", outcome(s.remote_address()));
    say("unbound-finish-bind", outcome(s.finish_bind()));
    s.start_bind(&net(), v4(LOOP4, 7021)).unwrap();
    say(
        "bind-while-binding",
        outcome(s.start_bind(&net(), v4(LOOP4, 7022))),
    );
    s.finish_bind().unwrap();
    say("bind-again", outcome(s.start_bind(&net(), v4(LOOP4, 7022))));
    say("in-use", outcome(bound_result(Ipv4, v4(ANY4, 7021))));

    say(
        "stream-port-0",
        outcome(s.stream(Some(v4(LOOP4, 0))).map(drop)),
    );
    say(
        "stream-any",
        outcome(s.stream(Some(v4(ANY4, 7022))).map(drop)),
    );
    say(
        "stream-wrong-family",
        outcome(s.stream(Some(v6(LOOP6, 7022))).map(drop)),
    );

    let (inc, out) = s.stream(None).unwrap();
    say("receive-0", inc.receive(0).unwrap().len());
    say("send-none", out.send(&[]).unwrap());
    say("unconnected-no-remote", send(&out, b"x", None));
    say("send-port-0", send(&out, b"x", Some(v4(LOOP4, 0))));
    say("send-any", send(&out, b"x", Some(v4(ANY4, 7022))));
    say("send-wrong-family", send(&out, b"x", Some(v6(LOOP6, 7022))));
    say(
        "send-too-large",
        send(&out, &[0; 65_508], Some(v4(LOOP4, 7022))),
    );
    say(
        "send-largest",
        send(&out, &[0; 65_507], Some(v4(LOOP4, 7022))),
    );
    say("send-nobody", send(&out, b"x", Some(v4(LOOP4, 7022))));
    drop((inc, out));

    let (_inc, out) = s.stream(Some(v4(LOOP4, 7022))).unwrap();
    say(
        "connected-other-remote",
        send(&out, b"x", Some(v4(LOOP4, 7023))),
    );
    say(
        "connected-same-remote",
        send(&out, b"x", Some(v4(LOOP4, 7022))),
    );
    say("connected-no-remote", send(&out, b"x", None));
}

fn bound_result(family: IpAddressFamily, addr: IpSocketAddress) -> Result<UdpSocket, ErrorCode> {
    let s = udp(family);
    s.start_bind(&net(), addr)?;
    s.finish_bind()?;
    Ok(s)
}
